package incidents

import (
	"iter"
	"strconv"
	"strings"
)

// TimelineRow is one row of the postmortem's timeline table: a single
// entry, or a run of entries collapsed into one ("×970").
type TimelineRow struct {
	// First and Last are the run's first and last entries (the same for a
	// single entry).
	First, Last Entry
	// Count is how many entries the row stands for.
	Count int
}

// collapseMin is the shortest run of alike entries shown as one row: two
// rows still read fine, three of the same are a pattern.
const collapseMin = 3

// stormKinds collapse when consecutive whatever their text: during a storm
// they are thousands of different alerts, and the alerts section (per
// distinct alert) is where each is listed.
var stormKinds = map[EntryKind]bool{EntryAlert: true, EntryAlertRepeat: true, EntryAlertResolved: true}

// alike reports whether b continues a run that a started: the same alert
// kind from the same source, or the same entry again (kind, actor, text).
func alike(a, b Entry) bool {
	if a.Kind != b.Kind || !a.Actor.Same(b.Actor) {
		return false
	}
	return stormKinds[a.Kind] || a.Text == b.Text
}

// CollapseRows turns a timeline into table rows, collapsing each run of at
// least three alike consecutive entries into one row. It holds at most two
// entries at a time, so a timeline of 100,000 entries collapses in
// constant memory.
func CollapseRows(entries iter.Seq[Entry]) iter.Seq[TimelineRow] {
	return func(yield func(TimelineRow) bool) {
		var run []Entry // while shorter than collapseMin, every entry of it
		var row TimelineRow
		flush := func() bool {
			if row.Count >= collapseMin {
				return yield(row)
			}
			for _, e := range run {
				if !yield(TimelineRow{First: e, Last: e, Count: 1}) {
					return false
				}
			}
			return true
		}
		for e := range entries {
			if row.Count > 0 && alike(row.Last, e) {
				row.Last = e
				row.Count++
				if row.Count < collapseMin {
					run = append(run, e)
				} else {
					run = run[:0]
				}
				continue
			}
			if row.Count > 0 && !flush() {
				return
			}
			row = TimelineRow{First: e, Last: e, Count: 1}
			run = append(run[:0], e)
		}
		if row.Count > 0 {
			flush()
		}
	}
}

// collapsedLabels name what a collapsed run of each kind is.
var collapsedLabels = map[EntryKind]string{
	EntryAlert:         "alerts grouped in",
	EntryAlertRepeat:   "repeats of alerts already grouped",
	EntryAlertResolved: "alerts resolved",
}

// rowText renders a row's event cell.
func rowText(r TimelineRow) string {
	if r.Count <= 1 {
		return eventText(r.First)
	}
	var b strings.Builder
	b.WriteString("×")
	b.WriteString(strconv.Itoa(r.Count))
	b.WriteString(" ")
	if label, ok := collapsedLabels[r.First.Kind]; ok {
		b.WriteString(label)
		b.WriteString(": first ")
		b.WriteString(eventText(r.First))
		b.WriteString(" … last ")
		b.WriteString(eventText(r.Last))
		return b.String()
	}
	b.WriteString(eventText(r.First))
	return b.String()
}

// timelineTableRow renders a collapsed row: its time cell spans the run.
func timelineTableRow(r TimelineRow) string {
	var b strings.Builder
	b.WriteString("| ")
	b.WriteString(utcStamp(r.First.At))
	if r.Count > 1 && !r.Last.At.Equal(r.First.At) {
		b.WriteString(" – ")
		b.WriteString(r.Last.At.UTC().Format("15:04:05"))
		if r.Last.At.UTC().YearDay() != r.First.At.UTC().YearDay() || r.Last.At.Year() != r.First.At.Year() {
			b.WriteString(" (" + r.Last.At.UTC().Format("2006-01-02") + ")")
		}
	}
	b.WriteString(" | ")
	b.WriteString(EscapeMarkdown(oneLine(r.First.Actor.String())))
	b.WriteString(" | ")
	b.WriteString(rowText(r))
	b.WriteString(" |\n")
	return b.String()
}
