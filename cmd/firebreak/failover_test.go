package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// pagerFake is a paging service on loopback: it counts escalation
// notifications by their Idempotency-Key (incident and timer), so a timer
// fired twice shows up as a count of 2. It also answers the replicas'
// probes, counted by path (/probe/<replica>).
type pagerFake struct {
	mu     sync.Mutex
	pages  map[string]int
	probes map[string]int
	url    string
}

func startPager(t *testing.T) *pagerFake {
	t.Helper()
	p := &pagerFake{pages: map[string]int{}, probes: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if replica, ok := strings.CutPrefix(r.URL.Path, "/probe/"); ok {
			p.probes[replica]++
		} else {
			p.pages[r.Header.Get("Idempotency-Key")]++
		}
		p.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.url = "http://" + ln.Addr().String()
	return p
}

func (p *pagerFake) probed(replica string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes[replica]
}

func (p *pagerFake) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pages[key]
}

func (p *pagerFake) snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int, len(p.pages))
	for k, v := range p.pages {
		m[k] = v
	}
	return m
}

// failoverConfig escalates every incident to the pager after 1 s and again
// after 8 s, and probes the fake every second at a path naming the replica.
func failoverConfig(pagerURL, replica string) string {
	return fmt.Sprintf(`alert_channels: ["#alerts"]
escalation:
  levels:
    - after: 1s
      notify: ["@oncall"]
      notifiers: [pager]
    - after: 8s
      notify: ["@lead"]
      notifiers: [pager]
notifiers:
  - name: pager
    kind: webhook
    url: %s/page
probes:
  - name: drill
    url: %s/probe/%s
    interval: 1s
    timeout: 1s
playbooks:
  - id: drill
    name: Failover drill
    default: true
    steps:
      - id: look
        title: Look around
`, pagerURL, pagerURL, replica)
}

// escalationKey is the Idempotency-Key of incident n's escalation to level
// (0-based), as bot.notifyEscalation builds it.
func escalationKey(n, level int) string {
	return fmt.Sprintf("firebreak-%d-escalate-0-%d", n, level)
}

// leads reports whether the replica at addr says firebreak_leader 1.
func leads(addr string) bool {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return strings.Contains(b.String(), "\nfirebreak_leader 1\n")
}

// TestFailoverTimersRunOnTheLeaderOnly runs two replicas of the real binary
// on one embedded etcd member, with the default 5 s lease (a shorter one
// let a CPU stall on a loaded machine move leadership before the kill):
// while both run, a due escalation is paged
// once and only the leader probes; after the leader is SIGKILLed, the
// other replica takes over and fires the timers that came due during the
// failover and after it, each once.
func TestFailoverTimersRunOnTheLeaderOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts an embedded etcd")
	}
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	pager := startPager(t)
	bin := buildFirebreak(t)
	// One directory (and playbooks.yaml) per replica, so the probe fake
	// sees which replica probes.
	dirA, dirB := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dirA, "playbooks.yaml"), []byte(failoverConfig(pager.url, "a")), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dirB, "playbooks.yaml"), []byte(failoverConfig(pager.url, "b")), 0o600))
	etcdEnv := func(name string) []string {
		return []string{
			"FIREBREAK_ETCD_ENDPOINTS=" + cluster.Endpoints[0],
			"FIREBREAK_ETCD_MAX_TXN_OPS=4096",
			"FIREBREAK_ETCD_PREFIX=failover-test/",
			"FIREBREAK_LEADER_TTL=5s",
			"FIREBREAK_REPLICA=" + name,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startBotEnv(t, bin, dirA, addrA, etcdEnv("a"), "-headless")
	t.Cleanup(func() { _ = a.cmd.Process.Kill(); _ = a.cmd.Wait() })
	waitHealthy(t, addrA)
	require.Eventually(t, func() bool { return leads(addrA) }, 20*time.Second, 50*time.Millisecond, "the first replica leads")
	b := startBotEnv(t, bin, dirB, addrB, etcdEnv("b"), "-headless")
	t.Cleanup(func() { _ = b.cmd.Process.Signal(syscall.SIGTERM); _ = b.cmd.Wait() })
	waitHealthy(t, addrB)
	assert.False(t, leads(addrB), "the second replica follows")

	// Both replicas run; the alert goes to the follower, the leader fires.
	ok, err := postAlert(ctx, addrB, "failover-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool { return pager.count(escalationKey(1, 0)) > 0 }, 20*time.Second, 50*time.Millisecond,
		"the leader pages the first escalation")
	time.Sleep(2 * time.Second) // two more timer ticks on each replica
	assert.Equal(t, map[string]int{escalationKey(1, 0): 1}, pager.snapshot(), "paged once while both replicas run")
	assert.True(t, leads(addrA))
	assert.False(t, leads(addrB))
	assert.Positive(t, pager.probed("a"), "the leader probes")
	assert.Zero(t, pager.probed("b"), "the follower does not probe")

	// Kill the leader; an alert whose escalation comes due during the
	// failover goes to the survivor.
	require.NoError(t, a.cmd.Process.Kill())
	killed := time.Now()
	_ = a.cmd.Wait()
	ok, err = postAlert(ctx, addrB, "failover-2")
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool { return leads(addrB) }, 20*time.Second, 50*time.Millisecond, "the survivor takes over")
	t.Logf("the survivor led %v after the kill (lease 5s, the default)", time.Since(killed).Round(10*time.Millisecond))
	require.Eventually(t, func() bool { return pager.probed("b") > 0 }, 10*time.Second, 50*time.Millisecond, "the new leader probes")

	// The failover timer (incident 2, level 0) and the next due ones
	// (level 1 of both incidents, 8 s after each opened) fire once each.
	want := map[string]int{escalationKey(1, 0): 1, escalationKey(2, 0): 1, escalationKey(1, 1): 1, escalationKey(2, 1): 1}
	require.Eventually(t, func() bool { return len(pager.snapshot()) == len(want) }, 30*time.Second, 100*time.Millisecond,
		"the new leader fires the timers due during and after the failover: %v", pager.snapshot())
	time.Sleep(2 * time.Second)
	assert.Equal(t, want, pager.snapshot(), "every escalation paged once across the failover")
}

