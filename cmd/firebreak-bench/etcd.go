package main

// firebreak-bench etcd: Firebreak on a local etcd cluster (Debian's
// etcd-server, three members on 127.0.0.1 by default) beside Firebreak on
// bbolt and Alertmanager, in the same invocation: ingest with the storm
// loader and shapes, and alert → first-step latency. See
// docs/BENCHMARKS.md, "Firebreak on etcd beside bbolt and Alertmanager".

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The tools the etcd subcommand compares.
const (
	targetEtcd  = "etcd"         // firebreak serve -headless on the local etcd cluster
	targetBbolt = "bbolt"        // firebreak serve -headless on its bbolt file
	targetAM    = "alertmanager" // Debian's prometheus-alertmanager
)

// latencyPlaybooks makes an alert's incident run an http step first: the
// bot calls the benchmark's receiver as soon as the step has started.
// The receiver learns which alert it is from the alertname label.
const latencyPlaybooks = `grouping:
  group_by: [alertname, service]
  group_window: 1h
  repeat_interval: 1h
playbooks:
  - id: outage
    name: Outage
    default: true
    steps:
      - id: page
        title: Page the owner
        kind: http
        http:
          url: %s
          body: '{"alertname": "{{index .Labels "alertname"}}", "incident": {{.Number}}}'
      - id: validate
        title: Validate the outage
`

// latencyAlertmanager sends each new group at once (group_wait 0s) to the
// benchmark's receiver, Alertmanager's equivalent of a first step.
const latencyAlertmanager = `route:
  receiver: bench
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: bench
    webhook_configs:
      - url: %s
        send_resolved: false
`

type etcdFlags struct {
	alerts, senders, members, rounds int
	replicas                         int
	maxTxnOps                        int
	per                              []int
	shapes, targets                  []string
	maxTime                          time.Duration
	latencyAlerts                    int
	latencyEvery                     time.Duration
	out                              string
	keep                             bool
}

func parseEtcdFlags(args []string) (etcdFlags, error) {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	var f etcdFlags
	perList := fs.String("per", "100,1", "alerts per request, comma-separated")
	shapeList := fs.String("shapes", "one-group,own-group,repeats", "storm shapes, comma-separated (none: latency only)")
	targetList := fs.String("targets", "etcd,bbolt,alertmanager", "tools, comma-separated")
	fs.IntVar(&f.alerts, "alerts", 20000, "alerts per ingest run (each shape, batch size and tool)")
	fs.IntVar(&f.senders, "senders", 16, "concurrent senders")
	fs.IntVar(&f.members, "members", 3, "etcd members")
	fs.IntVar(&f.replicas, "replicas", 1, "Firebreak replicas on the etcd cluster; the loader's senders (and the latency run's alerts) take them in turn, as behind a load balancer")
	fs.IntVar(&f.maxTxnOps, "max-txn-ops", 0, "members' --max-txn-ops and Firebreak's FIREBREAK_ETCD_MAX_TXN_OPS, with --max-request-bytes 10 MiB (0: etcd's defaults, 128 and 1.5 MiB)")
	fs.IntVar(&f.rounds, "rounds", 1, "rounds: every tool and shape once per round; medians over rounds")
	fs.DurationVar(&f.maxTime, "max-time", 30*time.Second, "bound on each ingest run")
	fs.IntVar(&f.latencyAlerts, "latency-alerts", 300, "alerts of the latency run, each opening a new incident (0: none)")
	fs.DurationVar(&f.latencyEvery, "latency-every", 40*time.Millisecond, "one latency alert every this long")
	fs.StringVar(&f.out, "out", "", "also write the Markdown tables to this file")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary directory (etcd data, logs)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	for _, p := range strings.Split(*perList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return f, fmt.Errorf("-per %q: want positive numbers", *perList)
		}
		f.per = append(f.per, n)
	}
	for _, s := range strings.Split(*shapeList, ",") {
		switch s = strings.TrimSpace(s); s {
		case "", "none":
		case shapeOneGroup, shapeOwnGroup, shapeRepeats:
			f.shapes = append(f.shapes, s)
		default:
			return f, fmt.Errorf("-shapes: unknown shape %q (one-group, own-group, repeats)", s)
		}
	}
	for _, t := range strings.Split(*targetList, ",") {
		switch t = strings.TrimSpace(t); t {
		case targetEtcd, targetBbolt, targetAM:
			f.targets = append(f.targets, t)
		default:
			return f, fmt.Errorf("-targets: unknown tool %q (etcd, bbolt, alertmanager)", t)
		}
	}
	if f.members < 1 || f.rounds < 1 || f.replicas < 1 || f.maxTxnOps < 0 || f.latencyAlerts < 0 || f.latencyEvery <= 0 {
		return f, errors.New("-members, -replicas and -rounds must be positive, -max-txn-ops not negative, -latency-alerts not negative, -latency-every positive")
	}
	return f, nil
}

