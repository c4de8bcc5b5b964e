// Package storetest is the conformance suite every incidents.Store runs:
// the bbolt store (storage), the in-memory test store (incidentstest) and
// the etcd store (storage/etcdstore) must all pass the same Run, so the
// guarantees documented on incidents.Store are checked once, in one place,
// rather than re-stated per implementation.
//
// The suite only uses the incidents.Store interface. Every Update function
// it passes is written so that it may run more than once (the etcd store
// re-runs a transaction that lost a conflict; bbolt's group commit may
// re-run one alone), and no test depends on how many times it ran.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// Open returns an empty store for one test. It registers its own cleanup
// (t.Cleanup) if the store needs closing.
type Open func(t *testing.T) incidents.Store

var (
	t0    = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	alice = incidents.Actor{Platform: "console", ID: "alice", Name: "alice"}
	homeA = incidents.Home{Platform: "slack", Channel: "C-ALERTS"}
	homeB = incidents.Home{Platform: "slack", Channel: "C-ALERTS", Thread: "1700000000.000100"}
)

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, incidents.Store)
	}{
		{"Numbering", testNumbering},
		{"PutAndGet", testPutAndGet},
		{"FingerprintIndex", testFingerprintIndex},
		{"HomeIndex", testHomeIndex},
		{"InChannel", testInChannel},
		{"AlertRecords", testAlertRecords},
		{"AlertRecordsReadYourWrites", testAlertRecordsReadYourWrites},
		{"TimelineAppendAndStream", testTimeline},
		{"TimelineReadYourWrites", testTimelineReadYourWrites},
		{"IncidentsListing", testIncidentsListing},
		{"MarkSeen", testMarkSeen},
		{"Timers", testTimers},
		{"FailedUpdateCommitsNothing", testFailedUpdate},
		{"UpdateMayRunAgain", testRunAgain},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func create(t *testing.T, s incidents.Store, incs ...*incidents.Incident) []uint64 {
	t.Helper()
	var numbers []uint64
	require.NoError(t, s.Update(context.Background(), func(tx incidents.Tx) error {
		numbers = numbers[:0]
		for _, inc := range incs {
			c := inc.Clone()
			if err := tx.CreateIncident(c); err != nil {
				return err
			}
			numbers = append(numbers, c.Number)
		}
		return nil
	}))
	return numbers
}

func incident(title string, status incidents.Status, home incidents.Home) *incidents.Incident {
	return &incidents.Incident{Title: title, Status: status, Home: home, OpenedAt: t0, UpdatedAt: t0, Severity: incidents.SEV2}
}

func view(t *testing.T, s incidents.Store, fn func(incidents.ReadTx) error) {
	t.Helper()
	require.NoError(t, s.View(context.Background(), fn))
}

func get(t *testing.T, s incidents.Store, n uint64) *incidents.Incident {
	t.Helper()
	var inc *incidents.Incident
	view(t, s, func(tx incidents.ReadTx) error {
		var err error
		inc, err = tx.Incident(n)
		return err
	})
	return inc
}

// Numbers start at 1, rise by one per incident, and are handed out once,
// whether incidents are created one per Update or several in one.
func testNumbering(t *testing.T, s incidents.Store) {
	assert.Equal(t, []uint64{1}, create(t, s, incident("a", incidents.StatusTriggered, homeA)))
	assert.Equal(t, []uint64{2, 3, 4}, create(t, s,
		incident("b", incidents.StatusTriggered, homeA),
		incident("c", incidents.StatusTriggered, incidents.Home{}),
		incident("d", incidents.StatusResolved, homeB)))
	assert.Equal(t, []uint64{5}, create(t, s, incident("e", incidents.StatusTriggered, homeA)))
}

// What Put stores is what Get returns, as a copy: changing a returned
// incident changes nothing stored.
func testPutAndGet(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	want := incident("database down", incidents.StatusTriggered, homeA)
	want.Labels = map[string]string{"service": "db", "team": "storage"}
	want.Steps = []incidents.StepState{{ID: "look", Title: "Look", Status: incidents.StepPending}}
	want.Alerts = []incidents.AlertState{{Fingerprint: "fp1", Name: "DBDown", Firing: true, Count: 1, FirstSeen: t0, LastSeen: t0}}
	want.Commander = &alice
	n := create(t, s, want)[0]
	want.Number = n

	got := get(t, s, n)
	assert.Equal(t, want.Title, got.Title)
	assert.Equal(t, want.Labels, got.Labels)
	assert.Equal(t, want.Steps, got.Steps)
	assert.Equal(t, want.Alerts, got.Alerts)
	assert.Equal(t, want.Commander, got.Commander)
	assert.True(t, want.OpenedAt.Equal(got.OpenedAt))
	got.Labels["service"] = "changed by the caller"
	got.Commander.Name = "changed by the caller"
	again := get(t, s, n)
	assert.Equal(t, "db", again.Labels["service"], "a returned incident is a copy")
	assert.Equal(t, "alice", again.Commander.Name, "a returned incident is a copy")

	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		inc, err := tx.Incident(n)
		if err != nil {
			return err
		}
		inc.Status = incidents.StatusAcknowledged
		inc.AcknowledgedBy = alice
		return tx.PutIncident(inc)
	}))
	got = get(t, s, n)
	assert.Equal(t, incidents.StatusAcknowledged, got.Status)
	assert.Equal(t, alice, got.AcknowledgedBy)

	view(t, s, func(tx incidents.ReadTx) error {
		_, err := tx.Incident(999)
		assert.ErrorIs(t, err, incidents.ErrNotFound)
		return nil
	})
	err := s.Update(ctx, func(tx incidents.Tx) error {
		return tx.PutIncident(&incidents.Incident{Number: 999, Title: "never created"})
	})
	assert.ErrorIs(t, err, incidents.ErrNotFound, "PutIncident refuses a number never created")
}

