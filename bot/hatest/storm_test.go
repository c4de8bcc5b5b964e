package hatest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/internal/slacktest"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// stormConfig groups alerts by alertname for longer than the test runs
// and escalates an unacknowledged incident after a second, so cards and
// escalation notices (fired by the leader's timers) are posted throughout
// the storm and its failovers.
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

// stormBody is an Alertmanager webhook body of n distinct firing alerts
// from first on, all in group alertname StormG<group>.
func stormBody(first, n, group int) string {
	var b strings.Builder
	b.WriteString(`{"version":"4","groupKey":"{}:{}","status":"firing","receiver":"firebreak","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","alerts":[`)
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"StormG%d","instance":"host-%05d","severity":"critical"},"annotations":{"summary":"host-%05d is down"},"startsAt":"2026-12-04T16:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"%016x"}`,
			group, i, i, i)
	}
	b.WriteString("]}")
	return b.String()
}

// The posts the drill counts, once Slack's markup is gone.
var (
	stormCard       = regexp.MustCompile(`^\S+ #(\d+) host-\d+ is down · SEV\d · \w+`)
	stormEscalation = regexp.MustCompile(`^🔔 #(\d+) host-\d+ is down is not acknowledged`)
	stormAck        = regexp.MustCompile(`acknowledged #(\d+) after`)
)

// stormItem is one post the drill counts: an incident's card or its
// escalation notice.
type stormItem struct {
	kind string
	n    uint64
}

func classifyStormPost(text string) (stormItem, bool) {
	text = strings.TrimSpace(strings.ReplaceAll(text, "*", ""))
	for kind, re := range map[string]*regexp.Regexp{"card": stormCard, "escalation": stormEscalation} {
		if m := re.FindStringSubmatch(text); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			return stormItem{kind, n}, true
		}
	}
	return stormItem{}, false
}