// etcdBench runs `firebreak-bench etcd`.
func etcdBench(ctx context.Context, args []string) error {
	f, err := parseEtcdFlags(args)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "firebreak-bench-etcd-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var fbBin, etcdBin, amBin string
	skipped := map[string]string{}
	if slices.Contains(f.targets, targetEtcd) {
		if etcdBin, skipped[targetEtcd] = findEtcd(ctx); etcdBin == "" {
			fmt.Fprintf(os.Stderr, "Firebreak on etcd skipped: %s\n", skipped[targetEtcd])
		}
	}
	if slices.Contains(f.targets, targetAM) {
		if amBin, skipped[targetAM] = findAlertmanager(ctx); amBin == "" {
			fmt.Fprintf(os.Stderr, "Alertmanager skipped: %s\n", skipped[targetAM])
		}
	}
	if slices.Contains(f.targets, targetEtcd) || slices.Contains(f.targets, targetBbolt) {
		if fbBin, err = buildFirebreak(ctx, dir); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	recv, err := newStepReceiver()
	if err != nil {
		return err
	}
	defer recv.close()
	configs := map[string]string{
		"playbooks.yaml":           benchPlaybooks,
		"alertmanager.yml":         alertmanagerConfig,
		"latency/playbooks.yaml":   fmt.Sprintf(latencyPlaybooks, recv.url+"/firebreak"),
		"latency/alertmanager.yml": fmt.Sprintf(latencyAlertmanager, recv.url+"/alertmanager"),
	}
	for name, text := range configs {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "machine: %s, %d CPUs; etcd members %d; Firebreak replicas on etcd %d; senders %d; alerts per ingest run %d; rounds %d\n",
		cpuModel(), runtime.NumCPU(), f.members, f.replicas, f.senders, f.alerts, f.rounds)

	runs := 0
	// launch starts tool fresh in a run directory of its own; latency
	// selects the configuration whose first step calls the receiver.
	launch := func(tool, label string, latency bool) (*proc, func(), error) {
		runs++
		runDir := filepath.Join(dir, fmt.Sprintf("%03d-%s-%s", runs, tool, label))
		if err := os.MkdirAll(runDir, 0o700); err != nil {
			return nil, nil, err
		}
		confDir := dir
		if latency {
			confDir = filepath.Join(dir, "latency")
		}
		switch tool {
		case targetAM:
			p, err := startAlertmanager(ctx, amBin, confDir, runDir)
			if err != nil {
				return nil, nil, err
			}
			return p, p.stop, nil
		case targetBbolt:
			p, err := startFirebreakEnv(ctx, fbBin, runDir, filepath.Join(confDir, "playbooks.yaml"),
				"FIREBREAK_DB="+filepath.Join(runDir, "firebreak.db"))
			if err != nil {
				return nil, nil, err
			}
			return p, p.stop, nil
		default:
			cluster, err := startEtcdCluster(ctx, etcdBin, runDir, f.members, etcdLimits(f.maxTxnOps)...)
			if err != nil {
				return nil, nil, err
			}
			env := []string{"FIREBREAK_ETCD_ENDPOINTS=" + strings.Join(cluster.endpoints, ",")}
			if f.maxTxnOps > 0 {
				env = append(env, "FIREBREAK_ETCD_MAX_TXN_OPS="+strconv.Itoa(f.maxTxnOps))
			}
			// Replicas after the first are started in directories of their
			// own; the returned proc is the first, its url every replica's.
			var replicas []*proc
			stopReplicas := func() {
				for _, r := range replicas {
					r.stop()
				}
			}
			for i := range f.replicas {
				rdir := runDir
				if i > 0 {
					rdir = filepath.Join(runDir, fmt.Sprintf("replica-%d", i))
					if err := os.MkdirAll(rdir, 0o700); err != nil {
						stopReplicas()
						cluster.stop()
						return nil, nil, err
					}
				}
				p, err := startFirebreakEnv(ctx, fbBin, rdir, filepath.Join(confDir, "playbooks.yaml"),
					append(env, fmt.Sprintf("FIREBREAK_REPLICA=bench-%d", i))...)
				if err != nil {
					stopReplicas()
					cluster.stop()
					return nil, nil, err
				}
				replicas = append(replicas, p)
			}
			urls := make([]string, len(replicas))
			for i, r := range replicas {
				urls[i] = r.url
			}
			first := *replicas[0]
			first.url = strings.Join(urls, ",")
			return &first, func() {
				st := cluster.stats()
				cpu := 0.0
				for _, r := range replicas[1:] {
					cpu += cpuSeconds(r.cmd.Process.Pid)
				}
				fmt.Fprintf(os.Stderr, "  etcd: %.0f Raft proposals committed, %.0f WAL fsyncs (mean %.2f ms), %.0f backend commits (mean %.2f ms), members' CPU %.1f s; other replicas' CPU %.1f s\n",
					st.proposals, st.fsyncs, st.fsyncMs, st.commits, st.commitMs, st.cpu, cpu)
				stopReplicas()
				cluster.stop()
				if !f.keep {
					_ = os.RemoveAll(cluster.dir)
				}
			}, nil
		}
	}
	var tools []string
	for _, t := range f.targets {
		if (t == targetEtcd && etcdBin == "") || (t == targetAM && amBin == "") {
			continue
		}
		tools = append(tools, t)
	}
	latencyRuns := 0
	res := etcdResults{ingest: map[ingestKey][]sample{}, latency: map[string][]latencySample{}}
	for round := 1; round <= f.rounds; round++ {
		for _, shape := range f.shapes {
			for _, per := range f.per {
				for _, tool := range tools {
					p, stop, err := launch(tool, fmt.Sprintf("%s-%d", shape, per), false)
					if err != nil {
						return fmt.Errorf("round %d, %s: %w", round, tool, err)
					}
					loaderTarget := "firebreak"
					if tool == targetAM {
						loaderTarget = "alertmanager"
					}
					lr, err := runLoader(ctx, self, loaderTarget, p.url, shape, per, f.alerts, f.senders, f.maxTime, fmt.Sprintf("r%d-%s", round, tool))
					load1, cpu := loadAverage(), cpuSeconds(p.cmd.Process.Pid)
					stop()
					if err != nil {
						return fmt.Errorf("round %d, %s %s ×%d: %w", round, tool, shape, per, err)
					}
					s := sample{rate: float64(lr.Accepted) / lr.Seconds, accepted: lr.Accepted, timedOut: lr.TimedOut || lr.Failed > 0, load: load1}
					k := ingestKey{shape, per, tool}
					res.ingest[k] = append(res.ingest[k], s)
					fmt.Fprintf(os.Stderr, "round %d %-12s %-9s ×%-3d %8.0f alerts/s (%d accepted in %.1fs, %d retries), its CPU %.1f s, load %.2f\n",
						round, tool, shape, per, s.rate, lr.Accepted, lr.Seconds, lr.Retries, cpu, load1)
				}
			}
		}
		if f.latencyAlerts == 0 {
			continue
		}
		for _, tool := range tools {
			p, stop, err := launch(tool, "latency", true)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, tool, err)
			}
			latencyRuns++
			ls, err := measureFirstStep(ctx, recv, tool, p.url, latencyRuns, f.latencyAlerts, f.latencyEvery)
			ls.load = loadAverage()
			stop()
			if err != nil {
				return fmt.Errorf("round %d, %s latency: %w", round, tool, err)
			}
			res.latency[tool] = append(res.latency[tool], ls)
			fmt.Fprintf(os.Stderr, "round %d %-12s alert → first step p50 %s p90 %s p99 %s max %s (%d of %d seen); 2xx p50 %s p99 %s; load %.2f\n",
				round, tool, ms(ls.p50), ms(ls.p90), ms(ls.p99), ms(ls.max), ls.seen, ls.sent, ms(ls.ackP50), ms(ls.ackP99), ls.load)
		}
	}
	table := res.render(f, tools, skipped)
	fmt.Print(table)
	if f.out != "" {
		return os.WriteFile(f.out, []byte(table), 0o644)
	}
	return nil
}