func testFingerprintIndex(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	n := create(t, s, incident("a", incidents.StatusTriggered, homeA))[0]
	lookup := func(fp string) (uint64, bool) {
		var got uint64
		var ok bool
		view(t, s, func(tx incidents.ReadTx) error {
			var err error
			got, ok, err = tx.OpenByFingerprint(fp)
			return err
		})
		return got, ok
	}
	_, ok := lookup("fp-1")
	assert.False(t, ok)
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		if err := tx.SetOpenFingerprint("fp-1", n); err != nil {
			return err
		}
		// Read your own writes inside the transaction.
		got, ok, err := tx.OpenByFingerprint("fp-1")
		if err != nil {
			return err
		}
		if !ok || got != n {
			return fmt.Errorf("inside the transaction fp-1 → %d, %v; want %d", got, ok, n)
		}
		return tx.SetOpenFingerprint("group:team=db", n)
	}))
	got, ok := lookup("fp-1")
	assert.True(t, ok)
	assert.Equal(t, n, got)
	got, ok = lookup("group:team=db")
	assert.True(t, ok)
	assert.Equal(t, n, got)

	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		if err := tx.ClearOpenFingerprint("fp-1"); err != nil {
			return err
		}
		if _, ok, err := tx.OpenByFingerprint("fp-1"); err != nil || ok {
			return fmt.Errorf("fp-1 still grouped inside the transaction that cleared it (%v)", err)
		}
		return tx.ClearOpenFingerprint("never-set")
	}))
	_, ok = lookup("fp-1")
	assert.False(t, ok)
	_, ok = lookup("group:team=db")
	assert.True(t, ok, "clearing one fingerprint leaves the others")
}

func testHomeIndex(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	latest := func(h incidents.Home) (uint64, bool) {
		var n uint64
		var ok bool
		view(t, s, func(tx incidents.ReadTx) error {
			var err error
			n, ok, err = tx.LatestInHome(h)
			return err
		})
		return n, ok
	}
	_, ok := latest(homeA)
	assert.False(t, ok)
	ns := create(t, s,
		incident("first", incidents.StatusTriggered, homeA),
		incident("thread", incidents.StatusTriggered, homeB),
		incident("second", incidents.StatusResolved, homeA),
		incident("homeless", incidents.StatusTriggered, incidents.Home{}))
	n, ok := latest(homeA)
	assert.True(t, ok)
	assert.Equal(t, ns[2], n, "the most recently opened incident in the channel")
	n, ok = latest(homeB)
	assert.True(t, ok)
	assert.Equal(t, ns[1], n, "a thread is a home of its own")
	_, ok = latest(incidents.Home{Platform: "discord", Channel: "C-ALERTS"})
	assert.False(t, ok, "the platform is part of the home")

	// Moving the newest incident out of homeA makes the older one latest.
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		inc, err := tx.Incident(ns[2])
		if err != nil {
			return err
		}
		inc.Home = incidents.Home{Platform: "slack", Channel: "C-INC-3"}
		return tx.PutIncident(inc)
	}))
	n, ok = latest(homeA)
	assert.True(t, ok)
	assert.Equal(t, ns[0], n)
	n, ok = latest(incidents.Home{Platform: "slack", Channel: "C-INC-3"})
	assert.True(t, ok)
	assert.Equal(t, ns[2], n)
}

func inChannel(t *testing.T, tx incidents.ReadTx, platform, channel string, openOnly bool) []uint64 {
	t.Helper()
	var got []uint64
	require.NoError(t, tx.InChannel(platform, channel, openOnly, func(n uint64) error {
		got = append(got, n)
		return nil
	}))
	return got
}

