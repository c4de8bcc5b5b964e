package storage_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/storetest"
	"github.com/firebreak/firebreak/storage"
)

// The bbolt store passes the store conformance suite, with fsync on as in
// production.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) incidents.Store {
		db, err := storage.Open(filepath.Join(t.TempDir(), "firebreak.db"), storage.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		return db
	})
}