// findEtcd returns Debian's etcd (package etcd-server), installing it with
// apt-get when missing; when that is impossible it returns "" and why.
func findEtcd(ctx context.Context) (string, string) {
	return findDebianTool(ctx, "etcd", "etcd-server")
}

// etcdMember is one member of a local cluster: its name and loopback ports.
type etcdMember struct {
	name         string
	client, peer int
}

// etcdMemberArgs are the command-line arguments of members[i] of a new
// cluster on 127.0.0.1, its data in dataDir. Everything else is etcd's
// default (fsync of every Raft entry, 128 operations per transaction).
func etcdMemberArgs(members []etcdMember, i int, dataDir, token string) []string {
	initial := make([]string, len(members))
	for j, m := range members {
		initial[j] = fmt.Sprintf("%s=http://127.0.0.1:%d", m.name, m.peer)
	}
	m := members[i]
	client := fmt.Sprintf("http://127.0.0.1:%d", m.client)
	peer := fmt.Sprintf("http://127.0.0.1:%d", m.peer)
	return []string{
		"--name=" + m.name,
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=" + strings.Join(initial, ","),
		"--initial-cluster-token=" + token,
		"--initial-cluster-state=new",
		"--logger=zap",
		"--log-level=warn",
	}
}

// etcdCluster is a local cluster the benchmark started.
type etcdCluster struct {
	dir       string
	members   []*proc
	endpoints []string // 127.0.0.1:port of each member's client URL
}