// InChannel sees the incidents homed in a channel and in its threads,
// newest first, open ones only when asked; resolving or moving an incident
// takes it out, reopening puts it back, and channels whose names share a
// beginning stay apart.
func testInChannel(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	channel := func(openOnly bool) []uint64 {
		var got []uint64
		view(t, s, func(tx incidents.ReadTx) error {
			got = inChannel(t, tx, homeA.Platform, homeA.Channel, openOnly)
			return nil
		})
		return got
	}
	assert.Empty(t, channel(false))
	ns := create(t, s,
		incident("resolved", incidents.StatusResolved, homeA),                                                           // 1
		incident("open", incidents.StatusTriggered, homeA),                                                              // 2
		incident("in a thread", incidents.StatusAcknowledged, homeB),                                                    // 3
		incident("elsewhere", incidents.StatusTriggered, incidents.Home{Platform: "slack", Channel: "C-ALERTS-EU"}),     // 4
		incident("other platform", incidents.StatusTriggered, incidents.Home{Platform: "discord", Channel: "C-ALERTS"}), // 5
		incident("homeless", incidents.StatusTriggered, incidents.Home{}),                                               // 6
		incident("open too", incidents.StatusTriggered, homeA))                                                          // 7
	assert.Equal(t, []uint64{ns[6], ns[2], ns[1]}, channel(true), "open ones, threads included, newest first")
	assert.Equal(t, []uint64{ns[6], ns[2], ns[1], ns[0]}, channel(false), "resolved ones too")

	update := func(n uint64, change func(*incidents.Incident)) {
		require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
			inc, err := tx.Incident(n)
			if err != nil {
				return err
			}
			change(inc)
			return tx.PutIncident(inc)
		}))
	}
	update(ns[1], func(inc *incidents.Incident) { inc.Status = incidents.StatusResolved })
	update(ns[6], func(inc *incidents.Incident) { inc.Home = incidents.Home{Platform: "slack", Channel: "C-INC-7"} })
	update(ns[0], func(inc *incidents.Incident) { inc.Status = incidents.StatusTriggered }) // reopened
	update(ns[2], func(inc *incidents.Incident) { inc.Home = homeA })                       // from its thread to the channel
	assert.Equal(t, []uint64{ns[2], ns[0]}, channel(true))
	assert.Equal(t, []uint64{ns[2], ns[1], ns[0]}, channel(false))

	view(t, s, func(tx incidents.ReadTx) error {
		assert.Equal(t, []uint64{ns[6]}, inChannel(t, tx, "slack", "C-INC-7", true), "a moved incident is in its new channel")
		assert.Equal(t, []uint64{ns[4]}, inChannel(t, tx, "discord", "C-ALERTS", false))
		assert.Empty(t, inChannel(t, tx, "slack", "C-ALERT", false), "a channel's prefix is not the channel")
		// Returning an error from fn stops the stream and is returned.
		stop := errors.New("stop")
		calls := 0
		err := tx.InChannel(homeA.Platform, homeA.Channel, false, func(uint64) error { calls++; return stop })
		assert.ErrorIs(t, err, stop)
		assert.Equal(t, 1, calls)
		return nil
	})

	// Inside an Update, the transaction's own creations and changes count.
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		inc := incident("new", incidents.StatusTriggered, homeB)
		if err := tx.CreateIncident(inc); err != nil {
			return err
		}
		old, err := tx.Incident(ns[0])
		if err != nil {
			return err
		}
		old.Status = incidents.StatusResolved
		if err := tx.PutIncident(old); err != nil {
			return err
		}
		assert.Equal(t, []uint64{inc.Number, ns[2]}, inChannel(t, tx, homeA.Platform, homeA.Channel, true))
		return nil
	}))
}

func alertState(fp, name string, count int) incidents.AlertState {
	return incidents.AlertState{
		Fingerprint: fp, Name: name, Title: name + " on db-1", Instance: "db-1", Source: "alertmanager",
		Labels: map[string]string{"alertname": name, "instance": "db-1"}, Annotations: map[string]string{"runbook_url": "https://runbooks/" + name},
		Text: "it is down", StartsAt: t0.Add(-time.Minute), Firing: true, Count: count, FirstSeen: t0, LastSeen: t0.Add(time.Duration(count) * time.Second),
	}
}

func alerts(t *testing.T, tx incidents.ReadTx, n uint64) []incidents.AlertState {
	t.Helper()
	var got []incidents.AlertState
	require.NoError(t, tx.Alerts(n, func(a incidents.AlertState) error {
		got = append(got, a)
		return nil
	}))
	return got
}

