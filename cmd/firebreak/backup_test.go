package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/storage"
)

// TestBackupRefusesTheDatabase reproduces issue 12 item 3: `firebreak backup
// "$FIREBREAK_DB"` while the bot runs replaced the live database. Every way
// of naming the database (or its socket) is refused, with the bot running,
// and the database keeps working afterwards.
func TestBackupRefusesTheDatabase(t *testing.T) {
	e := newTestEnv(t)
	code, _, errOut := e.run(alertLine + "\n")
	require.Equal(t, 0, code, errOut)
	db := e.env["FIREBREAK_DB"]
	require.NoError(t, os.Link(db, filepath.Join(e.dir, "hard.db")))
	require.NoError(t, os.Symlink(db, filepath.Join(e.dir, "soft.db")))
	require.NoError(t, os.Symlink(e.dir, filepath.Join(e.dir, "dirlink")))
	before, err := os.Stat(db)
	require.NoError(t, err)

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
	sock := adminSocket(db)
	require.Eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, 10*time.Second, 20*time.Millisecond)

	tests := []struct {
		name, target, want string
	}{
		{"same path", db, "the database itself"},
		{"relative path", "firebreak.db", "the database itself"},
		{"dotted path", filepath.Join(e.dir, "x", "..", "firebreak.db"), "the database itself"},
		{"through a symlinked directory", filepath.Join(e.dir, "dirlink", "firebreak.db"), "the database itself"},
		{"hard link", filepath.Join(e.dir, "hard.db"), "the database itself"},
		{"symlink", filepath.Join(e.dir, "soft.db"), "the database itself"},
		{"admin socket", sock, "admin socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := e.run("", "backup", tt.target)
			assert.Equal(t, 1, code)
			assert.Contains(t, errOut, "refusing to back up onto")
			assert.Contains(t, errOut, tt.want)
		})
	}
	code, _, errOut = e.run("", "postmortem", "1", "-o", db)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "refusing to write the postmortem onto")

	after, err := os.Stat(db)
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "the live database file was replaced")

	// A real target still works, and the bot still writes to the file the
	// next process opens.
	code, _, errOut = e.run("", "backup", filepath.Join(e.dir, "ok.db"))
	require.Equal(t, 0, code, errOut)
	_, err = w.Write([]byte("/incident note still here\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(15 * time.Second):
		t.Fatal("bot did not stop at end of input")
	}
	code, out, errOut := e.run("", "postmortem", "1")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "still here")

	bk, err := storage.Open(filepath.Join(e.dir, "ok.db"), storage.Options{Timeout: time.Second})
	require.NoError(t, err)
	defer bk.Close()
	assert.Equal(t, 1, int(bk.Stats().Incidents))
}

// TestBackupIsAtomic: a failed backup leaves an existing file untouched and
// no temporary file behind.
func TestBackupIsAtomic(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.db")
	require.NoError(t, os.WriteFile(dst, []byte("previous backup"), 0o600))
	err := writeWithTemp(dst, 0o600, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return assert.AnError
	})
	require.ErrorIs(t, err, assert.AnError)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "previous backup", string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary file left behind")
}

// TestOperatorCommandsAskTheRunningBotFirst reproduces issue 12 item 11:
// operator commands waited out the database lock (1 s) before using the
// admin socket. With a lock timeout far longer than the test's deadline, a
// command that tried the file first could not finish in time.
func TestOperatorCommandsAskTheRunningBotFirst(t *testing.T) {
	e := newTestEnv(t)
	code, _, errOut := e.run(alertLine + "\n")
	require.Equal(t, 0, code, errOut)

	r, w, err := os.Pipe()
	require.NoError(t, err)
	done := make(chan int, 1)
	go func() {
		var out, errb bytes.Buffer
		no := false
		done <- run(context.Background(), nil, environ{
			getenv: func(k string) string { return e.env[k] }, stdin: r, stdout: &out, stderr: &errb, stdinIsTerminal: &no,
		})
	}()
	defer func() { _ = w.Close(); <-done }()
	sock := adminSocket(e.env["FIREBREAK_DB"])
	require.Eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, 10*time.Second, 20*time.Millisecond)

	for _, args := range [][]string{{"incidents"}, {"postmortem", "1"}, {"backup", filepath.Join(e.dir, "b.db")}} {
		finished := make(chan string, 1)
		go func() {
			var out, errb bytes.Buffer
			no := false
			env := environ{getenv: func(k string) string { return e.env[k] }, stdin: bytes.NewReader(nil),
				stdout: &out, stderr: &errb, stdinIsTerminal: &no, lockTimeout: time.Hour}
			code := run(context.Background(), args, env)
			finished <- fmt.Sprintf("%d %s%s", code, out.String(), errb.String())
		}()
		select {
		case got := <-finished:
			assert.Regexp(t, "^0 ", got, "%v", args)
		case <-time.After(2 * time.Minute): // generous for a loaded machine; the lock wait is an hour
			_, statErr := os.Stat(sock)
			t.Fatalf("%v waited for the database lock instead of asking the running bot (socket: %v, answers: %v)",
				args, statErr, botAnswers(context.Background(), sock))
		}
	}
}
