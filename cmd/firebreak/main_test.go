package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/storage"
)

// testEnv runs the binary in-process with the given standard input, in a
// fresh directory holding the shipped playbooks.yaml.
type testEnv struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile("../../playbooks.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), src, 0o600))
	return &testEnv{t: t, dir: dir, env: map[string]string{
		"FIREBREAK_DB":     filepath.Join(dir, "firebreak.db"),
		"FIREBREAK_CONFIG": filepath.Join(dir, "playbooks.yaml"),
		"USER":             "alice",
	}}
}

func (e *testEnv) run(stdin string, args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	no := false
	env := environ{
		getenv:          func(k string) string { return e.env[k] },
		stdin:           strings.NewReader(stdin),
		stdout:          &out,
		stderr:          &errb,
		stdinIsTerminal: &no,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Postmortem files land relative to the working directory.
	wd, err := os.Getwd()
	require.NoError(e.t, err)
	require.NoError(e.t, os.Chdir(e.dir))
	defer func() { require.NoError(e.t, os.Chdir(wd)) }()
	code = run(ctx, args, env)
	return code, out.String(), errb.String()
}

const alertLine = "[FIRING:1] HighErrorRate api-gateway (severity=critical) 5xx rate 17%"

func TestConsoleFromAlertToPostmortem(t *testing.T) {
	e := newTestEnv(t)
	script := strings.Join([]string{
		alertLine,
		"/incident ack",
		"/incident step done checked the dashboards",
		"/incident note rollback of api-gateway v2.3.1 looks likely",
		"/incident role commander @me",
		"/incident severity SEV1",
		"/incident update Errors on checkout; rolling back",
		alertLine, // a repeat: recorded on #1, no second incident
		"/incident step skip status page already updated by support",
		"/incident mitigate",
		"/incident resolve rolled back v2.3.1",
		"/incident timeline",
		"/incident list",
		"/incident postmortem",
	}, "\n") + "\n"
	code, out, errOut := e.run(script)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "#1")
	assert.Contains(t, out, "HighErrorRate")
	assert.NotContains(t, out, "#2", "the repeated alert must not open a second incident")
	assert.FileExists(t, filepath.Join(e.dir, "postmortems", "incident-1-postmortem.md"))

	// Restart: everything is still there.
	code, out, errOut = e.run("", "incidents", "-all")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "resolved")
	assert.Contains(t, out, "SEV1")
	assert.Contains(t, out, "HighErrorRate")

	code, out, errOut = e.run("", "postmortem", "1")
	require.Equal(t, 0, code, errOut)
	for _, section := range []string{"# Postmortem", "## Timeline", "## Impact", "### Playbook", "## Root causes", "```mermaid\ngantt\n", "| Postmortem status | draft |"} {
		assert.Contains(t, out, section)
	}
	assert.Contains(t, out, "rollback of api-gateway v2.3.1 looks likely")
	assert.Contains(t, out, "status page already updated by support")

	pm := filepath.Join(e.dir, "pm.md")
	code, _, errOut = e.run("", "postmortem", "#1", "-o", pm)
	require.Equal(t, 0, code, errOut)
	assert.FileExists(t, pm)

	bk := filepath.Join(e.dir, "backup.db")
	code, _, errOut = e.run("", "backup", bk)
	require.Equal(t, 0, code, errOut)
	db, err := storage.Open(bk, storage.Options{Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, 1, int(db.Stats().Incidents))
}

func TestRestartKeepsOpenIncidentAndCurrentStep(t *testing.T) {
	e := newTestEnv(t)
	code, out, errOut := e.run(alertLine + "\n/incident step done\n")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)

	// Second process: the same alert groups into #1, and status shows the
	// step after the one finished before the restart.
	code, out, errOut = e.run(alertLine + "\n/incident #1 status\n")
	require.Equal(t, 0, code, errOut)
	assert.NotContains(t, out, "#2")
	assert.Contains(t, out, "Step 2/")
}

// TestRestartedConsoleIsHeard: what a person types after restarting the
// bot is acted on. Console event ids used to restart at 1 each run, and
// seen ids are kept for days, so the first commands of a second run were
// dropped without a word as "redeliveries" of the first run's.
func TestRestartedConsoleIsHeard(t *testing.T) {
	e := newTestEnv(t)
	code, out, errOut := e.run("/incident declare Checkout is failing SEV2\n/incident note first run\n")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)

	code, out, errOut = e.run("/incident note second run\n/incident timeline\n")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "added a note to #1: second run")
	assert.Contains(t, out, "[note] @alice — second run")
}

func TestBackupAndListWhileRunning(t *testing.T) {
	e := newTestEnv(t)
	code, _, errOut := e.run(alertLine + "\n")
	require.Equal(t, 0, code, errOut)

	// Hold the database like a running bot does, serving the admin socket.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer w.Close()
	done := make(chan int, 1)
	go func() {
		var out, errb bytes.Buffer
		no := false
		done <- run(context.Background(), nil, environ{
			getenv: func(k string) string { return e.env[k] }, stdin: r, stdout: &out, stderr: &errb, stdinIsTerminal: &no,
		})
	}()
	sock := adminSocket(e.env["FIREBREAK_DB"])
	require.Eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, 10*time.Second, 20*time.Millisecond)

	bk := filepath.Join(e.dir, "live-backup.db")
	code, out, errOut := e.run("", "backup", bk)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "backup written")
	code, out, errOut = e.run("", "incidents")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "HighErrorRate")

	require.NoError(t, w.Close()) // end of input stops the bot
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(15 * time.Second):
		t.Fatal("bot did not stop at end of input")
	}
	db, err := storage.Open(bk, storage.Options{Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, 1, int(db.Stats().Incidents))
}

func TestCheck(t *testing.T) {
	e := newTestEnv(t)
	code, out, errOut := e.run("", "check", "../../playbooks.yaml")
	_ = out
	// Relative to the test's temp working dir that path does not exist:
	// a clear error, status 1.
	assert.Equal(t, 1, code)
	assert.NotEmpty(t, errOut)

	code, out, errOut = e.run("", "check", filepath.Join(e.dir, "playbooks.yaml"))
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "ok")

	bad := filepath.Join(e.dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("playbooks:\n  - id: x\n    steps:\n      - id: a\n        kind: mnaual\n"), 0o600))
	code, _, errOut = e.run("", "check", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "bad.yaml:5")
	assert.Contains(t, errOut, "kind")
}

func TestUsageErrors(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"postmortem"}, 2, "one incident number"},
		{[]string{"postmortem", "abc"}, 2, "not an incident number"},
		{[]string{"backup"}, 2, "one output file"},
		{[]string{"postmortem", "1"}, 1, "no database"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := e.run("", tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Contains(t, errOut, tt.want)
		})
	}
	code, out, _ := e.run("", "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "firebreak")
}