// Alert records: one per (incident, fingerprint), replaced by a put with
// the same fingerprint, streamed in fingerprint order, handed out as
// copies; an incident that does not exist holds none and takes none.
func testAlertRecords(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	ns := create(t, s, incident("a", incidents.StatusTriggered, homeA), incident("b", incidents.StatusTriggered, homeA))
	a, b := ns[0], ns[1]
	view(t, s, func(tx incidents.ReadTx) error {
		assert.Empty(t, alerts(t, tx, a))
		_, ok, err := tx.Alert(a, "fp-1")
		assert.NoError(t, err)
		assert.False(t, ok)
		return nil
	})
	resolved := alertState("fp-2", "DiskFull", 3)
	resolved.Firing, resolved.ResolvedAt = false, t0.Add(time.Hour)
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		for _, st := range []incidents.AlertState{alertState("fp-3", "Late", 1), alertState("fp-1", "DBDown", 1), resolved} {
			if err := tx.PutAlert(a, st); err != nil {
				return err
			}
		}
		return tx.PutAlert(b, alertState("fp-1", "Other", 7))
	}))
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		return tx.PutAlert(a, alertState("fp-1", "DBDown", 2)) // a repeat replaces the record
	}))
	view(t, s, func(tx incidents.ReadTx) error {
		got := alerts(t, tx, a)
		want := []incidents.AlertState{alertState("fp-1", "DBDown", 2), resolved, alertState("fp-3", "Late", 1)}
		if assert.Len(t, got, len(want)) {
			for i := range want {
				assertAlert(t, want[i], got[i])
			}
		}
		one, ok, err := tx.Alert(b, "fp-1")
		require.NoError(t, err)
		require.True(t, ok)
		assertAlert(t, alertState("fp-1", "Other", 7), one, "records are per incident")
		one.Labels["alertname"] = "changed by the caller"
		again, _, err := tx.Alert(b, "fp-1")
		require.NoError(t, err)
		assert.Equal(t, "Other", again.Labels["alertname"], "a returned record is a copy")

		stop := errors.New("stop")
		calls := 0
		assert.ErrorIs(t, tx.Alerts(a, func(incidents.AlertState) error { calls++; return stop }), stop)
		assert.Equal(t, 1, calls)
		assert.Empty(t, alerts(t, tx, 999))
		return nil
	})

	err := s.Update(ctx, func(tx incidents.Tx) error { return tx.PutAlert(999, alertState("fp-1", "X", 1)) })
	assert.ErrorIs(t, err, incidents.ErrNotFound, "no record for an incident never created")
	err = s.Update(ctx, func(tx incidents.Tx) error { return tx.PutAlert(a, alertState("", "X", 1)) })
	assert.Error(t, err, "a record needs a fingerprint")
	err = s.Update(ctx, func(tx incidents.Tx) error {
		if err := tx.PutAlert(a, alertState("fp-9", "Lost", 1)); err != nil {
			return err
		}
		return errors.New("the intent failed")
	})
	require.Error(t, err)
	view(t, s, func(tx incidents.ReadTx) error {
		_, ok, err := tx.Alert(a, "fp-9")
		assert.NoError(t, err)
		assert.False(t, ok, "a failed Update stores no record")
		return nil
	})
}

// assertAlert compares records with times compared as instants: stores
// may hand times back in UTC or without a monotonic reading.
func assertAlert(t *testing.T, want, got incidents.AlertState, msg ...any) {
	t.Helper()
	for _, tm := range []struct{ w, g *time.Time }{{&want.StartsAt, &got.StartsAt}, {&want.FirstSeen, &got.FirstSeen}, {&want.LastSeen, &got.LastSeen}, {&want.ResolvedAt, &got.ResolvedAt}} {
		assert.True(t, tm.w.Equal(*tm.g), "%v: want %v, got %v", msg, *tm.w, *tm.g)
		*tm.w, *tm.g = time.Time{}, time.Time{}
	}
	assert.Equal(t, want, got, msg...)
}

// Inside an Update, Alert and Alerts see the transaction's own puts, in
// fingerprint order among the stored ones.
func testAlertRecordsReadYourWrites(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	n := create(t, s, incident("a", incidents.StatusTriggered, homeA))[0]
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		if err := tx.PutAlert(n, alertState("fp-b", "B", 1)); err != nil {
			return err
		}
		return tx.PutAlert(n, alertState("fp-d", "D", 1))
	}))
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		for _, st := range []incidents.AlertState{alertState("fp-c", "C", 1), alertState("fp-a", "A", 1), alertState("fp-d", "D", 2)} {
			if err := tx.PutAlert(n, st); err != nil {
				return err
			}
		}
		var fps []string
		var counts []int
		for _, a := range alerts(t, tx, n) {
			fps, counts = append(fps, a.Fingerprint), append(counts, a.Count)
		}
		assert.Equal(t, []string{"fp-a", "fp-b", "fp-c", "fp-d"}, fps)
		assert.Equal(t, []int{1, 1, 1, 2}, counts)
		got, ok, err := tx.Alert(n, "fp-d")
		if err != nil {
			return err
		}
		assert.True(t, ok)
		assert.Equal(t, 2, got.Count)
		return nil
	}))
	view(t, s, func(tx incidents.ReadTx) error {
		assert.Len(t, alerts(t, tx, n), 4)
		return nil
	})
}

