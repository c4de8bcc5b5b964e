package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
)

// The outbox's buckets. They are stored, so never rename one.
//
//	outbox          id(8)   → JSON incidents.Effect (every effect, delivered or not)
//	outbox_pending  id(8)   → (empty) for every effect not yet settled
//	outbox_keys     key     → id(8) of the latest delivered effect with that Key
//
// They are part of the schema (schemaBuckets): Open creates them in place
// on a file written before the outbox existed, in the same one-time
// transaction that creates any other missing bucket, and the schema
// version stays 4 because an older Firebreak reading the file ignores
// them (it would not deliver what a newer one recorded).
const (
	bucketOutbox        = "outbox"
	bucketOutboxPending = "outbox_pending"
	bucketOutboxKeys    = "outbox_keys"
)

func outboxBuckets() []string {
	return []string{bucketOutbox, bucketOutboxPending, bucketOutboxKeys}
}

// schemaBuckets is every bucket Open makes sure exists: the incident
// store's and the outbox's.
func schemaBuckets() []string { return append(allBuckets(), outboxBuckets()...) }

// Outbox is the durable side of Firebreak's outbox on a DB: intents record
// effects with incidents.Tx.Enqueue inside their Update, and the outbox
// worker (bot/outbox) streams the pending ones, settles them and looks up
// where earlier messages landed. It is safe for concurrent use. Each DB
// has one (DB.Outbox); its Committed channel is the worker's wake-up call.
type Outbox struct {
	db        *DB
	committed chan struct{}
}

// NewOutbox returns db's outbox (the same as db.Outbox()), or ErrClosed.
func NewOutbox(db *DB) (*Outbox, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.outbox, nil
}

// Committed receives (at most one pending value, however many commits)
// after a transaction that enqueued effects has committed durably, so the
// worker delivers at once and never polls.
func (o *Outbox) Committed() <-chan struct{} { return o.committed }

// Enqueue records e in tx, the write transaction of the intent that causes
// it, so the effect and the change commit together or not at all. It
// assigns e.ID (increasing in commit order) and, once tx has committed and
// been fsynced, signals Committed. tx must be a transaction of this
// Outbox's DB, passed to an Update fn; intents call tx.Enqueue, which
// comes here.
func (o *Outbox) Enqueue(tx incidents.Tx, e *incidents.Effect) error {
	t, ok := tx.(*txn)
	if !ok || !t.tx.Writable() || t.tx.DB() != o.db.bolt {
		return errors.New("enqueue effect: not a write transaction of this outbox's database")
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("enqueue effect: %w", err)
	}
	// From here on the transaction may have been written to: a failure
	// must roll back the whole batch, not only this intent (see commit.go).
	t.wrote()
	b, err := outboxHandles(t.tx)
	if err != nil {
		return err
	}
	id, err := b.effects.NextSequence()
	if err != nil {
		return fmt.Errorf("enqueue effect: %w", err)
	}
	e.ID = id
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("enqueue effect of incident #%d: %w", e.Incident, err)
	}
	if err := b.effects.Put(u64Key(id), v); err != nil {
		return fmt.Errorf("enqueue effect of incident #%d: %w", e.Incident, err)
	}
	if err := b.pending.Put(u64Key(id), nil); err != nil {
		return fmt.Errorf("enqueue effect of incident #%d: %w", e.Incident, err)
	}
	t.tx.OnCommit(o.signal)
	return nil
}

func (o *Outbox) signal() {
	select {
	case o.committed <- struct{}{}:
	default:
	}
}

// outboxBucketSet are the outbox's bucket handles in one transaction.
type outboxBucketSet struct{ effects, pending, keys *bolt.Bucket }

// outboxHandles finds the outbox buckets; in a write transaction it
// creates missing ones (a file opened without NewOutbox).
func outboxHandles(tx *bolt.Tx) (outboxBucketSet, error) {
	var s outboxBucketSet
	for _, h := range []struct {
		name string
		dst  **bolt.Bucket
	}{{bucketOutbox, &s.effects}, {bucketOutboxPending, &s.pending}, {bucketOutboxKeys, &s.keys}} {
		*h.dst = tx.Bucket([]byte(h.name))
		if *h.dst != nil || !tx.Writable() {
			continue
		}
		var err error
		if *h.dst, err = tx.CreateBucket([]byte(h.name)); err != nil {
			return s, fmt.Errorf("creating bucket %q: %w", h.name, err)
		}
	}
	return s, nil
}

