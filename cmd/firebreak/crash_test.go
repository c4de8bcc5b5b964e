package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// crashConfig is a small playbooks file for the crash drill: no grouping,
// so every fingerprint is its own incident and duplicates are visible, and
// an escalation due a second after an incident opens, so timers are pending
// whenever the bot is killed.
const crashConfig = `alert_channels: ["#alerts"]
escalation:
  levels:
    - after: 1s
      notify: ["@oncall"]
playbooks:
  - id: drill
    name: Crash drill
    default: true
    steps:
      - id: look
        title: Look around
`

// buildFirebreak compiles the real binary once for the tests that need a
// separate process.
func buildFirebreak(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "firebreak")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// botProc is one run of the real binary.
type botProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	stdout []string
	done   chan struct{}
}

func startBot(t *testing.T, bin, dir, addr string, args ...string) *botProc {
	t.Helper()
	return startBotEnv(t, bin, dir, addr, nil, args...)
}

// startBotEnv is startBot with more environment variables (the etcd store's).
func startBotEnv(t *testing.T, bin, dir, addr string, env []string, args ...string) *botProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(env, []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"USER=drill",
		"FIREBREAK_DB=" + filepath.Join(dir, "firebreak.db"),
		"FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml"),
		"FIREBREAK_LISTEN=" + addr,
		"FIREBREAK_WEBHOOK_TOKEN=drill-token",
		"FIREBREAK_LOG_LEVEL=warn",
	}...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = io.Discard
	require.NoError(t, cmd.Start())
	b := &botProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.stdout = append(b.stdout, sc.Text())
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *botProc) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.stdout, "\n")
}

// waitHealthy polls /healthz; the bot is up once it answers.
func waitHealthy(t *testing.T, addr string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "firebreak did not come up")
}

