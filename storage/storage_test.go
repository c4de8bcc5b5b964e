package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

var (
	t0    = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	alice = incidents.Actor{Platform: "console", ID: "alice", Name: "alice"}
	home  = incidents.Home{Platform: "console", Channel: "#alerts"}
)

func open(t testing.TB, path string) *storage.DB {
	t.Helper()
	db, err := storage.Open(path, storage.Options{})
	require.NoError(t, err)
	return db
}

func service(t testing.TB, db incidents.Store) *incidents.Service {
	t.Helper()
	return incidents.NewService(db, playbooks.Default(), incidents.WithClock(func() time.Time { return t0 }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
}

func TestOpenCreatesAPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	defer db.Close()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Equal(t, storage.Stats{}, db.Stats())
}

func TestSecondOpenFailsQuicklyWithAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	defer db.Close()
	start := time.Now()
	_, err := storage.Open(path, storage.Options{Timeout: 200 * time.Millisecond})
	require.Error(t, err)
	assert.ErrorIs(t, err, storage.ErrLocked)
	assert.Contains(t, err.Error(), "database "+path+" is in use")
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestRestartKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	svc := service(t, db)
	o := incidents.Origin{Actor: alice, Home: home}
	out, err := svc.ReceiveAlert(ctx, o, incidents.Alert{Name: "HighErrorRate", Title: "HighErrorRate api-gateway", Service: "api-gateway", Text: "5xx rate 17%", Status: incidents.AlertFiring})
	require.NoError(t, err)
	require.True(t, out.Created)
	_, err = svc.Acknowledge(ctx, o, 1)
	require.NoError(t, err)
	_, err = svc.StepDone(ctx, o, 1, "", "checked")
	require.NoError(t, err)
	_, err = svc.AddNote(ctx, o, 1, "survives restarts")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db = open(t, path)
	defer db.Close()
	svc = service(t, db)
	inc, err := svc.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusAcknowledged, inc.Status)
	assert.Equal(t, 1, inc.Current, "the current step survives")
	assert.Equal(t, uint64(4), inc.Entries)
	var texts []string
	require.NoError(t, svc.Timeline(ctx, 1, func(e incidents.Entry) error { texts = append(texts, string(e.Kind)); return nil }))
	assert.Equal(t, []string{"alert", "acknowledged", "step_done", "note"}, texts)
	assert.Equal(t, storage.Stats{Incidents: 1, OpenIncidents: 1, Entries: 4}, withoutCommits(db.Stats()))

	// The open-incident index survived too: the same alert is a repeat.
	out, err = svc.ReceiveAlert(ctx, o, incidents.Alert{Name: "HighErrorRate", Title: "HighErrorRate api-gateway", Service: "api-gateway", Status: incidents.AlertFiring})
	require.NoError(t, err)
	assert.False(t, out.Created)
	n, err := svc.Implied(ctx, home)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), n)
}

func withoutCommits(s storage.Stats) storage.Stats {
	s.Commits, s.Updates = 0, 0
	return s
}

func TestUpdateIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx incidents.Tx) error {
		inc := &incidents.Incident{Title: "half", Status: incidents.StatusTriggered, OpenedAt: t0}
		if err := tx.CreateIncident(inc); err != nil {
			return err
		}
		return boom
	})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, uint64(0), db.Stats().Incidents)
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		_, err := tx.Incident(1)
		assert.ErrorIs(t, err, incidents.ErrNotFound)
		return nil
	}))
}

// Concurrent Updates share commits, and one failing after writing rolls
// back only itself.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	const writers = 64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = db.Update(ctx, func(tx incidents.Tx) error {
				inc := &incidents.Incident{Title: fmt.Sprintf("w%d", i), Status: incidents.StatusTriggered, OpenedAt: t0, Home: home}
				if err := tx.CreateIncident(inc); err != nil {
					return err
				}
				if i%8 == 0 {
					return fmt.Errorf("writer %d fails after writing", i)
				}
				e := incidents.Entry{Incident: inc.Number, Kind: incidents.EntryDeclared, At: t0}
				return tx.AppendEntry(&e)
			})
		})
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if i%8 == 0 {
			assert.Error(t, err)
			failed++
		} else {
			assert.NoError(t, err)
		}
	}
	st := db.Stats()
	assert.Equal(t, uint64(writers-failed), st.Incidents)
	assert.Equal(t, uint64(writers-failed), st.Entries)
	titles := map[string]bool{}
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			titles[inc.Title] = true
			assert.Equal(t, uint64(1), inc.Entries, "incident %d", inc.Number)
			return nil
		})
	}))
	assert.Len(t, titles, writers-failed)
	for i := 0; i < writers; i += 8 {
		assert.False(t, titles[fmt.Sprintf("w%d", i)])
	}
}

func TestTimersSurviveAndComeDueInOrder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		for i, d := range []time.Duration{3 * time.Minute, time.Minute, 2 * time.Minute} {
			if err := tx.PutTimer(incidents.Timer{Due: t0.Add(d), Incident: uint64(i + 1), Key: "escalate/0"}); err != nil {
				return err
			}
		}
		return tx.PutTimer(incidents.Timer{Due: t0.Add(time.Minute), Incident: 1, Key: "remind/update"})
	}))
	require.NoError(t, db.Close())
	db = open(t, path)
	defer db.Close()
	due := func(at time.Time) []string {
		var got []string
		require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
			return tx.DueTimers(at, func(tm incidents.Timer) error {
				got = append(got, fmt.Sprintf("%d/%s", tm.Incident, tm.Key))
				return nil
			})
		}))
		return got
	}
	assert.Empty(t, due(t0))
	assert.Equal(t, []string{"1/remind/update", "2/escalate/0"}, due(t0.Add(time.Minute)), "earliest first, then by incident")
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error { return tx.DeleteTimers(1, "escalate/") }))
	assert.Equal(t, []string{"1/remind/update", "2/escalate/0", "3/escalate/0"}, due(t0.Add(3*time.Minute)), "incident 1's escalation is gone")
}

