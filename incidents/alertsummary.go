package incidents

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AlertSummary aggregates an incident's distinct alerts for people: one
// row per distinct alert (name/instance, first and last seen, count,
// firing or resolved), the top few only, and how many more there are. A
// storm of 50,000 alerts in one group reads as a short table instead of
// 50,000 identical lines. Build it with SummarizeAlerts.
type AlertSummary struct {
	// Total is every alert received, repeats included; Distinct the
	// distinct alerts (fingerprints); Firing those still firing.
	Total, Distinct, Firing int
	// FirstSeen and LastSeen bound when alerts arrived.
	FirstSeen, LastSeen time.Time
	// Top holds at most the requested number of alerts: firing ones first,
	// then the most received, then the earliest.
	Top []AlertState
	// More is how many distinct alerts Top leaves out.
	More int
	// Names counts the distinct alerts per alert name (most first, at most
	// the requested number), so a storm of one alertname over many
	// instances reads as one line; MoreNames is how many names it leaves out.
	Names     []AlertNameCount
	MoreNames int
	// Linked holds, in Top's order, at most the requested number of the
	// distinct alerts that carry a link (a source URL or a runbook), so a
	// postmortem or the web view lists one link line per distinct alert
	// even when the top rows carry none; MoreLinked is how many it leaves
	// out.
	Linked     []AlertState
	MoreLinked int
}

// Runbook is the runbook link monitoring sent with the alert (its
// runbook_url or runbook annotation), "" when there is none.
func (a AlertState) Runbook() string {
	if u := a.Annotations["runbook_url"]; u != "" {
		return u
	}
	return a.Annotations["runbook"]
}

// AlertNameCount is one alert name's share of an incident's alerts.
type AlertNameCount struct {
	Name string
	// Distinct alerts with this name, Firing of them, and Count received.
	Distinct, Firing, Count int
}

// DefaultAlertRows is how many alerts cards, /incident status and
// postmortems list before "and N more".
const DefaultAlertRows = 10

// maxSummaryNames bounds the per-name counters SummarizeAlerts keeps, so a
// storm of distinct alert names is still summarised in bounded memory (the
// names past it are counted in MoreNames).
const maxSummaryNames = 1000

// SummarizeAlerts streams the distinct alerts of inc once, keeping only the
// top rows: its memory does not grow with the incident. top <= 0 means
// DefaultAlertRows.
func SummarizeAlerts(tx ReadTx, inc *Incident, top int) (AlertSummary, error) {
	if top <= 0 {
		top = DefaultAlertRows
	}
	s := AlertSummary{Total: inc.AlertCount, FirstSeen: inc.FirstAlertAt, LastSeen: inc.LastAlertAt}
	names := map[string]*AlertNameCount{}
	linked := 0
	overflow := map[string]bool{}
	err := tx.Alerts(inc.Number, func(a AlertState) error {
		s.Distinct++
		if a.Firing {
			s.Firing++
		}
		if s.FirstSeen.IsZero() || a.FirstSeen.Before(s.FirstSeen) {
			s.FirstSeen = a.FirstSeen
		}
		if a.LastSeen.After(s.LastSeen) {
			s.LastSeen = a.LastSeen
		}
		name := a.Name
		if name == "" {
			name = a.Title
		}
		nc := names[name]
		if nc == nil && len(names) < maxSummaryNames {
			nc = &AlertNameCount{Name: name}
			names[name] = nc
		}
		if nc != nil {
			nc.Distinct++
			nc.Count += a.Count
			if a.Firing {
				nc.Firing++
			}
		} else if len(overflow) < maxSummaryNames {
			overflow[name] = true
		}
		// Rows show neither labels nor annotations, only the runbook link:
		// keep the summary small.
		rb := a.Runbook()
		a.Labels, a.Annotations = nil, nil
		if rb != "" {
			a.Annotations = map[string]string{"runbook_url": rb}
		}
		s.Top = insertRow(s.Top, a, top)
		if a.URL != "" || rb != "" {
			linked++
			s.Linked = insertRow(s.Linked, a, top)
		}
		return nil
	})
	if err != nil {
		return AlertSummary{}, fmt.Errorf("alerts of incident #%d: %w", inc.Number, err)
	}
	s.More = s.Distinct - len(s.Top)
	s.MoreLinked = linked - len(s.Linked)
	for _, nc := range names {
		s.Names = append(s.Names, *nc)
	}
	slices.SortFunc(s.Names, func(a, b AlertNameCount) int {
		return cmp.Or(cmp.Compare(b.Distinct, a.Distinct), cmp.Compare(b.Count, a.Count), strings.Compare(a.Name, b.Name))
	})
	if len(s.Names) > top {
		s.MoreNames = len(s.Names) - top
		s.Names = s.Names[:top]
	}
	s.MoreNames += len(overflow)
	return s, nil
}

// insertRow puts a into rows (kept sorted by compareAlertRows) when it is
// among the first top, dropping the row it pushes out.
func insertRow(rows []AlertState, a AlertState, top int) []AlertState {
	i, _ := slices.BinarySearchFunc(rows, a, compareAlertRows)
	if i >= top {
		return rows
	}
	if len(rows) == top {
		rows = rows[:top-1]
	}
	return slices.Insert(rows, i, a)
}

// compareAlertRows orders summary rows: firing first, then most received,
// then earliest, then by label so the order is stable.
func compareAlertRows(a, b AlertState) int {
	if a.Firing != b.Firing {
		if a.Firing {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(b.Count, a.Count), a.FirstSeen.Compare(b.FirstSeen),
		strings.Compare(a.Label(), b.Label()), strings.Compare(a.Fingerprint, b.Fingerprint))
}

// AlertSummary loads incident n and aggregates its alerts in one read
// transaction; see SummarizeAlerts.
func (s *Service) AlertSummary(ctx context.Context, n uint64, top int) (*Incident, AlertSummary, error) {
	var inc *Incident
	var sum AlertSummary
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		if inc, err = loadIncident(tx, n); err != nil {
			return err
		}
		sum, err = SummarizeAlerts(tx, inc, top)
		return err
	})
	if err != nil {
		return nil, AlertSummary{}, err
	}
	return inc, sum, nil
}

// Lines renders the summary as short plain lines for chat ("and N more"
// included); the caller escapes them for its platform. It is empty when
// the incident holds no alert.
func (s AlertSummary) Lines() []string {
	if s.Distinct == 0 {
		return nil
	}
	lines := []string{fmt.Sprintf("%d distinct alerts (%d firing), %d received in all", s.Distinct, s.Firing, s.Total)}
	for _, a := range s.Top {
		state := "resolved"
		if a.Firing {
			state = "firing"
		}
		lines = append(lines, fmt.Sprintf("%s — %s, ×%d, first %s, last %s", a.Label(), state, a.Count,
			a.FirstSeen.UTC().Format("15:04:05"), a.LastSeen.UTC().Format("15:04:05")))
	}
	if s.More > 0 {
		lines = append(lines, fmt.Sprintf("and %d more", s.More))
	}
	return lines
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
