package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
	"github.com/firebreak/firebreak/storage/etcdstore/leader"
)

// The etcd outbox is what the outbox worker reads when Firebreak runs on
// etcd. (etcdstore must not import bot; this external test package may.)
var _ outbox.Store = (*etcdstore.Outbox)(nil)

// enqueuer is the method incidents.Tx gains with the outbox (issue 14);
// asserted here so this file compiles before and after the interface has it.
type enqueuer interface {
	Enqueue(e *incidents.Effect) error
}

func enqueue(tx incidents.Tx, e *incidents.Effect) error {
	q, ok := tx.(enqueuer)
	if !ok {
		return fmt.Errorf("transaction %T cannot enqueue effects", tx)
	}
	return q.Enqueue(e)
}

var effectHome = incidents.Home{Platform: "slack", Channel: "C-ALERTS"}

func post(text string) *incidents.Effect {
	return &incidents.Effect{Kind: incidents.EffectPost, Home: effectHome, Message: incidents.EffectMessage{Text: text}, CreatedAt: t0}
}

func pendingOf(t *testing.T, o *etcdstore.Outbox, after uint64) []incidents.Effect {
	t.Helper()
	var got []incidents.Effect
	require.NoError(t, o.PendingEffects(context.Background(), after, func(e incidents.Effect) error {
		got = append(got, e)
		return nil
	}))
	return got
}

// woken waits up to d for the outbox's wake-up call.
func woken(o *etcdstore.Outbox, d time.Duration) bool {
	select {
	case <-o.Committed():
		return true
	case <-time.After(d):
		return false
	}
}

// newOutbox opens the outbox and waits for its watch's first wake-up, the
// one every worker gets at start.
func newOutbox(t *testing.T, s *etcdstore.Store, fence ...clientv3.Cmp) *etcdstore.Outbox {
	t.Helper()
	o := etcdstore.NewOutbox(s, fence...)
	t.Cleanup(func() { _ = o.Close() })
	require.True(t, woken(o, 10*time.Second), "the watch is established and wakes the worker once")
	return o
}

