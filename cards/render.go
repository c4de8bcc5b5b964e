package cards

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// Button action ids. A button's Value is "<n>:<stepID>" for step buttons
// and "<n>" for the others.
const (
	ActionStepDone = "step_done"
	ActionStepSkip = "step_skip"
	ActionAck      = "ack"
	ActionMitigate = "mitigate"
	ActionResolve  = "resolve"
)

// escaper defuses markup and mentions in text from outside Firebreak.
// A zero-width space after a markup character keeps the text readable
// while stopping it from pairing into bold, italics, strikes or links on
// every platform.
var escaper = strings.NewReplacer(
	"*", "*\u200b",
	"_", "_\u200b",
	"~", "~\u200b",
	"|", "|\u200b",
	"[", "[\u200b",
	"<", "<\u200b",
)

// codeDefuser keeps Slack from reading <@U…> and <!here> inside code.
var codeDefuser = strings.NewReplacer("<@", "<\u200b@", "<!", "<\u200b!")

// Escape makes outside text (alert titles, notes, names) safe to put in a
// Message: it cannot ping @everyone/@here/<!channel>/<!here>/<!everyone>
// or a <@&role>, cannot mention anyone, and cannot inject markup.
//
// Code spans survive: text between a pair of backticks is kept as it is
// (every platform shows code verbatim, so only mentions need defusing
// there), so "`/incident ack`" renders as code in Slack, Discord
// and the console. Only a backtick without a partner — which would pair
// with a backtick of the message around it — becomes a look-alike (ˋ).
func Escape(s string) string {
	if !strings.Contains(s, "`") {
		return incidents.DefuseMentions(escaper.Replace(s))
	}
	parts := strings.Split(s, "`")
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i, p := range parts {
		code := i%2 == 1 && i < len(parts)-1
		if i > 0 {
			if i%2 == 1 && !code {
				b.WriteString("\u02cb")
			} else {
				b.WriteByte('`')
			}
		}
		if code {
			// Slack reads <@U…> and <!here> even inside code.
			b.WriteString(codeDefuser.Replace(p))
		} else {
			b.WriteString(escaper.Replace(p))
		}
	}
	return incidents.DefuseMentions(b.String())
}

// Mention renders who for a chat on platform: a real mention when the
// person is from that platform, else their name, so a Slack user id never
// shows up as a broken mention on Discord.
func Mention(who incidents.Actor, platform string) string {
	if who.Same(incidents.Bot) {
		return "Firebreak"
	}
	if who.ID != "" && who.Platform == platform {
		return "<@" + who.ID + ">"
	}
	return Escape(who.String())
}

// Clock formats t the way every card shows times: UTC, minutes.
func Clock(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("15:04 UTC")
}

// Stamp is a full UTC date and time, for timelines and lists.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// Human prints a duration as chat and postmortems both do (see
// incidents.HumanDuration).
func Human(d time.Duration) string { return incidents.HumanDuration(d) }

// StatusIcon is the colour of a status at a glance.
func StatusIcon(s incidents.Status) string {
	switch s {
	case incidents.StatusTriggered:
		return "🔴"
	case incidents.StatusAcknowledged:
		return "🟠"
	case incidents.StatusMitigated:
		return "🟢"
	case incidents.StatusResolved:
		return "✅"
	}
	return "⚪"
}

// Headline is the one line that names an incident everywhere:
// "🔴 #4 HighErrorRate api-gateway · SEV1 · triggered".
func Headline(inc *incidents.Incident) string {
	return fmt.Sprintf("%s **#%d %s** · %s · %s", StatusIcon(inc.Status), inc.Number, Escape(inc.Title), inc.Severity, inc.Status)
}

// Renderer renders cards for one platform at one moment. Platform decides
// how people are mentioned; Books supplies step instructions; URL links the
// incident's web page (nil: none).
type Renderer struct {
	Platform string
	Books    *playbooks.Config
	Now      time.Time
	URL      func(number uint64) string
}

