package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const benchPlaybooks = `grouping:
  group_by: [alertname, service]
  group_window: 1h
  repeat_interval: 1h
playbooks:
  - id: outage
    name: Outage
    default: true
    steps:
      - id: validate
        title: Validate the outage
`

const alertmanagerConfig = `route:
  receiver: "null"
  group_by: [alertname, service]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: "null"
`

const benchToken = "firebreak-bench-token"

type intakeFlags struct {
	alerts, senders             int
	per                         []int
	shapes                      []string
	large                       bool
	largeRequests, largeSenders int
	maxTime                     time.Duration
	out                         string
	keep                        bool
	// fbEnv is extra environment for the firebreak process (GOGC=100 to
	// compare the collector's settings, say); the loader keeps its own.
	fbEnv []string
}

// row is one shape at one batch size, both tools.
type row struct {
	shape      string
	per        int
	fb, am     *measured
	amSkipped  string
	senders    int
	requested  int
	largeBytes int
}

type measured struct {
	res            loadResult
	hwmMiB, rssMiB float64
	// anonMiB and fileMiB split rssMiB: the heap and other private memory,
	// and pages of files mapped in (bbolt's database file), which the
	// kernel can drop and read back.
	anonMiB, fileMiB float64
	// cpuUS and loaderUS are the tool's and the loader's CPU time (user
	// + system) per accepted alert, in µs: on two shared cores the rate is
	// about 2 cores ÷ their sum, so they say where a ratio comes from.
	cpuUS, loaderUS float64
	// load is the one-minute load average when the run started and ended:
	// other work on the machine moves every rate.
	load [2]float64
}

