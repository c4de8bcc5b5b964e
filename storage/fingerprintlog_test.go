package storage_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// fpOp is one change of the grouping index: set fp to n, or clear it (n 0).
type fpOp struct {
	fp string
	n  uint64
}

// applyFingerprintOps applies ops in tx and the model. With look[i], op i's
// key is looked up first, as intake does before it groups an alert (a
// miss lets the write skip searching the index again).
func applyFingerprintOps(tx incidents.Tx, model map[string]uint64, ops []fpOp, look ...bool) error {
	for i, op := range ops {
		if i < len(look) && look[i] {
			n, ok, err := tx.OpenByFingerprint(op.fp)
			if err != nil {
				return err
			}
			if want, wantOK := model[op.fp]; ok != wantOK || n != want {
				return fmt.Errorf("%s: looked up %d, %v; want %d, %v", op.fp, n, ok, want, wantOK)
			}
		}
		if op.n == 0 {
			if err := tx.ClearOpenFingerprint(op.fp); err != nil {
				return err
			}
			delete(model, op.fp)
			continue
		}
		if err := tx.SetOpenFingerprint(op.fp, op.n); err != nil {
			return err
		}
		model[op.fp] = op.n
	}
	return nil
}

// checkFingerprints asserts that tx reads exactly model for every key in
// keys.
func checkFingerprints(t *testing.T, tx incidents.ReadTx, model map[string]uint64, keys []string, what string) {
	t.Helper()
	for _, fp := range keys {
		n, ok, err := tx.OpenByFingerprint(fp)
		require.NoError(t, err)
		want, wantOK := model[fp]
		assert.Equal(t, wantOK, ok, "%s: %s found", what, fp)
		assert.Equal(t, want, n, "%s: %s", what, fp)
	}
}

// checkFingerprintDB reads every key of keys, and the whole index through
// Fingerprints, in a read and in a write transaction.
func checkFingerprintDB(t *testing.T, db *storage.DB, model map[string]uint64, keys []string, what string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		checkFingerprints(t, tx, model, keys, what+" (view)")
		return nil
	}))
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		checkFingerprints(t, tx, model, keys, what+" (update)")
		return nil
	}))
	want := maps.Clone(model)
	if len(want) == 0 {
		want = map[string]uint64{}
	}
	assert.Equal(t, want, readFingerprints(t, db), "%s: Fingerprints", what)
}

// Keys that land between existing keys of the grouping index wait in the
// fingerprint log; whatever the sequence of sets and clears, within one
// transaction or across commits, reads see exactly what was last set and
// not cleared, before and after a fold and a reopen.
func TestFingerprintLogClearAndSet(t *testing.T) {
	// "a" and "z" go into the empty index first (on its right); "m…" keys
	// land between them (the log), "zz…" keys after them (the index).
	tests := []struct {
		name string
		txs  [][]fpOp
	}{
		{"set, clear, set in one transaction", [][]fpOp{{{"m1", 1}, {"m1", 0}, {"m1", 2}}}},
		{"set and clear in one transaction", [][]fpOp{{{"m1", 1}, {"m1", 0}}}},
		{"set, clear, set across commits", [][]fpOp{{{"m1", 1}}, {{"m1", 0}}, {{"m1", 2}}}},
		{"set twice", [][]fpOp{{{"m1", 1}}, {{"m1", 3}}, {{"m1", 3}}}},
		{"clear then set in one transaction", [][]fpOp{{{"m1", 1}}, {{"m1", 0}, {"m1", 4}}}},
		{"clear a key never set", [][]fpOp{{{"m9", 0}}, {{"m9", 1}}}},
		{"index keys cleared and set", [][]fpOp{{{"a", 0}, {"zz1", 5}}, {{"zz1", 0}, {"a", 6}}, {{"a", 0}}}},
		{"many keys, some cleared", [][]fpOp{
			{{"m1", 1}, {"m2", 1}, {"m3", 1}, {"m4", 1}, {"zz1", 1}},
			{{"m2", 0}, {"m5", 2}, {"m6", 2}, {"m7", 2}},
			{{"m1", 0}, {"m1", 3}, {"m8", 3}, {"m9", 3}, {"m2", 3}},
		}},
	}
	for _, tt := range tests {
		for _, spill := range []uint64{1, 3, 1000} {
			t.Run(fmt.Sprintf("%s, fold at %d", tt.name, spill), func(t *testing.T) {
				ctx := context.Background()
				path := filepath.Join(t.TempDir(), "firebreak.db")
				db := open(t, path)
				storage.SetFingerprintSpill(db, spill)
				storage.SetFingerprintEdge(db, 0)
				model := map[string]uint64{}
				keys := []string{"a", "z", "zz1", "m9"}
				seed := []fpOp{{"a", 9}, {"z", 9}}
				require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error { return applyFingerprintOps(tx, model, seed) }))
				for i, ops := range tt.txs {
					for _, op := range ops {
						keys = append(keys, op.fp)
					}
					require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
						if err := applyFingerprintOps(tx, model, ops); err != nil {
							return err
						}
						checkFingerprints(t, tx, model, keys, fmt.Sprintf("in transaction %d", i))
						return nil
					}))
					checkFingerprintDB(t, db, model, keys, fmt.Sprintf("after transaction %d", i))
				}
				require.NoError(t, db.Close())
				db = open(t, path)
				defer db.Close()
				storage.SetFingerprintSpill(db, spill)
				storage.SetFingerprintEdge(db, 0)
				checkFingerprintDB(t, db, model, keys, "after a reopen")
				// One more key into the log and a fold after the reopen.
				require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
					return applyFingerprintOps(tx, model, []fpOp{{"mm", 7}, {"m1", 0}})
				}))
				checkFingerprintDB(t, db, model, append(keys, "mm"), "after a reopen and a change")
			})
		}
	}
}