func entries(t *testing.T, s incidents.Store, n, after uint64) []incidents.Entry {
	t.Helper()
	var got []incidents.Entry
	view(t, s, func(tx incidents.ReadTx) error {
		got = got[:0]
		return tx.Entries(n, after, func(e incidents.Entry) error {
			got = append(got, e)
			return nil
		})
	})
	return got
}

func appendEntries(t *testing.T, s incidents.Store, n uint64, es ...incidents.Entry) []uint64 {
	t.Helper()
	var seqs []uint64
	require.NoError(t, s.Update(context.Background(), func(tx incidents.Tx) error {
		seqs = seqs[:0]
		for _, e := range es {
			e := e.Clone()
			e.Incident = n
			if err := tx.AppendEntry(&e); err != nil {
				return err
			}
			seqs = append(seqs, e.Seq)
		}
		return nil
	}))
	return seqs
}

// Entries get Seq 1, 2, 3… per incident, stream in Seq order from any
// point, round-trip every field, and are copies.
func testTimeline(t *testing.T, s incidents.Store) {
	ns := create(t, s, incident("a", incidents.StatusTriggered, homeA), incident("b", incidents.StatusTriggered, homeA))
	a, b := ns[0], ns[1]
	note := incidents.Entry{Kind: incidents.EntryNote, At: t0, Actor: alice, Text: "ünïcödé ✓ and \x00 bytes", Step: "validate", Data: map[string]string{"b": "2", "a": ""}}
	assert.Equal(t, []uint64{1, 2}, appendEntries(t, s, a, note, incidents.Entry{Kind: incidents.EntryAlert}))
	assert.Equal(t, []uint64{1}, appendEntries(t, s, b, incidents.Entry{Kind: incidents.EntryDeclared, At: t0}))
	const more = 300 // more than one page of any paginated store
	batch := make([]incidents.Entry, more)
	for i := range batch {
		batch[i] = incidents.Entry{Kind: incidents.EntryAlertRepeat, At: t0.Add(time.Duration(i) * time.Second), Data: map[string]string{"i": fmt.Sprint(i)}}
	}
	seqs := appendEntries(t, s, a, batch...)
	require.Len(t, seqs, more)
	assert.Equal(t, uint64(3), seqs[0])
	assert.Equal(t, uint64(more+2), seqs[more-1])

	all := entries(t, s, a, 0)
	require.Len(t, all, more+2)
	for i, e := range all {
		assert.Equal(t, uint64(i+1), e.Seq, "in Seq order")
		assert.Equal(t, a, e.Incident)
	}
	want := note
	want.Incident, want.Seq = a, 1
	assert.Equal(t, want, all[0], "every field round-trips")
	assert.Equal(t, incidents.Entry{Incident: a, Seq: 2, Kind: incidents.EntryAlert}, all[1])
	assert.Equal(t, "299", all[more+1].Data["i"])

	tail := entries(t, s, a, 250)
	require.Len(t, tail, more+2-250)
	assert.Equal(t, uint64(251), tail[0].Seq)
	assert.Empty(t, entries(t, s, a, uint64(more+2)))
	assert.Len(t, entries(t, s, b, 0), 1, "timelines are per incident")

	// Stopping early: fn's error is returned and nothing after it is sent.
	stop := errors.New("enough")
	var seen int
	err := s.View(context.Background(), func(tx incidents.ReadTx) error {
		seen = 0
		return tx.Entries(a, 0, func(incidents.Entry) error {
			seen++
			if seen == 5 {
				return stop
			}
			return nil
		})
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 5, seen)

	// Entries handed out are copies.
	first := entries(t, s, a, 0)[0]
	first.Data["b"] = "changed"
	assert.Equal(t, "2", entries(t, s, a, 0)[0].Data["b"])

	err = s.View(context.Background(), func(tx incidents.ReadTx) error {
		return tx.Entries(999, 0, func(incidents.Entry) error { return nil })
	})
	assert.ErrorIs(t, err, incidents.ErrNotFound, "the timeline of a missing incident is an error, not empty")
	err = s.Update(context.Background(), func(tx incidents.Tx) error {
		return tx.AppendEntry(&incidents.Entry{Incident: 999, Kind: incidents.EntryNote})
	})
	assert.ErrorIs(t, err, incidents.ErrNotFound)
}

// Inside one transaction, a new incident's entries are numbered and
// streamed together with what was stored before.
func testTimelineReadYourWrites(t *testing.T, s incidents.Store) {
	n := create(t, s, incident("a", incidents.StatusTriggered, homeA))[0]
	appendEntries(t, s, n, incidents.Entry{Kind: incidents.EntryAlert}, incidents.Entry{Kind: incidents.EntryNote})
	require.NoError(t, s.Update(context.Background(), func(tx incidents.Tx) error {
		e := incidents.Entry{Incident: n, Kind: incidents.EntryAcknowledged}
		if err := tx.AppendEntry(&e); err != nil {
			return err
		}
		if e.Seq != 3 {
			return fmt.Errorf("appended Seq %d, want 3", e.Seq)
		}
		var kinds []incidents.EntryKind
		if err := tx.Entries(n, 1, func(e incidents.Entry) error {
			kinds = append(kinds, e.Kind)
			return nil
		}); err != nil {
			return err
		}
		if fmt.Sprint(kinds) != "[note acknowledged]" {
			return fmt.Errorf("inside the transaction the timeline after 1 is %v", kinds)
		}
		inc := incident("created here", incidents.StatusTriggered, homeA)
		if err := tx.CreateIncident(inc); err != nil {
			return err
		}
		e = incidents.Entry{Incident: inc.Number, Kind: incidents.EntryDeclared}
		if err := tx.AppendEntry(&e); err != nil {
			return err
		}
		if e.Seq != 1 {
			return fmt.Errorf("first entry of a new incident has Seq %d", e.Seq)
		}
		return nil
	}))
	assert.Len(t, entries(t, s, n, 0), 3)
	assert.Len(t, entries(t, s, n+1, 0), 1)
}

func list(t *testing.T, s incidents.Store, openOnly bool, limit int) []uint64 {
	t.Helper()
	var got []uint64
	view(t, s, func(tx incidents.ReadTx) error {
		got = got[:0]
		return tx.Incidents(openOnly, limit, func(inc *incidents.Incident) error {
			got = append(got, inc.Number)
			return nil
		})
	})
	return got
}

func testIncidentsListing(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	assert.Empty(t, list(t, s, false, 0))
	var incs []*incidents.Incident
	for i := range 300 { // more than one page
		status := incidents.StatusTriggered
		if i%3 == 0 {
			status = incidents.StatusResolved
		}
		incs = append(incs, incident(fmt.Sprintf("i%d", i), status, homeA))
	}
	for chunk := range 3 {
		create(t, s, incs[chunk*100:(chunk+1)*100]...)
	}
	all := list(t, s, false, 0)
	require.Len(t, all, 300)
	for i, n := range all {
		assert.Equal(t, uint64(300-i), n, "newest first")
	}
	open := list(t, s, true, 0)
	require.Len(t, open, 200)
	assert.Equal(t, []uint64{300, 299, 297, 296}, open[:4], "resolved ones (1, 4, 7, …, 298) skipped")
	assert.Equal(t, []uint64{300, 299, 298}, list(t, s, false, 3))
	assert.Equal(t, []uint64{300, 299, 297}, list(t, s, true, 3))

	// Resolving takes an incident out of the open list at once, inside the transaction too.
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		inc, err := tx.Incident(300)
		if err != nil {
			return err
		}
		inc.Status = incidents.StatusResolved
		if err := tx.PutIncident(inc); err != nil {
			return err
		}
		var open []uint64
		if err := tx.Incidents(true, 2, func(inc *incidents.Incident) error {
			open = append(open, inc.Number)
			return nil
		}); err != nil {
			return err
		}
		if fmt.Sprint(open) != "[299 297]" {
			return fmt.Errorf("inside the transaction that resolved #300 the open list starts %v", open)
		}
		return nil
	}))
	assert.Equal(t, []uint64{299, 297}, list(t, s, true, 2))
	stop := errors.New("stop")
	calls := 0
	err := s.View(ctx, func(tx incidents.ReadTx) error {
		calls = 0
		return tx.Incidents(false, 0, func(*incidents.Incident) error { calls++; return stop })
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)
}