// etcdLimits are the members' extra flags for -max-txn-ops: the limits
// docs/ha.md recommends for clusters that take storms (none for 0).
func etcdLimits(maxTxnOps int) []string {
	if maxTxnOps == 0 {
		return nil
	}
	return []string{"--max-txn-ops=" + strconv.Itoa(maxTxnOps), "--max-request-bytes=10485760"}
}

// startEtcdCluster starts n members under runDir/etcd, each with the
// extra flags, and returns once every member reports itself healthy (a
// leader elected, a quorum).
func startEtcdCluster(ctx context.Context, bin, runDir string, n int, extra ...string) (*etcdCluster, error) {
	c := &etcdCluster{dir: filepath.Join(runDir, "etcd")}
	members := make([]etcdMember, n)
	for i := range members {
		client, err := freePort()
		if err != nil {
			return nil, err
		}
		peer, err := freePort()
		if err != nil {
			return nil, err
		}
		members[i] = etcdMember{name: fmt.Sprintf("m%d", i), client: client, peer: peer}
		c.endpoints = append(c.endpoints, fmt.Sprintf("127.0.0.1:%d", client))
	}
	token := filepath.Base(runDir)
	for i, m := range members {
		dataDir := filepath.Join(c.dir, m.name)
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			c.stop()
			return nil, err
		}
		logf, err := os.Create(filepath.Join(c.dir, m.name+".log"))
		if err != nil {
			c.stop()
			return nil, err
		}
		cmd := exec.Command(bin, append(etcdMemberArgs(members, i, dataDir, token), extra...)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			c.stop()
			return nil, fmt.Errorf("start etcd: %w", err)
		}
		p := &proc{cmd: cmd, url: "http://" + c.endpoints[i], done: make(chan struct{})}
		go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
		c.members = append(c.members, p)
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range c.members {
		for {
			if etcdHealthy(client, p.url) {
				break
			}
			select {
			case <-p.done:
				c.stop()
				return nil, fmt.Errorf("an etcd member exited at start; see the logs in %s", c.dir)
			case <-ctx.Done():
				c.stop()
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				c.stop()
				return nil, fmt.Errorf("etcd cluster not healthy within 30s; see the logs in %s", c.dir)
			}
		}
	}
	return c, nil
}

