package incidents

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxDiagramText bounds every name in the diagram, so long titles do not
// squeeze the chart.
const maxDiagramText = 60

// mermaidDate is the dateFormat the diagram declares (dayjs tokens) and
// ganttTime the same layout in Go.
const (
	mermaidDate = "YYYY-MM-DD HH:mm:ss"
	ganttTime   = "2006-01-02 15:04:05"
)

// DiagramText makes outside text safe as a name in a Mermaid gantt chart:
// task names end at ':' or a line break, '%%' starts a comment, '#…;' is an
// entity, and keywords (section, click, title…) at the start of a line
// change its meaning. Only letters, digits, spaces and . , - + / ( ) ' ?
// survive; runs of anything else become one space, and the result is
// shortened to 60 characters. Firebreak always puts a word of its own
// before it, so the text never starts a line.
func DiagramText(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		keep := unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".,-+/()'?", r)
		if !keep {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if utf8.RuneCountInString(out) > maxDiagramText {
		out = strings.TrimSpace(string([]rune(out)[:maxDiagramText-4])) + " ..."
	}
	return out
}

// ganttPhase is one bar of the diagram.
type ganttPhase struct {
	name       string
	start, end time.Time
	ongoing    bool
}

// Gantt renders the Mermaid gantt chart of an incident: its phases (detect,
// respond, mitigate, recover) as bars and its key events as milestones.
// The output is the diagram's source without the code fence; every name
// from outside goes through DiagramText.
func Gantt(inc *Incident, events []Entry, now time.Time) string {
	var b strings.Builder
	b.WriteString("gantt\n")
	fmt.Fprintf(&b, "    title Incident %d %s\n", inc.Number, DiagramText(inc.Title))
	fmt.Fprintf(&b, "    dateFormat %s\n", mermaidDate)
	im := impactOf(inc)
	end := inc.ResolvedAt
	if end.IsZero() {
		end = now
	}
	axis := "%H:%M"
	if end.Sub(im.Start) > 20*time.Hour {
		axis = "%m-%d %H:%M"
	}
	fmt.Fprintf(&b, "    axisFormat %s\n", axis)

	phases := []ganttPhase{
		{name: "Detect (problem started to incident opened)", start: im.Start, end: inc.OpenedAt},
		{name: "Acknowledge (opened to acknowledged)", start: inc.OpenedAt, end: inc.AcknowledgedAt},
		{name: "Mitigate (acknowledged to mitigated)", start: inc.AcknowledgedAt, end: inc.MitigatedAt},
		{name: "Recover (mitigated to resolved)", start: inc.MitigatedAt, end: inc.ResolvedAt},
	}
	if inc.AcknowledgedAt.IsZero() && !inc.MitigatedAt.IsZero() {
		// Mitigated (or resolved) without anyone acknowledging: a declared
		// incident's commander, or alerts that resolved by themselves.
		phases[1].start = time.Time{}
		phases[2] = ganttPhase{name: "Mitigate (opened to mitigated, never acknowledged)", start: inc.OpenedAt, end: inc.MitigatedAt}
	}
	b.WriteString("    section Phases\n")
	for i, p := range phases {
		if p.start.IsZero() {
			continue
		}
		if p.end.IsZero() {
			if !inc.ResolvedAt.IsZero() || !p.start.Before(now) {
				continue
			}
			p.end, p.ongoing = now, true
		}
		if !p.end.Truncate(time.Second).After(p.start.Truncate(time.Second)) {
			continue // shorter than the diagram's resolution
		}
		tag := "done"
		if p.ongoing {
			tag = "active"
		}
		fmt.Fprintf(&b, "    %s :%s, p%d, %s, %s\n", p.name, tag, i+1, p.start.UTC().Format(ganttTime), p.end.UTC().Format(ganttTime))
	}
	if len(events) > 0 {
		b.WriteString("    section Key events\n")
	}
	for i, e := range events {
		tag := "milestone"
		if e.Kind == EntryReopened || e.Kind == EntryEscalation {
			tag = "crit, milestone"
		}
		fmt.Fprintf(&b, "    %s :%s, e%d, %s, 0s\n", ganttEventName(e), tag, i+1, e.At.UTC().Format(ganttTime))
	}
	return b.String()
}

func firstSet(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// ganttEventName starts with Firebreak's own word for the event, so text
// from outside never begins a diagram line.
func ganttEventName(e Entry) string {
	who := DiagramText(e.Actor.String())
	var name string
	switch e.Kind {
	case EntryAcknowledged:
		name = "Acknowledged by " + who
	case EntrySeverity:
		name = "Severity " + DiagramText(e.Data["new"])
	case EntryStatusUpdate:
		name = "Status update by " + who
	case EntryMitigated:
		name = "Mitigated by " + who
	case EntryReopened:
		name = "Reopened, alert fired again"
	case EntryResolved:
		name = "Resolved by " + who
	case EntryStepDone:
		name = "Step done " + DiagramText(e.Data["title"])
	case EntryStepSkipped:
		name = "Step skipped " + DiagramText(e.Data["title"])
	case EntryEscalation:
		name = "Escalated"
	default:
		name = "Event " + DiagramText(string(e.Kind))
	}
	return strings.TrimSpace(name)
}
