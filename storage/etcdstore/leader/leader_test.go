package leader_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
	"github.com/firebreak/firebreak/storage/etcdstore/leader"
)

const prefix = "firebreak/leader"

// replica is one Firebreak process's elector, on a client of its own (so
// closing that client is what a crash looks like to etcd).
type replica struct {
	id      string
	client  *clientv3.Client
	elector *leader.Elector
	cancel  context.CancelFunc
	done    chan struct{}

	mu     sync.Mutex
	terms  []leader.Term
	led    []time.Time
	lost   []time.Time
	leadCh chan leader.Term
}

func start(t *testing.T, c *etcdtest.Cluster, id string, ttl time.Duration) *replica {
	t.Helper()
	return startOn(t, c.Client(t), id, ttl)
}

func startOn(t *testing.T, client *clientv3.Client, id string, ttl time.Duration) *replica {
	t.Helper()
	r := &replica{id: id, client: client, done: make(chan struct{}), leadCh: make(chan leader.Term, 8)}
	e, err := leader.New(r.client, leader.Config{Prefix: prefix, ID: id, TTL: ttl})
	require.NoError(t, err)
	r.elector = e
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		_ = e.Run(ctx, func(ctx context.Context, term leader.Term) {
			r.mu.Lock()
			r.terms = append(r.terms, term)
			r.led = append(r.led, time.Now())
			r.mu.Unlock()
			r.leadCh <- term
			<-ctx.Done()
			r.mu.Lock()
			r.lost = append(r.lost, time.Now())
			r.mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *replica) lostAt() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lost) == 0 {
		return time.Time{}, false
	}
	return r.lost[len(r.lost)-1], true
}