func TestSeenEventsAndPruning(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	mark := func(id string, at time.Time) bool {
		var seen bool
		require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
			var err error
			seen, err = tx.MarkSeen(id, at)
			return err
		}))
		return seen
	}
	assert.False(t, mark("slack:Ev1", t0))
	assert.True(t, mark("slack:Ev1", t0.Add(time.Second)))
	assert.False(t, mark("slack:Ev2", t0.Add(time.Hour)))
	n, err := db.PruneSeen(ctx, t0.Add(time.Minute), 100)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.False(t, mark("slack:Ev1", t0.Add(2*time.Hour)), "pruned ids are forgotten")
	assert.True(t, mark("slack:Ev2", t0.Add(2*time.Hour)))
}

func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "firebreak.db"))
	defer db.Close()
	svc := service(t, db)
	for i := range 20 {
		_, err := svc.Declare(ctx, incidents.Origin{Actor: alice, Home: home}, fmt.Sprintf("incident %d", i), 0)
		require.NoError(t, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = svc.AddNote(ctx, incidents.Origin{Actor: alice}, 1, fmt.Sprintf("note %d", i))
		}
	})
	backup := filepath.Join(dir, "backup.db")
	n, err := db.BackupFile(ctx, backup)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	assert.Positive(t, n)
	fi, err := os.Stat(backup)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	copyDB := open(t, backup)
	defer copyDB.Close()
	assert.Equal(t, uint64(20), copyDB.Stats().Incidents)
	var buf bytes.Buffer
	_, err = copyDB.Backup(ctx, &buf)
	require.NoError(t, err)
}

func TestClosedDatabase(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "closing twice is fine")
	ctx := context.Background()
	assert.ErrorIs(t, db.Update(ctx, func(incidents.Tx) error { return nil }), storage.ErrClosed)
	assert.ErrorIs(t, db.View(ctx, func(incidents.ReadTx) error { return nil }), storage.ErrClosed)
	_, err := db.Backup(ctx, io.Discard)
	assert.ErrorIs(t, err, storage.ErrClosed)
}

func TestEntryEncodingRoundTrips(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	want := []incidents.Entry{
		{Kind: incidents.EntryNote, At: t0, Actor: alice, Text: "ünïcödé ✓ and \x00 bytes", Step: "validate", Data: map[string]string{"b": "2", "a": ""}},
		{Kind: incidents.EntryAlert},
	}
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		inc := &incidents.Incident{Title: "x", Status: incidents.StatusTriggered}
		if err := tx.CreateIncident(inc); err != nil {
			return err
		}
		for i := range want {
			want[i].Incident = inc.Number
			if err := tx.AppendEntry(&want[i]); err != nil {
				return err
			}
		}
		return nil
	}))
	var got []incidents.Entry
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Entries(1, 0, func(e incidents.Entry) error { got = append(got, e); return nil })
	}))
	assert.Equal(t, want, got)
}

// An escalation that came due while Firebreak was down fires once, at the
// first FireDue after the restart.
func TestTimerDueDuringDowntimeFiresOnceAfterRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	cfg, err := playbooks.Parse("esc.yaml", []byte(`escalation:
  levels:
    - {after: 5m, notify: ["@oncall"]}
    - {after: 10m, notify: ["@lead"]}
playbooks:
  - id: outage
    steps: [{id: look, title: Look}]
`))
	require.NoError(t, err)
	now := t0
	clock := func() time.Time { return now }
	svcFor := func(db *storage.DB) *incidents.Service {
		return incidents.NewService(db, cfg, incidents.WithClock(clock), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	}
	db := open(t, path)
	_, err = svcFor(db).ReceiveAlert(ctx, incidents.Origin{Actor: alice, Home: home}, incidents.Alert{Name: "Down", Status: incidents.AlertFiring})
	require.NoError(t, err)
	now = t0.Add(6 * time.Minute)
	fired, err := svcFor(db).FireDue(ctx, 0)
	require.NoError(t, err)
	require.Len(t, fired, 1, "level 1 before the crash")
	require.NoError(t, db.Close())

	// Down from 6m to 20m: level 2 came due at 10m.
	now = t0.Add(20 * time.Minute)
	db = open(t, path)
	defer db.Close()
	svc := svcFor(db)
	fired, err = svc.FireDue(ctx, 0)
	require.NoError(t, err)
	require.Len(t, fired, 1)
	assert.Equal(t, "escalate/0/1", fired[0].Timer.Key)
	fired, err = svc.FireDue(ctx, 0)
	require.NoError(t, err)
	assert.Empty(t, fired, "once")
	var escalations int
	require.NoError(t, svc.Timeline(ctx, 1, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryEscalation {
			escalations++
		}
		return nil
	}))
	assert.Equal(t, 2, escalations)
}