// TestFailoverTime measures how long the leader's work stops when the
// leader dies: two replicas of the real binary on one embedded etcd member,
// with the default lease (FIREBREAK_LEADER_TTL unset), the leader SIGKILLed
// at a random moment, timed until the survivor reports firebreak_leader 1;
// the killed replica is started again as the next follower
// (FIREBREAK_FAILOVER_MEMBERS=3: three etcd members). It is a
// measurement, not a check of speed: it runs only when
// FIREBREAK_FAILOVER_KILLS is set (at least 20 for docs/BENCHMARKS.md),
// bounded to 15 minutes, and logs the distribution:
//
//	FIREBREAK_FAILOVER_KILLS=20 go test ./cmd/firebreak -run 'TestFailoverTime$' -v
func TestFailoverTime(t *testing.T) {
	kills, _ := strconv.Atoi(os.Getenv("FIREBREAK_FAILOVER_KILLS"))
	if kills <= 0 {
		t.Skip("set FIREBREAK_FAILOVER_KILLS=20 to measure failover time")
	}
	members := 1
	if os.Getenv("FIREBREAK_FAILOVER_MEMBERS") == "3" {
		members = 3
	}
	cluster := etcdtest.Start(t, members, etcdtest.Options{})
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))
	deadline := time.Now().Add(15 * time.Minute)
	n := 0
	start := func() (*botProc, string) {
		n++
		addr := freeAddr(t)
		b := startBotEnv(t, bin, dir, addr, []string{
			"FIREBREAK_ETCD_ENDPOINTS=" + strings.Join(cluster.Endpoints, ","),
			"FIREBREAK_ETCD_PREFIX=failover-time/",
			"FIREBREAK_REPLICA=r" + strconv.Itoa(n),
		}, "-headless")
		t.Cleanup(func() { _ = b.cmd.Process.Kill(); _ = b.cmd.Wait() })
		waitHealthy(t, addr)
		return b, addr
	}
	type replica struct {
		proc *botProc
		addr string
	}
	var rs [2]replica
	rs[0].proc, rs[0].addr = start()
	require.Eventually(t, func() bool { return leads(rs[0].addr) }, 30*time.Second, 20*time.Millisecond)
	rs[1].proc, rs[1].addr = start()

	var took []time.Duration
	for i := 0; i < kills && time.Now().Before(deadline); i++ {
		time.Sleep(time.Duration(rand.N(1000)) * time.Millisecond) // a random point of the lease's renewal cycle
		var l int
		require.Eventually(t, func() bool {
			for j := range rs {
				if leads(rs[j].addr) {
					l = j
					return true
				}
			}
			return false
		}, 30*time.Second, 20*time.Millisecond, "one replica leads before kill %d", i+1)
		require.NoError(t, rs[l].proc.cmd.Process.Kill())
		killed := time.Now()
		_ = rs[l].proc.cmd.Wait()
		other := rs[1-l].addr
		for !leads(other) {
			require.Less(t, time.Since(killed), 60*time.Second, "no new leader a minute after kill %d", i+1)
			time.Sleep(20 * time.Millisecond)
		}
		took = append(took, time.Since(killed))
		t.Logf("kill %d: the survivor led after %v", i+1, took[len(took)-1].Round(10*time.Millisecond))
		rs[l].proc, rs[l].addr = start()
	}
	require.NotEmpty(t, took)
	slices.Sort(took)
	pct := func(p float64) time.Duration { return took[min(len(took)-1, int(math.Ceil(p*float64(len(took))))-1)] }
	t.Logf("failover over %d kills (%d etcd members, default %v lease): min %v p50 %v p99 %v max %v", len(took), members, leader.DefaultTTL,
		took[0].Round(10*time.Millisecond), pct(0.5).Round(10*time.Millisecond), pct(0.99).Round(10*time.Millisecond), took[len(took)-1].Round(10*time.Millisecond))
}

