package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// TestRunCutShortByAKill: the real binary is SIGKILLed while an automated
// step's action runs (the deploy API never answers). The step stays
// "running" in the database, so after the restart nothing would run it
// again; the restarted Firebreak ends that run on the timeline, says so in
// the incident's channel with Run again, and does not repeat the action
// by itself (nobody knows how far it got). Pressing Run again runs it.
func TestRunCutShortByAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary: skipped with -short")
	}
	var calls atomic.Int32
	stuck := make(chan struct{})
	deploy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select { // the first call hangs until Firebreak is killed
			case <-stuck:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = fmt.Fprint(w, "drained")
	}))
	defer deploy.Close()
	defer close(stuck)

	dir := t.TempDir()
	cfg := `alert_channels: ["#alerts"]
playbooks:
  - id: outage
    default: true
    steps:
      - id: drain
        title: Drain the canary
        kind: http
        timeout: 60s
        http: {url: "` + deploy.URL + `/drain"}
      - {id: watch, title: Watch}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(cfg), 0o600))
	bin := buildFirebreak(t)
	addr := freeAddr(t)

	b := startBot(t, bin, dir, addr, "-console")
	waitHealthy(t, addr)
	ok, err := postAlert(context.Background(), addr, "canary")
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 20*time.Second, 10*time.Millisecond, "the step starts by itself")
	require.NoError(t, b.cmd.Process.Kill())
	_ = b.cmd.Wait()
	<-b.done

	b = startBot(t, bin, dir, addr, "-console")
	waitHealthy(t, addr)
	require.Eventually(t, func() bool {
		return strings.Contains(b.output(), "the run started at") && strings.Contains(b.output(), "was interrupted by a restart; run it again")
	}, 20*time.Second, 20*time.Millisecond, "the restarted Firebreak says the run was cut short:\n%s", b.output())
	assert.Contains(t, b.output(), "Run again")
	assert.Equal(t, int32(1), calls.Load(), "the action is not repeated by itself")
	// [1] is Run again on the notice, the latest message with buttons.
	_, err = fmt.Fprintln(b.stdin, "1")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(b.output(), "Drain the canary — done by Firebreak") },
		20*time.Second, 20*time.Millisecond, "Run again runs it:\n%s", b.output())
	require.NoError(t, b.stdin.Close())
	require.NoError(t, b.cmd.Wait())
	<-b.done
	assert.Equal(t, int32(2), calls.Load())

	db, err := storage.Open(filepath.Join(dir, "firebreak.db"), storage.Options{Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	svc := incidents.NewService(db, nil)
	inc, err := svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StepDone, inc.Step("drain").Status)
	var phases []string
	require.NoError(t, svc.Timeline(context.Background(), 1, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryAction {
			phases = append(phases, e.Data["phase"])
		}
		return nil
	}))
	assert.Equal(t, []string{"started", "interrupted", "started", "finished"}, phases)
}