// PendingEffects streams effects not yet settled with ID > after, in ID
// order, from one consistent snapshot. Values are copies fn may keep;
// fn's error stops the stream and is returned.
func (o *Outbox) PendingEffects(ctx context.Context, after uint64, fn func(incidents.Effect) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.db.closed.Load() {
		return ErrClosed
	}
	return o.db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := outboxHandles(tx)
		if b.pending == nil || b.effects == nil {
			return nil
		}
		c := b.pending.Cursor()
		for k, _ := c.Seek(u64Key(after + 1)); k != nil; k, _ = c.Next() {
			id, ok := readU64(k)
			if !ok {
				return fmt.Errorf("outbox pending key of %d bytes: %w", len(k), errDamaged)
			}
			if id <= after {
				continue
			}
			e, err := decodeEffect(id, b.effects.Get(k))
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Effect loads one effect, settled or not; errors.Is(err,
// incidents.ErrNotFound) when there is none with that id.
func (o *Outbox) Effect(ctx context.Context, id uint64) (incidents.Effect, error) {
	var e incidents.Effect
	if err := ctx.Err(); err != nil {
		return e, err
	}
	if o.db.closed.Load() {
		return e, ErrClosed
	}
	err := o.db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := outboxHandles(tx)
		if b.effects == nil {
			return fmt.Errorf("effect %d: %w", id, incidents.ErrNotFound)
		}
		var err error
		e, err = decodeEffect(id, b.effects.Get(u64Key(id)))
		return err
	})
	return e, err
}

func decodeEffect(id uint64, v []byte) (incidents.Effect, error) {
	if v == nil {
		return incidents.Effect{}, fmt.Errorf("effect %d: %w", id, incidents.ErrNotFound)
	}
	e, err := incidents.DecodeEffect(id, v)
	if err != nil {
		return e, fmt.Errorf("%w: %w", err, errDamaged)
	}
	return e, nil
}

// Settle records how effect id ended: delivered (with where it landed),
// coalesced or given up, with the attempts it took and the reason. It
// commits durably (through the DB's group commit) before returning. A
// delivered effect with a Key becomes the message later updates with that
// Target edit. Settling an effect that is already settled changes nothing
// and is not an error, so a worker that retries Settle after a failed
// commit cannot undo a delivery.
func (o *Outbox) Settle(ctx context.Context, id uint64, r incidents.EffectResult) error {
	if r.Status == incidents.EffectPending {
		return fmt.Errorf("settle effect %d: status must be delivered, coalesced or gave_up", id)
	}
	return o.db.Update(ctx, func(tx incidents.Tx) error {
		t, ok := tx.(*txn)
		if !ok {
			return errors.New("settle effect: unexpected transaction type")
		}
		t.wrote() // outboxHandles may create buckets
		b, err := outboxHandles(t.tx)
		if err != nil {
			return err
		}
		k := u64Key(id)
		e, err := decodeEffect(id, b.effects.Get(k))
		if err != nil {
			return fmt.Errorf("settle effect: %w", err)
		}
		if e.Status != incidents.EffectPending {
			return nil // settled already: a delivery is never undone
		}
		e.Status, e.Attempts, e.SettledAt, e.Ref, e.Reason = r.Status, r.Attempts, r.At, r.Ref, r.Reason
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("settle effect %d: %w", id, err)
		}
		if err := b.effects.Put(k, v); err != nil {
			return fmt.Errorf("settle effect %d: %w", id, err)
		}
		if err := b.pending.Delete(k); err != nil {
			return fmt.Errorf("settle effect %d: %w", id, err)
		}
		if e.Status == incidents.EffectDelivered && e.Key != "" && e.Kind == incidents.EffectPost {
			if err := b.keys.Put([]byte(e.Key), k); err != nil {
				return fmt.Errorf("settle effect %d: remember key %q: %w", id, e.Key, err)
			}
		}
		return nil
	})
}