// A long random sequence of sets and clears of hashed keys, in
// transactions of a few, reads like a plain map, with folds every few
// keys, in read and write transactions and after reopens; keys really wait
// in the log between folds. The committer's index names waiting keys by a
// hash: with a hash under which most keys collide, every key that comes
// after another of its hash is kept by name, and the reads are the same.
func TestFingerprintLogReadsLikeTheIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(string) uint64 // nil: the real one
	}{
		{"maphash", nil},
		{"three hashes for all keys", func(s string) uint64 { return uint64(s[len(s)-1] % 3) }},
	} {
		t.Run(tc.name, func(t *testing.T) { fingerprintLogReadsLikeTheIndex(t, tc.hash) })
	}
}

func fingerprintLogReadsLikeTheIndex(t *testing.T, hash func(string) uint64) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	limits := func(db *storage.DB) {
		storage.SetFingerprintSpill(db, 16)
		storage.SetFingerprintEdge(db, 8)
		if hash != nil {
			require.NoError(t, storage.SetFingerprintHash(db, hash))
		}
	}
	db := open(t, path)
	limits(db)
	r := rand.New(rand.NewPCG(13, 6))
	var keys []string
	for i := range 80 {
		keys = append(keys, hashedFingerprint(i))
	}
	model := map[string]uint64{}
	sawLogged, sawByName := false, false
	for round := range 120 {
		ops := make([]fpOp, 1+r.IntN(6))
		look := make([]bool, len(ops))
		for i := range ops {
			ops[i].fp = keys[r.IntN(len(keys))]
			look[i] = r.IntN(2) == 0
			if r.IntN(4) != 0 {
				ops[i].n = uint64(1 + r.IntN(5))
			}
		}
		require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
			if err := applyFingerprintOps(tx, model, ops, look...); err != nil {
				return err
			}
			checkFingerprints(t, tx, model, keys, fmt.Sprintf("round %d, in transaction", round))
			return nil
		}))
		sawLogged = sawLogged || storage.LoggedFingerprints(db) > 0
		sawByName = sawByName || storage.FingerprintsByName(db) > 0
		if round%10 == 0 {
			checkFingerprintDB(t, db, model, keys, fmt.Sprintf("round %d", round))
		}
		if round%40 == 39 {
			require.NoError(t, db.Close())
			db = open(t, path)
			limits(db)
			checkFingerprintDB(t, db, model, keys, fmt.Sprintf("round %d, reopened", round))
		}
	}
	assert.True(t, sawLogged, "hashed keys wait in the fingerprint log")
	assert.Equal(t, hash != nil, sawByName, "keys kept by name when, and only when, hashes collide")
	checkFingerprintDB(t, db, model, keys, "at the end")
	require.NoError(t, db.Close())
}