func postAlert(ctx context.Context, addr, fingerprint string) (bool, error) {
	body := fmt.Sprintf(`{"title": "Drill %s", "service": "svc-%s", "severity": "SEV4", "fingerprint": %q}`, fingerprint, fingerprint, fingerprint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/alerts/generic", strings.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer drill-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode/100 == 2, nil
}

// TestCrashSafety kills the real binary with SIGKILL at random moments while
// alerts arrive by webhook and notes by console, restarts it, and checks
// that everything that was acknowledged survived, exactly once, in order.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash drill builds and kills the real binary")
	}
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))

	// Incident #1 receives the console notes.
	seed := exec.Command(bin)
	seed.Dir = dir
	seed.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "USER=drill",
		"FIREBREAK_DB=" + filepath.Join(dir, "firebreak.db"), "FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml")}
	seed.Stdin = strings.NewReader("/incident declare Crash drill notes SEV4\n/incident ack\n")
	out, err := seed.CombinedOutput()
	require.NoError(t, err, "%s", out)

	const maxCycles = 12
	budget := time.Now().Add(75 * time.Second)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	ackedAlerts := map[string]bool{}
	var ackedNotes []string
	var sent, cycles int
	addr := freeAddr(t)
	for cycle := 0; cycle < maxCycles && time.Now().Before(budget); cycle++ {
		b := startBot(t, bin, dir, addr, "-console")
		waitHealthy(t, addr)

		ctx, stop := context.WithCancel(context.Background())
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := 0; i < 500 && ctx.Err() == nil; i++ {
					fp := fmt.Sprintf("c%d-g%d-a%d", cycle, g, i)
					ok, err := postAlert(ctx, addr, fp)
					mu.Lock()
					sent++
					if err == nil && ok {
						ackedAlerts[fp] = true
					}
					mu.Unlock()
				}
			})
		}
		var notes []string
		wg.Go(func() {
			for k := 0; k < 500 && ctx.Err() == nil; k++ {
				n := fmt.Sprintf("drill-note-%d-%d-end", cycle, k)
				if _, err := fmt.Fprintf(b.stdin, "/incident #1 note %s\n", n); err != nil {
					return
				}
				notes = append(notes, n)
				time.Sleep(2 * time.Millisecond)
			}
		})

		time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		require.NoError(t, b.cmd.Process.Kill())
		_ = b.cmd.Wait()
		stop()
		wg.Wait()
		<-b.done
		// A note is acknowledged when the bot's reply naming it was printed.
		printed := b.output()
		for _, n := range notes {
			if strings.Contains(printed, n) {
				ackedNotes = append(ackedNotes, n)
			}
		}
		cycles++
	}

	// One clean run lets due escalation timers fire, then stops at end of input.
	final := startBot(t, bin, dir, addr, "-console")
	waitHealthy(t, addr)
	time.Sleep(2500 * time.Millisecond)
	require.NoError(t, final.stdin.Close())
	require.NoError(t, final.cmd.Wait())
	<-final.done

	db, err := storage.Open(filepath.Join(dir, "firebreak.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()

	byFingerprint := map[string]int{}
	var lost, escalations, unacked int
	notesFound := map[string]bool{}
	err = db.View(context.Background(), func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			if inc.Fingerprint != "" {
				byFingerprint[inc.Fingerprint]++
			}
			var prev uint64
			var prevAt time.Time
			escalated := false
			err := tx.Entries(inc.Number, 0, func(e incidents.Entry) error {
				if e.Seq != prev+1 {
					return fmt.Errorf("incident #%d: entry %d follows %d", inc.Number, e.Seq, prev)
				}
				if e.At.Before(prevAt) {
					return fmt.Errorf("incident #%d: entry %d is older than the one before", inc.Number, e.Seq)
				}
				prev, prevAt = e.Seq, e.At
				if e.Kind == incidents.EntryEscalation {
					escalated = true
				}
				if e.Kind == incidents.EntryNote {
					notesFound[e.Text] = true
				}
				return nil
			})
			if err != nil {
				return err
			}
			if prev != inc.Entries {
				return fmt.Errorf("incident #%d: %d entries stored, %d counted", inc.Number, prev, inc.Entries)
			}
			if inc.Status == incidents.StatusTriggered {
				unacked++
				if escalated {
					escalations++
				}
			}
			return nil
		})
	})
	require.NoError(t, err)
	for fp := range ackedAlerts {
		if byFingerprint[fp] == 0 {
			lost++
		}
	}
	for fp, n := range byFingerprint {
		assert.Equal(t, 1, n, "fingerprint %s has %d incidents", fp, n)
	}
	for _, n := range ackedNotes {
		if !notesFound[n] {
			lost++
		}
	}
	t.Logf("crash drill: %d kill/restart cycles, %d alerts sent, %d acknowledged, %d notes acknowledged, %d lost; %d of %d unacknowledged incidents escalated",
		cycles, sent, len(ackedAlerts), len(ackedNotes), lost, escalations, unacked)
	assert.Zero(t, lost, "acknowledged events lost")
	assert.NotEmpty(t, ackedAlerts, "the drill acknowledged no alert at all")
	assert.NotEmpty(t, ackedNotes, "the drill acknowledged no note at all")
	assert.Equal(t, unacked, escalations, "every unacknowledged incident's escalation fired after the restarts")
}

// TestGracefulShutdown sends SIGTERM to the real binary while alerts are
// arriving: it must stop taking requests, finish what is in flight, close
// the database and exit 0 within the shutdown bound, with every alert that
// got a 2xx stored.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals the real binary")
	}
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))
	addr := freeAddr(t)
	b := startBot(t, bin, dir, addr, "-headless")
	waitHealthy(t, addr)

	var mu sync.Mutex
	acked := map[string]bool{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; i < 300 && ctx.Err() == nil; i++ {
				fp := fmt.Sprintf("term-g%d-a%d", g, i)
				if ok, err := postAlert(ctx, addr, fp); err == nil && ok {
					mu.Lock()
					acked[fp] = true
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
	err := b.cmd.Wait()
	took := time.Since(start)
	stop()
	wg.Wait()
	require.NoError(t, err, "exit status after SIGTERM")
	assert.Less(t, took, shutdownGrace+5*time.Second)

	db, err := storage.Open(filepath.Join(dir, "firebreak.db"), storage.Options{Timeout: time.Second})
	require.NoError(t, err, "the database was closed and unlocked")
	defer db.Close()
	stored := map[string]bool{}
	require.NoError(t, db.View(context.Background(), func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			stored[inc.Fingerprint] = true
			return nil
		})
	}))
	require.NotEmpty(t, acked)
	for fp := range acked {
		assert.True(t, stored[fp], "alert %s got a 2xx but is not stored", fp)
	}
	t.Logf("SIGTERM: exited 0 in %s; %d alerts acknowledged, all stored", took.Round(time.Millisecond), len(acked))
}
