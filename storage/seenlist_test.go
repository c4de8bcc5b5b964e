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

// SeenIDs lists every seen event id with its time, whether it is still in
// the recent log or already in the index (after a prune moved it there),
// so `firebreak migrate to-etcd` can copy them.
func TestSeenIDsListsTheLogAndTheIndex(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "seen.db"))
	defer db.Close()
	at := time.Date(2026, 12, 4, 10, 0, 0, 123, time.UTC)
	mark := func(ids ...string) {
		require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
			for i, id := range ids {
				if _, err := tx.MarkSeen(id, at.Add(time.Duration(i)*time.Second)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	mark("webhook:am:a", "slack:Ev1")
	_, err := db.PruneSeen(ctx, at.Add(-time.Hour), 10) // moves the log into the index, prunes nothing
	require.NoError(t, err)
	mark("discord:m2")

	type lister interface {
		SeenIDs(fn func(id string, at time.Time) error) error
	}
	got := map[string]time.Time{}
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		l, ok := tx.(lister)
		require.True(t, ok, "bbolt's read transactions list seen ids")
		return l.SeenIDs(func(id string, at time.Time) error {
			got[id] = at
			return nil
		})
	}))
	assert.Equal(t, map[string]time.Time{
		"webhook:am:a": at,
		"slack:Ev1":    at.Add(time.Second),
		"discord:m2":   at,
	}, got)
}
