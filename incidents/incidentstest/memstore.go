// Package incidentstest provides an in-memory incidents.Store and a fake
// clock, so tests of incidents and of the packages built on it (bot, the
// adapters, alert intake) run without a database file.
//
// MemStore keeps the same guarantees the storage package gives on bbolt:
// an Update commits all of its writes or none, writers are serialised, and
// every value handed out is a copy. It is not durable, which is the point.
package incidentstest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

var _ incidents.Store = (*MemStore)(nil)

// errReadOnly is what a write through a View transaction returns; the
// interfaces never allow it, but a type assertion could.
var errReadOnly = errors.New("incidentstest: write in a read-only transaction")

// timerID is what makes a timer unique: PutTimer with the same three
// replaces the earlier one.
type timerID struct {
	due      int64
	incident uint64
	key      string
}

func idOf(t incidents.Timer) timerID {
	return timerID{due: t.Due.UnixNano(), incident: t.Incident, key: t.Key}
}

// MemStore is an in-memory incidents.Store for tests. The zero value is not
// usable; call NewMemStore.
type MemStore struct {
	// mu lets many Views read at once and gives one Update at a time the
	// whole store, which is what serialises writers.
	mu        sync.RWMutex
	last      uint64 // highest incident number handed out
	incidents map[uint64]*incidents.Incident
	timelines map[uint64][]incidents.Entry // in Seq order; Seq = index+1
	openFP    map[string]uint64
	seen      map[string]time.Time
	timers    map[timerID]incidents.Timer
	// alerts holds one record per (incident, fingerprint), as storage does.
	alerts  map[uint64]map[string]incidents.AlertState
	updates int
	// box holds the recorded effects (see outbox.go).
	box memOutbox
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{
		incidents: map[uint64]*incidents.Incident{},
		timelines: map[uint64][]incidents.Entry{},
		openFP:    map[string]uint64{},
		seen:      map[string]time.Time{},
		timers:    map[timerID]incidents.Timer{},
		alerts:    map[uint64]map[string]incidents.AlertState{},
		box:       memOutbox{effects: map[uint64]incidents.Effect{}, keys: map[string]uint64{}, committed: make(chan struct{}, 1)},
	}
}