// Card is the incident summary: headline, people, durations, and the
// lifecycle buttons that apply now. withButtons is false when a step card
// follows with the same buttons.
func (r Renderer) Card(inc *incidents.Incident, withButtons bool) Message {
	var b strings.Builder
	b.WriteString(Headline(inc))
	if inc.LastUpdate != "" {
		b.WriteString("\nLatest update: " + Escape(inc.LastUpdate))
	}
	if inc.Summary != "" {
		b.WriteString("\nSummary: " + Escape(inc.Summary))
	}
	b.WriteString(r.said(inc.Trigger))
	m := Message{Text: b.String()}
	commander := "nobody yet"
	if inc.Commander != nil {
		commander = Mention(*inc.Commander, r.Platform)
	}
	m.Fields = append(m.Fields, Field{Label: "Commander", Value: commander})
	if inc.Comms != nil {
		m.Fields = append(m.Fields, Field{Label: "Comms", Value: Mention(*inc.Comms, r.Platform)})
	}
	if inc.Service != "" {
		m.Fields = append(m.Fields, Field{Label: "Service", Value: Escape(inc.Service)})
	}
	if inc.Playbook != "" {
		name := inc.Playbook
		if pb := r.Playbook(inc); pb != nil && pb.Name != "" {
			name = pb.Name
		}
		m.Fields = append(m.Fields, Field{Label: "Playbook", Value: Escape(name)})
	}
	if len(inc.Steps) > 0 {
		m.Fields = append(m.Fields, Field{Label: "Steps", Value: fmt.Sprintf("%d/%d finished", Finished(inc), len(inc.Steps))})
	}
	switch {
	case inc.DistinctAlerts > 1:
		m.Fields = append(m.Fields, Field{Label: "Alerts", Value: fmt.Sprintf("%d distinct (%d firing), %d received", inc.DistinctAlerts, inc.FiringAlerts, inc.AlertCount)})
	case inc.AlertCount > 1:
		m.Fields = append(m.Fields, Field{Label: "Alerts", Value: strconv.Itoa(inc.AlertCount)})
	}
	m.Fields = append(m.Fields, Field{Label: "Opened", Value: Clock(inc.OpenedAt) + " (" + r.Durations(inc) + ")"})
	m.Fields = append(m.Fields, triggerLinks(inc.Trigger)...)
	if r.URL != nil {
		m.Fields = append(m.Fields, Field{Label: "Web", Value: fmt.Sprintf("[#%d on the web](%s)", inc.Number, r.URL(inc.Number))})
	}
	if withButtons {
		m.Actions = LifecycleButtons(inc)
	}
	return m
}

// maxSaid bounds how much of the alert's description a card quotes; the
// timeline and the postmortem keep all of it.
const maxSaid = 600

// said quotes what monitoring said about the alert that opened the
// incident: its description (for probes, the explanation of the failed
// checks), as a quote under the headline. Empty for declared incidents.
func (r Renderer) said(a incidents.Alert) string {
	text := strings.TrimSpace(a.Annotations["description"])
	if text == "" {
		text = strings.TrimSpace(a.Annotations["message"])
	}
	if text == "" {
		text = strings.TrimSpace(a.Text)
	}
	if text == "" || strings.Contains(a.Title, text) {
		return ""
	}
	return "\n> " + strings.ReplaceAll(Escape(Truncate(text, maxSaid)), "\n", "\n> ")
}

// triggerLinks are the links responders need first: the runbook, the
// alert's source (Alertmanager's generatorURL, the generic url, the probed
// URL) and its dashboard.
func triggerLinks(a incidents.Alert) []Field {
	var fs []Field
	add := func(label string, urls ...string) {
		for _, u := range urls {
			if link, ok := SafeURL(u); ok {
				fs = append(fs, Field{Label: label, Value: link})
				return
			}
		}
	}
	ann := a.Annotations
	add("Runbook", ann["runbook_url"], ann["runbook"])
	add("Source", a.URL)
	add("Dashboard", ann["dashboard"], ann["dashboard_url"], ann["dashboardURL"], ann["panelURL"], ann["grafana"])
	return fs
}