func intake(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("intake", flag.ContinueOnError)
	var f intakeFlags
	perList := fs.String("per", "1,100", "alerts per request, comma-separated")
	shapeList := fs.String("shapes", "one-group,own-group,repeats", "storm shapes, comma-separated (none: only -large)")
	fs.IntVar(&f.alerts, "alerts", 50000, "alerts per run (each shape, batch size and tool)")
	fs.IntVar(&f.senders, "senders", 16, "concurrent senders")
	fs.BoolVar(&f.large, "large", true, "also run the large-payload shape")
	fs.IntVar(&f.largeRequests, "large-requests", 400, "requests of the large-payload shape")
	fs.IntVar(&f.largeSenders, "large-senders", 200, "concurrent senders of the large-payload shape")
	fs.DurationVar(&f.maxTime, "max-time", 90*time.Second, "bound on each run")
	fs.StringVar(&f.out, "out", "", "also write the Markdown table to this file")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary directory (databases, logs)")
	fs.Func("firebreak-env", "KEY=VALUE added to the firebreak process's environment (repeatable), e.g. GOGC=100", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		f.fbEnv = append(f.fbEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, p := range strings.Split(*perList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return fmt.Errorf("-per %q: want positive numbers", *perList)
		}
		f.per = append(f.per, n)
	}
	for _, s := range strings.Split(*shapeList, ",") {
		switch s = strings.TrimSpace(s); s {
		case "", "none": // only the large-payload shape
		case shapeOneGroup, shapeOneGroupHashed, shapeOwnGroup, shapeRepeats:
			f.shapes = append(f.shapes, s)
		default:
			return fmt.Errorf("-shapes: unknown shape %q (one-group, one-group-hashed, own-group, repeats)", s)
		}
	}

	dir, err := os.MkdirTemp("", "firebreak-bench-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	fbBin, err := buildFirebreak(ctx, dir)
	if err != nil {
		return err
	}
	amBin, amWhy := findAlertmanager(ctx)
	if amBin == "" {
		fmt.Fprintf(os.Stderr, "Alertmanager skipped: %s\nFigures of this run must not go in docs/BENCHMARKS.md, which reports only runs with Alertmanager beside Firebreak.\n", amWhy)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, name := range []string{"playbooks.yaml", "alertmanager.yml"} {
		text := benchPlaybooks
		if name == "alertmanager.yml" {
			text = alertmanagerConfig
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "machine: %s, %d CPUs; senders %d; alerts per run %d\n", cpuModel(), runtime.NumCPU(), f.senders, f.alerts)

	var rows []row
	runs := 0
	measure := func(tool, shape string, per, total, senders int) (*measured, error) {
		runs++
		runDir := filepath.Join(dir, fmt.Sprintf("%02d-%s-%s-%d", runs, tool, shape, per))
		if err := os.MkdirAll(runDir, 0o700); err != nil {
			return nil, err
		}
		var p *proc
		var err error
		if tool == "firebreak" {
			p, err = startFirebreak(ctx, fbBin, dir, runDir, f.fbEnv)
		} else {
			p, err = startAlertmanager(ctx, amBin, dir, runDir)
		}
		if err != nil {
			return nil, err
		}
		defer p.stop()
		m := &measured{}
		m.load[0] = loadAverage()
		cpuBefore := cpuOf(p.cmd.Process.Pid)
		res, loaderCPU, err := runLoaderCPU(ctx, self, tool, p.url, shape, per, total, senders, f.maxTime, filepath.Base(runDir))
		if err != nil {
			return nil, fmt.Errorf("%s %s ×%d: %w", tool, shape, per, err)
		}
		m.res = res
		if res.Accepted > 0 {
			m.cpuUS = (cpuOf(p.cmd.Process.Pid) - cpuBefore).Seconds() * 1e6 / float64(res.Accepted)
			m.loaderUS = loaderCPU.Seconds() * 1e6 / float64(res.Accepted)
		}
		m.load[1] = loadAverage()
		m.hwmMiB, m.rssMiB, m.anonMiB, m.fileMiB = memoryOf(p.cmd.Process.Pid)
		fmt.Fprintf(os.Stderr, "%-12s %-9s ×%-3d %8.0f alerts/s (%d accepted in %.1fs, %d retries), first %0.f/s last %0.f/s, RSS peak %.0f MiB, end %.0f MiB (anon %.0f, file %.0f), CPU %.1f µs/alert (loader %.1f), load %.1f → %.1f\n",
			tool, shape, per, float64(res.Accepted)/res.Seconds, res.Accepted, res.Seconds, res.Retries, res.FirstRate, res.LastRate, m.hwmMiB, m.rssMiB, m.anonMiB, m.fileMiB, m.cpuUS, m.loaderUS, m.load[0], m.load[1])
		return m, nil
	}
	type spec struct {
		shape               string
		per, total, senders int
	}
	var specs []spec
	for _, shape := range f.shapes {
		for _, per := range f.per {
			specs = append(specs, spec{shape, per, f.alerts, f.senders})
		}
	}
	if f.large {
		specs = append(specs, spec{shapeLarge, 800, 800 * f.largeRequests, f.largeSenders})
	}
	for _, s := range specs {
		r := row{shape: s.shape, per: s.per, senders: s.senders, requested: s.total, amSkipped: amWhy}
		if s.shape == shapeLarge {
			r.largeBytes = len(firebreakBody(shapeLarge, 0, 800))
		}
		if r.fb, err = measure("firebreak", s.shape, s.per, s.total, s.senders); err != nil {
			return err
		}
		if amBin != "" {
			if r.am, err = measure("alertmanager", s.shape, s.per, s.total, s.senders); err != nil {
				return err
			}
		}
		rows = append(rows, r)
	}
	table := render(rows, f)
	fmt.Print(table)
	if f.out != "" {
		return os.WriteFile(f.out, []byte(table), 0o644)
	}
	return nil
}

func render(rows []row, f intakeFlags) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s, %d CPUs. Senders: %d (large payloads: %d). Loader in its own process; each tool started fresh for each run, one at a time, on 127.0.0.1.\n\n",
		cpuModel(), runtime.NumCPU(), f.senders, f.largeSenders)
	b.WriteString("| storm shape | per request | alerts | Firebreak alerts/s | Alertmanager alerts/s | ratio | Firebreak first → last tenth | Alertmanager first → last tenth | Firebreak RSS peak / end (anon + file) | Alertmanager RSS peak / end (anon + file) | CPU µs/alert: Firebreak (its loader) / Alertmanager (its loader) | load average |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		name := r.shape
		if r.shape == shapeLarge {
			name = fmt.Sprintf("large payloads (%d senders, %.2f MB each)", r.senders, float64(r.largeBytes)/1e6)
		}
		fb := r.fb.res
		fbRate := float64(fb.Accepted) / fb.Seconds
		amRate, ratio, amFlat, amRSS := "—", "—", "—", "—"
		cpu := fmt.Sprintf("%.0f (%.0f)", r.fb.cpuUS, r.fb.loaderUS)
		load := fmt.Sprintf("%.1f–%.1f", r.fb.load[0], r.fb.load[1])
		if r.am != nil {
			am := r.am.res
			rate := float64(am.Accepted) / am.Seconds
			amRate = fmt.Sprintf("%.0f", rate)
			ratio = fmt.Sprintf("%.2f×", fbRate/rate)
			amFlat = fmt.Sprintf("%.0f → %.0f", am.FirstRate, am.LastRate)
			amRSS = fmt.Sprintf("%.0f / %.0f MiB (%.0f + %.0f)", r.am.hwmMiB, r.am.rssMiB, r.am.anonMiB, r.am.fileMiB)
			cpu += fmt.Sprintf(" / %.0f (%.0f)", r.am.cpuUS, r.am.loaderUS)
			load = fmt.Sprintf("%.1f–%.1f", min(r.fb.load[0], r.fb.load[1], r.am.load[0], r.am.load[1]), max(r.fb.load[0], r.fb.load[1], r.am.load[0], r.am.load[1]))
		}
		accepted := fmt.Sprintf("%d", fb.Accepted)
		if fb.TimedOut || fb.Failed > 0 {
			accepted += fmt.Sprintf(" of %d (bounded by -max-time)", r.requested)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %s | %s | %.0f → %.0f | %s | %.0f / %.0f MiB (%.0f + %.0f) | %s | %s | %s |\n",
			name, r.per, accepted, fbRate, amRate, ratio, fb.FirstRate, fb.LastRate, amFlat, r.fb.hwmMiB, r.fb.rssMiB, r.fb.anonMiB, r.fb.fileMiB, amRSS, cpu, load)
	}
	return b.String()
}

// moduleRoot is the directory of the go.mod this command belongs to.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (run firebreak-bench from the Firebreak repository)", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the Firebreak module: run `go run ./cmd/firebreak-bench` from the repository")
	}
	return filepath.Dir(mod), nil
}

