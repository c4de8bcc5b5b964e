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