// TestDeposedLeaderFiresNoTimer checks the fence serve puts on the
// leader's timer firing: FireDue through a term's fencedStore takes due
// timers while the term is current, is refused (etcdstore.ErrFenced, the
// timer left in place) once another replica was elected, and the new
// leader's FireDue then takes it.
func TestDeposedLeaderFiresNoTimer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded etcd")
	}
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: cluster.Endpoints, Prefix: "fence-test/"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	path := filepath.Join(t.TempDir(), "playbooks.yaml")
	require.NoError(t, os.WriteFile(path, []byte(crashConfig), 0o600))
	books, err := loadConfig(path, true)
	require.NoError(t, err)

	// lead elects id and returns its term and a function that ends it
	// (the elector's Run returns, revoking its lease).
	lead := func(id string) (leader.Term, func()) {
		el, err := leader.New(st.Client(), leader.Config{Prefix: "fence-test/leader", ID: id, TTL: 2 * time.Second})
		require.NoError(t, err)
		runCtx, stop := context.WithCancel(ctx)
		terms := make(chan leader.Term, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = el.Run(runCtx, func(ctx context.Context, term leader.Term) {
				terms <- term
				<-ctx.Done()
			})
		}()
		select {
		case term := <-terms:
			return term, func() { stop(); <-done }
		case <-time.After(30 * time.Second):
			stop()
			t.Fatalf("%s was not elected", id)
			return leader.Term{}, nil
		}
	}
	timer := func(key string) incidents.Timer {
		return incidents.Timer{Due: time.Now().Add(-time.Second), Incident: 1, Key: key}
	}
	put := func(tm incidents.Timer) {
		require.NoError(t, st.Update(ctx, func(tx incidents.Tx) error { return tx.PutTimer(tm) }))
	}
	due := func() int {
		n := 0
		require.NoError(t, st.View(ctx, func(tx incidents.ReadTx) error {
			return tx.DueTimers(time.Now(), func(incidents.Timer) error { n++; return nil })
		}))
		return n
	}
	fenced := func(term leader.Term) *incidents.Service {
		return incidents.NewService(fencedStore{Store: st, fence: []clientv3.Cmp{term.Cmp()}}, books)
	}

	term1, end1 := lead("a")
	svc1 := fenced(term1)
	put(timer("escalate/0/0"))
	_, err = svc1.FireDue(ctx, 100)
	require.NoError(t, err, "the current leader's fenced FireDue")
	assert.Zero(t, due(), "the leader took the due timer")

	put(timer("escalate/0/1"))
	end1()
	term2, end2 := lead("b")
	defer end2()
	require.Greater(t, term2.Rev, term1.Rev)
	_, err = svc1.FireDue(ctx, 100)
	require.ErrorIs(t, err, etcdstore.ErrFenced, "the deposed leader's FireDue is refused")
	assert.Equal(t, 1, due(), "nothing of the refused FireDue was written")
	_, err = fenced(term2).FireDue(ctx, 100)
	require.NoError(t, err)
	assert.Zero(t, due(), "the new leader took the timer")
}

// stormConfig groups alerts by alertname for longer than the test runs, so
// every alert of a group belongs in one incident, and escalates after 1 s
// (the leader's fenced timer writes run during the storm too).
const stormConfig = `alert_channels: ["#alerts"]
grouping:
  group_by: [alertname]
  group_window: 1h
escalation:
  levels:
    - after: 1s
      notify: ["@oncall"]
playbooks:
  - id: drill
    name: Storm drill
    default: true
    steps:
      - id: look
        title: Look around
`