// An update that fails after changing the grouping index leaves no trace:
// not in the index, not in the log, not in what the committer remembers,
// and not after a reopen; the next update carries on from the committed
// state.
func TestFingerprintLogRollback(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	storage.SetFingerprintSpill(db, 4)
	storage.SetFingerprintEdge(db, 0)
	model := map[string]uint64{}
	keys := []string{"a", "z", "m1", "m2", "m3", "zz"}
	for _, ops := range [][]fpOp{{{"a", 1}, {"z", 1}}, {{"m1", 1}}} {
		require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error { return applyFingerprintOps(tx, model, ops) }))
	}
	logged := storage.LoggedFingerprints(db)
	require.Equal(t, 1, logged, "m1 lands between a and z")
	boom := errors.New("boom")
	for _, ops := range [][]fpOp{
		{{"m2", 2}, {"zz", 2}},
		{{"m1", 0}, {"a", 0}},
		{{"m1", 3}, {"m3", 3}, {"m2", 3}, {"m1", 0}, {"m2", 0}, {"m3", 4}}, // reaches the fold
	} {
		err := db.Update(ctx, func(tx incidents.Tx) error {
			if err := applyFingerprintOps(tx, maps.Clone(model), ops); err != nil {
				return err
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.Equal(t, logged, storage.LoggedFingerprints(db))
		checkFingerprintDB(t, db, model, keys, fmt.Sprintf("after rolling back %v", ops))
	}
	require.NoError(t, db.Close())
	db = open(t, path)
	defer db.Close()
	checkFingerprintDB(t, db, model, keys, "after a reopen")
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		return applyFingerprintOps(tx, model, []fpOp{{"m2", 5}, {"m1", 0}})
	}))
	checkFingerprintDB(t, db, model, keys, "after a change")
}

// A storm of distinct alerts with hashed fingerprints groups every alert
// into one incident, through the log and its folds, and the grouping
// survives a reopen: a repeat of any of them counts on the same incident.
func TestFingerprintLogStorm(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	storage.SetFingerprintSpill(db, 50)
	storage.SetAlertSpill(db, 40)
	svc := service(t, db)
	alert := func(i int) incidents.Alert {
		return incidents.Alert{Source: "alertmanager", Name: "PodCrashLooping", Service: "checkout",
			Labels:      map[string]string{"alertname": "PodCrashLooping", "service": "checkout", "instance": fmt.Sprintf("pod-%d", i)},
			Fingerprint: hashedFingerprint(i)}
	}
	const n = 300
	for i := 0; i < n; i += 7 {
		var batch []incidents.Alert
		for j := i; j < min(i+7, n); j++ {
			batch = append(batch, alert(j))
		}
		outs, err := svc.ReceiveAlerts(ctx, incidents.Origin{Actor: incidents.Bot, Home: home, EventID: fmt.Sprintf("ev-%d", i)}, batch)
		require.NoError(t, err)
		for _, out := range outs {
			require.Equal(t, uint64(1), out.Incident.Number)
		}
	}
	assert.Positive(t, storage.LoggedFingerprints(db))
	fps := readFingerprints(t, db)
	assert.Len(t, fps, n+1, "every alert and the group key")
	require.NoError(t, db.Close())
	db = open(t, path)
	defer db.Close()
	assert.Equal(t, fps, readFingerprints(t, db))
	svc = service(t, db)
	out, err := svc.ReceiveAlert(ctx, incidents.Origin{Actor: incidents.Bot, Home: home, EventID: "again"}, alert(n-1))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), out.Incident.Number)
	assert.Equal(t, n, out.Incident.DistinctAlerts)
}

// A file of a newer schema than this Firebreak knows is refused, not
// misread: this is how a Firebreak before the fingerprint log refuses a
// file that has one.
func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	require.NoError(t, db.Close())
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	var v []byte
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		v = append([]byte(nil), meta.Get([]byte("schema"))...)
		return meta.Put([]byte("schema"), []byte{0, 0, 0, 0, 0, 0, 0, v[7] + 1})
	}))
	require.NoError(t, bdb.Close())
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7}, v)
	_, err = storage.Open(path, storage.Options{})
	require.ErrorIs(t, err, storage.ErrSchemaTooNew)
	// The words the README's "Upgrading" quotes.
	assert.Contains(t, err.Error(), "the file has schema 8, this Firebreak reads up to 7; run the newer Firebreak, or restore a backup taken by this version")
}
