package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/webhook"
)

// Every member of the local cluster listens on loopback only and knows
// all its peers; only its own name and ports differ.
func TestEtcdMemberArgs(t *testing.T) {
	members := []etcdMember{{"m0", 2001, 3001}, {"m1", 2002, 3002}, {"m2", 2003, 3003}}
	tests := []struct {
		i    int
		want []string
	}{
		{0, []string{"--name=m0", "--data-dir=/d/m0", "--listen-client-urls=http://127.0.0.1:2001", "--advertise-client-urls=http://127.0.0.1:2001",
			"--listen-peer-urls=http://127.0.0.1:3001", "--initial-advertise-peer-urls=http://127.0.0.1:3001"}},
		{2, []string{"--name=m2", "--data-dir=/d/m2", "--listen-client-urls=http://127.0.0.1:2003", "--advertise-client-urls=http://127.0.0.1:2003",
			"--listen-peer-urls=http://127.0.0.1:3003", "--initial-advertise-peer-urls=http://127.0.0.1:3003"}},
	}
	for _, tt := range tests {
		args := etcdMemberArgs(members, tt.i, "/d/"+members[tt.i].name, "tok")
		for _, w := range tt.want {
			assert.Contains(t, args, w)
		}
		assert.Contains(t, args, "--initial-cluster=m0=http://127.0.0.1:3001,m1=http://127.0.0.1:3002,m2=http://127.0.0.1:3003")
		assert.Contains(t, args, "--initial-cluster-state=new")
		assert.Contains(t, args, "--initial-cluster-token=tok")
		for _, a := range args {
			assert.NotContains(t, a, "0.0.0.0", "loopback only")
		}
	}
}

func TestParseEtcdFlags(t *testing.T) {
	f, err := parseEtcdFlags([]string{"-per", "100, 1", "-shapes", "none", "-targets", "etcd,bbolt"})
	require.NoError(t, err)
	assert.Equal(t, []int{100, 1}, f.per)
	assert.Empty(t, f.shapes)
	assert.Equal(t, []string{targetEtcd, targetBbolt}, f.targets)
	assert.Zero(t, f.maxTxnOps, "etcd's defaults unless asked")
	assert.Empty(t, etcdLimits(0))
	assert.Equal(t, []string{"--max-txn-ops=4096", "--max-request-bytes=10485760"}, etcdLimits(4096))
	for _, bad := range [][]string{{"-per", "0"}, {"-shapes", "storm"}, {"-targets", "redis"}, {"-rounds", "0"}, {"-max-txn-ops", "-1"}} {
		_, err := parseEtcdFlags(bad)
		assert.Error(t, err, "%v", bad)
	}
}

func TestQuantileAndMedian(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	assert.Equal(t, time.Duration(5), quantile(d, 0.5))
	assert.Equal(t, time.Duration(9), quantile(d, 0.9))
	assert.Equal(t, time.Duration(10), quantile(d, 0.99))
	assert.Equal(t, time.Duration(1), quantile(d, 0))
	assert.InDelta(t, 2.5, median([]float64{4, 1, 3, 2}), 1e-9)
	assert.InDelta(t, 3, median([]float64{5, 1, 3}), 1e-9)
	assert.Equal(t, "3 (1–5)", spread([]float64{5, 1, 3}, func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }))
	assert.Equal(t, "—", spread(nil, nil))
}

// The latency run pairs each alert with its own first step, for both
// kinds of receiver body, and runs of different tools never mix up their
// alerts: a fake tool that "runs the first step" by posting to the
// receiver as soon as it has the alert.
func TestMeasureFirstStepPairsAlertsWithTheirSteps(t *testing.T) {
	recv, err := newStepReceiver()
	require.NoError(t, err)
	defer recv.close()
	delay := 3 * time.Millisecond
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var step []byte
		path := "/firebreak"
		if r.URL.Path == "/api/v2/alerts" {
			var alerts []struct {
				Labels map[string]string `json:"labels"`
			}
			if err := json.Unmarshal(body, &alerts); err != nil || len(alerts) != 1 {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			path = "/alertmanager"
			step, _ = json.Marshal(map[string]any{"alerts": alerts})
		} else {
			alerts, err := webhook.ParseAlertmanager(body)
			if err != nil || len(alerts) != 1 {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			step = []byte(`{"alertname":"` + alerts[0].Labels["alertname"] + `","incident":1}`)
		}
		w.WriteHeader(http.StatusOK)
		go func() {
			time.Sleep(delay)
			resp, err := http.Post(recv.url+path, "application/json", bytes.NewReader(step))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}))
	defer tool.Close()
	for k, target := range []string{targetBbolt, targetAM, targetEtcd} {
		ls, err := measureFirstStep(context.Background(), recv, target, tool.URL, k+1, 20, time.Millisecond)
		require.NoError(t, err, target)
		assert.Equal(t, 20, ls.seen, target)
		assert.GreaterOrEqual(t, ls.p50, delay, target)
		assert.LessOrEqual(t, ls.p50, ls.p99, target)
		assert.Less(t, ls.max, 10*time.Second, target)
	}
	resp, err := http.Post(recv.url+"/firebreak", "application/json", strings.NewReader("not json"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// A real local cluster of Debian's etcd starts, elects a leader, commits
// proposals and stops. Skipped with -short, and where etcd is not
// installed outside CI (CI installs it with .ci/install-etcd).
func TestEtcdClusterStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("etcd is not installed: .ci/install-etcd installs Debian's etcd-server")
		}
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := startEtcdCluster(ctx, bin, t.TempDir(), 3)
	require.NoError(t, err)
	defer c.stop()
	require.Len(t, c.endpoints, 3)
	client := &http.Client{Timeout: time.Second}
	for _, p := range c.members {
		assert.True(t, etcdHealthy(client, p.url), p.url)
	}
	st := c.stats()
	assert.Positive(t, st.proposals, "a leader was elected and committed its first entries")
	assert.Positive(t, st.fsyncs)
	c.stop()
	for _, p := range c.members {
		select {
		case <-p.done:
		default:
			t.Fatal("a member still runs after stop")
		}
	}
}
