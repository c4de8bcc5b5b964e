package storage_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

// readBoth loads incident n from a write transaction (the committer's
// cache) and from a read transaction (decoded from the file), which must
// agree exactly.
func readBoth(t *testing.T, db *storage.DB, n uint64) *incidents.Incident {
	t.Helper()
	ctx := context.Background()
	var fromUpdate, fromView *incidents.Incident
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		var err error
		fromUpdate, err = tx.Incident(n)
		return err
	}))
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		var err error
		fromView, err = tx.Incident(n)
		return err
	}))
	require.Equal(t, fromView, fromUpdate, "cached and stored incident #%d differ", n)
	return fromView
}

func timeline(t *testing.T, db *storage.DB, n, after uint64) []uint64 {
	t.Helper()
	var seqs []uint64
	require.NoError(t, db.View(context.Background(), func(tx incidents.ReadTx) error {
		return tx.Entries(n, after, func(e incidents.Entry) error {
			assert.Equal(t, n, e.Incident)
			seqs = append(seqs, e.Seq)
			return nil
		})
	}))
	return seqs
}

// Repeat alerts are stored as alert counts beside the incident record, the
// timeline through the recent log; after restarts, folds and other changes
// every read path agrees and nothing is lost.
func TestAlertStormStateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	storage.SetLogLimits(db, 5, 7) // spill and fold every few commits
	now := t0
	books := playbooks.Default()
	books.Grouping.GroupBy = []string{"alertname"}
	svc := incidents.NewService(db, books, incidents.WithClock(func() time.Time { return now }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	o := incidents.Origin{Actor: alice, Home: home}
	alert := func(fp string) incidents.Alert {
		name := fp
		if strings.HasPrefix(fp, "new-") {
			name = "new" // one group: a storm of distinct alerts
		}
		return incidents.Alert{Name: name, Title: "errors " + fp, Fingerprint: fp, Status: incidents.AlertFiring}
	}
	for i := range 30 {
		now = t0.Add(time.Duration(i) * time.Second)
		o.EventID = fmt.Sprintf("ev-%d", i)
		_, err := svc.ReceiveAlerts(ctx, o, []incidents.Alert{alert("a"), alert("b"), alert(fmt.Sprintf("new-%d", i))})
		require.NoError(t, err)
		if i == 10 {
			_, err := svc.Acknowledge(ctx, incidents.Origin{Actor: alice}, 1)
			require.NoError(t, err, "a full write between counter-only ones")
		}
	}
	inc := readBoth(t, db, 1)
	assert.Equal(t, 30, inc.AlertCount)
	require.Len(t, inc.Alerts, 1)
	assert.Equal(t, 30, inc.Alerts[0].Count, "the card copy is kept current")
	assert.True(t, inc.Alerts[0].LastSeen.Equal(t0.Add(29*time.Second)))
	assert.Equal(t, 30, readBoth(t, db, 2).AlertCount)
	assert.Equal(t, incidents.StatusAcknowledged, inc.Status)
	for n, want := range map[uint64][2]int{1: {1, 30}, 2: {1, 30}, 3: {30, 1}} {
		distinct := 0
		require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
			return tx.Alerts(n, func(a incidents.AlertState) error {
				distinct++
				assert.Equal(t, want[1], a.Count, "alert record of incident #%d", n)
				return nil
			})
		}))
		assert.Equal(t, want[0], distinct, "distinct alerts of incident #%d", n)
		assert.Equal(t, want[0], readBoth(t, db, n).DistinctAlerts)
	}
	assert.Len(t, timeline(t, db, 2, 0), 1, "repeats leave no timeline entries")
	inc = readBoth(t, db, 3)
	assert.Len(t, inc.Alerts, incidents.MaxCardAlerts, "the record keeps a few alerts for cards")
	want := make([]uint64, inc.Entries)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	assert.Len(t, want, 30, "one entry per distinct alert")
	assert.Equal(t, want, timeline(t, db, 3, 0), "folded and recent entries, in order")
	assert.Equal(t, want[20:], timeline(t, db, 3, 20))
	require.NoError(t, db.Close())

	db = open(t, path)
	defer db.Close()
	again := readBoth(t, db, 3)
	assert.Equal(t, inc, again)
	assert.Equal(t, want, timeline(t, db, 3, 0))
	svc = incidents.NewService(db, nil, incidents.WithClock(func() time.Time { return now }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	for i := range 30 {
		o.EventID = fmt.Sprintf("ev-%d", i)
		outs, err := svc.ReceiveAlerts(ctx, o, []incidents.Alert{alert("a")})
		require.NoError(t, err)
		assert.True(t, outs[0].Duplicate, "event %d was recorded before the restart", i)
	}
	assert.Equal(t, 30, readBoth(t, db, 1).AlertCount)
}

// An Update whose fn fails after changing an incident leaves no trace in
// the committer's cache, alone or in a group commit.
func TestFailedUpdateLeavesCachedIncidentsAlone(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		return tx.CreateIncident(&incidents.Incident{Title: "kept", Status: incidents.StatusTriggered, OpenedAt: t0, Home: home})
	}))
	readBoth(t, db, 1)
	boom := errors.New("boom")
	change := func(title string, fail bool) error {
		return db.Update(ctx, func(tx incidents.Tx) error {
			inc, err := tx.Incident(1)
			if err != nil {
				return err
			}
			inc.Title = title
			inc.AlertCount++
			if err := tx.PutIncident(inc); err != nil {
				return err
			}
			if fail {
				return boom
			}
			return nil
		})
	}
	assert.ErrorIs(t, change("lost", true), boom)
	assert.Equal(t, "kept", readBoth(t, db, 1).Title)

	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() { errs[i] = change(fmt.Sprintf("w%d", i), i%2 == 0) })
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 {
			assert.ErrorIs(t, err, boom)
		} else {
			assert.NoError(t, err)
		}
	}
	inc := readBoth(t, db, 1)
	assert.Equal(t, 8, inc.AlertCount, "only the successful updates counted")
	assert.NotContains(t, []string{"w0", "w2", "w4", "w6", "w8", "w10", "w12", "w14", "lost"}, inc.Title)
	assert.Equal(t, incidents.StatusTriggered, inc.Status)
	assert.Positive(t, storage.CachedIncidents(db))
}

