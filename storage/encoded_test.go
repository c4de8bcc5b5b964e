package storage_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

// What ReceiveAlerts has the DB encode before the transaction
// (incidents.Encoder) must store exactly what the plain writes store: the
// same alerts and the same timeline as a store that encodes nothing
// (MemStore), whether a new alert is written directly, goes through the
// alert log, changes within its batch after it was encoded, or was taken
// for a repeat (its fingerprint seen before, in an incident since
// resolved) and so not encoded before the transaction.
func TestEncodedAlertsStoreWhatPlainOnesDo(t *testing.T) {
	batches := [][]incidents.Alert{
		// The first alert opens the incident; the others of the group
		// join it, with fingerprints on both sides of the first one's, so
		// some go straight to alerts and some to the log.
		{alertOf("m", "first"), alertOf("z", "right"), alertOf("a", "left")},
		// An alert new to the batch, then again with other text: what
		// was encoded for it no longer says what it is.
		{alertOf("b", "before"), alertOf("b", "after"), alertOf("c", "")},
		// Repeats of logged and direct alerts, one with new text, and a
		// resolution.
		{alertOf("a", "left again"), alertOf("z", ""), resolved(alertOf("m", ""))},
		// A resolved alert fires again.
		{alertOf("m", "back")},
	}
	// After incident #1 is resolved, alerts it held open incident #2.
	again := [][]incidents.Alert{{alertOf("a", "again"), alertOf("n", "new"), alertOf("b", "")}}
	type stored struct {
		Alerts  []incidents.AlertState
		Entries []incidents.Entry
	}
	run := func(t *testing.T, store incidents.Store) stored {
		t.Helper()
		now := t0
		books := playbooks.Default()
		books.Grouping.GroupBy = []string{"alertname"}
		svc := incidents.NewService(store, books, incidents.WithClock(func() time.Time { return now }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
		receive := func(i int, b []incidents.Alert) {
			now = t0.Add(time.Duration(i) * time.Minute)
			_, err := svc.ReceiveAlerts(context.Background(), incidents.Origin{Actor: alice, Home: home, EventID: fmt.Sprintf("ev-%d", i)}, b)
			require.NoError(t, err)
		}
		for i, b := range batches {
			receive(i, b)
		}
		_, err := svc.Resolve(context.Background(), incidents.Origin{Actor: alice, Home: home, EventID: "resolve"}, 1, "rolled back")
		require.NoError(t, err)
		for i, b := range again {
			receive(len(batches)+i, b)
		}
		var out stored
		require.NoError(t, store.View(context.Background(), func(tx incidents.ReadTx) error {
			for n := uint64(1); n <= 2; n++ {
				if err := tx.Alerts(n, func(a incidents.AlertState) error {
					out.Alerts = append(out.Alerts, a)
					return nil
				}); err != nil {
					return err
				}
				if err := tx.Entries(n, 0, func(e incidents.Entry) error {
					out.Entries = append(out.Entries, e)
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		}))
		return out
	}

	want := run(t, incidentstest.NewMemStore())
	require.Len(t, want.Alerts, 5+3, "m, z, a, b and c in #1; a, n and b in #2")

	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	got := run(t, db)
	assert.Equal(t, want.Alerts, got.Alerts)
	assert.Equal(t, want.Entries, got.Entries)
	for _, a := range got.Alerts[:5] { // incident #1's
		if a.Fingerprint == "b" {
			assert.Equal(t, "after", a.Text, "the text the batch left, not the one first encoded")
			assert.Equal(t, 2, a.Count)
		}
	}
}

func alertOf(fp, text string) incidents.Alert {
	return incidents.Alert{Source: "alertmanager", Name: "PodCrashLooping", Title: "pod " + fp + " crash-looping",
		Text: text, Fingerprint: fp, Status: incidents.AlertFiring,
		Labels:      map[string]string{"alertname": "PodCrashLooping", "instance": "pod-" + fp},
		Annotations: map[string]string{"summary": "pod " + fp + " crash-looping"}}
}

func resolved(a incidents.Alert) incidents.Alert {
	a.Status = incidents.AlertResolved
	return a
}

// An alert Alert found absent is written once, however often the
// transaction puts it: the second put finds the first one's record.
func TestAlertFoundAbsentIsPutOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		fp   string // the second alert's: after the first (direct) or before it (log)
	}{
		{"on the right", "zz"},
		{"between existing keys", "aa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
			defer db.Close()
			ctx := context.Background()
			require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
				inc := &incidents.Incident{Title: "x", Status: incidents.StatusTriggered, OpenedAt: t0}
				if err := tx.CreateIncident(inc); err != nil {
					return err
				}
				return tx.PutAlert(inc.Number, incidents.AlertState{Fingerprint: "mm", Title: "first", Count: 1, Firing: true})
			}))
			require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
				_, ok, err := tx.Alert(1, tc.fp)
				require.NoError(t, err)
				require.False(t, ok)
				etx, ok := tx.(incidents.EncodedTx)
				require.True(t, ok, "the DB's Tx takes encoded records")
				a := incidents.AlertState{Fingerprint: tc.fp, Title: "second", Count: 1, Firing: true}
				if err := etx.PutAlertEncoded(1, a, db.EncodeAlert(&a)); err != nil {
					return err
				}
				a.Count, a.Title = 2, "second, again"
				return tx.PutAlert(1, a)
			}))
			var got []incidents.AlertState
			require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
				return tx.Alerts(1, func(a incidents.AlertState) error {
					got = append(got, a)
					return nil
				})
			}))
			require.Len(t, got, 2)
			for _, a := range got {
				if a.Fingerprint == tc.fp {
					assert.Equal(t, 2, a.Count)
					assert.Equal(t, "second, again", a.Title)
				}
			}
		})
	}
}

var _ incidents.Encoder = (*storage.DB)(nil)
