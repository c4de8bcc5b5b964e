package incidents

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"
)

//go:embed postmortem.md.tmpl
var defaultPostmortem string

// PostmortemData is what a postmortem template sees. The timeline is a
// sequence read from the store while the template runs, never a slice, so
// an incident with 100,000 entries renders in constant memory; the
// summaries (responders, links, key events, action items) come from one
// bounded pass made before the template runs.
type PostmortemData struct {
	Incident *Incident
	// Timeline is every entry, in order.
	Timeline iter.Seq[Entry]
	// Rows is the timeline as table rows, runs of three or more alike
	// entries (a storm's alerts, the same note again) collapsed into one
	// row that says "×N" (see CollapseRows).
	Rows iter.Seq[TimelineRow]
	// Notes are notes and pinned messages; FollowUps the action items;
	// Updates the status updates. Each is one more pass over the timeline.
	Notes, FollowUps, Updates iter.Seq[Entry]
	// Alerts aggregates the incident's distinct alerts (top rows and how
	// many more), read once before the template runs, in bounded memory.
	Alerts AlertSummary
	// FirstAlert is the entry that opened the incident (an alert or the
	// declaration); nil for an empty timeline.
	FirstAlert *Entry
	// GeneratedAt is when the document was rendered.
	GeneratedAt time.Time

	// Status is the postmortem's own status: draft, in review or final
	// (empty before `/incident postmortem` recorded the draft).
	Status PostmortemStatus
	// Authors are the commander and the comms lead, who own the write-up.
	Authors []Actor
	// Date is the day the incident opened (UTC).
	Date time.Time
	// Impact is the window users felt it: from the first alert's own start
	// time to mitigation, with the clock each end was read from.
	Impact Impact
	// Trigger is the alert that opened the incident; nil for declared ones.
	Trigger *Alert
	// TriggerLabels are the trigger's labels as sorted "name=value".
	TriggerLabels []string
	// MitigatedBy is who (or Firebreak, when every alert resolved)
	// mitigated it; MitigationStep the playbook step finished last before.
	MitigationStep *StepState
	// Reopened counts how often a flapping alert reopened the incident.
	Reopened int
	// Responders are everyone who held a role or acted.
	Responders []Responder
	// ActionItems are the follow-ups with owner, type and tracker issue.
	ActionItems []ActionItem
	// AlertLinks are the source and runbook links of the distinct alerts
	// (from the alert records: one per distinct alert that carried a link,
	// at most 20 in the Alerts rows' order); MoreAlertLinks counts the
	// distinct alerts with links left out.
	AlertLinks     []AlertLink
	MoreAlertLinks int
	// Probes are the explanations failing probes gave.
	Probes []ProbeExplanation
	// SkippedSteps are the playbook steps skipped, each with its reason.
	SkippedSteps []StepState
	// KeyEvents are the entries the diagram marks (at most 40;
	// MoreKeyEvents counts the rest).
	KeyEvents     []Entry
	MoreKeyEvents int
	// Gantt is the Mermaid gantt chart of phases and key events, without
	// its code fence (see Gantt).
	Gantt string
	// ReviewBy is the last day for the review meeting: five business days
	// after resolution (zero while open).
	ReviewBy time.Time
}

// errStopIter ends a store scan because the template stopped ranging.
var errStopIter = errors.New("stop")