// etcdHealthy is the member's /health: true once it is part of a quorum
// with a leader.
func etcdHealthy(client *http.Client, base string) bool {
	resp, err := client.Get(base + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
}

// etcdStats are a cluster's counters since its start, from the members'
// /metrics: what the benchmark's "why" is made of.
type etcdStats struct {
	proposals         float64 // committed Raft proposals (the most any member committed)
	fsyncs, fsyncMs   float64 // WAL fsyncs over all members, mean duration
	commits, commitMs float64 // backend (bbolt) commits over all members, mean duration
	cpu               float64 // CPU seconds of all members
}

func (c *etcdCluster) stats() etcdStats {
	var st etcdStats
	var fsyncSum, commitSum float64
	client := &http.Client{Timeout: 2 * time.Second}
	for _, p := range c.members {
		m := scrape(client, p.url+"/metrics")
		st.proposals = max(st.proposals, m["etcd_server_proposals_committed_total"])
		st.fsyncs += m["etcd_disk_wal_fsync_duration_seconds_count"]
		fsyncSum += m["etcd_disk_wal_fsync_duration_seconds_sum"]
		st.commits += m["etcd_disk_backend_commit_duration_seconds_count"]
		commitSum += m["etcd_disk_backend_commit_duration_seconds_sum"]
		st.cpu += m["process_cpu_seconds_total"]
	}
	if st.fsyncs > 0 {
		st.fsyncMs = fsyncSum / st.fsyncs * 1000
	}
	if st.commits > 0 {
		st.commitMs = commitSum / st.commits * 1000
	}
	return st
}

// scrape reads the unlabelled samples of a Prometheus text page.
func scrape(client *http.Client, url string) map[string]float64 {
	m := map[string]float64{}
	resp, err := client.Get(url)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return m
	}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m
}

// cpuSeconds is the user + system CPU time of a running process, from
// /proc/<pid>/stat (0 when unreadable).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

func (c *etcdCluster) stop() {
	for _, p := range c.members {
		p.stop()
	}
}

// startFirebreakEnv starts `firebreak serve -headless` as startFirebreak
// does, with the playbooks file config and the store chosen by storeEnv
// (FIREBREAK_DB=… or FIREBREAK_ETCD_ENDPOINTS=…).
func startFirebreakEnv(ctx context.Context, bin, runDir, config string, storeEnv ...string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve", "-headless")
	cmd.Dir = runDir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + runDir,
		"FIREBREAK_CONFIG=" + config,
		"FIREBREAK_LISTEN=" + addr,
		"FIREBREAK_WEBHOOK_TOKEN=" + benchToken,
		"FIREBREAK_LOG_LEVEL=warn",
	}, storeEnv...)
	return start(ctx, cmd, runDir, "http://"+addr+"/healthz", "http://"+addr)
}

// stepReceiver is the loopback server the first steps arrive at: Firebreak's
// http step at /firebreak, Alertmanager's webhook notification at
// /alertmanager. It notes when each alertname arrived first.
type stepReceiver struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	seen map[string]time.Time
}

