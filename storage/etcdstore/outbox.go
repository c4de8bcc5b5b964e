package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/incidents"
)

// Enqueue implements the outbox half of incidents.Tx: it records e in this
// transaction, so the effect commits with the change that causes it (one
// etcd Txn) or not at all, and assigns e.ID from meta/outbox. Every
// writing Update changes meta/commit and commits only if nothing else
// committed since its snapshot, so ids increase in commit order with no
// gap, even with several replicas writing. An effect costs one operation
// (outbox/p/<id>) plus the shared counter, counted against
// Config.MaxTxnOps like every other write. After the commit, every
// Outbox watching the cluster (the leader's worker, whichever replica it
// runs on) is woken by etcd's watch.
func (t *txn) Enqueue(e *incidents.Effect) error {
	if e == nil {
		return errors.New("enqueue effect: nil effect")
	}
	if t.writes == nil {
		return errReadOnly
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("enqueue effect: %w", err)
	}
	last, err := t.getNum(t.s.k.outboxLast())
	if err != nil {
		return err
	}
	e.ID = last + 1
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("enqueue effect of incident #%d: %w", e.Incident, err)
	}
	if err := t.putNum(t.s.k.outboxLast(), e.ID); err != nil {
		return err
	}
	return t.put(t.s.k.pendingEffect(e.ID), v)
}