// Ref is where the latest delivered post with Key == key landed; ok is
// false when no such post has been delivered (yet, or ever).
func (o *Outbox) Ref(ctx context.Context, key string) (ref incidents.EffectRef, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return ref, false, err
	}
	if o.db.closed.Load() {
		return ref, false, ErrClosed
	}
	err = o.db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := outboxHandles(tx)
		if b.keys == nil || key == "" || len(key) > maxKeyLen {
			return nil
		}
		v := b.keys.Get([]byte(key))
		if v == nil {
			return nil
		}
		id, valid := readU64(v)
		if !valid {
			return fmt.Errorf("outbox key %q: value of %d bytes: %w", key, len(v), errDamaged)
		}
		e, err := decodeEffect(id, b.effects.Get(bytes.Clone(v)))
		if err != nil {
			return err
		}
		ref, ok = e.Ref, true
		return nil
	})
	return ref, ok, err
}

// Counts reports how many effects are recorded and how many of them wait
// for delivery, from bbolt's page statistics (no read of the records).
func (o *Outbox) Counts(ctx context.Context) (all, pending int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	err = o.db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := outboxHandles(tx)
		if b.effects != nil {
			all = b.effects.Stats().KeyN
		}
		if b.pending != nil {
			pending = b.pending.Stats().KeyN
		}
		return nil
	})
	return all, pending, err
}

// Prune deletes settled effects (delivered, coalesced, given up) that
// settled before before, looking at at most limit effects with ID > after,
// in ID order, in one durable transaction; a caller prunes everything in
// bounded batches by passing the returned last as the next after. last is
// 0 when the batch reached the end or an effect recorded at or after
// before (none after it can have settled before it): nothing older is left
// to look at. Pending effects are never deleted, nor the latest delivered
// post of each Key (the message later updates with that Target edit, which
// Ref finds); an older delivery of the same Key is.
func (o *Outbox) Prune(ctx context.Context, before time.Time, after uint64, limit int) (last uint64, deleted int, err error) {
	if limit <= 0 {
		return 0, 0, fmt.Errorf("prune effects: limit must be positive, not %d", limit)
	}
	err = o.db.Update(ctx, func(tx incidents.Tx) error {
		last, deleted = 0, 0 // fn may run again in another batch
		t, ok := tx.(*txn)
		if !ok {
			return errors.New("prune effects: unexpected transaction type")
		}
		b, _ := outboxHandles(t.tx)
		if b.effects == nil {
			return nil
		}
		var drop [][]byte
		scanned := 0
		c := b.effects.Cursor()
		for k, v := c.Seek(u64Key(after + 1)); k != nil; k, v = c.Next() {
			if scanned == limit {
				break
			}
			scanned++
			id, ok := readU64(k)
			if !ok {
				return fmt.Errorf("outbox key of %d bytes: %w", len(k), errDamaged)
			}
			e, err := decodeEffect(id, v)
			if err != nil {
				return err
			}
			if !e.CreatedAt.Before(before) {
				last = 0 // nothing from here on settled before before: done
				return o.pruneDelete(t, b, drop, &deleted)
			}
			last = id
			if e.Status == incidents.EffectPending || b.pending.Get(k) != nil || !e.SettledAt.Before(before) {
				continue
			}
			if e.Key != "" && bytes.Equal(b.keys.Get([]byte(e.Key)), k) {
				continue // the message later updates of e.Key edit
			}
			drop = append(drop, bytes.Clone(k))
		}
		if scanned < limit {
			last = 0 // reached the end
		}
		return o.pruneDelete(t, b, drop, &deleted)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune effects: %w", err)
	}
	return last, deleted, nil
}

// pruneDelete deletes the effects Prune chose (after its cursor is done).
func (o *Outbox) pruneDelete(t *txn, b outboxBucketSet, drop [][]byte, deleted *int) error {
	if len(drop) == 0 {
		return nil
	}
	t.wrote()
	for _, k := range drop {
		if err := b.effects.Delete(k); err != nil {
			return err
		}
	}
	*deleted = len(drop)
	return nil
}
