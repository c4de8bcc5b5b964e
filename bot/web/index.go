package web

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// summary is what the list and the overview need of one incident: a few
// hundred bytes, so 100,000 incidents fit in tens of megabytes and a filter
// is one pass over a slice instead of 100,000 decodes from the store.
type summary struct {
	Number     uint64
	Title      string
	Service    string
	Playbook   string
	Severity   incidents.Severity
	Status     incidents.Status
	open       bool   // Status.Open(), kept so a filter pass compares a bool
	Source     string // the trigger's source, "declared" when opened by hand
	AlertCount int
	Entries    uint64
	OpenedAt   time.Time
	AckAt      time.Time
	MitAt      time.Time
	ResAt      time.Time
	// haystack is the lower-cased text a search looks in.
	haystack string
	// serviceKey is the lower-cased service, for the service filter.
	serviceKey string
}

func summarize(inc *incidents.Incident) summary {
	src := inc.Trigger.Source
	if src == "" {
		src = "declared"
		if inc.Fingerprint != "" || inc.AlertCount > 0 {
			src = "alert"
		}
	}
	return summary{
		Number:     inc.Number,
		Title:      inc.Title,
		Service:    inc.Service,
		Playbook:   inc.Playbook,
		Severity:   inc.Severity,
		Status:     inc.Status,
		open:       inc.Status.Open(),
		Source:     src,
		AlertCount: inc.AlertCount,
		Entries:    inc.Entries,
		OpenedAt:   inc.OpenedAt,
		AckAt:      inc.AcknowledgedAt,
		MitAt:      inc.MitigatedAt,
		ResAt:      inc.ResolvedAt,
		haystack:   strings.ToLower("#" + strconv.FormatUint(inc.Number, 10) + " " + inc.Title + " " + inc.Service + " " + inc.Playbook),
		serviceKey: strings.ToLower(inc.Service),
	}
}

// index is the in-memory summary of every incident, newest first. It is
// built once by a full scan and then refreshed cheaply: resolved incidents
// never change, so a refresh reads only incidents numbered above the
// highest known one and re-reads those that were open.
type index struct {
	store incidents.Store
	every time.Duration // refresh at most this often
	now   func() time.Time

	mu      sync.Mutex // serialises refreshes
	loaded  time.Time
	current *snapshot
}

// snapshot is one published state of the index; nothing in it changes
// after publication, so requests read it without locks.
type snapshot struct {
	all      []summary // newest first
	services []string  // distinct services, for the filter's choices

	// overviews caches computed overviews by days and minute, so a
	// dashboard reloaded by many people computes once per minute.
	mu        sync.Mutex
	overviews map[overviewKey]*overviewData
}

type overviewKey struct {
	days   int
	minute int64
}

// overview returns the overview of the last days as of now, computed at
// most once per minute and snapshot.
func (s *snapshot) overview(now time.Time, days int) *overviewData {
	k := overviewKey{days, now.Unix() / 60}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.overviews[k]; ok {
		return d
	}
	if s.overviews == nil || len(s.overviews) > 8 {
		s.overviews = map[overviewKey]*overviewData{}
	}
	d := buildOverview(s.all, now, days)
	s.overviews[k] = &d
	return &d
}

var errStop = errors.New("stop")

// get returns the summaries, refreshed if they are older than every.
// The snapshot must not be changed.
func (ix *index) get(ctx context.Context) (*snapshot, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.current != nil && ix.now().Sub(ix.loaded) < ix.every {
		return ix.current, nil
	}
	var old []summary
	if ix.current != nil {
		old = ix.current.all
	}
	next, changed, err := ix.refresh(ctx, old)
	if err != nil {
		return nil, err
	}
	if ix.current == nil || changed {
		ix.current = &snapshot{all: next, services: services(next, maxServices)}
	}
	ix.loaded = ix.now()
	return ix.current, nil
}

// maxServices bounds the service filter's choices.
const maxServices = 200

// refresh returns a new slice built from old: new numbers prepended, open
// incidents re-read. old itself is never modified, so a request still
// reading it is safe.
func (ix *index) refresh(ctx context.Context, old []summary) (next []summary, changed bool, err error) {
	var top uint64
	if len(old) > 0 {
		top = old[0].Number
	}
	var fresh []summary
	reread := map[uint64]summary{}
	err = ix.store.View(ctx, func(tx incidents.ReadTx) error {
		fresh = fresh[:0]
		clear(reread)
		err := tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			if inc.Number <= top {
				return errStop
			}
			fresh = append(fresh, summarize(inc))
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
		for i := range old {
			if old[i].Status.Open() {
				inc, err := tx.Incident(old[i].Number)
				if errors.Is(err, incidents.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				reread[inc.Number] = summarize(inc)
			}
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("web view: reading incidents: %w", err)
	}
	if len(fresh) == 0 && !differs(old, reread) {
		return old, false, nil
	}
	next = make([]summary, 0, len(fresh)+len(old))
	next = append(next, fresh...)
	for _, s := range old {
		if r, ok := reread[s.Number]; ok {
			s = r
		}
		next = append(next, s)
	}
	// Numbers are unique and streamed newest first; keep that order even
	// if a store streams otherwise.
	if !slices.IsSortedFunc(next, func(a, b summary) int { return cmpDesc(a.Number, b.Number) }) {
		slices.SortFunc(next, func(a, b summary) int { return cmpDesc(a.Number, b.Number) })
	}
	return next, true, nil
}

// differs reports whether a re-read open incident changed, so an idle
// refresh publishes nothing new.
func differs(old []summary, reread map[uint64]summary) bool {
	for i := range old {
		if r, ok := reread[old[i].Number]; ok && r != old[i] {
			return true
		}
	}
	return false
}

func cmpDesc(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// filter is what the list page asks for.
type filter struct {
	Status   string // "", "open", "resolved", or one incidents.Status
	Severity incidents.Severity
	Service  string // exact, any case
	Text     string // substring of number, title, service or playbook
}

func (f filter) match(s *summary) bool {
	switch f.Status {
	case "":
	case "open":
		if !s.open {
			return false
		}
	default:
		if string(s.Status) != f.Status {
			return false
		}
	}
	if f.Severity != incidents.SevUnknown && s.Severity != f.Severity {
		return false
	}
	if f.Service != "" && s.serviceKey != f.Service {
		return false
	}
	if f.Text != "" && !strings.Contains(s.haystack, f.Text) {
		return false
	}
	return true
}

// query returns one page of matches, open incidents first, then the
// rest, each newest first, and how many matched in all.
func query(all []summary, f filter, offset, limit int) (page []*summary, total int) {
	f.Service = strings.ToLower(strings.TrimSpace(f.Service))
	f.Text = strings.ToLower(strings.TrimSpace(f.Text))
	for pass := range 2 {
		wantOpen := pass == 0
		for i := range all {
			s := &all[i]
			if s.open != wantOpen || !f.match(s) {
				continue
			}
			if total >= offset && len(page) < limit {
				page = append(page, s)
			}
			total++
		}
	}
	return page, total
}

// services lists the distinct service names, most incidents first, at most max.
func services(all []summary, limit int) []string {
	count := map[string]int{}
	name := map[string]string{}
	for i := range all {
		if all[i].Service == "" {
			continue
		}
		count[all[i].serviceKey]++
		name[all[i].serviceKey] = all[i].Service
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if count[a] != count[b] {
			return count[b] - count[a]
		}
		return strings.Compare(a, b)
	})
	if len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = name[k]
	}
	slices.Sort(out)
	return out
}