// SafeURL returns u when it is an http(s) link that cannot break out of
// the markup around it (no spaces, brackets, pipes, backticks or angle
// brackets), for chat to link as it is.
func SafeURL(u string) (string, bool) {
	u = strings.TrimSpace(u)
	if len(u) > 2000 || strings.ContainsAny(u, " \t\r\n<>|`()[]*") {
		return "", false
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", false
	}
	return u, true
}

// Durations says how long each phase took so far: "open 12m, acknowledged
// after 2m".
func (r Renderer) Durations(inc *incidents.Incident) string {
	end := r.Now
	if !inc.ResolvedAt.IsZero() {
		end = inc.ResolvedAt
	}
	parts := []string{"open " + Human(end.Sub(inc.OpenedAt))}
	if d := inc.TimeToAcknowledge(); d > 0 {
		parts = append(parts, "acknowledged after "+Human(d))
	}
	if d := inc.TimeToMitigate(); d > 0 {
		parts = append(parts, "mitigated after "+Human(d))
	}
	if d := inc.TimeToResolve(); d > 0 {
		parts = append(parts, "resolved after "+Human(d))
	}
	return strings.Join(parts, ", ")
}

// Finished counts the steps of inc that are done or skipped.
func Finished(inc *incidents.Incident) int {
	n := 0
	for _, s := range inc.Steps {
		if s.Status.Finished() {
			n++
		}
	}
	return n
}

// Playbook is the playbook inc follows, nil when none is configured.
func (r Renderer) Playbook(inc *incidents.Incident) *playbooks.Playbook {
	if r.Books == nil || inc.Playbook == "" {
		return nil
	}
	return r.Books.Playbook(inc.Playbook)
}

// LifecycleButtons are the buttons that move the incident itself.
func LifecycleButtons(inc *incidents.Incident) []Action {
	n := strconv.FormatUint(inc.Number, 10)
	var as []Action
	if inc.Status == incidents.StatusTriggered {
		as = append(as, Action{ID: ActionAck, Label: "Acknowledge", Value: n})
	}
	if inc.Status == incidents.StatusTriggered || inc.Status == incidents.StatusAcknowledged {
		as = append(as, Action{ID: ActionMitigate, Label: "Mitigated", Value: n})
	}
	if inc.Status.Open() {
		as = append(as, Action{ID: ActionResolve, Label: "Resolve", Style: StyleDanger, Value: n})
	}
	return as
}