// PostmortemFuncs are the functions postmortem templates may use:
//
//	md TEXT          escape outside text for Markdown (one line)
//	cell TEXT        md, also safe inside a table cell
//	quote TEXT       a Markdown block quote, each line escaped
//	utc TIME         "2006-01-02 15:04:05 UTC", "—" when unknown
//	clock TIME       "15:04:05"
//	duration DUR     "4m12s", "—" when zero
//	since TIME       time from TIME to now
//	actor ACTOR      the person's name
//	event ENTRY      one escaped line saying what an entry records
//	row ENTRY|ROW    a whole timeline table row: | time | who | event |;
//	                 a collapsed TimelineRow says "×N" and spans its run
//	noteItem ENTRY   a list item quoting a note or pinned message
//	date TIME        "2006-01-02 (Monday)", "—" when unknown
//	link TEXT URL    a Markdown link; TEXT alone when URL is not http(s)
//	labels MAP       "name=value" pairs sorted by name, escaped, comma-separated
//	roles LIST       a comma-separated list, "—" when empty
//	diagram TEXT     DiagramText: TEXT made safe as a Mermaid gantt name
//	upper, lower, title, join, default   as in playbook templates
func PostmortemFuncs() template.FuncMap {
	return template.FuncMap{
		"md":       func(s string) string { return EscapeMarkdown(oneLine(s)) },
		"cell":     func(s string) string { return EscapeMarkdown(oneLine(s)) },
		"quote":    quote,
		"utc":      utcStamp,
		"clock":    func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"duration": durationOrDash,
		"since":    func(t time.Time) string { return humanDuration(time.Since(t)) },
		"actor":    func(a Actor) string { return EscapeMarkdown(oneLine(a.String())) },
		"event":    eventText,
		"row": func(v any) (string, error) {
			switch r := v.(type) {
			case Entry:
				return timelineRow(r), nil
			case TimelineRow:
				return timelineTableRow(r), nil
			}
			return "", fmt.Errorf("row: want a timeline entry or row, got %T", v)
		},
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 (Monday)")
		},
		"link": func(text, url string) string {
			text = EscapeMarkdown(oneLine(text))
			if u := safeURL(url); u != "" {
				if text == "" {
					text = EscapeMarkdown(u)
				}
				return "[" + text + "](" + u + ")"
			}
			return text
		},
		"labels": func(m map[string]string) string {
			l := sortedLabels(m)
			for i := range l {
				l[i] = EscapeMarkdown(oneLine(l[i]))
			}
			return strings.Join(l, ", ")
		},
		"roles": func(l []string) string {
			if len(l) == 0 {
				return "—"
			}
			return EscapeMarkdown(strings.Join(l, ", "))
		},
		"diagram":  DiagramText,
		"noteItem": noteItem,
		"upper":    strings.ToUpper,
		"lower":    strings.ToLower,
		"title": func(s string) string {
			words := strings.Fields(s)
			for i, w := range words {
				words[i] = strings.ToUpper(w[:1]) + w[1:]
			}
			return strings.Join(words, " ")
		},
		"join": strings.Join,
		"default": func(def string, v any) string {
			if s := fmt.Sprint(v); v != nil && s != "" {
				return s
			}
			return def
		},
	}
}

// quotedKinds are entries whose Text is someone else's words; the
// timeline says what they are. Other entries' Text is Firebreak's own
// sentence ("acknowledged and took command").
var quotedKinds = map[EntryKind]string{
	EntryAlert:        "alert",
	EntryDeclared:     "declared",
	EntryNote:         "note",
	EntryStatusUpdate: "status update",
	EntryPinned:       "pinned",
	EntryFollowUp:     "action item",
}

func eventText(e Entry) string {
	text := EscapeMarkdown(oneLine(e.Text))
	if label, ok := quotedKinds[e.Kind]; ok {
		return label + ": " + text
	}
	if text == "" {
		return strings.ReplaceAll(string(e.Kind), "_", " ")
	}
	return text
}

// timelineRow renders one row in Go rather than in the template: a long
// incident has 100,000 of them, and a template action per cell costs more
// than the rest of the document.
func timelineRow(e Entry) string {
	var b strings.Builder
	b.WriteString("| ")
	b.WriteString(utcStamp(e.At))
	b.WriteString(" | ")
	b.WriteString(EscapeMarkdown(oneLine(e.Actor.String())))
	b.WriteString(" | ")
	b.WriteString(eventText(e))
	b.WriteString(" |\n")
	return b.String()
}

func noteItem(e Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- %s, %s", utcStamp(e.At), EscapeMarkdown(oneLine(e.Actor.String())))
	if e.Kind == EntryPinned {
		b.WriteString(" (pinned")
		if a := e.Data["author"]; a != "" {
			b.WriteString(" from " + EscapeMarkdown(oneLine(a)))
		}
		b.WriteString(")")
	}
	b.WriteString(":\n")
	b.WriteString(quote(e.Text))
	if p := e.Data["permalink"]; p != "" {
		fmt.Fprintf(&b, "\n  ([message](%s))", linkEscaper.Replace(p))
	}
	b.WriteString("\n")
	return b.String()
}

// linkEscaper keeps a permalink from closing the Markdown link around it.
var linkEscaper = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20")

func utcStamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func durationOrDash(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return humanDuration(d)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func quote(s string) string {
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")), "\n")
	for i, l := range lines {
		lines[i] = "> " + EscapeMarkdown(l)
	}
	return strings.Join(lines, "\n")
}

// EscapeMarkdown neutralises text from outside (alert text, notes, names)
// so it cannot change the document's structure — headings, tables, links,
// HTML — and cannot ping a whole workspace when the postmortem is posted to
// chat: @everyone, @here, <!channel> and friends get a zero-width space.
func EscapeMarkdown(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '~':
			b.WriteByte('\\')
		case '#', '-', '+', '=':
			if i == 0 {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(r)
	}
	return DefuseMentions(b.String())
}

// DefuseMentions breaks mass mentions in any chat markup without changing
// how the text reads.
func DefuseMentions(s string) string {
	if !strings.ContainsAny(s, "@!") {
		return s
	}
	return mentionDefuser.Replace(s)
}

// mentionDefuser is immutable and safe for concurrent use.
var mentionDefuser = strings.NewReplacer(
	"@everyone", "@\u200beveryone",
	"@here", "@\u200bhere",
	"@channel", "@\u200bchannel",
	"!channel", "!\u200bchannel",
	"!here", "!\u200bhere",
	"!everyone", "!\u200beveryone",
	"<@&", "<@\u200b&",
)

// Postmortem writes the Markdown postmortem of incident n to w. The whole
// document comes from one read transaction, streamed: the timeline is read
// entry by entry as the template ranges over it.
func (s *Service) Postmortem(ctx context.Context, n uint64, w io.Writer) error {
	tmpl, err := s.postmortemTemplate()
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	err = s.store.View(ctx, func(tx ReadTx) error {
		inc, err := loadIncident(tx, n)
		if err != nil {
			return err
		}
		var scanErr error
		seq := func(keep func(Entry) bool) iter.Seq[Entry] {
			return func(yield func(Entry) bool) {
				err := tx.Entries(n, 0, func(e Entry) error {
					if !keep(e) {
						return nil
					}
					if !yield(e) {
						return errStopIter
					}
					return ctx.Err()
				})
				if err != nil && !errors.Is(err, errStopIter) && scanErr == nil {
					scanErr = err
				}
			}
		}
		alerts, err := SummarizeAlerts(tx, inc, postmortemAlertRows)
		if err != nil {
			return fmt.Errorf("postmortem of incident #%d: %w", n, err)
		}
		all := seq(func(Entry) bool { return true })
		data := PostmortemData{
			Incident:    inc,
			Timeline:    all,
			Alerts:      alerts,
			Notes:       seq(func(e Entry) bool { return e.Kind == EntryNote || e.Kind == EntryPinned }),
			FollowUps:   seq(func(e Entry) bool { return e.Kind == EntryFollowUp }),
			Updates:     seq(func(e Entry) bool { return e.Kind == EntryStatusUpdate }),
			GeneratedAt: s.now(),
		}
		data.Rows = CollapseRows(data.Timeline)
		facts := newPostmortemFacts(inc)
		for e := range data.Timeline {
			facts.add(e)
		}
		if scanErr != nil {
			return fmt.Errorf("postmortem of incident #%d: reading the timeline: %w", n, scanErr)
		}
		data.fill(inc, facts)
		if err := tmpl.Execute(bw, data); err != nil {
			return fmt.Errorf("postmortem of incident #%d: %w", n, err)
		}
		if scanErr != nil {
			return fmt.Errorf("postmortem of incident #%d: reading the timeline: %w", n, scanErr)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// fill sets the summary fields from the incident and the facts pass.
func (d *PostmortemData) fill(inc *Incident, f *postmortemFacts) {
	d.FirstAlert = f.first
	d.Status = inc.PostmortemStatus
	for _, a := range []*Actor{inc.Commander, inc.Comms} {
		if a != nil && !slices.ContainsFunc(d.Authors, a.Same) {
			d.Authors = append(d.Authors, *a)
		}
	}
	d.Date = inc.OpenedAt.UTC()
	d.Impact = impactOf(inc)
	if inc.Trigger.Source != "" || inc.Trigger.Title != "" || inc.Trigger.Name != "" {
		t := inc.Trigger
		d.Trigger = &t
		d.TriggerLabels = sortedLabels(t.Labels)
	}
	d.MitigationStep = mitigationStep(inc)
	d.Reopened = f.reopened
	d.Responders = f.responders(inc)
	d.ActionItems = f.actions.items
	d.AlertLinks, d.MoreAlertLinks = alertLinks(d.Alerts), d.Alerts.MoreLinked
	d.Probes = f.probes
	if t := d.Trigger; t != nil && t.Source == "probe" && len(d.Probes) == 0 {
		text := t.Annotations["description"]
		if text == "" {
			text = t.Text
		}
		d.Probes = append(d.Probes, ProbeExplanation{At: firstSet(t.StartsAt, inc.OpenedAt), Name: t.Title, Text: text})
	}
	for _, st := range inc.Steps {
		if st.Status == StepSkipped {
			d.SkippedSteps = append(d.SkippedSteps, st)
		}
	}
	d.KeyEvents, d.MoreKeyEvents = f.key, f.moreKey
	d.Gantt = Gantt(inc, f.key, d.GeneratedAt)
	d.ReviewBy = ReviewBy(inc.ResolvedAt)
}

// postmortemAlertRows is how many distinct alerts a postmortem lists.
const postmortemAlertRows = 20

// postmortemTemplate is the custom template named in playbooks.yaml, read
// on every call so edits apply without a restart, or the embedded default.
func (s *Service) postmortemTemplate() (*template.Template, error) {
	name, text := "postmortem.md.tmpl", defaultPostmortem
	if p := s.books.TemplatePath(); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("postmortem template: %w", err)
		}
		name, text = p, string(b)
	}
	t, err := template.New(name).Funcs(PostmortemFuncs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("postmortem template %s: %w", name, err)
	}
	return t, nil
}
