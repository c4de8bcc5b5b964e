package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// TestServeOnEtcd runs the real binary with FIREBREAK_ETCD_ENDPOINTS set,
// as docs/ha.md shows: an alert posted to the webhook opens an incident in
// etcd, the incident survives a restart of the bot, the same alert after
// the restart is grouped into it, `firebreak incidents` reads it from the
// cluster, and no bbolt file is created.
func TestServeOnEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts an embedded etcd")
	}
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))
	etcdEnv := []string{
		"FIREBREAK_ETCD_ENDPOINTS=" + cluster.Endpoints[0],
		"FIREBREAK_ETCD_MAX_TXN_OPS=4096",
		"FIREBREAK_ETCD_PREFIX=serve-test/",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	list := func() []*incidents.Incident {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, "incidents", "-all", "-json")
		cmd.Dir = dir
		cmd.Env = append([]string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
			"FIREBREAK_DB=" + filepath.Join(dir, "firebreak.db"),
			"FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml"),
		}, etcdEnv...)
		out, err := cmd.Output()
		require.NoError(t, err, "firebreak incidents: %s", out)
		var got []*incidents.Incident
		require.NoError(t, json.Unmarshal(out, &got), "%s", out)
		return got
	}
	stop := func(b *botProc) {
		t.Helper()
		require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, b.cmd.Wait())
	}

	addr := freeAddr(t)
	b := startBotEnv(t, bin, dir, addr, etcdEnv, "-headless")
	waitHealthy(t, addr)
	code, _ := httpGet(t, addr, "/readyz")
	assert.Equal(t, http.StatusOK, code, "ready: the cluster answers")
	require.Eventually(t, func() bool {
		_, body := httpGet(t, addr, "/metrics")
		return strings.Contains(body, "\nfirebreak_leader 1\n")
	}, 20*time.Second, 50*time.Millisecond, "the only replica becomes the leader")
	ok, err := postAlert(ctx, addr, "etcd-disk-full")
	require.NoError(t, err)
	require.True(t, ok, "the webhook accepted the alert")
	stop(b)

	got := list()
	require.Len(t, got, 1, "one incident in etcd")
	assert.Equal(t, "Drill etcd-disk-full", got[0].Title)
	assert.True(t, got[0].Status.Open())
	_, err = os.Stat(filepath.Join(dir, "firebreak.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no bbolt file when the etcd store is configured")

	addr = freeAddr(t)
	b = startBotEnv(t, bin, dir, addr, etcdEnv, "-headless")
	waitHealthy(t, addr)
	ok, err = postAlert(ctx, addr, "etcd-disk-full")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = postAlert(ctx, addr, "etcd-cpu")
	require.NoError(t, err)
	require.True(t, ok)
	stop(b)

	// backup on etcd writes the portable bbolt file, which the bot opens
	// when FIREBREAK_ETCD_ENDPOINTS is unset.
	backup := exec.CommandContext(ctx, bin, "backup", filepath.Join(dir, "copy.db"))
	backup.Dir = dir
	backup.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml")}, etcdEnv...)
	out, err := backup.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "backup written to")
	fromBackup := exec.CommandContext(ctx, bin, "incidents", "-all", "-json")
	fromBackup.Dir = dir
	fromBackup.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "FIREBREAK_DB=" + filepath.Join(dir, "copy.db"), "FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml")}
	backedUp, err := fromBackup.Output()
	require.NoError(t, err, "%s", backedUp)
	onEtcd := exec.CommandContext(ctx, bin, "incidents", "-all", "-json")
	onEtcd.Dir = dir
	onEtcd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml")}, etcdEnv...)
	live, err := onEtcd.Output()
	require.NoError(t, err, "%s", live)
	assert.JSONEq(t, string(live), string(backedUp), "the backup lists what the cluster does")

	got = list()
	require.Len(t, got, 2, "the repeat was grouped into the incident opened before the restart")
	assert.Equal(t, "Drill etcd-cpu", got[0].Title)
	assert.Equal(t, "Drill etcd-disk-full", got[1].Title)
	assert.Equal(t, uint64(1), got[1].Number)
}

func httpGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// postAlertStatus posts one generic alert and returns the status code and
// Retry-After header.
func postAlertStatus(ctx context.Context, t *testing.T, addr, fingerprint string) (int, string) {
	t.Helper()
	body := `{"title": "Drill ` + fingerprint + `", "service": "svc", "severity": "SEV4", "fingerprint": "` + fingerprint + `"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/alerts/generic", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer drill-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestServeOnEtcdQuorumLoss stops two of three etcd members under a
// running bot: alert webhooks answer 503 with Retry-After within the
// store's timeout and /readyz turns 503; nothing of the refused alerts is
// stored; once the members are back, the senders' retries are recorded,
// each alert exactly once, and incident numbers stay dense.
func TestServeOnEtcdQuorumLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts three embedded etcd members")
	}
	cluster := etcdtest.Start(t, 3, etcdtest.Options{})
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))
	etcdEnv := []string{
		"FIREBREAK_ETCD_ENDPOINTS=" + strings.Join(cluster.Endpoints, ","),
		"FIREBREAK_ETCD_MAX_TXN_OPS=4096",
		"FIREBREAK_ETCD_TIMEOUT=2s",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr := freeAddr(t)
	b := startBotEnv(t, bin, dir, addr, etcdEnv, "-headless")
	waitHealthy(t, addr)
	code, _ := postAlertStatus(ctx, t, addr, "before")
	require.Equal(t, http.StatusOK, code)

	cluster.Stop(1)
	cluster.Stop(2)
	for _, fp := range []string{"during-1", "during-2"} {
		start := time.Now()
		code, retry := postAlertStatus(ctx, t, addr, fp)
		assert.Equal(t, http.StatusServiceUnavailable, code, "no quorum: the sender must retry")
		assert.NotEmpty(t, retry, "Retry-After")
		assert.Less(t, time.Since(start), 10*time.Second, "answered within the store timeout, not when the sender gives up")
	}
	code, body := httpGet(t, addr, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "storage unavailable")

	cluster.Restart(1)
	cluster.Restart(2)
	// The senders retry until they are answered 2xx.
	for _, fp := range []string{"during-1", "during-2", "after"} {
		require.Eventually(t, func() bool {
			code, _ := postAlertStatus(ctx, t, addr, fp)
			return code == http.StatusOK
		}, 60*time.Second, 200*time.Millisecond, "alert %s recorded once the quorum is back", fp)
	}
	code, _ = httpGet(t, addr, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, b.cmd.Wait())

	cmd := exec.CommandContext(ctx, bin, "incidents", "-all", "-json")
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml")}, etcdEnv...)
	out, err := cmd.Output()
	require.NoError(t, err, "firebreak incidents: %s", out)
	var got []*incidents.Incident
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	var titles []string
	var numbers []uint64
	for _, inc := range got {
		titles, numbers = append(titles, inc.Title), append(numbers, inc.Number)
	}
	assert.Equal(t, []string{"Drill after", "Drill during-2", "Drill during-1", "Drill before"}, titles,
		"each alert once: the refused attempts left nothing behind")
	assert.Equal(t, []uint64{4, 3, 2, 1}, numbers, "no incident number was used by a refused attempt")
}

// With the bbolt file there is one process: it is ready while it runs and
// always the leader.
func TestReadyAndLeaderOnBbolt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary")
	}
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))
	addr := freeAddr(t)
	b := startBot(t, bin, dir, addr, "-headless")
	waitHealthy(t, addr)
	code, body := httpGet(t, addr, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready\n", body)
	_, body = httpGet(t, addr, "/metrics")
	assert.Contains(t, body, "\nfirebreak_leader 1\n")
	assert.Contains(t, body, "\nfirebreak_open_incidents 0\n")
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, b.cmd.Wait())
}

// A command typed while etcd has no quorum is answered at once, in the
// chat it came from, with "storage unavailable" (the reply goes straight
// back, nothing is recorded), and the same command works once the
// members are back.
func TestCommandDuringQuorumLossSaysStorageUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three embedded etcd members")
	}
	cluster := etcdtest.Start(t, 3, etcdtest.Options{})
	e := newTestEnv(t)
	e.env["FIREBREAK_ETCD_ENDPOINTS"] = strings.Join(cluster.Endpoints, ",")
	e.env["FIREBREAK_ETCD_TIMEOUT"] = "1s"

	r, w, err := os.Pipe()
	require.NoError(t, err)
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		no := false
		done <- run(context.Background(), nil, environ{
			getenv: func(k string) string { return e.env[k] }, stdin: r, stdout: &out, stderr: &errb, stdinIsTerminal: &no,
		})
	}()
	cluster.Stop(1)
	cluster.Stop(2)
	_, err = io.WriteString(w, "/incident declare Database down\n")
	require.NoError(t, err)
	time.Sleep(3 * time.Second) // the store's timeout is 1 s
	cluster.Restart(1)
	cluster.Restart(2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := cluster.Client(t)
	for ctx.Err() == nil { // wait for the quorum before typing again
		if _, err := cli.Get(ctx, "probe"); err == nil {
			break
		}
	}
	_, err = io.WriteString(w, "/incident declare Database down\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	select {
	case code := <-done:
		assert.Equal(t, 0, code, errb.String())
	case <-time.After(60 * time.Second):
		t.Fatal("bot did not stop at end of input")
	}
	assert.Contains(t, out.String(), "Firebreak could not do that")
	assert.Contains(t, out.String(), "storage unavailable")
	assert.Contains(t, out.String(), "#1", "the second try declared incident #1: the first left no number behind")
	assert.NotContains(t, out.String(), "#2")
}
