package storage_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

func hashedFingerprint(i int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "pod-%d", i)
	return fmt.Sprintf("%016x", h.Sum64())
}

// New alerts wait in the recent alert log and are folded into the alert
// buckets in bulk; whichever side an alert is on, Alert finds it, Alerts
// lists every alert of the incident once, in fingerprint order, with its
// counters, in read and in write transactions, before and after a reopen.
func TestAlertLogReadsLikeTheBuckets(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	storage.SetAlertSpill(db, 12)
	svc := service(t, db)
	o := incidents.Origin{Actor: incidents.Bot, Home: home}
	counts := map[uint64]map[string]int{}
	send := func(ev string, alerts ...incidents.Alert) {
		o.EventID = ev
		outs, err := svc.ReceiveAlerts(ctx, o, alerts)
		require.NoError(t, err)
		for i, out := range outs {
			n := out.Incident.Number
			if counts[n] == nil {
				counts[n] = map[string]int{}
			}
			counts[n][alerts[i].Fingerprint]++
		}
	}
	alert := func(group string, i int) incidents.Alert {
		return incidents.Alert{Source: "alertmanager", Name: group, Title: group + " firing", Service: "checkout",
			Labels:      map[string]string{"alertname": group, "service": "checkout", "instance": fmt.Sprintf("pod-%d", i)},
			Annotations: map[string]string{"summary": group + " firing"}, Fingerprint: hashedFingerprint(i) + group}
	}
	check := func(db *storage.DB) {
		t.Helper()
		for _, read := range []string{"view", "update"} {
			run := func(fn func(incidents.ReadTx) error) error {
				if read == "view" {
					return db.View(ctx, fn)
				}
				return db.Update(ctx, func(tx incidents.Tx) error { return fn(tx) })
			}
			for n, want := range counts {
				var fps []string
				require.NoError(t, run(func(tx incidents.ReadTx) error {
					return tx.Alerts(n, func(a incidents.AlertState) error {
						fps = append(fps, a.Fingerprint)
						assert.Equal(t, want[a.Fingerprint], a.Count, "%s #%d %s", read, n, a.Fingerprint)
						return nil
					})
				}))
				assert.True(t, slices.IsSorted(fps), "%s #%d: in fingerprint order", read, n)
				assert.Len(t, fps, len(want), "%s #%d: each alert once", read, n)
				require.NoError(t, run(func(tx incidents.ReadTx) error {
					for fp, c := range want {
						a, ok, err := tx.Alert(n, fp)
						require.NoError(t, err)
						if assert.True(t, ok, "%s #%d %s", read, n, fp) {
							assert.Equal(t, c, a.Count)
							assert.Equal(t, "checkout", a.Labels["service"])
						}
					}
					_, ok, err := tx.Alert(n, "no-such-alert")
					assert.False(t, ok)
					return err
				}))
			}
		}
	}
	// Two groups, 60 distinct alerts each, in batches of 7 that interleave
	// the groups; every third alert repeated once from the log or from
	// the buckets, whichever side it is on by then.
	maxLogged := 0
	for i := 0; i < 60; i += 7 {
		var batch []incidents.Alert
		for j := i; j < min(i+7, 60); j++ {
			batch = append(batch, alert("PodCrashLooping", j), alert("HighLatency", j))
		}
		send(fmt.Sprintf("new-%d", i), batch...)
		maxLogged = max(maxLogged, storage.LoggedAlerts(db))
		check(db)
		if i%3 == 0 {
			send(fmt.Sprintf("again-%d", i), alert("PodCrashLooping", i/2), alert("HighLatency", i))
		}
	}
	assert.Positive(t, maxLogged, "alerts between existing keys wait in the log")
	assert.Less(t, maxLogged, 12+14, "folded once the log held its spill")
	check(db)
	require.NoError(t, db.Close())
	db = open(t, path)
	defer db.Close()
	check(db)
	inc, err := service(t, db).Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 60, inc.DistinctAlerts)
}