func buildFirebreak(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "firebreak")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/firebreak")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building firebreak: %w", err)
	}
	return bin, nil
}

// findAlertmanager returns Debian's prometheus-alertmanager, installing it
// with apt-get when missing; when that is impossible it returns "" and why.
func findAlertmanager(ctx context.Context) (string, string) {
	return findDebianTool(ctx, "prometheus-alertmanager", "prometheus-alertmanager")
}

// findDebianTool returns the path of command bin from Debian package pkg,
// installing the package with apt-get (through sudo -n when not root)
// when bin is missing; when that is impossible it returns "" and why, so
// the benchmark can skip that tool and say so.
func findDebianTool(ctx context.Context, bin, pkg string) (string, string) {
	find := func() string {
		if p, err := exec.LookPath(bin); err == nil {
			return p
		}
		if _, err := os.Stat("/usr/bin/" + bin); err == nil {
			return "/usr/bin/" + bin
		}
		return ""
	}
	if p := find(); p != "" {
		return p, ""
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", bin + " is not installed and there is no apt-get to install " + pkg
	}
	args := []string{"apt-get", "install", "-y", "--no-install-recommends", pkg}
	if os.Geteuid() != 0 {
		args = append([]string{"sudo", "-n"}, args...)
	}
	fmt.Fprintln(os.Stderr, "installing "+pkg+":", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Sprintf("installing %s with apt-get failed: %v", pkg, err)
	}
	if p := find(); p != "" {
		return p, ""
	}
	return "", "apt-get ran but " + bin + " is still missing"
}

// proc is a measured tool's process.
type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, cmd *exec.Cmd, runDir, readyURL, base string) (*proc, error) {
	logf, err := os.Create(filepath.Join(runDir, "log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &proc{cmd: cmd, url: base, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(readyURL); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited at start; see %s", filepath.Base(cmd.Path), filepath.Join(runDir, "log"))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("%s not ready within 30s; see %s", filepath.Base(cmd.Path), filepath.Join(runDir, "log"))
}

func startFirebreak(ctx context.Context, bin, dir, runDir string, extra []string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve", "-headless")
	cmd.Dir = runDir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + runDir,
		"FIREBREAK_DB=" + filepath.Join(runDir, "firebreak.db"),
		"FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml"),
		"FIREBREAK_LISTEN=" + addr,
		"FIREBREAK_WEBHOOK_TOKEN=" + benchToken,
		"FIREBREAK_LOG_LEVEL=warn",
	}
	cmd.Env = append(cmd.Env, extra...)
	return start(ctx, cmd, runDir, "http://"+addr+"/healthz", "http://"+addr)
}

func startAlertmanager(ctx context.Context, bin, dir, runDir string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(runDir, "am-data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip: a single instance, loopback only
		"--log.level=warn")
	cmd.Dir = runDir
	return start(ctx, cmd, runDir, "http://"+addr+"/-/ready", "http://"+addr)
}

func runLoader(ctx context.Context, self, tool, base, shape string, per, total, senders int, maxTime time.Duration, run string) (loadResult, error) {
	res, _, err := runLoaderCPU(ctx, self, tool, base, shape, per, total, senders, maxTime, run)
	return res, err
}

// runLoaderCPU is runLoader that also returns the loader's CPU time.
func runLoaderCPU(ctx context.Context, self, tool, base, shape string, per, total, senders int, maxTime time.Duration, run string) (loadResult, time.Duration, error) {
	cmd := exec.CommandContext(ctx, self, "load", "-target", tool, "-url", base, "-token", benchToken,
		"-shape", shape, "-per", strconv.Itoa(per), "-alerts", strconv.Itoa(total),
		"-senders", strconv.Itoa(senders), "-max-time", maxTime.String(), "-run", run)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return loadResult{}, 0, fmt.Errorf("loader: %w", err)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var res loadResult
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &res); err != nil {
		return loadResult{}, 0, fmt.Errorf("%w: %v", errNoResult, err)
	}
	if res.Seconds <= 0 {
		res.Seconds = 1e-9
	}
	return res, cpu, nil
}

// cpuOf is the CPU time (user + system) process pid has used so far, from
// /proc/<pid>/stat (clock ticks of 10 ms); 0 when it cannot be read.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis (state is field 3).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// memoryOf reads peak (VmHWM) and current (VmRSS) resident memory in MiB,
// and the current split of VmRSS into private memory (RssAnon) and mapped
// file pages (RssFile).
func memoryOf(pid int) (hwm, rss, anon, file float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmHWM":
			hwm = kb / 1024
		case "VmRSS":
			rss = kb / 1024
		case "RssAnon":
			anon = kb / 1024
		case "RssFile":
			file = kb / 1024
		}
	}
	return hwm, rss, anon, file
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