// TestStormFailoverOnChat: two replicas of the real binary on embedded
// etcd (etcd's default 128 operations per Txn), both configured for Slack
// in Socket Mode against the loopback fake. Two senders post Alertmanager
// payloads of distinct alerts to both replicas, a new alert group (so a
// new incident) every 10 payloads, while the leader is SIGKILLed three
// times at random moments and started again as a follower; a payload that
// gets no 2xx is posted again to the other replica. Nobody acknowledges,
// so every incident's escalation falls due a second after it opens, on
// whichever replica leads then. Every post waits 300 ms in the worker
// (FIREBREAK_DRILL_POST_DELAY), so kills find posts pending. After the
// last failover a user types `/incident ack #N` on the new leader's
// connection.
//
// Then, once the cluster's outbox has nothing pending: every incident in
// the store has its card in the channel, every committed card and
// escalation notice is in the channel at least once and the repeats stay
// within the documented window (at most one per channel per failover,
// docs/ha.md "The outbox on etcd"), nothing posted was never committed,
// and the ack typed after the failover got its answer posted. Bounded:
// 600 payloads or 3 minutes for the storm, 2 minutes for the drain.
func TestStormFailoverOnChat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts an embedded etcd")
	}
	const (
		perPayload, perGroup, maxPayloads, senders, kills = 10, 10, 600, 2, 3
		prefix                                            = "chatstorm/"
	)
	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	slack := slacktest.New(t)
	slack.AddUser(slacktest.User{ID: "U0ANA", Name: "ana", RealName: "Ana"})
	dir := t.TempDir()
	bin := filepath.Join(dir, "firebreak")
	out, err := exec.Command("go", "build", "-race", "-o", bin, "../../cmd/firebreak").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(stormConfig), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	type replica struct {
		cmd  *exec.Cmd
		addr string
	}
	var mu sync.Mutex // guards rs
	var rs [2]replica
	start := func(i int) {
		addr := freeAddr(t)
		cmd := exec.Command(bin, "serve", "-headless")
		cmd.Dir = dir
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
			"FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml"),
			"FIREBREAK_LISTEN=" + addr,
			"FIREBREAK_WEBHOOK_TOKEN=drill-token",
			"FIREBREAK_LOG_LEVEL=warn",
			"FIREBREAK_ETCD_ENDPOINTS=" + cluster.Endpoints[0],
			"FIREBREAK_ETCD_PREFIX=" + prefix,
			"FIREBREAK_LEADER_TTL=2s",
			"FIREBREAK_REPLICA=r" + strconv.Itoa(i),
			"SLACK_BOT_TOKEN=" + slacktest.BotToken,
			"SLACK_APP_TOKEN=" + slacktest.AppToken,
			"SLACK_API_URL=" + slack.URL(),
			// Every post waits this long in the worker, so the kills
			// find posts committed and not yet delivered.
			"FIREBREAK_DRILL_POST_DELAY=300ms",
		}
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "level=ERROR") {
					t.Logf("r%d: %s", i, sc.Text())
				}
			}
		}()
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 30*time.Second, 20*time.Millisecond, "r%d did not come up", i)
		mu.Lock()
		rs[i] = replica{cmd, addr}
		mu.Unlock()
	}
	addrOf := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		return rs[i].addr
	}
	start(0)
	require.Eventually(t, func() bool { return leads(addrOf(0)) }, 30*time.Second, 20*time.Millisecond, "r0 leads")
	slack.WaitConnected(t, 1)
	start(1)

	post := func(addr, body string) bool {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+addr+"/alerts/alertmanager", strings.NewReader(body))
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
	var next, retries, accepted atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= maxPayloads {
					return
				}
				body := stormBody(k*perPayload, perPayload, k/perGroup)
				for try := 0; try < 40 && ctx.Err() == nil; try++ {
					if post(addrOf((k+try)%2), body) {
						accepted.Add(1)
						break
					}
					retries.Add(1)
					time.Sleep(250 * time.Millisecond)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}

	st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: cluster.Endpoints, Prefix: prefix})
	require.NoError(t, err)
	defer st.Close()
	type effectLister interface {
		Effects(settled bool, fn func(incidents.Effect) error) error
	}
	pendingNow := func() (int, error) {
		n := 0
		err := st.View(ctx, func(tx incidents.ReadTx) error {
			return tx.(effectLister).Effects(false, func(incidents.Effect) error { n++; return nil })
		})
		return n, err
	}

	// The killer: find the leader, SIGKILL it, wait for the other to lead
	// and open its Socket Mode connection, start the killed one again.
	leader := 0
	var pendingAtKills []int
	for kill := range kills {
		time.Sleep(time.Duration(1500+rand.N(1500)) * time.Millisecond)
		require.Eventually(t, func() bool {
			for i := range rs {
				if leads(addrOf(i)) {
					leader = i
					return true
				}
			}
			return false
		}, 30*time.Second, 20*time.Millisecond, "a replica leads before kill %d", kill+1)
		mu.Lock()
		victim := rs[leader].cmd
		mu.Unlock()
		require.NoError(t, victim.Process.Kill())
		_ = victim.Wait()
		pending, err := pendingNow()
		require.NoError(t, err)
		pendingAtKills = append(pendingAtKills, pending)
		require.Eventually(t, func() bool { return leads(addrOf(1 - leader)) }, 30*time.Second, 20*time.Millisecond, "the survivor leads after kill %d", kill+1)
		slack.WaitConnected(t, kill+2)
		start(leader)
		leader = 1 - leader
	}

	// The incident loop goes on under the last leader: an ack typed now,
	// on its connection, is answered in the channel.
	time.Sleep(time.Second) // a little storm under the last leader too
	stop.Store(true)
	wg.Wait()
	require.NoError(t, ctx.Err(), "the storm did not finish in time")
	payloads := min(int(next.Load()), maxPayloads)
	var numbers []uint64
	require.NoError(t, st.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error { numbers = append(numbers, inc.Number); return nil })
	}))
	require.NotEmpty(t, numbers)
	ackN := numbers[0] // every incident is open and unacknowledged: any will do
	envID := slack.PushCommand(t, slack.Command("U0ANA", slacktest.AlertsChannel, fmt.Sprintf("ack #%d", ackN)))
	slack.WaitAck(t, envID)

	// Wait until the cluster's outbox has had nothing pending for three
	// seconds (the last escalations fall due a second after their
	// incidents opened).
	var effects []incidents.Effect
	var quietSince time.Time
	require.Eventually(t, func() bool {
		pending, err := pendingNow()
		switch {
		case err != nil || pending > 0:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		}
		return !quietSince.IsZero() && time.Since(quietSince) > 3*time.Second
	}, 2*time.Minute, 100*time.Millisecond, "the new leader's outbox did not drain")
	require.NoError(t, st.View(ctx, func(tx incidents.ReadTx) error {
		return tx.(effectLister).Effects(true, func(e incidents.Effect) error { effects = append(effects, e); return nil })
	}))

	// What was committed: the cards and escalation notices in the outbox.
	want := map[stormItem]int{}
	lanes := map[string]bool{}
	for _, e := range effects {
		assert.Contains(t, []incidents.EffectStatus{incidents.EffectDelivered, incidents.EffectCoalesced}, e.Status,
			"effect %d (%s of #%d): %s", e.ID, e.Kind, e.Incident, e.Reason)
		if e.Kind != incidents.EffectPost {
			continue
		}
		lanes[e.Channel()] = true
		it, ok := classifyStormPost(e.Message.Text)
		if strings.HasPrefix(e.Key, "card/") {
			require.True(t, ok && it.kind == "card", "card effect %d reads %q", e.ID, e.Message.Text)
		}
		if ok {
			want[it]++
		}
	}
	for _, n := range numbers {
		assert.Positive(t, want[stormItem{"card", n}], "incident #%d was committed without its card", n)
	}

	// What the channel shows.
	got := map[stormItem]int{}
	acked := false
	var posts []string
	for _, c := range slack.Calls("chat.postMessage") {
		if c.Status != http.StatusOK || c.Error != "" {
			continue
		}
		text := c.Param("text")
		if v, ok := c.JSON["text"].(string); ok && text == "" {
			text = v
		}
		posts = append(posts, text)
		if it, ok := classifyStormPost(text); ok {
			got[it]++
		}
		if m := stormAck.FindStringSubmatch(strings.ReplaceAll(text, "*", "")); m != nil && m[1] == strconv.FormatUint(ackN, 10) {
			acked = true
		}
	}
	assert.True(t, acked, "the ack of #%d typed after the failover was answered in the channel", ackN)
	var cards, escalations, missing, duplicates int
	for it, n := range want {
		if it.kind == "card" {
			cards += n
		} else {
			escalations += n
		}
		switch g := got[it]; {
		case g < n:
			missing += n - g
			t.Errorf("the %s of #%d never reached the chat (%d committed, %d posted)", it.kind, it.n, n, g)
		case g > n:
			duplicates += g - n
			t.Logf("the %s of #%d posted %d times (committed %d)", it.kind, it.n, g, n)
		}
		delete(got, it)
	}
	for it, g := range got {
		t.Errorf("the %s of #%d posted %d times but never committed", it.kind, it.n, g)
	}
	t.Logf("chat storm failover: %d payloads of %d alerts (%d answered 2xx, %d posts retried), %d kills (effects pending at each: %v), %d incidents; committed %d cards and %d escalation notices in lanes %v; %d missing, %d duplicates; %d posts in all",
		payloads, perPayload, accepted.Load(), retries.Load(), kills, pendingAtKills, len(numbers), cards, escalations, len(lanes), missing, duplicates, len(posts))
	assert.Positive(t, escalations, "escalations fell due during the storm")
	assert.Positive(t, slices.Max(pendingAtKills), "no kill fell where posts were pending: the drill tested nothing")
	assert.LessOrEqual(t, duplicates, kills*len(lanes), "more repeats than the window allows (one per channel per failover)")
	assert.Equal(t, kills+1, slack.Connects(), "one Socket Mode connection per leadership")
}