// Outbox is the durable side of Firebreak's outbox on the etcd store, as
// the outbox worker (bot/outbox.Store) needs it: intents record effects
// with Enqueue inside their Update; the worker streams the pending ones,
// settles them and looks up where earlier messages landed.
//
// The worker runs on the elected leader only. An Outbox made with a fence
// (the leader's term, leader.Term.Cmp) settles effects with UpdateFenced,
// so a deposed leader cannot record a delivery after another replica
// leads: its Settle fails with ErrFenced and the effect stays pending for
// the new leader's worker, which starts from what is pending.
//
// Committed is fed by an etcd watch on outbox/p/, so an effect enqueued by
// any replica wakes the worker wherever it runs, without polling. Close
// stops the watch.
type Outbox struct {
	s         *Store
	fence     []clientv3.Cmp
	committed chan struct{}
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// NewOutbox starts watching the store's outbox and returns it. fence, if
// given, is the leader's term (leader.Term.Cmp()): every Settle is then
// refused once another replica was elected. The first value on Committed
// comes once the watch is established, so a worker started now reads what
// is pending even if nothing new is enqueued.
func NewOutbox(s *Store, fence ...clientv3.Cmp) *Outbox {
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{s: s, fence: fence, committed: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	go o.watch(ctx)
	return o
}

// Fenced is this outbox for one leader term: it shares the watch and
// Committed, and settles with UpdateFenced on fence (leader.Term.Cmp()),
// so a process keeps one Outbox (and one watch) across terms and hands
// each term's worker its fenced view. Closing the view closes nothing.
func (o *Outbox) Fenced(fence ...clientv3.Cmp) *Outbox {
	done := make(chan struct{})
	close(done) // the view has no watch of its own to wait for
	return &Outbox{s: o.s, fence: fence, committed: o.committed, stop: func() {}, done: done}
}

// Close stops the watch; Committed receives nothing more.
func (o *Outbox) Close() error {
	o.closeOnce.Do(func() {
		o.stop()
		<-o.done
	})
	return nil
}

// Committed receives (at most one pending value, however many commits)
// after a transaction that enqueued effects has committed, on any replica.
func (o *Outbox) Committed() <-chan struct{} { return o.committed }

func (o *Outbox) signal() {
	select {
	case o.committed <- struct{}{}:
	default:
	}
}

// watchRetry bounds the wait before a broken watch is opened again.
const watchRetry = 2 * time.Second

// watch signals Committed for every put under outbox/p/ (an enqueue;
// settling deletes, which is filtered out). A watch that breaks (a member
// lost its leader, the client reconnects to another member, history
// compacted) is opened again, and the worker is woken then too: it reads
// everything pending past its cursor, so an event missed meanwhile is not
// missed work.
func (o *Outbox) watch(ctx context.Context) {
	defer close(o.done)
	p := o.s.k.pendingEffects()
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := o.s.client.Watch(wctx, p, clientv3.WithPrefix(), clientv3.WithFilterDelete(), clientv3.WithCreatedNotify())
		for resp := range ch {
			if resp.Err() != nil {
				break
			}
			if resp.Created || len(resp.Events) > 0 {
				o.signal()
				wait = 50 * time.Millisecond
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			wait = min(2*wait, watchRetry)
		}
	}
}

// PendingEffects streams effects not yet settled with ID > after, in ID
// order, from one snapshot read page by page. Values are copies fn may
// keep; fn's error stops the stream and is returned.
func (o *Outbox) PendingEffects(ctx context.Context, after uint64, fn func(incidents.Effect) error) error {
	return o.s.View(ctx, func(rt incidents.ReadTx) error {
		t := rt.(*txn)
		p := o.s.k.pendingEffects()
		return t.scan(o.s.k.pendingEffect(after+1), prefixEnd(p), func(k string, v []byte) error {
			id, err := parseNum(k[len(p):])
			if err != nil {
				return err
			}
			e, err := decodeEffect(id, v)
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
			return ctx.Err()
		})
	})
}

// Effect loads one effect, settled or not; errors.Is(err,
// incidents.ErrNotFound) when there is none with that id.
func (o *Outbox) Effect(ctx context.Context, id uint64) (incidents.Effect, error) {
	var e incidents.Effect
	err := o.s.View(ctx, func(rt incidents.ReadTx) error {
		var err error
		e, _, err = rt.(*txn).effect(id)
		return err
	})
	return e, err
}

// effect reads effect id, pending or settled.
func (t *txn) effect(id uint64) (e incidents.Effect, pending bool, err error) {
	for _, k := range []string{t.s.k.pendingEffect(id), t.s.k.settledEffect(id)} {
		v, ok, err := t.get(k)
		if err != nil {
			return e, false, err
		}
		if ok {
			e, err = decodeEffect(id, v)
			return e, k == t.s.k.pendingEffect(id), err
		}
	}
	return e, false, fmt.Errorf("effect %d: %w", id, incidents.ErrNotFound)
}

func decodeEffect(id uint64, v []byte) (incidents.Effect, error) {
	e, err := incidents.DecodeEffect(id, v)
	if err != nil {
		return e, fmt.Errorf("%w: %w", err, errDamaged)
	}
	return e, nil
}

// Settle records how effect id ended: delivered (with where it landed),
// coalesced or given up. It moves the record from outbox/p/ to outbox/s/
// in one Txn, fenced by the leader's term when the Outbox has one (a
// deposed leader's Settle fails with ErrFenced and writes nothing). A
// delivered post with a Key becomes the message later updates with that
// Target edit. Settling a settled effect changes nothing and is not an
// error, so a worker that retries Settle after a commit whose answer it
// did not get cannot undo a delivery.
func (o *Outbox) Settle(ctx context.Context, id uint64, r incidents.EffectResult) error {
	if r.Status == incidents.EffectPending {
		return fmt.Errorf("settle effect %d: status must be delivered, coalesced or gave_up", id)
	}
	err := o.s.UpdateFenced(ctx, o.fence, func(tx incidents.Tx) error {
		t := tx.(*txn)
		e, pending, err := t.effect(id)
		if err != nil {
			return err
		}
		if !pending {
			return nil // settled already: a delivery is never undone
		}
		e.Status, e.Attempts, e.SettledAt, e.Ref, e.Reason = r.Status, r.Attempts, r.At, r.Ref, r.Reason
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("effect %d: %w", id, err)
		}
		if err := t.del(o.s.k.pendingEffect(id)); err != nil {
			return err
		}
		if err := t.put(o.s.k.settledEffect(id), v); err != nil {
			return err
		}
		if e.Status == incidents.EffectDelivered && e.Key != "" && e.Kind == incidents.EffectPost {
			return t.putNum(o.s.k.effectRef(e.Key), id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("settle effect %d: %w", id, err)
	}
	return nil
}

// Ref is where the latest delivered post with Key == key landed; ok is
// false when no such post has been delivered (yet, or ever).
func (o *Outbox) Ref(ctx context.Context, key string) (ref incidents.EffectRef, ok bool, err error) {
	if key == "" {
		return ref, false, ctx.Err()
	}
	err = o.s.View(ctx, func(rt incidents.ReadTx) error {
		t := rt.(*txn)
		id, err := t.getNum(o.s.k.effectRef(key))
		if err != nil || id == 0 {
			return err // 0: no delivered post has this key
		}
		e, _, err := t.effect(id)
		if err != nil {
			return fmt.Errorf("outbox key %q: %w", key, err)
		}
		ref, ok = e.Ref, true
		return nil
	})
	return ref, ok, err
}

// Counts reports how many effects are recorded and how many of them wait
// for delivery, with two count-only range reads at one revision.
func (o *Outbox) Counts(ctx context.Context) (all, pending int, err error) {
	var rev int64
	count := func(p string) (int, error) {
		opts := []clientv3.OpOption{clientv3.WithRange(prefixEnd(p)), clientv3.WithCountOnly()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := o.s.client.Get(ctx, p, opts...)
		if err != nil {
			return 0, o.s.unavailable("count effects", err)
		}
		rev = resp.Header.Revision
		return int(resp.Count), nil
	}
	if pending, err = count(o.s.k.pendingEffects()); err != nil {
		return 0, 0, err
	}
	settled, err := count(o.s.k.settledEffects())
	return pending + settled, pending, err
}

// Prune deletes settled effects that settled before before, looking at at
// most limit settled effects with ID > after, in ID order, in one Txn
// (fenced by the term when the Outbox has one); limit is lowered to fit
// the cluster's --max-txn-ops. Pass the returned last as the next after to
// prune in bounded batches; last is 0 when nothing older is left to look
// at. Pending effects are never deleted (they are not under outbox/s/),
// nor the latest delivered post of each Key, which Ref finds for later
// updates.
func (o *Outbox) Prune(ctx context.Context, before time.Time, after uint64, limit int) (last uint64, deleted int, err error) {
	if limit <= 0 {
		return 0, 0, fmt.Errorf("prune effects: limit must be positive, not %d", limit)
	}
	limit = min(limit, o.s.cfg.MaxTxnOps-2)
	err = o.s.UpdateFenced(ctx, o.fence, func(tx incidents.Tx) error {
		t := tx.(*txn)
		last, deleted = 0, 0
		scanned := 0
		var drop []string
		p := o.s.k.settledEffects()
		err := t.scan(o.s.k.settledEffect(after+1), prefixEnd(p), func(k string, v []byte) error {
			if scanned == limit {
				return errStop
			}
			scanned++
			id, err := parseNum(k[len(p):])
			if err != nil {
				return err
			}
			e, err := decodeEffect(id, v)
			if err != nil {
				return err
			}
			if !e.CreatedAt.Before(before) {
				scanned = 0 // nothing from here on settled before before: done
				return errStop
			}
			last = id
			if !e.SettledAt.Before(before) {
				return nil
			}
			if e.Key != "" {
				ref, err := t.getNum(o.s.k.effectRef(e.Key))
				if err != nil {
					return err
				}
				if ref == id {
					return nil // the message later updates of e.Key edit
				}
			}
			drop = append(drop, k)
			return nil
		})
		if err != nil {
			return err
		}
		if scanned < limit {
			last = 0
		}
		for _, k := range drop {
			if err := t.del(k); err != nil {
				return err
			}
		}
		deleted = len(drop)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune effects: %w", err)
	}
	return last, deleted, nil
}
