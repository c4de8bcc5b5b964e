package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage/etcdstore"
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

// composeFile is the part of docs/ha/compose.yaml TestComposeExample reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Profiles    []string          `yaml:"profiles"`
	} `yaml:"services"`
}

// interpolated replaces compose's ${NAME:?message} (required: a stand-in
// secret) and ${NAME:-default} in v.
var composeVar = regexp.MustCompile(`\$\{([A-Z_]+)(:\?[^}]*|:-([^}]*))?\}`)

func interpolated(v string) string {
	return composeVar.ReplaceAllStringFunc(v, func(m string) string {
		p := composeVar.FindStringSubmatch(m)
		if strings.HasPrefix(p[2], ":-") {
			return p[3]
		}
		return "stand-in-" + strings.ToLower(p[1])
	})
}

// readByTheBinary reports whether name appears as a string literal in the
// non-test Go source of the packages the binary is built from.
func readByTheBinary(t *testing.T, name string) bool {
	t.Helper()
	found := false
	for _, root := range []string{".", "../../bot", "../../storage", "../../incidents"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || found || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			found = bytes.Contains(src, []byte(`"`+name+`"`))
			return nil
		}))
	}
	return found
}

// TestComposeExample makes docs/ha/compose.yaml an executable claim: every
// variable the Firebreak replicas set is one the binary reads; they parse
// as the binary parses them (the etcd configuration, the leader lease, the
// playbooks file the compose file mounts); they agree with the members'
// flags (endpoints, --max-txn-ops, the request limit); and the TLS +
// username/password combination the file uses opens a store on an
// embedded member set up the way docs/ha.md says.
func TestComposeExample(t *testing.T) {
	raw, err := os.ReadFile("../../docs/ha/compose.yaml")
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(raw, &c))

	// The members.
	var endpoints []string
	flags := map[string]map[string]string{}
	var peers []string
	for _, name := range []string{"etcd-1", "etcd-2", "etcd-3"} {
		svc, ok := c.Services[name]
		require.True(t, ok, "service %s", name)
		require.NotEmpty(t, svc.Command)
		assert.Equal(t, "etcd", svc.Command[0])
		f := map[string]string{}
		for _, arg := range svc.Command[1:] {
			k, v, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
			f[k] = v
		}
		flags[name] = f
		assert.Equal(t, name, f["name"])
		endpoints = append(endpoints, f["advertise-client-urls"])
		peers = append(peers, name+"="+f["initial-advertise-peer-urls"])
		for _, k := range []string{"client-cert-auth", "peer-client-cert-auth"} {
			_, on := f[k]
			assert.True(t, on, "%s: --%s", name, k)
		}
	}
	for name, f := range flags {
		assert.Equal(t, strings.Join(peers, ","), f["initial-cluster"], "%s: --initial-cluster names every member", name)
		assert.Equal(t, flags["etcd-1"]["max-txn-ops"], f["max-txn-ops"], "%s: the same limits on every member", name)
		assert.Equal(t, flags["etcd-1"]["max-request-bytes"], f["max-request-bytes"], name)
	}

	// The replicas.
	tls := etcdtest.NewTLSFiles(t)
	files := map[string]string{"/certs/ca.pem": tls.CA, "/certs/firebreak.pem": tls.ClientCert, "/certs/firebreak-key.pem": tls.ClientKey}
	replicas := map[string]bool{}
	var cfgs []etcdstore.Config
	for _, name := range []string{"firebreak-1", "firebreak-2"} {
		svc, ok := c.Services[name]
		require.True(t, ok, "service %s", name)
		assert.Equal(t, []string{"serve", "-headless"}, svc.Command)
		env := map[string]string{}
		for k, v := range svc.Environment {
			assert.True(t, readByTheBinary(t, k), "%s sets %s, which Firebreak does not read", name, k)
			v = interpolated(v)
			if local, ok := files[v]; ok {
				assert.Contains(t, svc.Volumes, "./certs/"+filepath.Base(v)+":"+v+":ro", "%s mounts %s", name, v)
				v = local
			}
			env[k] = v
		}
		getenv := func(k string) string { return env[k] }
		cfg, ok, err := etcdstore.ConfigFromEnv(getenv)
		require.NoError(t, err, name)
		require.True(t, ok, "%s uses the etcd store", name)
		assert.Equal(t, endpoints, cfg.Endpoints, "%s talks to every member", name)
		assert.Equal(t, flags["etcd-1"]["max-txn-ops"], strconv.Itoa(cfg.MaxTxnOps), "%s: FIREBREAK_ETCD_MAX_TXN_OPS is the members' --max-txn-ops", name)
		memberBytes, err := strconv.Atoi(flags["etcd-1"]["max-request-bytes"])
		require.NoError(t, err)
		assert.GreaterOrEqual(t, memberBytes, cfg.MaxRequestBytes, "%s sends no request the members refuse", name)
		assert.NotEmpty(t, cfg.Username)
		assert.NotEmpty(t, cfg.CertFile)
		_, err = leaderTTL(environ{getenv: getenv})
		require.NoError(t, err, name)
		replicas[env["FIREBREAK_REPLICA"]] = true
		playbooks := env["FIREBREAK_CONFIG"]
		require.Contains(t, svc.Volumes, "../../playbooks.yaml:"+playbooks+":ro", "%s mounts its playbooks", name)
		_, err = loadConfig("../../playbooks.yaml", true)
		require.NoError(t, err)
		cfgs = append(cfgs, cfg)
	}
	assert.Len(t, replicas, 2, "each replica has its own FIREBREAK_REPLICA")
	assert.Equal(t, cfgs[0].Prefix, cfgs[1].Prefix, "both replicas share one installation")

	if testing.Short() {
		return
	}
	// TLS client certificates and an etcd user together, as the file
	// configures them: a member with --client-cert-auth and auth enabled,
	// the firebreak user limited to its prefix.
	cluster := etcdtest.Start(t, 1, etcdtest.Options{TLS: &tls})
	root := cluster.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	password := cfgs[0].Password
	for _, step := range []func() error{
		func() error { _, err := root.UserAdd(ctx, "root", "root-secret"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := root.RoleAdd(ctx, "firebreak"); return err },
		func() error {
			_, err := root.RoleGrantPermission(ctx, "firebreak", cfgs[0].Prefix, clientv3.GetPrefixRangeEnd(cfgs[0].Prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := root.UserAdd(ctx, cfgs[0].Username, password); return err },
		func() error { _, err := root.UserGrantRole(ctx, cfgs[0].Username, "firebreak"); return err },
		func() error { _, err := root.AuthEnable(ctx); return err },
	} {
		require.NoError(t, step())
	}
	cfg := cfgs[0]
	cfg.Endpoints = cluster.Endpoints
	cfg.DialTimeout = time.Minute // bcrypt under -race on a loaded machine
	s, err := etcdstore.Open(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	svc := incidents.NewService(s, mustConfig(t), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	_, err = svc.ReceiveAlert(ctx, incidents.Origin{Actor: incidents.Bot}, incidents.Alert{Source: "generic", Status: incidents.AlertFiring, Title: "compose drill", Fingerprint: "compose"})
	require.NoError(t, err, "the replica's configuration writes to the cluster")
}

func mustConfig(t *testing.T) *playbooks.Config {
	t.Helper()
	cfg, err := loadConfig("../../playbooks.yaml", true)
	require.NoError(t, err)
	return cfg
}
