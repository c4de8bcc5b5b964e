package incidentstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// memOutbox is the in-memory outbox of a MemStore: effects recorded with
// Enqueue inside an Update, kept in ID order with their delivery state, as
// storage.Outbox keeps them on bbolt.
type memOutbox struct {
	last      uint64
	effects   map[uint64]incidents.Effect
	keys      map[string]uint64
	committed chan struct{}
}

// Enqueue implements incidents.Tx: the effect is kept in the transaction's
// overlay and recorded only if the Update commits, which then signals
// Committed.
func (tx *memTx) Enqueue(e *incidents.Effect) error {
	if tx.w == nil {
		return errReadOnly
	}
	if e == nil {
		return errors.New("enqueue effect: nil effect")
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("enqueue effect: %w", err)
	}
	// A JSON round trip, as storage does: what the worker reads back is
	// what was stored, never the caller's slices.
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("enqueue effect of incident #%d: %w", e.Incident, err)
	}
	tx.w.lastEffect++
	e.ID = tx.w.lastEffect
	var stored incidents.Effect
	if err := json.Unmarshal(v, &stored); err != nil {
		return fmt.Errorf("enqueue effect of incident #%d: %w", e.Incident, err)
	}
	stored.ID = e.ID
	tx.w.effects = append(tx.w.effects, stored)
	return nil
}

// Committed implements bot/outbox.Store: it receives (at most one pending
// value) after an Update that enqueued effects has committed.
func (m *MemStore) Committed() <-chan struct{} { return m.box.committed }

// PendingEffects implements bot/outbox.Store: effects not yet settled with
// ID > after, in ID order, as copies.
func (m *MemStore) PendingEffects(ctx context.Context, after uint64, fn func(incidents.Effect) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	var pending []incidents.Effect
	for id, e := range m.box.effects {
		if id > after && e.Status == incidents.EffectPending {
			pending = append(pending, cloneEffect(e))
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(pending, func(a, b incidents.Effect) int { return cmpU64(a.ID, b.ID) })
	for _, e := range pending {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Settle implements bot/outbox.Store. Settling a settled effect changes
// nothing.
func (m *MemStore) Settle(ctx context.Context, id uint64, r incidents.EffectResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.Status == incidents.EffectPending {
		return fmt.Errorf("settle effect %d: status must be delivered, coalesced or gave_up", id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.box.effects[id]
	if !ok {
		return fmt.Errorf("settle effect %d: %w", id, incidents.ErrNotFound)
	}
	if e.Status != incidents.EffectPending {
		return nil
	}
	e.Status, e.Attempts, e.SettledAt, e.Ref, e.Reason = r.Status, r.Attempts, r.At, r.Ref, r.Reason
	m.box.effects[id] = e
	if e.Status == incidents.EffectDelivered && e.Key != "" && e.Kind == incidents.EffectPost {
		m.box.keys[e.Key] = id
	}
	return nil
}

// Ref implements bot/outbox.Store: where the latest delivered post with
// Key == key landed.
func (m *MemStore) Ref(ctx context.Context, key string) (incidents.EffectRef, bool, error) {
	if err := ctx.Err(); err != nil {
		return incidents.EffectRef{}, false, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.box.keys[key]
	if !ok {
		return incidents.EffectRef{}, false, nil
	}
	return m.box.effects[id].Ref, true, nil
}

// Effects returns every recorded effect in ID order, settled or not, for
// tests that check what an intent recorded.
func (m *MemStore) Effects() []incidents.Effect {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]incidents.Effect, 0, len(m.box.effects))
	for _, e := range m.box.effects {
		out = append(out, cloneEffect(e))
	}
	slices.SortFunc(out, func(a, b incidents.Effect) int { return cmpU64(a.ID, b.ID) })
	return out
}

// PendingCount is how many effects wait for delivery.
func (m *MemStore) PendingCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, e := range m.box.effects {
		if e.Status == incidents.EffectPending {
			n++
		}
	}
	return n
}

func (m *MemStore) commitEffects(w *overlay) {
	if len(w.effects) == 0 {
		return
	}
	m.box.last = w.lastEffect
	for _, e := range w.effects {
		m.box.effects[e.ID] = e
	}
	select {
	case m.box.committed <- struct{}{}:
	default:
	}
}

func cloneEffect(e incidents.Effect) incidents.Effect {
	e.Message.Fields = slices.Clone(e.Message.Fields)
	e.Message.Buttons = slices.Clone(e.Message.Buttons)
	if e.Message.File != nil {
		f := *e.Message.File
		f.Content = slices.Clone(f.Content)
		e.Message.File = &f
	}
	return e
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Effect loads one effect, settled or not; errors.Is(err,
// incidents.ErrNotFound) when there is none with that id.
func (m *MemStore) Effect(ctx context.Context, id uint64) (incidents.Effect, error) {
	if err := ctx.Err(); err != nil {
		return incidents.Effect{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.box.effects[id]
	if !ok {
		return incidents.Effect{}, fmt.Errorf("effect %d: %w", id, incidents.ErrNotFound)
	}
	return cloneEffect(e), nil
}

// Counts reports how many effects are recorded and how many wait.
func (m *MemStore) Counts(ctx context.Context) (all, pending int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	return len(m.Effects()), m.PendingCount(), nil
}

// Prune implements bot/outbox.Pruner as storage.Outbox does: settled
// effects that settled before before are deleted, at most limit looked at
// after after, except the latest delivered post of each Key.
func (m *MemStore) Prune(ctx context.Context, before time.Time, after uint64, limit int) (last uint64, deleted int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if limit <= 0 {
		return 0, 0, fmt.Errorf("prune effects: limit must be positive, not %d", limit)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]uint64, 0, len(m.box.effects))
	for id := range m.box.effects {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	scanned := 0
	for _, id := range ids {
		if scanned == limit {
			return last, deleted, nil
		}
		scanned++
		e := m.box.effects[id]
		if !e.CreatedAt.Before(before) {
			return 0, deleted, nil
		}
		last = id
		if e.Status == incidents.EffectPending || !e.SettledAt.Before(before) {
			continue
		}
		if e.Key != "" && m.box.keys[e.Key] == id {
			continue
		}
		delete(m.box.effects, id)
		deleted++
	}
	return 0, deleted, nil
}