func TestEtcdOutboxRefusesBadEffects(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	s := etcdstore.New(c.Client(t), etcdstore.Config{})
	o := newOutbox(t, s)
	cases := []struct {
		name string
		e    *incidents.Effect
		err  string
	}{
		{"invalid effect", &incidents.Effect{Kind: incidents.EffectPost}, "no platform or channel"},
		{"settled effect", &incidents.Effect{Kind: incidents.EffectPost, Home: effectHome, Status: incidents.EffectDelivered}, "must be pending"},
		{"nil effect", nil, "nil effect"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Update(ctx, func(tx incidents.Tx) error { return enqueue(tx, tc.e) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	// A View cannot enqueue (the interfaces do not allow it; an assertion could).
	err := s.View(ctx, func(rt incidents.ReadTx) error { return rt.(enqueuer).Enqueue(post("x")) })
	require.Error(t, err)
	all, _, err := o.Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, all)
}

// TestEtcdOutboxIDsFollowCommitOrder: two replicas (each its own client
// and store) enqueue at once, intents fail after enqueueing among them,
// and the ids of what committed are still 1, 2, 3, … in commit order, so
// a worker that reads "after the last id I saw" never misses one.
func TestEtcdOutboxIDsFollowCommitOrder(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	replicas := []*etcdstore.Store{
		etcdstore.New(c.Client(t), etcdstore.Config{}),
		etcdstore.New(c.Client(t), etcdstore.Config{}),
	}
	o := newOutbox(t, replicas[0])
	boom := errors.New("refused after recording")
	const writers, each = 4, 15
	var wg sync.WaitGroup
	for w := range writers {
		s := replicas[w%len(replicas)]
		wg.Go(func() {
			for i := range each {
				err := s.Update(ctx, func(tx incidents.Tx) error {
					if err := enqueue(tx, post(fmt.Sprintf("%d/%d", w, i))); err != nil {
						return err
					}
					if i%3 == 2 {
						return boom
					}
					return nil
				})
				if i%3 == 2 {
					assert.ErrorIs(t, err, boom)
				} else {
					assert.NoError(t, err)
				}
			}
		})
	}
	wg.Wait()
	got := pendingOf(t, o, 0)
	require.Len(t, got, writers*each*2/3)
	seen := map[string]bool{}
	for i, e := range got {
		assert.Equal(t, uint64(i+1), e.ID, "ids are dense and in commit order")
		seen[e.Message.Text] = true
	}
	for w := range writers {
		for i := range each {
			assert.Equal(t, i%3 != 2, seen[fmt.Sprintf("%d/%d", w, i)], "effect %d/%d", w, i)
		}
	}
}

// TestEtcdOutboxWatchWakesTheOtherReplica: the worker runs on the leader,
// and an alert webhook on another replica enqueues: the leader's outbox is
// woken by etcd's watch, with no polling; a broken watch is reopened.
func TestEtcdOutboxWatchWakesTheOtherReplica(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	follower := etcdstore.New(c.Client(t), etcdstore.Config{})
	leaderStore := etcdstore.New(c.Client(t), etcdstore.Config{})
	o := newOutbox(t, leaderStore)
	for i := range 3 {
		require.NoError(t, follower.Update(ctx, func(tx incidents.Tx) error { return enqueue(tx, post(strconv.Itoa(i))) }))
		assert.True(t, woken(o, 10*time.Second), "enqueue %d on the other replica wakes the leader's worker", i)
	}
	// Settling deletes from outbox/p/ and does not wake anyone.
	require.NoError(t, o.Settle(ctx, 1, incidents.EffectResult{Status: incidents.EffectDelivered, At: t0}))
	assert.False(t, woken(o, 300*time.Millisecond), "a settlement is not new work")

	// Another installation's prefix on the same cluster does not wake it.
	other := etcdstore.New(c.Client(t), etcdstore.Config{Prefix: "other/"})
	require.NoError(t, other.Update(ctx, func(tx incidents.Tx) error { return enqueue(tx, post("elsewhere")) }))
	assert.False(t, woken(o, 300*time.Millisecond))

	// A member restart breaks the watch's stream; the enqueues after it
	// still wake the worker (the client resumes the watch, or the outbox
	// opens it again and wakes the worker for what it may have missed).
	c.Stop(0)
	c.Restart(0)
	require.Eventually(t, func() bool {
		return follower.Update(ctx, func(tx incidents.Tx) error { return enqueue(tx, post("after a restart")) }) == nil
	}, 30*time.Second, 100*time.Millisecond)
	assert.True(t, woken(o, 15*time.Second), "woken after the member came back")
	time.Sleep(300 * time.Millisecond)
	select { // forget a second wake-up of the reopened watch
	case <-o.Committed():
	default:
	}
	require.NoError(t, follower.Update(ctx, func(tx incidents.Tx) error { return enqueue(tx, post("and the next")) }))
	assert.True(t, woken(o, 15*time.Second), "the watch still works")

	// Close stops the watch.
	require.NoError(t, o.Close())
	require.NoError(t, follower.Update(ctx, func(tx incidents.Tx) error { return enqueue(tx, post("after close")) }))
	assert.False(t, woken(o, 300*time.Millisecond))
}

// TestEtcdOutboxSettleIsFencedByTheTerm: Settle is a leader-only write. An
// outbox view made for a term (Fenced) settles while that term holds; once another
// replica was elected its Settle is refused with nothing written, and the
// effect stays pending for the new leader's worker, which settles it.
func TestEtcdOutboxSettleIsFencedByTheTerm(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	s := etcdstore.New(c.Client(t), etcdstore.Config{})
	campaign := func(id string) (leader.Term, context.CancelFunc) {
		e, err := leader.New(c.Client(t), leader.Config{Prefix: "firebreak/leader", ID: id, TTL: 2 * time.Second})
		require.NoError(t, err)
		lctx, cancel := context.WithCancel(ctx)
		terms := make(chan leader.Term, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = e.Run(lctx, func(ctx context.Context, term leader.Term) { terms <- term; <-ctx.Done() })
		}()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case term := <-terms:
			return term, func() { cancel(); <-done }
		case <-time.After(20 * time.Second):
			t.Fatalf("%s was not elected", id)
		}
		return leader.Term{}, nil
	}
	first, resign := campaign("replica-a")
	shared := newOutbox(t, s)
	old := shared.Fenced(first.Cmp())
	require.NoError(t, old.Close(), "closing a term's view closes nothing")
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		for _, text := range []string{"one", "two"} {
			if err := enqueue(tx, post(text)); err != nil {
				return err
			}
		}
		return nil
	}))
	delivered := incidents.EffectResult{Status: incidents.EffectDelivered, At: t0, Ref: incidents.EffectRef{Channel: "C-ALERTS", ID: "1"}}
	require.NoError(t, old.Settle(ctx, 1, delivered), "the current term settles")

	resign()
	second, _ := campaign("replica-b")
	require.Greater(t, second.Rev, first.Rev)
	err := old.Settle(ctx, 2, delivered)
	require.ErrorIs(t, err, etcdstore.ErrFenced, "the deposed leader's settle is refused")
	e, err := old.Effect(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, incidents.EffectPending, e.Status, "nothing written")

	now := shared.Fenced(second.Cmp())
	got := pendingOf(t, now, 0)
	require.Len(t, got, 1, "the new leader starts from what is pending")
	assert.Equal(t, uint64(2), got[0].ID)
	require.NoError(t, now.Settle(ctx, 2, delivered))
	assert.Empty(t, pendingOf(t, now, 0))

	// The views share the process's one watch.
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error { return enqueue(tx, post("three")) }))
	assert.True(t, woken(now, 10*time.Second), "a term's view is woken by the shared watch")
}

