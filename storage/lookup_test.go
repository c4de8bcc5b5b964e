package storage

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// A transaction's reused cursor reads what bbolt's Get reads at every
// moment of the transaction: after puts that split nothing yet, after
// deletes, in an empty bucket, past the last key, and in a bucket dropped
// and made again.
func TestLookupsReadLikeGet(t *testing.T) {
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "lookups.db"), 0o600, nil)
	require.NoError(t, err)
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		require.NoError(t, err)
		var l lookups
		keys := [][]byte{[]byte("a"), []byte("m"), []byte("z"), []byte("zz"), u64Key(7)}
		check := func(step string) {
			for _, k := range keys {
				assert.Equal(t, b.Get(k), l.get(b, k), "%s: key %q", step, k)
			}
		}
		check("empty bucket")
		for i := range 2000 { // enough for several leaves once committed
			require.NoError(t, b.Put(u64Key(uint64(i)), []byte{byte(i)}))
		}
		require.NoError(t, b.Put([]byte("m"), []byte("middle")))
		check("after puts")
		assert.Equal(t, []byte("middle"), l.get(b, []byte("m")))
		require.NoError(t, b.Delete(u64Key(7)))
		require.NoError(t, b.Put([]byte("m"), []byte("changed")))
		check("after a delete and an overwrite")
		assert.Nil(t, l.get(b, u64Key(7)))
		assert.Equal(t, []byte("changed"), l.get(b, []byte("m")))

		require.NoError(t, tx.DeleteBucket([]byte("b")))
		b, err = tx.CreateBucket([]byte("b"))
		require.NoError(t, err)
		require.NoError(t, b.Put([]byte("z"), []byte("new bucket")))
		check("in the bucket made again")
		assert.Equal(t, []byte("new bucket"), l.get(b, []byte("z")))
		return nil
	})
	require.NoError(t, err)
	// And across a commit that split the leaves: a new transaction's
	// lookups over several pages.
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 5000 {
			require.NoError(t, b.Put(u64Key(uint64(i)), make([]byte, 40)))
		}
		return nil
	}))
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		require.Greater(t, b.Stats().LeafPageN, 10)
		var l lookups
		for i := range 5001 {
			k := u64Key(uint64(i))
			require.Equal(t, b.Get(k), l.get(b, k), "key %d", i)
		}
		assert.Equal(t, []byte("new bucket"), l.get(b, []byte("z")))
		assert.Nil(t, l.get(b, []byte("zzz")))
		return nil
	}))
}