func markSeen(t *testing.T, s incidents.Store, id string, at time.Time) bool {
	t.Helper()
	var seen bool
	require.NoError(t, s.Update(context.Background(), func(tx incidents.Tx) error {
		var err error
		seen, err = tx.MarkSeen(id, at)
		return err
	}))
	return seen
}

// MarkSeen is idempotent: the first call records, every later one (in the
// same transaction or another) reports the id as seen.
func testMarkSeen(t *testing.T, s incidents.Store) {
	assert.False(t, markSeen(t, s, "slack:Ev1", t0))
	assert.True(t, markSeen(t, s, "slack:Ev1", t0.Add(time.Second)))
	assert.True(t, markSeen(t, s, "slack:Ev1", t0.Add(time.Minute)))
	assert.False(t, markSeen(t, s, "discord:Ev1", t0), "ids are distinct per platform prefix")
	require.NoError(t, s.Update(context.Background(), func(tx incidents.Tx) error {
		first, err := tx.MarkSeen("am:group/1", t0)
		if err != nil {
			return err
		}
		second, err := tx.MarkSeen("am:group/1", t0)
		if err != nil {
			return err
		}
		if first || !second {
			return fmt.Errorf("in one transaction: first %v, second %v; want false, true", first, second)
		}
		return nil
	}))
	assert.True(t, markSeen(t, s, "am:group/1", t0))
	// A failed transaction forgets what it marked.
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx incidents.Tx) error {
		if _, err := tx.MarkSeen("slack:Ev-rolled-back", t0); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.False(t, markSeen(t, s, "slack:Ev-rolled-back", t0))
}