// recordingSender is an outbox.Sender that records what it sent.
type recordingSender struct {
	mu   sync.Mutex
	sent []string
	got  chan struct{}
}

func (r *recordingSender) Send(_ context.Context, e incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	r.mu.Lock()
	r.sent = append(r.sent, e.Message.Text)
	n := len(r.sent)
	r.mu.Unlock()
	r.got <- struct{}{}
	return incidents.EffectRef{Channel: e.Home.Channel, ID: strconv.Itoa(n)}, false, 0, nil
}

func (r *recordingSender) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

// TestEtcdOutboxUnderTheWorker runs the real outbox worker on the etcd
// outbox: what was pending before it started and what another replica
// enqueues while it runs is delivered once each, in commit order, and
// settled; a second worker (the next leader) sends nothing again.
func TestEtcdOutboxUnderTheWorker(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	s := etcdstore.New(c.Client(t), etcdstore.Config{})
	other := etcdstore.New(c.Client(t), etcdstore.Config{})
	add := func(st *etcdstore.Store, text string) {
		require.NoError(t, st.Update(ctx, func(tx incidents.Tx) error { return enqueue(tx, post(text)) }))
	}
	add(s, "left pending by the previous leader")

	run := func(sender *recordingSender) (stop func()) {
		o := etcdstore.NewOutbox(s)
		w, err := outbox.New(outbox.Config{Store: o, Sender: sender, RateLimit: outbox.RateLimit{Interval: time.Millisecond, Burst: 100}})
		require.NoError(t, err)
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(wctx) }()
		return func() { cancel(); <-done; _ = o.Close() }
	}
	sender := &recordingSender{got: make(chan struct{}, 16)}
	stop := run(sender)
	waitSent := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-sender.got:
			case <-time.After(10 * time.Second):
				t.Fatalf("sent %v, want %d more", sender.texts(), n)
			}
		}
	}
	waitSent(1)
	add(other, "first alert")
	add(other, "second alert")
	waitSent(2)
	reader := newOutbox(t, s)
	require.Eventually(t, func() bool { return len(pendingOf(t, reader, 0)) == 0 }, 10*time.Second, 20*time.Millisecond)
	stop()
	assert.Equal(t, []string{"left pending by the previous leader", "first alert", "second alert"}, sender.texts())

	next := &recordingSender{got: make(chan struct{}, 16)}
	stop = run(next)
	add(other, "after the failover")
	select {
	case <-next.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the next worker delivered nothing")
	}
	require.Eventually(t, func() bool { return len(pendingOf(t, reader, 0)) == 0 }, 10*time.Second, 20*time.Millisecond)
	stop()
	assert.Equal(t, []string{"after the failover"}, next.texts(), "settled effects are not sent again")
}

// A Snapshot reads one revision however long it is used: what replicas
// write after it was taken (small or large Updates) is not in it, so a
// backup copies one consistent state while they run.
func TestSnapshotIsFrozen(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	s := etcdstore.New(c.Client(t), etcdstore.Config{})
	require.NoError(t, createIncident(ctx, s))
	snap, err := s.Snapshot(ctx)
	require.NoError(t, err)
	require.NoError(t, createIncident(ctx, s))
	require.NoError(t, bigUpdate(ctx, s, 200, "later"))
	count := func(st incidents.Store) int {
		n := 0
		require.NoError(t, st.View(ctx, func(tx incidents.ReadTx) error {
			return tx.Incidents(false, 0, func(*incidents.Incident) error { n++; return nil })
		}))
		return n
	}
	assert.Equal(t, 1, count(snap))
	assert.Equal(t, 3, count(s))
	require.Error(t, snap.Update(ctx, func(incidents.Tx) error { return nil }), "a snapshot is read-only")
}