// Seen event ids wait in a log and are indexed in bulk; either way they
// are found, also within the transaction that recorded them and after a
// restart, and pruning still forgets old ones.
func TestSeenEventsAcrossSpills(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	storage.SetLogLimits(db, 3, 1000)
	mark := func(db *storage.DB, ids ...string) []bool {
		seen := make([]bool, len(ids))
		require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
			for i, id := range ids {
				var err error
				if seen[i], err = tx.MarkSeen(id, t0.Add(time.Duration(i)*time.Minute)); err != nil {
					return err
				}
			}
			return nil
		}))
		return seen
	}
	assert.Equal(t, []bool{false, true}, mark(db, "e1", "e1"), "seen within its own transaction")
	assert.Equal(t, []bool{false, false, true}, mark(db, "e2", "e3", "e2"), "this commit spills")
	assert.Equal(t, []bool{true, true, true, false}, mark(db, "e1", "e2", "e3", "e4"))
	require.NoError(t, db.Close())

	db = open(t, path)
	defer db.Close()
	assert.Equal(t, []bool{true, true, true, true, false}, mark(db, "e1", "e2", "e3", "e4", "e5"), "logged and indexed ids survive a restart")
	n, err := db.PruneSeen(ctx, t0.Add(time.Hour), 100)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "pruning reaches ids still in the log")
	assert.Equal(t, []bool{false}, mark(db, "e4"))
}

// A file written before the recent logs and alert counts existed (schema
// 1) is upgraded in place when opened.
func TestSchemaOneIsUpgraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "firebreak.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"incidents", "events", "seq", "open", "open_by_fingerprint", "home", "timers", "timers_by_incident", "seen_events", "seen_by_time", "meta"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	}))
	require.NoError(t, bdb.Close())

	db := open(t, path)
	svc := service(t, db)
	_, err = svc.ReceiveAlert(context.Background(), incidents.Origin{Actor: alice, Home: home, EventID: "x"}, incidents.Alert{Title: "disk full"})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	bdb, err = bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer bdb.Close()
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7}, tx.Bucket([]byte("meta")).Get([]byte("schema")))
		return nil
	}))
}

// The committer's cached copy of an incident reads exactly like one
// decoded from the file, whatever zones and empty collections it was
// written with.
func TestCachedIncidentReadsLikeStored(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	now := time.Now() // local zone, monotonic reading
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		return tx.CreateIncident(&incidents.Incident{Title: "zones", Status: incidents.StatusTriggered, OpenedAt: now})
	}))
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		inc, err := tx.Incident(1)
		if err != nil {
			return err
		}
		inc.UpdatedAt = now.In(time.FixedZone("IST", 5*3600+1800))
		inc.AcknowledgedAt = now.UTC()
		inc.Labels = map[string]string{}
		inc.Steps = []incidents.StepState{}
		inc.Alerts = []incidents.AlertState{{Fingerprint: "a", FirstSeen: now, LastSeen: now}}
		inc.Commander = &incidents.Actor{}
		return tx.PutIncident(inc)
	}))
	readBoth(t, db, 1)
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		inc, err := tx.Incident(1)
		if err != nil {
			return err
		}
		inc.AlertCount++
		inc.Alerts[0].Count++
		inc.Alerts[0].LastSeen = time.Now()
		inc.UpdatedAt = time.Now().In(time.FixedZone("", -3*3600))
		return tx.PutIncident(inc) // a counters-only change
	}))
	inc := readBoth(t, db, 1)
	assert.Equal(t, 1, inc.Alerts[0].Count)
}