func due(t *testing.T, s incidents.Store, at time.Time) []string {
	t.Helper()
	var got []string
	view(t, s, func(tx incidents.ReadTx) error {
		got = got[:0]
		return tx.DueTimers(at, func(tm incidents.Timer) error {
			got = append(got, fmt.Sprintf("%d/%s", tm.Incident, tm.Key))
			return nil
		})
	})
	return got
}

func testTimers(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	update := func(fn func(tx incidents.Tx) error) { t.Helper(); require.NoError(t, s.Update(ctx, fn)) }
	update(func(tx incidents.Tx) error {
		for i, d := range []time.Duration{3 * time.Minute, time.Minute, 2 * time.Minute} {
			if err := tx.PutTimer(incidents.Timer{Due: t0.Add(d), Incident: uint64(i + 1), Key: "escalate/0"}); err != nil {
				return err
			}
		}
		if err := tx.PutTimer(incidents.Timer{Due: t0.Add(time.Minute), Incident: 1, Key: "remind/update", Data: map[string]string{"text": "v1"}}); err != nil {
			return err
		}
		return tx.PutTimer(incidents.Timer{Due: t0.Add(time.Minute), Incident: 1, Key: "escalate/1"})
	})
	assert.Empty(t, due(t, s, t0))
	assert.Equal(t, []string{"1/escalate/1", "1/remind/update", "2/escalate/0"}, due(t, s, t0.Add(time.Minute)), "earliest first, then by incident, then by key")

	// The same due time, incident and key replace the timer.
	update(func(tx incidents.Tx) error {
		return tx.PutTimer(incidents.Timer{Due: t0.Add(time.Minute), Incident: 1, Key: "remind/update", Data: map[string]string{"text": "v2"}})
	})
	var data map[string]string
	view(t, s, func(tx incidents.ReadTx) error {
		return tx.DueTimers(t0.Add(time.Minute), func(tm incidents.Timer) error {
			if tm.Key == "remind/update" {
				data = tm.Data
			}
			return nil
		})
	})
	assert.Equal(t, map[string]string{"text": "v2"}, data)
	assert.Len(t, due(t, s, t0.Add(time.Minute)), 3, "replaced, not added")

	update(func(tx incidents.Tx) error {
		if err := tx.DeleteTimer(incidents.Timer{Due: t0.Add(time.Minute), Incident: 1, Key: "escalate/1"}); err != nil {
			return err
		}
		return tx.DeleteTimer(incidents.Timer{Due: t0.Add(time.Hour), Incident: 7, Key: "absent"})
	})
	assert.Equal(t, []string{"1/remind/update", "2/escalate/0"}, due(t, s, t0.Add(time.Minute)))

	// DeleteTimers removes one incident's timers with a key prefix, nothing else.
	update(func(tx incidents.Tx) error {
		if err := tx.PutTimer(incidents.Timer{Due: t0.Add(5 * time.Minute), Incident: 1, Key: "escalate/0/1"}); err != nil {
			return err
		}
		return tx.PutTimer(incidents.Timer{Due: t0.Add(5 * time.Minute), Incident: 1, Key: "escalator"})
	})
	update(func(tx incidents.Tx) error {
		if err := tx.DeleteTimers(1, "escalate/"); err != nil {
			return err
		}
		var left []string
		if err := tx.DueTimers(t0.Add(time.Hour), func(tm incidents.Timer) error {
			left = append(left, fmt.Sprintf("%d/%s", tm.Incident, tm.Key))
			return nil
		}); err != nil {
			return err
		}
		if fmt.Sprint(left) != "[1/remind/update 2/escalate/0 3/escalate/0 1/escalator]" {
			return fmt.Errorf("inside the transaction that deleted them, due timers are %v", left)
		}
		return nil
	})
	assert.Equal(t, []string{"1/remind/update", "2/escalate/0", "3/escalate/0", "1/escalator"}, due(t, s, t0.Add(time.Hour)))
	update(func(tx incidents.Tx) error { return tx.DeleteTimers(1, "") })
	assert.Equal(t, []string{"2/escalate/0", "3/escalate/0"}, due(t, s, t0.Add(time.Hour)))
}

