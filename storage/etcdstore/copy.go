package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Snapshot is the store frozen at one revision: every View sees the store
// as it was when Snapshot was taken, however long the reading lasts and
// whatever the replicas write meanwhile, so `firebreak backup` copies one
// consistent state without stopping them. It is read-only. Reading fails
// with etcd's "required revision has been compacted" once the cluster's
// compaction passes the revision (an hour with the example cluster's
// settings).
type Snapshot struct {
	s   *Store
	rev int64
}

var _ incidents.Store = (*Snapshot)(nil)

// errSnapshotReadOnly is what Update on a Snapshot returns.
var errSnapshotReadOnly = errors.New("etcd snapshot: read-only")

// Snapshot pins the current revision (with a linearizable read, after
// applying any large Update committed but not yet applied).
func (s *Store) Snapshot(ctx context.Context) (*Snapshot, error) {
	rev, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return &Snapshot{s: s, rev: rev}, nil
}

// Revision is the etcd revision the snapshot reads at.
func (p *Snapshot) Revision() int64 { return p.rev }

// View runs fn on the pinned revision.
func (p *Snapshot) View(ctx context.Context, fn func(incidents.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd view: %w", err)
	}
	return fn(&txn{ctx: ctx, s: p.s, rev: p.rev})
}

// Update refuses: a snapshot is for reading.
func (p *Snapshot) Update(context.Context, func(incidents.Tx) error) error {
	return errSnapshotReadOnly
}

// SeenIDs streams every seen event id that has not expired, with when it
// was seen, in byte order of the id. It is not part of incidents.ReadTx:
// `firebreak migrate` and `backup` use it so that a chat event delivered
// again after a move is still recognised.
func (t *txn) SeenIDs(fn func(id string, at time.Time) error) error {
	p := t.s.k.seen("")
	return t.scan(p, prefixEnd(p), func(k string, v []byte) error {
		at, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			return fmt.Errorf("seen event %q: %w (%w)", k[len(p):], err, errDamaged)
		}
		return fn(k[len(p):], at)
	})
}

// RestoreSeen records an event id seen at `at` in another store, so that
// it expires when it would have there (SeenTTL after at, rounded up to a
// slice of SeenTTL/8) rather than a whole SeenTTL after the copy; MarkSeen
// counts from now. An id already expired is not written (restored false),
// nor one already recorded. It is not part of incidents.Tx: `firebreak
// migrate to-etcd` uses it.
func (t *txn) RestoreSeen(eventID string, at time.Time) (restored bool, err error) {
	if eventID == "" {
		return false, errors.New("restore seen event: empty event id")
	}
	if t.writes == nil {
		return false, errReadOnly
	}
	k := t.s.k.seen(eventID)
	if _, ok, err := t.get(k); err != nil || ok {
		return false, err
	}
	lease, ok, err := t.s.restoredSeenLeaseID(t.ctx, at)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("restore seen event %q: %w", eventID, err)
		}
		return false, err
	}
	t.set(k, write{val: []byte(at.UTC().Format(time.RFC3339Nano)), lease: lease})
	return true, nil
}

// Effects streams the outbox's effects in ID order: the pending ones, and
// with settled also those already delivered, coalesced or given up. It is
// not part of incidents.ReadTx: `firebreak migrate` and `backup` use it.
func (t *txn) Effects(settled bool, fn func(incidents.Effect) error) error {
	prefixes := []string{t.s.k.pendingEffects()}
	if settled {
		prefixes = append(prefixes, t.s.k.settledEffects())
	}
	// Both ranges are in ID order: hold the pending ones (few: what the
	// worker has not delivered yet) and merge them in while streaming the
	// settled ones, which can be many.
	var pending []incidents.Effect
	if err := t.scanEffects(prefixes[0], func(e incidents.Effect) error {
		if !settled {
			return fn(e)
		}
		pending = append(pending, e)
		return nil
	}); err != nil || !settled {
		return err
	}
	i := 0
	err := t.scanEffects(prefixes[1], func(e incidents.Effect) error {
		for ; i < len(pending) && pending[i].ID < e.ID; i++ {
			if err := fn(pending[i]); err != nil {
				return err
			}
		}
		return fn(e)
	})
	if err != nil {
		return err
	}
	for ; i < len(pending); i++ {
		if err := fn(pending[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) scanEffects(p string, fn func(incidents.Effect) error) error {
	return t.scan(p, prefixEnd(p), func(k string, v []byte) error {
		id, err := parseNum(k[len(p):])
		if err != nil {
			return err
		}
		e, err := decodeEffect(id, v)
		if err != nil {
			return err
		}
		return fn(e)
	})
}

// RestoreEffect writes an effect copied from another store with its ID
// and status kept (Enqueue would number it anew and take pending ones
// only): a pending one is delivered by the next worker, a delivered post
// with a Key stays the message later updates edit. Copy effects in ID
// order. It is not part of incidents.Tx: `firebreak migrate` uses it.
func (t *txn) RestoreEffect(e incidents.Effect) error {
	if t.writes == nil {
		return errReadOnly
	}
	if e.ID == 0 {
		return errors.New("restore effect: no id")
	}
	last, err := t.getNum(t.s.k.outboxLast())
	if err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("restore effect %d: %w", e.ID, err)
	}
	k := t.s.k.settledEffect(e.ID)
	if e.Status == incidents.EffectPending {
		k = t.s.k.pendingEffect(e.ID)
	}
	if err := t.put(k, v); err != nil {
		return err
	}
	if e.ID > last {
		if err := t.putNum(t.s.k.outboxLast(), e.ID); err != nil {
			return err
		}
	}
	if e.Status == incidents.EffectDelivered && e.Key != "" && e.Kind == incidents.EffectPost {
		return t.putNum(t.s.k.effectRef(e.Key), e.ID)
	}
	return nil
}