// first waits for one of the replicas to lead and returns it and its term.
func first(t *testing.T, within time.Duration, rs ...*replica) (*replica, leader.Term) {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, r := range rs {
			select {
			case term := <-r.leadCh:
				return r, term
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no replica led within %v", within)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func leaders(rs ...*replica) int {
	n := 0
	for _, r := range rs {
		if _, ok := r.elector.Leading(); ok {
			n++
		}
	}
	return n
}

// A leader that dies without resigning (its connection closed, as when
// the process is killed) is replaced within its lease TTL plus a campaign,
// and never two replicas lead at once.
func TestFailoverWhenTheLeaderDies(t *testing.T) {
	if testing.Short() {
		t.Skip("three embedded members: skipped with -short")
	}
	const ttl = time.Second
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	a, b := start(t, c, "a", ttl), start(t, c, "b", ttl)
	old, term1 := first(t, 10*time.Second, a, b)
	next := b
	if old == b {
		next = a
	}
	assert.Equal(t, 1, leaders(a, b), "exactly one leader")
	id, rev, ok, err := leader.Leader(context.Background(), next.client, prefix)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, old.id, id)
	assert.Equal(t, term1.Rev, rev)

	killed := time.Now()
	require.NoError(t, old.client.Close())
	_, term2 := first(t, ttl+5*time.Second, next)
	failover := time.Since(killed)
	t.Logf("failover after the leader's connection closed: %v (lease TTL %v)", failover, ttl)
	assert.Greater(t, term2.Rev, term1.Rev, "a new term has a higher fencing token")
	lostAt, ok := old.lostAt()
	require.True(t, ok, "the dead leader's lead context was canceled")
	assert.True(t, lostAt.Before(killed.Add(failover)), "the old leader stopped before the new one started")
	_, stillLeads := old.elector.Leading()
	assert.False(t, stillLeads)
	assert.Equal(t, 1, leaders(a, b))
}

// A leader cut off from the cluster (its only etcd member stops) cannot
// renew its lease: it steps down on its own clock before etcd lets the
// lease expire, so it has stopped before the other replica begins: never
// two leaders, even for a moment, and no write from the old one needed
// to be refused.
func TestCutOffLeaderStepsDownBeforeTheNextLeads(t *testing.T) {
	if testing.Short() {
		t.Skip("three embedded members: skipped with -short")
	}
	const ttl = 2 * time.Second
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	a := startOn(t, c.ClientOf(t, c.Endpoints[0]), "a", ttl)
	_, _ = first(t, 10*time.Second, a)
	b := startOn(t, c.ClientOf(t, c.Endpoints[1], c.Endpoints[2]), "b", ttl)
	cut := time.Now()
	c.Stop(0)
	// The embedded member shuts down gracefully, which takes seconds (a
	// crashed machine does not); the failover time below includes it.
	t.Logf("stopping the member took %v", time.Since(cut))
	_, _ = first(t, 4*ttl+5*time.Second, b)
	b.mu.Lock()
	bLed := b.led[0]
	b.mu.Unlock()
	aLost, ok := a.lostAt()
	require.True(t, ok, "the cut-off leader stepped down")
	t.Logf("cut at 0s: old leader stepped down at %v, new leader began at %v (lease TTL %v)", aLost.Sub(cut), bLed.Sub(cut), ttl)
	assert.True(t, aLost.Before(bLed), "the old leader stopped before the new one began")
	assert.LessOrEqual(t, aLost.Sub(cut), ttl, "stepped down within one TTL of its last renewal")
	_, stillLeads := a.elector.Leading()
	assert.False(t, stillLeads)
}

// A replica that stops (Run's context ends, as on SIGTERM) revokes its
// lease, and the follower takes over at once rather than after the TTL.
func TestResignHandsOverAtOnce(t *testing.T) {
	const ttl = 5 * time.Second
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	cli := c.Client(t)
	e, err := leader.New(cli, leader.Config{Prefix: prefix, ID: "short-lived", TTL: ttl})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	led := make(chan struct{})
	go func() {
		_ = e.Run(ctx, func(context.Context, leader.Term) {
			close(led)
			cancel() // lead once, then stop
		})
	}()
	<-led
	b := start(t, c, "b", ttl)
	began := time.Now()
	_, _ = first(t, ttl, b)
	t.Logf("hand-over after a resignation: %v (lease TTL %v)", time.Since(began), ttl)
}

// A paused leader whose lease expired meanwhile (here: revoked from
// outside) is deposed: it stops leading, and its fenced writes are refused
// by etcd, both raw (leader.Fenced) and through the store
// (UpdateFenced), while the new leader's go through.
func TestDeposedLeaderCannotWrite(t *testing.T) {
	const ttl = 2 * time.Second
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	a := start(t, c, "a", ttl)
	_, term1 := first(t, 10*time.Second, a)
	b := start(t, c, "b", ttl)

	_, err := leader.Fenced(ctx, a.client, term1, clientv3.OpPut("fenced/by-a", "term 1"))
	require.NoError(t, err, "the leader's fenced write passes")

	// a "pauses" past its lease: etcd drops the lease, b wins.
	_, err = b.client.Revoke(ctx, term1.Lease)
	require.NoError(t, err)
	_, term2 := first(t, 5*time.Second, b)
	require.Greater(t, term2.Rev, term1.Rev)
	require.Eventually(t, func() bool { _, ok := a.lostAt(); return ok }, 5*time.Second, 10*time.Millisecond,
		"the deposed leader's lead context is canceled")

	_, err = leader.Fenced(ctx, a.client, term1, clientv3.OpPut("fenced/by-a", "after deposition"))
	assert.ErrorIs(t, err, leader.ErrDeposed)
	resp, err := a.client.Get(ctx, "fenced/by-a")
	require.NoError(t, err)
	assert.Equal(t, "term 1", string(resp.Kvs[0].Value), "the refused write left nothing")
	_, err = leader.Fenced(ctx, b.client, term2, clientv3.OpPut("fenced/by-b", "term 2"))
	assert.NoError(t, err)

	cfg := etcdstore.Config{Prefix: "fenced-store/"}
	storeA, storeB := etcdstore.New(a.client, cfg), etcdstore.New(b.client, cfg)
	create := func(tx incidents.Tx) error {
		return tx.CreateIncident(&incidents.Incident{Title: "leader-only", Status: incidents.StatusTriggered})
	}
	err = storeA.UpdateFenced(ctx, []clientv3.Cmp{term1.Cmp()}, create)
	assert.ErrorIs(t, err, etcdstore.ErrFenced)
	require.NoError(t, storeB.UpdateFenced(ctx, []clientv3.Cmp{term2.Cmp()}, create))
	var numbers []uint64
	require.NoError(t, storeB.View(ctx, func(tx incidents.ReadTx) error {
		numbers = numbers[:0]
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error { numbers = append(numbers, inc.Number); return nil })
	}))
	assert.Equal(t, []uint64{1}, numbers, "only the leader's write is stored")
}

func TestConfig(t *testing.T) {
	for _, cfg := range []leader.Config{{ID: "a"}, {Prefix: prefix}, {Prefix: prefix, ID: "a", TTL: 100 * time.Millisecond}} {
		_, err := leader.New(nil, cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}