// A transaction that fails after logging a new alert leaves no trace in
// the log: the alert is new again afterwards, and is counted once.
func TestAlertLogForgetsRolledBackAlerts(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	svc := service(t, db)
	out, err := svc.ReceiveAlert(ctx, incidents.Origin{Actor: incidents.Bot, Home: home, EventID: "e1"},
		incidents.Alert{Title: "disk full", Fingerprint: "fp-open"})
	require.NoError(t, err)
	n := out.Incident.Number
	boom := errors.New("boom")
	var wg sync.WaitGroup
	for i := range 8 { // in one group commit with others, and alone
		wg.Go(func() {
			err := db.Update(ctx, func(tx incidents.Tx) error {
				if err := tx.PutAlert(n, incidents.AlertState{Fingerprint: fmt.Sprintf("fp-%d", i), Count: 1}); err != nil {
					return err
				}
				if i%2 == 0 {
					return boom
				}
				return nil
			})
			if i%2 == 0 {
				assert.ErrorIs(t, err, boom)
			} else {
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		for i := range 8 {
			_, ok, err := tx.Alert(n, fmt.Sprintf("fp-%d", i))
			require.NoError(t, err)
			assert.Equal(t, i%2 == 1, ok, "fp-%d", i)
		}
		return nil
	}))
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		return tx.PutAlert(n, incidents.AlertState{Fingerprint: "fp-0", Count: 1})
	}))
	var fps []string
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Alerts(n, func(a incidents.AlertState) error { fps = append(fps, a.Fingerprint); return nil })
	}))
	assert.Equal(t, []string{"fp-0", "fp-1", "fp-3", "fp-5", "fp-7", "fp-open"}, fps)
}

// The log may grow as large as what has been folded, within its bounds, so
// that a fold moves at least as many alerts as it rewrites; every alert is
// still read once, in fingerprint order, on either side, and after a
// reopen.
func TestAlertLogSpillGrowsWithWhatWasFolded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	storage.SetAlertSpillBounds(db, 4, 16)
	svc := service(t, db)
	o := incidents.Origin{Actor: incidents.Bot, Home: home}
	alert := func(i int) incidents.Alert {
		return incidents.Alert{Source: "alertmanager", Name: "PodCrashLooping", Title: "pod crash looping", Service: "checkout",
			Labels:      map[string]string{"alertname": "PodCrashLooping", "service": "checkout", "instance": fmt.Sprintf("pod-%d", i)},
			Fingerprint: hashedFingerprint(i)}
	}
	const total = 120
	var spills []uint64
	maxLogged := 0
	for i := range total {
		o.EventID = fmt.Sprintf("ev-%d", i)
		_, err := svc.ReceiveAlerts(ctx, o, []incidents.Alert{alert(i)})
		require.NoError(t, err)
		maxLogged = max(maxLogged, storage.LoggedAlerts(db))
		if s := storage.AlertSpill(db); len(spills) == 0 || spills[len(spills)-1] != s {
			spills = append(spills, s)
		}
	}
	assert.Equal(t, uint64(4), spills[0], "the first fold comes at the lower bound")
	assert.True(t, slices.IsSorted(spills), "the spill only grows: %v", spills)
	assert.Greater(t, len(spills), 2, "it grew in steps: %v", spills)
	assert.Equal(t, uint64(16), spills[len(spills)-1], "up to the upper bound: %v", spills)
	assert.LessOrEqual(t, maxLogged, 16, "the log never held more than the upper bound")
	check := func(db *storage.DB) {
		t.Helper()
		var fps []string
		require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
			return tx.Alerts(1, func(a incidents.AlertState) error {
				fps = append(fps, a.Fingerprint)
				assert.Equal(t, 1, a.Count, a.Fingerprint)
				return nil
			})
		}))
		assert.Len(t, fps, total, "every alert once")
		assert.True(t, slices.IsSorted(fps), "in fingerprint order")
	}
	check(db)
	require.NoError(t, db.Close())
	db = open(t, path)
	defer db.Close()
	check(db)
}