// View runs fn against a consistent snapshot: writers wait until fn returns.
func (m *MemStore) View(ctx context.Context, fn func(incidents.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("incidentstest: view: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return fn(&memTx{m: m})
}

// Update runs fn with a copy-on-write overlay over the store and applies
// the overlay only when fn returns nil, so a failed intent leaves nothing
// behind. Writers are serialised by a mutex.
func (m *MemStore) Update(ctx context.Context, fn func(incidents.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("incidentstest: update: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := newOverlay(m)
	if err := fn(tx); err != nil {
		return err
	}
	tx.commit()
	m.updates++
	return nil
}

// Updates reports how many Update calls committed, so tests can check
// that a whole batch took one transaction.
func (m *MemStore) Updates() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.updates
}

// memTx is a read transaction when w is nil, a write transaction otherwise.
type memTx struct {
	m *MemStore
	w *overlay
}

// overlay holds what a write transaction changed until it commits.
type overlay struct {
	last      uint64
	incidents map[uint64]*incidents.Incident
	appended  map[uint64][]incidents.Entry
	// openFP maps fingerprints written in this transaction; 0 = cleared.
	openFP map[string]uint64
	seen   map[string]time.Time
	// timers written in this transaction; ok=false = deleted.
	timers map[timerID]timerWrite
	// alerts written in this transaction.
	alerts map[uint64]map[string]incidents.AlertState
	// effects enqueued in this transaction, and the last effect id.
	effects    []incidents.Effect
	lastEffect uint64
}

type timerWrite struct {
	t  incidents.Timer
	ok bool
}

func newOverlay(m *MemStore) *memTx {
	return &memTx{m: m, w: &overlay{
		last:       m.last,
		incidents:  map[uint64]*incidents.Incident{},
		appended:   map[uint64][]incidents.Entry{},
		openFP:     map[string]uint64{},
		seen:       map[string]time.Time{},
		timers:     map[timerID]timerWrite{},
		alerts:     map[uint64]map[string]incidents.AlertState{},
		lastEffect: m.box.last,
	}}
}

func (tx *memTx) commit() {
	m, w := tx.m, tx.w
	m.last = w.last
	maps.Copy(m.incidents, w.incidents)
	for n, es := range w.appended {
		m.timelines[n] = append(m.timelines[n], es...)
	}
	for fp, n := range w.openFP {
		if n == 0 {
			delete(m.openFP, fp)
		} else {
			m.openFP[fp] = n
		}
	}
	maps.Copy(m.seen, w.seen)
	for n, as := range w.alerts {
		if m.alerts[n] == nil {
			m.alerts[n] = map[string]incidents.AlertState{}
		}
		maps.Copy(m.alerts[n], as)
	}
	for id, tw := range w.timers {
		if tw.ok {
			m.timers[id] = tw.t
		} else {
			delete(m.timers, id)
		}
	}
	m.commitEffects(w)
}

// incident returns the stored (not copied) incident as this transaction sees it.
func (tx *memTx) incident(n uint64) *incidents.Incident {
	if tx.w != nil {
		if inc, ok := tx.w.incidents[n]; ok {
			return inc
		}
	}
	return tx.m.incidents[n]
}

func (tx *memTx) lastNumber() uint64 {
	if tx.w != nil {
		return tx.w.last
	}
	return tx.m.last
}

// Incident returns a copy of incident number.
func (tx *memTx) Incident(number uint64) (*incidents.Incident, error) {
	inc := tx.incident(number)
	if inc == nil {
		return nil, fmt.Errorf("incident #%d: %w", number, incidents.ErrNotFound)
	}
	return tx.withEntries(inc.Clone()), nil
}

// withEntries sets inc.Entries from the timeline, as storage does: the
// timeline is the only source of truth for it.
func (tx *memTx) withEntries(inc *incidents.Incident) *incidents.Incident {
	n := len(tx.m.timelines[inc.Number])
	if tx.w != nil {
		n += len(tx.w.appended[inc.Number])
	}
	inc.Entries = uint64(n)
	return inc
}

// OpenByFingerprint looks fp up in the overlay first, then the store.
func (tx *memTx) OpenByFingerprint(fp string) (uint64, bool, error) {
	if tx.w != nil {
		if n, ok := tx.w.openFP[fp]; ok {
			return n, n != 0, nil
		}
	}
	n, ok := tx.m.openFP[fp]
	return n, ok, nil
}

// LatestInHome scans from the newest incident down; homes match exactly
// (platform, channel and thread).
func (tx *memTx) LatestInHome(h incidents.Home) (uint64, bool, error) {
	for n := tx.lastNumber(); n > 0; n-- {
		if inc := tx.incident(n); inc != nil && inc.Home == h {
			return n, true, nil
		}
	}
	return 0, false, nil
}

// InChannel scans from the newest incident down for those homed in the
// channel or one of its threads.
func (tx *memTx) InChannel(platform, channel string, openOnly bool, fn func(uint64) error) error {
	for n := tx.lastNumber(); n > 0; n-- {
		inc := tx.incident(n)
		if inc == nil || (openOnly && !inc.Status.Open()) || inc.Home.Platform != platform || inc.Home.Channel != channel {
			continue
		}
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// Entries walks the stored timeline and then this transaction's appends,
// copying one entry at a time, so a 100,000-entry timeline is never copied
// as a whole.
func (tx *memTx) Entries(number uint64, after uint64, fn func(incidents.Entry) error) error {
	if tx.incident(number) == nil {
		return fmt.Errorf("timeline of incident #%d: %w", number, incidents.ErrNotFound)
	}
	stored := tx.m.timelines[number]
	var added []incidents.Entry
	if tx.w != nil {
		added = tx.w.appended[number]
	}
	for i := after; i < uint64(len(stored))+uint64(len(added)); i++ {
		var e incidents.Entry
		if i < uint64(len(stored)) {
			e = stored[i]
		} else {
			e = added[i-uint64(len(stored))]
		}
		if err := fn(e.Clone()); err != nil {
			return err
		}
	}
	return nil
}

// Incidents walks numbers from the newest down.
func (tx *memTx) Incidents(openOnly bool, limit int, fn func(*incidents.Incident) error) error {
	sent := 0
	for n := tx.lastNumber(); n > 0; n-- {
		if limit > 0 && sent >= limit {
			return nil
		}
		inc := tx.incident(n)
		if inc == nil || (openOnly && !inc.Status.Open()) {
			continue
		}
		sent++
		if err := fn(tx.withEntries(inc.Clone())); err != nil {
			return err
		}
	}
	return nil
}

// allTimers merges the store's timers with this transaction's writes.
func (tx *memTx) allTimers() []incidents.Timer {
	out := make([]incidents.Timer, 0, len(tx.m.timers))
	for id, t := range tx.m.timers {
		if tx.w != nil {
			if _, written := tx.w.timers[id]; written {
				continue
			}
		}
		out = append(out, t)
	}
	if tx.w != nil {
		for _, tw := range tx.w.timers {
			if tw.ok {
				out = append(out, tw.t)
			}
		}
	}
	return out
}

// DueTimers streams due timers ordered by due time, then incident, then key.
func (tx *memTx) DueTimers(t time.Time, fn func(incidents.Timer) error) error {
	var due []incidents.Timer
	for _, tm := range tx.allTimers() {
		if !tm.Due.After(t) {
			due = append(due, tm)
		}
	}
	slices.SortFunc(due, func(a, b incidents.Timer) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.Incident, b.Incident), strings.Compare(a.Key, b.Key))
	})
	for _, tm := range due {
		tm.Data = maps.Clone(tm.Data)
		if err := fn(tm); err != nil {
			return err
		}
	}
	return nil
}

// CreateIncident numbers inc and stores a copy.
func (tx *memTx) CreateIncident(inc *incidents.Incident) error {
	if tx.w == nil {
		return errReadOnly
	}
	tx.w.last++
	inc.Number = tx.w.last
	tx.w.incidents[inc.Number] = inc.Clone()
	return nil
}

// PutIncident replaces a stored incident with a copy of inc.
func (tx *memTx) PutIncident(inc *incidents.Incident) error {
	if tx.w == nil {
		return errReadOnly
	}
	if tx.incident(inc.Number) == nil {
		return fmt.Errorf("put incident #%d: %w", inc.Number, incidents.ErrNotFound)
	}
	tx.w.incidents[inc.Number] = inc.Clone()
	return nil
}

// AppendEntry numbers e after everything on the timeline, this
// transaction's appends included, and stores a copy.
func (tx *memTx) AppendEntry(e *incidents.Entry) error {
	if tx.w == nil {
		return errReadOnly
	}
	if tx.incident(e.Incident) == nil {
		return fmt.Errorf("append to the timeline of incident #%d: %w", e.Incident, incidents.ErrNotFound)
	}
	added := tx.w.appended[e.Incident]
	e.Seq = uint64(len(tx.m.timelines[e.Incident])+len(added)) + 1
	tx.w.appended[e.Incident] = append(added, e.Clone())
	return nil
}

// SetOpenFingerprint points fp at number.
func (tx *memTx) SetOpenFingerprint(fp string, number uint64) error {
	if tx.w == nil {
		return errReadOnly
	}
	if number == 0 {
		return fmt.Errorf("group fingerprint %q: incident number 0: %w", fp, incidents.ErrNotFound)
	}
	tx.w.openFP[fp] = number
	return nil
}

// ClearOpenFingerprint removes fp from the index.
func (tx *memTx) ClearOpenFingerprint(fp string) error {
	if tx.w == nil {
		return errReadOnly
	}
	tx.w.openFP[fp] = 0
	return nil
}

// MarkSeen records eventID unless it is already recorded.
func (tx *memTx) MarkSeen(eventID string, at time.Time) (bool, error) {
	if tx.w == nil {
		return false, errReadOnly
	}
	if _, ok := tx.w.seen[eventID]; ok {
		return true, nil
	}
	if _, ok := tx.m.seen[eventID]; ok {
		return true, nil
	}
	tx.w.seen[eventID] = at
	return false, nil
}

// PutTimer stores t, replacing one with the same due time, incident and key.
func (tx *memTx) PutTimer(t incidents.Timer) error {
	if tx.w == nil {
		return errReadOnly
	}
	t.Data = maps.Clone(t.Data)
	tx.w.timers[idOf(t)] = timerWrite{t: t, ok: true}
	return nil
}

// DeleteTimer removes t if present.
func (tx *memTx) DeleteTimer(t incidents.Timer) error {
	if tx.w == nil {
		return errReadOnly
	}
	tx.w.timers[idOf(t)] = timerWrite{}
	return nil
}

// DeleteTimers removes every timer of incident whose key has keyPrefix.
func (tx *memTx) DeleteTimers(incident uint64, keyPrefix string) error {
	if tx.w == nil {
		return errReadOnly
	}
	for _, t := range tx.allTimers() {
		if t.Incident == incident && strings.HasPrefix(t.Key, keyPrefix) {
			tx.w.timers[idOf(t)] = timerWrite{}
		}
	}
	return nil
}

// cloneAlert copies a's maps, so stored records never share them.
func cloneAlert(a incidents.AlertState) incidents.AlertState {
	a.Labels, a.Annotations = maps.Clone(a.Labels), maps.Clone(a.Annotations)
	return a
}

// alert returns the stored (not copied) record as this transaction sees it.
func (tx *memTx) alert(number uint64, fp string) (incidents.AlertState, bool) {
	if tx.w != nil {
		if a, ok := tx.w.alerts[number][fp]; ok {
			return a, true
		}
	}
	a, ok := tx.m.alerts[number][fp]
	return a, ok
}

// Alert returns a copy of one alert record.
func (tx *memTx) Alert(number uint64, fp string) (incidents.AlertState, bool, error) {
	a, ok := tx.alert(number, fp)
	if !ok {
		return incidents.AlertState{}, false, nil
	}
	return cloneAlert(a), true, nil
}

// Alerts streams an incident's alert records in fingerprint order. Only the
// fingerprints are gathered up front; each record is copied as it is sent.
func (tx *memTx) Alerts(number uint64, fn func(incidents.AlertState) error) error {
	fps := slices.Collect(maps.Keys(tx.m.alerts[number]))
	if tx.w != nil {
		for fp := range tx.w.alerts[number] {
			if _, stored := tx.m.alerts[number][fp]; !stored {
				fps = append(fps, fp)
			}
		}
	}
	slices.Sort(fps)
	for _, fp := range fps {
		a, ok := tx.alert(number, fp)
		if !ok {
			continue
		}
		if err := fn(cloneAlert(a)); err != nil {
			return err
		}
	}
	return nil
}

// PutAlert stores a copy of a as incident number's record of a.Fingerprint.
func (tx *memTx) PutAlert(number uint64, a incidents.AlertState) error {
	if tx.w == nil {
		return errReadOnly
	}
	if tx.incident(number) == nil {
		return fmt.Errorf("put alert %s of incident #%d: %w", a.Fingerprint, number, incidents.ErrNotFound)
	}
	if a.Fingerprint == "" {
		return fmt.Errorf("put alert of incident #%d: empty fingerprint", number)
	}
	if tx.w.alerts[number] == nil {
		tx.w.alerts[number] = map[string]incidents.AlertState{}
	}
	tx.w.alerts[number][a.Fingerprint] = cloneAlert(a)
	return nil
}
