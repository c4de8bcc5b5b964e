package etcdstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/incidents"
)

// maxGroup bounds how many Updates one group commit carries; the etcd
// limits bound it further (see commitGroup).
const maxGroup = 64

// request is one Update waiting for its commit.
type request struct {
	ctx   context.Context
	fence []clientv3.Cmp
	fn    func(incidents.Tx) error
	done  chan error // buffered: the committer never waits for the caller
}

// Group commit. Every Update of a replica used to be its own round of
// etcd requests — a linearizable snapshot read, the reads fn makes, one
// Txn (a Raft proposal: every member appends it and fsyncs) — one Update
// after the other, so a replica did at most one intent per quorum round
// however many webhook requests were waiting. Now the Update that gets
// the writer slot takes every Update queued behind it (up to maxGroup) and
// runs their fns, in queue order, on ONE snapshot and one transaction,
// committed by ONE Txn:
//
//   - each fn sees the writes of the fns before it (read-your-writes), so
//     the group is the same as running them one after the other: still one
//     serializable transaction per intent, in a serial order;
//   - reads are made once per group (the cache of point reads at the
//     snapshot serves every fn: 16 alerts for one incident read its record
//     and counters once);
//   - a fn that fails leaves nothing: its writes are undone from the
//     group's transaction (the undo journal in txn) and it alone gets its
//     error;
//   - a fn whose writes would take the group past one Txn's limits
//     (MaxTxnOps, MaxRequestBytes) is undone and left, with those after
//     it, for the next group;
//     a fn too large for one Txn on its own is committed alone, in phases
//     (large.go);
//   - an Update with a fence (the leader's writes) is committed alone, so
//     a deposed leader's refused write never takes others with it;
//   - the group commits only as a whole: every Update in it returns nil
//     only after etcd answered the one Txn, i.e. after a quorum has it on
//     disk. A lost conflict (another replica committed since the
//     snapshot) runs every fn of the group again, as the Store contract
//     allows.
//
// The group's requests run under the first one's context (for one
// request, its own); a caller whose context ends while its request is in
// a group being committed waits for the outcome (at most RequestTimeout),
// since the Txn may already be on its way.

// takeGroup removes the next group from the queue: one fenced Update, or
// up to maxGroup unfenced ones.
func (s *Store) takeGroup() []*request {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	switch {
	case len(s.queue) == 0:
		return nil
	case s.queue[0].fence != nil:
		n = 1
	default:
		for n < len(s.queue) && n < maxGroup && s.queue[n].fence == nil {
			n++
		}
	}
	g := make([]*request, n)
	copy(g, s.queue)
	s.queue = append(s.queue[:0:0], s.queue[n:]...)
	return g
}

// withdraw takes r out of the queue; false when a committer already took it.
func (s *Store) withdraw(r *request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.queue {
		if q == r {
			s.queue = append(s.queue[:i:i], s.queue[i+1:]...)
			return true
		}
	}
	return false
}

// requeue puts requests a group could not take back at the queue's head,
// in order, for the next committer.
func (s *Store) requeue(rs []*request) {
	s.mu.Lock()
	s.queue = append(append(make([]*request, 0, len(rs)+len(s.queue)), rs...), s.queue...)
	s.mu.Unlock()
}

// commitGroup commits g (see the comment above) and answers each request.
func (s *Store) commitGroup(g []*request) {
	live := g[:0:0]
	for _, r := range g {
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("etcd update: %w", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx := live[0].ctx
	if len(live) > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
		defer cancel()
	}
	results := make([]error, len(live))
	for attempt := range maxAttempts {
		committed, later, err := s.attemptGroup(ctx, live, results)
		if err != nil || committed {
			if len(later) > 0 {
				s.requeue(later)
			}
			for i, r := range live {
				switch {
				case contains(later, r):
				case results[i] != nil: // its fn failed: nothing of it was to commit
					r.done <- results[i]
				default:
					r.done <- err
				}
			}
			return
		}
		// Lost a conflict to another replica: back off a little, with
		// jitter so that two replicas do not collide again in lockstep.
		wait := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 7)))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			for _, r := range live {
				r.done <- fmt.Errorf("etcd update: %w", ctx.Err())
			}
			return
		}
	}
	for _, r := range live {
		r.done <- fmt.Errorf("etcd update: %w (%d attempts)", ErrConflict, maxAttempts)
	}
}

// attemptGroup runs the fns of live once on one snapshot and tries to
// commit them as one Txn. results gets each fn's own error (nil for those
// in the commit); later holds the requests that did not fit beside the
// others. committed=false, err=nil means a lost conflict.
func (s *Store) attemptGroup(ctx context.Context, live []*request, results []error) (committed bool, later []*request, err error) {
	rev, err := s.snapshot(ctx)
	if err != nil {
		return false, nil, err
	}
	t := &txn{ctx: ctx, s: s, rev: rev, writes: map[string]write{}}
	if len(live) == 1 {
		results[0] = live[0].fn(t)
		if results[0] != nil {
			return true, nil, nil // nothing to commit; the fn's error is its answer
		}
		committed, err := s.commitTxn(ctx, t, live[0].fence)
		return committed, nil, err
	}
	in := 0
	for i, r := range live {
		t.undo, t.undoCreated = map[string]*write{}, nil
		err := r.fn(t)
		if err == nil && in > 0 && !s.fits(t) {
			// The group is full: this fn and those after it wait for the
			// next group, in their order (running them now would only
			// undo them too).
			t.rollback()
			later = append(later, live[i:]...)
			break
		}
		results[i] = err
		if err != nil {
			t.rollback()
			continue
		}
		in++
	}
	t.undo, t.undoCreated = nil, nil
	committed, err = s.commitTxn(ctx, t, nil)
	return committed, later, err
}

// rollback undoes what the running fn wrote (see txn.undo).
func (t *txn) rollback() {
	for k, old := range t.undo {
		if old == nil {
			delete(t.writes, k)
		} else {
			t.writes[k] = *old
		}
	}
	for _, n := range t.undoCreated {
		delete(t.created, n)
	}
	t.undo, t.undoCreated = map[string]*write{}, nil
}

func contains(rs []*request, r *request) bool { return indexOf(rs, r) >= 0 }

func indexOf(rs []*request, r *request) int {
	for i, q := range rs {
		if q == r {
			return i
		}
	}
	return -1
}
