package storage_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// Alert records round-trip every field, stream in fingerprint order within
// their incident only, and a put replaces the record of its fingerprint.
func TestAlertRecords(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	full := incidents.AlertState{
		Fingerprint: "b", Name: "PodCrashLooping", Title: "checkout pod crash-looping", Instance: "pod-1",
		Source: "alertmanager", URL: "http://prom/graph", Text: "restarted 5 times",
		Labels: map[string]string{"alertname": "PodCrashLooping", "pod": "pod-1"}, Annotations: map[string]string{"summary": "x"},
		StartsAt: t0.Add(-time.Minute), Firing: true, Count: 7, FirstSeen: t0, LastSeen: t0.Add(time.Hour), ResolvedAt: time.Time{},
	}
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		for range 2 {
			if err := tx.CreateIncident(&incidents.Incident{Title: "x", Status: incidents.StatusTriggered, OpenedAt: t0}); err != nil {
				return err
			}
		}
		for _, a := range []incidents.AlertState{{Fingerprint: "c", Count: 1}, {Fingerprint: "b", Count: 1}, full, {Fingerprint: "a", ResolvedAt: t0}} {
			if err := tx.PutAlert(1, a); err != nil {
				return err
			}
		}
		assert.ErrorIs(t, tx.PutAlert(9, full), incidents.ErrNotFound)
		assert.Error(t, tx.PutAlert(1, incidents.AlertState{}), "a fingerprint is required")
		return tx.PutAlert(2, incidents.AlertState{Fingerprint: "z"})
	}))
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		got, ok, err := tx.Alert(1, "b")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, full, got)
		_, ok, err = tx.Alert(1, "z")
		assert.False(t, ok)
		var fps []string
		require.NoError(t, tx.Alerts(1, func(a incidents.AlertState) error {
			fps = append(fps, a.Fingerprint)
			return nil
		}))
		assert.Equal(t, []string{"a", "b", "c"}, fps)
		return err
	}))
}

// Incidents created in a transaction take shortcuts (no alert record, no
// timeline yet); only those do: incidents of earlier transactions, below
// the new ones, and numbers above them that were never handed out, are
// looked up as before.
func TestOnlyIncidentsCreatedInTheTransactionAreNew(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	create := func(tx incidents.Tx) error {
		return tx.CreateIncident(&incidents.Incident{Title: "x", Status: incidents.StatusTriggered, OpenedAt: t0})
	}
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		if err := create(tx); err != nil {
			return err
		}
		if err := tx.PutAlert(1, incidents.AlertState{Fingerprint: "a", Count: 1}); err != nil {
			return err
		}
		return tx.AppendEntry(&incidents.Entry{Incident: 1, Kind: incidents.EntryNote, Text: "first", At: t0})
	}))
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		for range 2 {
			if err := create(tx); err != nil {
				return err
			}
		}
		// #1 is not new: its record of "a" is replaced, its timeline goes on.
		if err := tx.PutAlert(1, incidents.AlertState{Fingerprint: "a", Count: 2}); err != nil {
			return err
		}
		e := incidents.Entry{Incident: 1, Kind: incidents.EntryNote, Text: "second", At: t0}
		if err := tx.AppendEntry(&e); err != nil {
			return err
		}
		assert.Equal(t, uint64(2), e.Seq)
		// #3 is new, #4 was never made.
		e = incidents.Entry{Incident: 3, Kind: incidents.EntryNote, Text: "new", At: t0}
		if err := tx.AppendEntry(&e); err != nil {
			return err
		}
		assert.Equal(t, uint64(1), e.Seq)
		assert.ErrorIs(t, tx.PutAlert(4, incidents.AlertState{Fingerprint: "a"}), incidents.ErrNotFound)
		assert.ErrorIs(t, tx.AppendEntry(&incidents.Entry{Incident: 4, Kind: incidents.EntryNote, At: t0}), incidents.ErrNotFound)
		return nil
	}))
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		var got []incidents.AlertState
		require.NoError(t, tx.Alerts(1, func(a incidents.AlertState) error {
			got = append(got, a)
			return nil
		}))
		require.Len(t, got, 1, "one record of a")
		assert.Equal(t, 2, got[0].Count)
		return nil
	}))
}