// stormPayload is an Alertmanager webhook body of distinct firing alerts
// first..first+n-1, spread over groups alertnames.
func stormPayload(first, n, groups int) []byte {
	var b strings.Builder
	b.WriteString(`{"version":"4","groupKey":"{}:{}","status":"firing","receiver":"firebreak","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","alerts":[`)
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"Storm%d","instance":"host-%05d","severity":"critical"},"annotations":{"summary":"host-%05d is down"},"startsAt":"2026-12-04T16:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"%016x"}`,
			i%groups, i, i, i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// TestFailoverDuringAlertStorm: two replicas of the real binary on one
// embedded etcd member running etcd's default limits (128 operations per
// Txn: payloads of 25 alerts that open incidents are large Updates), four
// senders posting Alertmanager payloads of distinct alerts in four groups
// to both replicas, and the leader SIGKILLed three times during the storm
// (then started again as a follower). A sender retries a payload that got
// no 2xx on the other replica, as Alertmanager behind a load balancer
// would. Afterwards, read from the cluster: every alert of a 2xx-answered
// payload is stored exactly once (one record, count 1, in one incident),
// no other alert more than once, each group is one incident (no
// fingerprint or group with two incidents), and incident numbers are
// dense. The senders post a payload each every 150 ms until the third
// failover is over (about 20 s). Bounded: 2,000 payloads (50,000 alerts)
// or 3 minutes.
func TestFailoverDuringAlertStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts an embedded etcd")
	}
	const (
		groups, perPayload, maxPayloads, senders, kills = 4, 25, 2000, 4, 3
	)
	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(stormConfig), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	type replica struct {
		proc *botProc
		addr string
	}
	var mu sync.Mutex // guards rs
	var rs [2]replica
	start := func(i int) {
		addr := freeAddr(t)
		p := startBotEnv(t, bin, dir, addr, []string{
			"FIREBREAK_ETCD_ENDPOINTS=" + cluster.Endpoints[0],
			"FIREBREAK_ETCD_PREFIX=storm/",
			"FIREBREAK_LEADER_TTL=2s",
			"FIREBREAK_REPLICA=r" + strconv.Itoa(i),
		}, "-headless")
		t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
		waitHealthy(t, addr)
		mu.Lock()
		rs[i] = replica{p, addr}
		mu.Unlock()
	}
	addrOf := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		return rs[i].addr
	}
	start(0)
	require.Eventually(t, func() bool { return leads(addrOf(0)) }, 30*time.Second, 20*time.Millisecond)
	start(1)

	post := func(addr string, body []byte) bool {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+addr+"/alerts/alertmanager", strings.NewReader(string(body)))
		if err != nil {
			return false
		}
		req.Header.Set("Authorization", "Bearer drill-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode/100 == 2
	}
	accepted := make([]bool, maxPayloads) // by payload
	var retries atomic.Int64
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				if stop.Load() || ctx.Err() != nil {
					return
				}
				k := int(next.Add(1)) - 1
				if k >= maxPayloads {
					return
				}
				body := stormPayload(k*perPayload, perPayload, groups)
				for try := 0; try < 40 && ctx.Err() == nil; try++ {
					if post(addrOf((k+try)%2), body) {
						accepted[k] = true
						break
					}
					retries.Add(1)
					time.Sleep(250 * time.Millisecond)
				}
				time.Sleep(150 * time.Millisecond)
			}
		})
	}

	// The killer: three times, find the leader, SIGKILL it, start it again.
	var failovers []time.Duration
	for kill := 0; kill < kills && next.Load() < maxPayloads; kill++ {
		time.Sleep(time.Duration(1500+rand.N(1500)) * time.Millisecond)
		l := -1
		require.Eventually(t, func() bool {
			for i := range rs {
				if leads(addrOf(i)) {
					l = i
					return true
				}
			}
			return false
		}, 30*time.Second, 20*time.Millisecond, "a replica leads before kill %d", kill+1)
		mu.Lock()
		victim := rs[l].proc
		mu.Unlock()
		require.NoError(t, victim.cmd.Process.Kill())
		killed := time.Now()
		_ = victim.cmd.Wait()
		require.Eventually(t, func() bool { return leads(addrOf(1 - l)) }, 30*time.Second, 20*time.Millisecond, "the survivor leads after kill %d", kill+1)
		failovers = append(failovers, time.Since(killed).Round(10*time.Millisecond))
		start(l)
	}
	time.Sleep(time.Second) // a little storm under the last new leader too
	stop.Store(true)
	wg.Wait()
	require.NoError(t, ctx.Err(), "the storm did not finish in time")
	payloads := min(int(next.Load()), maxPayloads)
	t.Logf("%d payloads of %d alerts, %d retried posts, %d kills of the leader; the survivor led after %v",
		payloads, perPayload, retries.Load(), len(failovers), failovers)
	require.Len(t, failovers, kills, "every kill happened during the storm")

	// Read the outcome from the cluster.
	st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: cluster.Endpoints, Prefix: "storm/"})
	require.NoError(t, err)
	defer st.Close()
	stored := map[string]int{}        // instance → records
	counts := map[string]int{}        // instance → count summed over records
	incidentOf := map[string]uint64{} // group (alertname) → incident
	var numbers []uint64
	alertTotal := 0
	require.NoError(t, st.View(ctx, func(tx incidents.ReadTx) error {
		var list []*incidents.Incident
		if err := tx.Incidents(false, 0, func(inc *incidents.Incident) error { list = append(list, inc); return nil }); err != nil {
			return err
		}
		for _, inc := range list {
			numbers = append(numbers, inc.Number)
			alertTotal += inc.AlertCount
			if err := tx.Alerts(inc.Number, func(a incidents.AlertState) error {
				inst, group := a.Labels["instance"], a.Labels["alertname"]
				stored[inst]++
				counts[inst] += a.Count
				if n, ok := incidentOf[group]; ok && n != inc.Number {
					return fmt.Errorf("group %s is in incidents #%d and #%d", group, n, inc.Number)
				}
				incidentOf[group] = inc.Number
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	slices.Sort(numbers)
	assert.Len(t, incidentOf, groups, "every group has its incident")
	assert.Equal(t, []uint64{1, 2, 3, 4}, numbers, "one incident per group, numbers dense")
	acceptedAlerts := 0
	for k := range payloads {
		for i := k * perPayload; i < (k+1)*perPayload; i++ {
			inst := fmt.Sprintf("host-%05d", i)
			if accepted[k] {
				acceptedAlerts++
				if !assert.Equal(t, 1, stored[inst], "alert %s of 2xx payload %d stored once", inst, k) {
					continue
				}
				assert.Equal(t, 1, counts[inst], "alert %s counted once", inst)
			} else {
				assert.LessOrEqual(t, stored[inst], 1, "alert %s of a refused payload", inst)
			}
		}
	}
	assert.Equal(t, len(stored), alertTotal, "the incidents count each stored alert once")
	t.Logf("%d alerts answered 2xx, %d stored", acceptedAlerts, len(stored))
	assert.Greater(t, acceptedAlerts, payloads*perPayload*9/10, "most payloads got through despite the kills")
}

// TestConsoleWaitsToLead: `firebreak serve` with the console on a replica
// that does not lead says that it is waiting to lead, and who leads,
// instead of taking commands whose replies another replica would print
// (and looking hung); once the leader is SIGKILLed and this replica is
// elected, it says so and the console answers an alert typed there.
func TestConsoleWaitsToLead(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts an embedded etcd")
	}
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))
	env := func(name string) []string {
		return []string{
			"FIREBREAK_ETCD_ENDPOINTS=" + cluster.Endpoints[0],
			"FIREBREAK_ETCD_PREFIX=console/",
			"FIREBREAK_LEADER_TTL=2s",
			"FIREBREAK_REPLICA=" + name,
		}
	}
	addrA := freeAddr(t)
	a := startBotEnv(t, bin, dir, addrA, env("alpha"), "-headless")
	t.Cleanup(func() { _ = a.cmd.Process.Kill(); _ = a.cmd.Wait() })
	waitHealthy(t, addrA)
	require.Eventually(t, func() bool { return leads(addrA) }, 30*time.Second, 20*time.Millisecond, "alpha leads")

	addrB := freeAddr(t)
	b := startBotEnv(t, bin, dir, addrB, env("beta")) // the console: no -headless
	t.Cleanup(func() { _ = b.cmd.Process.Kill(); _ = b.cmd.Wait() })
	waitHealthy(t, addrB)
	require.Eventually(t, func() bool { return strings.Contains(b.output(), "waiting to lead") }, 20*time.Second, 50*time.Millisecond,
		"the follower's console says it waits: %q", b.output())
	assert.Contains(t, b.output(), `replica "alpha" leads now`)
	assert.Contains(t, b.output(), `(beta)`)

	require.NoError(t, a.cmd.Process.Kill())
	_ = a.cmd.Wait()
	require.Eventually(t, func() bool { return strings.Contains(b.output(), "leads now: the console is ready") }, 30*time.Second, 50*time.Millisecond,
		"beta's console says it is ready once elected: %q", b.output())
	_, err := io.WriteString(b.stdin, alertLine+"\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(b.output(), "#1") }, 30*time.Second, 50*time.Millisecond,
		"the console answers on the new leader: %q", b.output())
}