// Step is the current step card: "Step 2/4: Communicate", instructions,
// checklist, and [Done] [Skip] plus [Acknowledge] while nobody has and
// [Resolve]. When every step is finished it says so and offers the
// lifecycle buttons instead.
func (r Renderer) Step(inc *incidents.Incident) Message {
	st := inc.CurrentStep()
	if st == nil {
		text := fmt.Sprintf("🏁 **#%d: all %d steps finished.**", inc.Number, len(inc.Steps))
		if inc.Status.Open() {
			text += " Mitigate or resolve when the impact is over."
		}
		return Message{Text: text, Actions: LifecycleButtons(inc)}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**#%d · Step %d/%d: %s**", inc.Number, inc.Current+1, len(inc.Steps), Escape(st.Title))
	var ps *playbooks.Step
	if pb := r.Playbook(inc); pb != nil {
		if i := pb.StepIndex(st.ID); i >= 0 {
			ps = &pb.Steps[i]
			if s := strings.TrimSpace(ps.Instructions); s != "" {
				b.WriteString("\n" + s)
			}
			for _, item := range ps.Checklist {
				b.WriteString("\n☐ " + item)
			}
		}
	}
	value := fmt.Sprintf("%d:%s", inc.Number, st.ID)
	n := strconv.FormatUint(inc.Number, 10)
	done := Action{ID: ActionStepDone, Label: "Done", Style: StylePrimary, Value: value}
	var as []Action
	switch {
	case ps != nil && ps.Automated() && ps.Confirm:
		b.WriteString("\n🔒 Runs " + DescribeAction(ps, StepData(inc, st.ID, r.Now)) + " once someone permitted confirms it.")
		done.Label, done.Style = "Done by hand", StyleDefault
		as = append(as, Action{ID: ActionRunStep, Label: "Run " + Truncate(st.Title, 30), Style: StyleDanger, Value: value}, done)
	case ps != nil && ps.Automated():
		b.WriteString("\n⚙️ Firebreak runs " + DescribeAction(ps, StepData(inc, st.ID, r.Now)) + " now.")
		done.Label, done.Style = "Done by hand", StyleDefault
		as = append(as, Action{ID: ActionRunStep, Label: "Run now", Value: value}, done)
	case ps != nil && ps.Kind == playbooks.KindStatusUpdate:
		if text, err := SuggestedUpdate(inc, ps, r.Now); err == nil && text != "" {
			b.WriteString("\nSuggested update:\n> " + strings.ReplaceAll(Escape(text), "\n", "\n> "))
			as = append(as, Action{ID: ActionPostUpdate, Label: "Post this update", Style: StylePrimary, Value: value})
			done.Style = StyleDefault
		}
		b.WriteString("\nOr write your own: `/incident update <text>`.")
		as = append(as, done)
	default:
		as = append(as, done)
	}
	as = append(as, Action{ID: ActionStepSkip, Label: "Skip", Value: value})
	if inc.Status == incidents.StatusTriggered {
		as = append(as, Action{ID: ActionAck, Label: "Acknowledge", Value: n})
	}
	if inc.Status.Open() {
		as = append(as, Action{ID: ActionResolve, Label: "Resolve", Style: StyleDanger, Value: n})
	}
	return Message{Text: b.String(), Actions: as}
}

// FinishedStep is what a step card becomes once its step is done or
// skipped: who did it and when, with no buttons left to press.
func (r Renderer) FinishedStep(inc *incidents.Incident, st incidents.StepState) Message {
	icon, verb := "✅", "done"
	if st.Status == incidents.StepSkipped {
		icon, verb = "⏭️", "skipped"
	}
	text := fmt.Sprintf("%s #%d %s — %s by %s at %s", icon, inc.Number, Escape(st.Title), verb, Mention(st.By, r.Platform), Clock(st.At))
	if st.Note != "" {
		text += "\n> " + Escape(st.Note)
	}
	return Message{Text: text}
}

// TimelineLine is one timeline entry: "14:02:05Z Ana — acknowledged".
func (r Renderer) TimelineLine(e incidents.Entry) string {
	text := strings.ReplaceAll(e.Text, "\n", " ")
	if e.Step != "" && !strings.Contains(text, e.Step) {
		text += " (" + e.Step + ")"
	}
	line := fmt.Sprintf("`%s` %s %s — %s", Stamp(e.At), KindLabel(e.Kind), Mention(e.Actor, r.Platform), Escape(Truncate(text, 300)))
	if e.Kind == incidents.EntryAlert {
		for _, k := range []string{incidents.AnnotationPrefix + "runbook_url", "url"} {
			if u, ok := SafeURL(e.Data[k]); ok {
				line += " · " + u
			}
		}
	}
	return line
}

// KindLabel names what a timeline entry records, for people: "[alert]",
// "[note]", "[acknowledged]"….
func KindLabel(k incidents.EntryKind) string {
	label := map[incidents.EntryKind]string{
		incidents.EntryAlertRepeat:   "alert again",
		incidents.EntryAlertResolved: "alert resolved",
		incidents.EntryStepDone:      "step done",
		incidents.EntryStepSkipped:   "step skipped",
		incidents.EntryFollowUp:      "follow-up",
		incidents.EntryStatusUpdate:  "status update",
	}[k]
	if label == "" {
		label = string(k)
	}
	return "[" + label + "]"
}

// AlertLines is an incident's alerts aggregated for chat (one line per
// distinct alert, the top few, "and N more"), for /incident status.
func AlertLines(sum incidents.AlertSummary) string {
	var b strings.Builder
	for i, l := range sum.Lines() {
		if i == 0 {
			b.WriteString("\n**Alerts:** " + Escape(l))
			continue
		}
		b.WriteString("\n• " + Escape(l))
	}
	return b.String()
}