// An Update whose fn fails keeps nothing it wrote: incidents, numbers,
// timeline entries, indexes, timers.
func testFailedUpdate(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	n := create(t, s, incident("kept", incidents.StatusTriggered, homeA))[0]
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx incidents.Tx) error {
		inc := incident("half", incidents.StatusTriggered, homeB)
		if err := tx.CreateIncident(inc); err != nil {
			return err
		}
		if err := tx.AppendEntry(&incidents.Entry{Incident: n, Kind: incidents.EntryNote, Text: "lost"}); err != nil {
			return err
		}
		if err := tx.SetOpenFingerprint("fp-half", inc.Number); err != nil {
			return err
		}
		if err := tx.PutTimer(incidents.Timer{Due: t0, Incident: inc.Number, Key: "escalate/0"}); err != nil {
			return err
		}
		kept, err := tx.Incident(n)
		if err != nil {
			return err
		}
		kept.Title = "changed"
		if err := tx.PutIncident(kept); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []uint64{n}, list(t, s, false, 0))
	assert.Equal(t, "kept", get(t, s, n).Title)
	assert.Empty(t, entries(t, s, n, 0))
	assert.Empty(t, due(t, s, t0))
	view(t, s, func(tx incidents.ReadTx) error {
		_, ok, err := tx.OpenByFingerprint("fp-half")
		assert.False(t, ok)
		if err != nil {
			return err
		}
		_, ok, err = tx.LatestInHome(homeB)
		assert.False(t, ok)
		return err
	})
	assert.Equal(t, []uint64{n + 1}, create(t, s, incident("next", incidents.StatusTriggered, homeA)), "the failed number is handed out again")
}

// A store may run fn more than once; fn written as the contract asks
// (reading everything it needs from tx) gets the same result whatever the
// count, and only the last run's writes are kept.
func testRunAgain(t *testing.T, s incidents.Store) {
	ctx := context.Background()
	n := create(t, s, incident("a", incidents.StatusTriggered, homeA))[0]
	runs := 0
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		runs++
		inc, err := tx.Incident(n)
		if err != nil {
			return err
		}
		inc.AlertCount++
		if err := tx.PutIncident(inc); err != nil {
			return err
		}
		return tx.AppendEntry(&incidents.Entry{Incident: n, Kind: incidents.EntryAlertRepeat})
	}))
	assert.GreaterOrEqual(t, runs, 1)
	assert.Equal(t, 1, get(t, s, n).AlertCount, "one increment, however many runs")
	assert.Len(t, entries(t, s, n, 0), 1, "one entry, however many runs")
}

// Many goroutines updating the same incident at once all commit, and none
// loses another's write (a lost update would show as a missing count or a
// duplicate Seq).
func testConcurrentUpdates(t *testing.T, s incidents.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := create(t, s, incident("shared", incidents.StatusTriggered, homeA))[0]
	const writers, each = 16, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- s.Update(ctx, func(tx incidents.Tx) error {
					inc, err := tx.Incident(n)
					if err != nil {
						return err
					}
					inc.AlertCount++
					if err := tx.PutIncident(inc); err != nil {
						return err
					}
					if _, err := tx.MarkSeen(fmt.Sprintf("w%d/%d", w, i), t0); err != nil {
						return err
					}
					return tx.AppendEntry(&incidents.Entry{Incident: n, Kind: incidents.EntryAlertRepeat, Data: map[string]string{"w": fmt.Sprint(w)}})
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, writers*each, get(t, s, n).AlertCount)
	es := entries(t, s, n, 0)
	require.Len(t, es, writers*each)
	for i, e := range es {
		assert.Equal(t, uint64(i+1), e.Seq)
	}
}

// A canceled context stops an Update before it commits anything.
func testCanceledContext(t *testing.T, s incidents.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Update(ctx, func(tx incidents.Tx) error {
		return tx.CreateIncident(incident("never", incidents.StatusTriggered, homeA))
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, list(t, s, false, 0))
}
