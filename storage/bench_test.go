package storage_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// fill writes n incidents (or n entries on incident 1 with entries=true)
// in big transactions, without fsync, to build a benchmark database fast.
func fill(b *testing.B, path string, incidentsN, entriesN int) {
	b.Helper()
	ctx := context.Background()
	db, err := storage.Open(path, storage.Options{NoSync: true})
	require.NoError(b, err)
	defer db.Close()
	for i := 0; i < incidentsN; i += 5000 {
		require.NoError(b, db.Update(ctx, func(tx incidents.Tx) error {
			for j := i; j < min(i+5000, incidentsN); j++ {
				inc := &incidents.Incident{Title: fmt.Sprintf("incident %d", j), Status: incidents.StatusResolved, OpenedAt: t0, Home: home}
				if j%100 == 0 {
					inc.Status = incidents.StatusTriggered
				}
				if err := tx.CreateIncident(inc); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for i := 0; i < entriesN; i += 5000 {
		require.NoError(b, db.Update(ctx, func(tx incidents.Tx) error {
			for j := i; j < min(i+5000, entriesN); j++ {
				e := incidents.Entry{Incident: 1, At: t0.Add(time.Duration(j) * time.Second), Kind: incidents.EntryNote, Actor: alice, Text: fmt.Sprintf("note %d: checked the dashboards again", j)}
				if err := tx.AppendEntry(&e); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

// BenchmarkOpen100kIncidents is start-up cost with 100,000 stored
// incidents: Open reads counters, never scans.
func BenchmarkOpen100kIncidents(b *testing.B) {
	path := filepath.Join(b.TempDir(), "firebreak.db")
	fill(b, path, 100_000, 0)
	b.ResetTimer()
	for b.Loop() {
		db, err := storage.Open(path, storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if db.Stats().Incidents != 100_000 {
			b.Fatal("wrong count")
		}
		_ = db.Close()
	}
}

// BenchmarkPostmortem100kEntries renders the postmortem of an incident
// with 100,000 timeline entries straight from bbolt.
func BenchmarkPostmortem100kEntries(b *testing.B) {
	path := filepath.Join(b.TempDir(), "firebreak.db")
	ctx := context.Background()
	db, err := storage.Open(path, storage.Options{NoSync: true})
	require.NoError(b, err)
	svc := service(b, db)
	_, err = svc.Declare(ctx, incidents.Origin{Actor: alice, Home: home}, "Long incident", incidents.SEV2)
	require.NoError(b, err)
	require.NoError(b, db.Close())
	fill(b, path, 0, 100_000)
	db = open(b, path)
	defer db.Close()
	svc = service(b, db)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := svc.Postmortem(ctx, 1, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConcurrentUpdates is durable (fsynced) single-entry updates from
// 16 goroutines: group commit shares fsyncs between them.
func BenchmarkConcurrentUpdates(b *testing.B) {
	ctx := context.Background()
	db := open(b, filepath.Join(b.TempDir(), "firebreak.db"))
	defer db.Close()
	svc := service(b, db)
	_, err := svc.Declare(ctx, incidents.Origin{Actor: alice, Home: home}, "busy", 0)
	require.NoError(b, err)
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/16 + 1
	for range 16 {
		wg.Go(func() {
			for range per {
				if _, err := svc.AddNote(ctx, incidents.Origin{Actor: alice}, 1, "x"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := db.Stats()
	b.ReportMetric(float64(st.Updates)/float64(max(st.Commits, 1)), "updates/commit")
}

// benchReopen times opening the database at path, checking that each Open
// finds want records waiting in the log count reads.
func benchReopen(b *testing.B, path string, want int, count func(*storage.DB) int) {
	b.ResetTimer()
	for b.Loop() {
		db, err := storage.Open(path, storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if got := count(db); got != want {
			b.Fatalf("%d records in the log after Open, want %d", got, want)
		}
		_ = db.Close()
	}
}

// BenchmarkOpenWithFullAlertLog is start-up cost when a storm left its
// fold's worth of new alerts in alerts_recent: Open reads their keys.
func BenchmarkOpenWithFullAlertLog(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "firebreak.db")
	fill(b, path, 1, 0)
	db, err := storage.Open(path, storage.Options{NoSync: true})
	require.NoError(b, err)
	const logged = 8000 // the fold is at 8,192
	// An alert that sorts after every hashed fingerprint below, committed
	// first: new alerts that sort after every stored one go to the
	// buckets directly, not to the log (see onTheRight).
	require.NoError(b, db.Update(ctx, func(tx incidents.Tx) error {
		return tx.PutAlert(1, incidents.AlertState{Fingerprint: "~", Name: "Last", Count: 1, FirstSeen: t0, LastSeen: t0})
	}))
	require.NoError(b, db.Update(ctx, func(tx incidents.Tx) error {
		for i := range logged {
			a := incidents.AlertState{Fingerprint: fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15), Name: "PodCrashLooping", Title: "checkout pod crash-looping",
				Labels: map[string]string{"alertname": "PodCrashLooping", "instance": fmt.Sprintf("checkout-%d", i)}, Count: 1, FirstSeen: t0, LastSeen: t0}
			if err := tx.PutAlert(1, a); err != nil {
				return err
			}
		}
		return nil
	}))
	require.Equal(b, logged, storage.LoggedAlerts(db))
	require.NoError(b, db.Close())
	benchReopen(b, path, logged, storage.LoggedAlerts)
}

// BenchmarkOpenWithFullFingerprintLog is start-up cost when a storm left
// its largest fold's worth of grouped fingerprints in fingerprints_recent:
// Open reads them all back into the committer's index.
func BenchmarkOpenWithFullFingerprintLog(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "firebreak.db")
	db, err := storage.Open(path, storage.Options{NoSync: true})
	require.NoError(b, err)
	const logged = 65000 // the largest fold is at 65,536
	storage.SetFingerprintSpill(db, 1<<20)
	// Keys that sort after every hashed fingerprint below, committed
	// first, so the hashed ones land between keys (the log).
	require.NoError(b, db.Update(ctx, func(tx incidents.Tx) error {
		for i := range 100 {
			if err := tx.SetOpenFingerprint(fmt.Sprintf("~%03d", i), 1); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(b, db.Update(ctx, func(tx incidents.Tx) error {
		for i := range logged {
			if err := tx.SetOpenFingerprint(fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15), 1); err != nil {
				return err
			}
		}
		return nil
	}))
	require.Equal(b, logged, storage.LoggedFingerprints(db))
	require.NoError(b, db.Close())
	benchReopen(b, path, logged, storage.LoggedFingerprints)
}
