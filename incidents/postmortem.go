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
	"strings"
	"text/template"
	"time"
)

//go:embed postmortem.md.tmpl
var defaultPostmortem string

// PostmortemData is what a postmortem template sees. The timeline is a
// sequence read from the store while the template runs, never a slice, so
// an incident with 100,000 entries renders in constant memory.
type PostmortemData struct {
	Incident *Incident
	// Timeline is every entry, in order.
	Timeline iter.Seq[Entry]
	// Notes are notes and pinned messages; FollowUps the action items;
	// Updates the status updates. Each is one more pass over the timeline.
	Notes, FollowUps, Updates iter.Seq[Entry]
	// CondensedTimeline is Timeline with long runs of alert entries (a
	// storm's distinct alerts firing, or resolving, one after another) cut
	// to their first few and one "and N more" row; Alerts has the rest.
	CondensedTimeline iter.Seq[Entry]
	// Alerts aggregates the incident's distinct alerts (top rows and how
	// many more), read once before the template runs, in bounded memory.
	Alerts AlertSummary
	// FirstAlert is the entry that opened the incident (an alert or the
	// declaration); nil for an empty timeline.
	FirstAlert *Entry
	// GeneratedAt is when the document was rendered.
	GeneratedAt time.Time
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
//	row ENTRY        a whole timeline table row: | time | who | event |
//	noteItem ENTRY   a list item quoting a note or pinned message
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
		"row":      timelineRow,
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
			Incident:          inc,
			Timeline:          all,
			CondensedTimeline: condenseAlertRuns(all, condensedRun),
			Alerts:            alerts,
			Notes:             seq(func(e Entry) bool { return e.Kind == EntryNote || e.Kind == EntryPinned }),
			FollowUps:         seq(func(e Entry) bool { return e.Kind == EntryFollowUp }),
			Updates:           seq(func(e Entry) bool { return e.Kind == EntryStatusUpdate }),
			GeneratedAt:       s.now(),
		}
		for e := range data.Timeline {
			data.FirstAlert = &e
			break
		}
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

// postmortemAlertRows is how many distinct alerts a postmortem lists.
const postmortemAlertRows = 20

// condensedRun is how many alert entries in a row the condensed timeline
// shows before it sums the rest of the run up in one row.
const condensedRun = 3

// condenseAlertRuns is CondenseAlertRuns over a sequence.
func condenseAlertRuns(all iter.Seq[Entry], keep int) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		add, flush := CondenseAlertRuns(keep, func(e Entry) error {
			if !yield(e) {
				return errStopIter
			}
			return nil
		})
		for e := range all {
			if add(e) != nil {
				return
			}
		}
		_ = flush()
	}
}

// CondenseAlertRuns makes a storm's timeline readable: entries given to add
// pass to emit, except that in a run of consecutive entries of one alert
// kind (EntryAlert or EntryAlertResolved) only the first keep pass and the
// rest become one "… and N more" entry at the time of the run's last entry,
// emitted when the run ends or by flush. It holds one entry, whatever the
// run's length.
func CondenseAlertRuns(keep int, emit func(Entry) error) (add func(Entry) error, flush func() error) {
	var kind EntryKind
	run, skipped := 0, 0
	var last Entry
	flush = func() error {
		if skipped == 0 {
			return nil
		}
		what := "distinct alerts fired"
		if kind == EntryAlertResolved {
			what = "alerts resolved"
		}
		e := Entry{Incident: last.Incident, Seq: last.Seq, At: last.At, Actor: last.Actor, Kind: EntryAlertsCondensed,
			Text: fmt.Sprintf("… and %d more %s, the last at %s (see Alerts)", skipped, what, last.At.UTC().Format("15:04:05"))}
		skipped = 0
		return emit(e)
	}
	add = func(e Entry) error {
		isAlert := e.Kind == EntryAlert || e.Kind == EntryAlertResolved
		if isAlert && e.Kind == kind {
			run++
			if run > keep {
				skipped++
				last = e
				return nil
			}
		} else {
			if err := flush(); err != nil {
				return err
			}
			kind, run = "", 0
			if isAlert {
				kind, run = e.Kind, 1
			}
		}
		return emit(e)
	}
	return add, flush
}

// EntryAlertsCondensed is the kind of the "… and N more" entries
// CondenseAlertRuns makes; it is never stored.
const EntryAlertsCondensed EntryKind = "alerts_condensed"

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