func newStepReceiver() (*stepReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &stepReceiver{url: "http://" + ln.Addr().String(), seen: map[string]time.Time{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *stepReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var names []string
	switch req.URL.Path {
	case "/firebreak":
		var step struct {
			Alertname string `json:"alertname"`
		}
		if err := json.Unmarshal(body, &step); err != nil {
			http.Error(w, "not a first step: "+err.Error(), http.StatusBadRequest)
			return
		}
		names = []string{step.Alertname}
	case "/alertmanager":
		var n struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, "not a notification: "+err.Error(), http.StatusBadRequest)
			return
		}
		for _, a := range n.Alerts {
			names = append(names, a.Labels["alertname"])
		}
	default:
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	for _, name := range names {
		if _, ok := r.seen[name]; !ok {
			r.seen[name] = at
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *stepReceiver) arrived(name string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.seen[name]
	return t, ok
}

func (r *stepReceiver) close() { _ = r.srv.Close() }

// latencySample is one latency run of one tool.
type latencySample struct {
	sent, seen         int
	p50, p90, p99, max time.Duration
	ackP50, ackP99     time.Duration
	load               float64
}

// measureFirstStep sends n alerts of the own-group shape, one request
// each, one every `every` (not waiting for the previous answer), each
// opening a new incident (a new group for Alertmanager), and measures the
// time from the start of its request to its first step arriving at recv.
// The alerts of the k-th latency run are numbered from k·10⁶, so no two
// runs (of any tool) share an alertname at the receiver.
func measureFirstStep(ctx context.Context, recv *stepReceiver, tool, base string, k, n int, every time.Duration) (latencySample, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	c := loadConfig{target: "firebreak", token: benchToken}
	path := "/alerts/alertmanager"
	if tool == targetAM {
		c.target, path = "alertmanager", "/api/v2/alerts"
	}
	bases := strings.Split(base, ",") // replicas, taken in turn
	first := k * 1_000_000
	sentAt := make([]time.Time, n)
	acks := make([]time.Duration, n)
	okAll := make([]bool, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := range n {
		var body []byte
		if tool == targetAM {
			body = alertmanagerBody(shapeOwnGroup, first+i, 1)
		} else {
			body = firebreakBody(shapeOwnGroup, first+i, 1)
		}
		url := bases[i%len(bases)] + path
		sentAt[i] = time.Now()
		wg.Go(func() {
			ok, _ := send(ctx, client, url, c, fmt.Sprintf("latency-%d-%d", k, i), body)
			acks[i], okAll[i] = time.Since(sentAt[i]), ok
		})
		select {
		case <-tick.C:
		case <-ctx.Done():
			wg.Wait()
			return latencySample{}, ctx.Err()
		}
	}
	wg.Wait()
	// Wait (bounded) for the last first steps.
	deadline := time.Now().Add(15 * time.Second)
	var lat, ack []time.Duration
	for {
		lat, ack = lat[:0], ack[:0]
		for i := range n {
			if !okAll[i] {
				continue
			}
			ack = append(ack, acks[i])
			if at, ok := recv.arrived(makeAlert(shapeOwnGroup, first+i).labels[0][1]); ok {
				lat = append(lat, at.Sub(sentAt[i]))
			}
		}
		if len(lat) == len(ack) || time.Now().After(deadline) {
			break
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return latencySample{}, ctx.Err()
		}
	}
	if len(lat) == 0 {
		return latencySample{sent: n}, fmt.Errorf("no first step arrived of %d alerts (%d accepted)", n, len(ack))
	}
	slices.Sort(lat)
	slices.Sort(ack)
	return latencySample{sent: n, seen: len(lat), p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), p99: quantile(lat, 0.99),
		max: lat[len(lat)-1], ackP50: quantile(ack, 0.5), ackP99: quantile(ack, 0.99)}, nil
}

// quantile of sorted durations: the smallest value at or above the q-th
// fraction (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// loadAverage is the one-minute load average (0 when unreadable).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(fields[0], 64)
	return v
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

type ingestKey struct {
	shape string
	per   int
	tool  string
}

type sample struct {
	rate     float64
	accepted int64
	timedOut bool
	load     float64
}

type etcdResults struct {
	ingest  map[ingestKey][]sample
	latency map[string][]latencySample
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is "median (min–max)" of xs, formatted by f.
func spread(xs []float64, f func(float64) string) string {
	if len(xs) == 0 {
		return "—"
	}
	if len(xs) == 1 {
		return f(xs[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f(median(xs)), f(slices.Min(xs)), f(slices.Max(xs)))
}

func (r etcdResults) render(f etcdFlags, tools []string, skipped map[string]string) string {
	var b strings.Builder
	limits := "etcd's default limits"
	if f.maxTxnOps > 0 {
		limits = strings.Join(etcdLimits(f.maxTxnOps), " ")
	}
	fmt.Fprintf(&b, "Machine: %s, %d CPUs. etcd: %d members on 127.0.0.1, %s, %d Firebreak replica(s). Senders: %d. Rounds: %d (median (min–max) over rounds; load = one-minute load average at the end of each run).\n\n",
		cpuModel(), runtime.NumCPU(), f.members, limits, f.replicas, f.senders, f.rounds)
	for _, t := range f.targets {
		if why := skipped[t]; why != "" {
			fmt.Fprintf(&b, "%s skipped: %s\n\n", t, why)
		}
	}
	rate := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	ratio := func(v float64) string { return fmt.Sprintf("%.2f×", v) }
	load := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	if len(f.shapes) > 0 {
		b.WriteString("| storm shape | per request |")
		for _, t := range tools {
			fmt.Fprintf(&b, " %s alerts/s |", t)
		}
		b.WriteString(" etcd ÷ bbolt | etcd ÷ Alertmanager | load |\n|---|---|")
		b.WriteString(strings.Repeat("---|", len(tools)+3) + "\n")
		for _, shape := range f.shapes {
			for _, per := range f.per {
				fmt.Fprintf(&b, "| %s | %d |", shape, per)
				var loads []float64
				for _, t := range tools {
					var xs []float64
					bounded := false
					for _, s := range r.ingest[ingestKey{shape, per, t}] {
						xs = append(xs, s.rate)
						loads = append(loads, s.load)
						bounded = bounded || s.timedOut
					}
					mark := ""
					if bounded {
						mark = " (bounded by -max-time)"
					}
					fmt.Fprintf(&b, " %s%s |", spread(xs, rate), mark)
				}
				for _, other := range []string{targetBbolt, targetAM} {
					e, o := r.ingest[ingestKey{shape, per, targetEtcd}], r.ingest[ingestKey{shape, per, other}]
					var xs []float64
					for i := range min(len(e), len(o)) {
						xs = append(xs, e[i].rate/o[i].rate) // same round
					}
					fmt.Fprintf(&b, " %s |", spread(xs, ratio))
				}
				fmt.Fprintf(&b, " %s |\n", spread(loads, load))
			}
		}
		b.WriteString("\n")
	}
	if f.latencyAlerts > 0 {
		fmt.Fprintf(&b, "Alert → first step: %d alerts, one request each, one every %s, each opening a new incident (Alertmanager: a new group).\n\n", f.latencyAlerts, f.latencyEvery)
		b.WriteString("| tool | p50 | p90 | p99 | max | first steps seen | 2xx answer p50 / p99 | load |\n|---|---|---|---|---|---|---|---|\n")
		msf := func(v float64) string { return fmt.Sprintf("%.1f ms", v) }
		for _, t := range tools {
			ls := r.latency[t]
			pick := func(get func(latencySample) time.Duration) string {
				var xs []float64
				for _, s := range ls {
					xs = append(xs, float64(get(s))/float64(time.Millisecond))
				}
				return spread(xs, msf)
			}
			var loads []float64
			seen, sent := 0, 0
			for _, s := range ls {
				loads = append(loads, s.load)
				seen, sent = seen+s.seen, sent+s.sent
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d of %d | %s / %s | %s |\n", t,
				pick(func(s latencySample) time.Duration { return s.p50 }),
				pick(func(s latencySample) time.Duration { return s.p90 }),
				pick(func(s latencySample) time.Duration { return s.p99 }),
				pick(func(s latencySample) time.Duration { return s.max }),
				seen, sent,
				pick(func(s latencySample) time.Duration { return s.ackP50 }),
				pick(func(s latencySample) time.Duration { return s.ackP99 }),
				spread(loads, load))
		}
	}
	return b.String()
}
