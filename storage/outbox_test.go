package storage_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

func post(text string) *incidents.Effect {
	return &incidents.Effect{Kind: incidents.EffectPost, Home: home, Message: incidents.EffectMessage{Text: text}, CreatedAt: t0}
}

func pending(t *testing.T, o *storage.Outbox, after uint64) []incidents.Effect {
	t.Helper()
	var got []incidents.Effect
	require.NoError(t, o.PendingEffects(context.Background(), after, func(e incidents.Effect) error {
		got = append(got, e)
		return nil
	}))
	return got
}

func signalled(o *storage.Outbox) bool {
	select {
	case <-o.Committed():
		return true
	default:
		return false
	}
}

// TestOutboxStoreSuite runs the outbox store guarantees shared by every
// store (bot/outbox/outboxtest) on the bbolt file.
func TestOutboxStoreSuite(t *testing.T) {
	outboxtest.RunStoreSuite(t, func(t *testing.T) outboxtest.Subject {
		db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
		t.Cleanup(func() { _ = db.Close() })
		return outboxtest.Subject{Outbox: db.Outbox(), Update: db.Update}
	})
}

// TestOutboxRefusesForeignTransactions: an effect can only be recorded in
// a write transaction of the outbox's own file (invalid effects are the
// suite's).
func TestOutboxRefusesForeignTransactions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "a.db"))
	defer db.Close()
	other := open(t, filepath.Join(dir, "b.db"))
	defer other.Close()
	o, err := storage.NewOutbox(db)
	require.NoError(t, err)

	cases := []struct {
		name string
		db   *storage.DB
		e    *incidents.Effect
		err  string
	}{
		{"other database", other, post("x"), "not a write transaction of this outbox's database"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.db.Update(ctx, func(tx incidents.Tx) error { return o.Enqueue(tx, tc.e) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	all, _, err := o.Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, all)
}

// TestOutboxSurvivesReopenAndUpgradesOldFiles: a file written before the
// outbox existed gains its buckets on first use, and pending effects are
// still pending after a restart.
func TestOutboxSurvivesReopenAndUpgradesOldFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db := open(t, path)
	s := service(t, db)
	_, err := s.Declare(ctx, incidents.Origin{Actor: alice, Home: home}, "old incident", incidents.SEV2)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db = open(t, path)
	o, err := storage.NewOutbox(db)
	require.NoError(t, err)
	e := post("before the crash")
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error { return o.Enqueue(tx, e) }))
	require.NoError(t, db.Close())

	db = open(t, path)
	defer db.Close()
	o, err = storage.NewOutbox(db)
	require.NoError(t, err)
	got := pending(t, o, 0)
	require.Len(t, got, 1)
	assert.Equal(t, e.ID, got[0].ID)
	inc, err := service(t, db).Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, "old incident", inc.Title)
}

// TestOutboxGroupCommitKeepsOnlyTheGoodIntents: intents that fail after
// enqueueing, committed in the same batches as intents that succeed, leave
// no effect behind and take none of their neighbours' with them.
func TestOutboxGroupCommitKeepsOnlyTheGoodIntents(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	o, err := storage.NewOutbox(db)
	require.NoError(t, err)
	boom := errors.New("refused after recording")
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := db.Update(ctx, func(tx incidents.Tx) error {
				if err := o.Enqueue(tx, post(fmt.Sprintf("good %d", i))); err != nil {
					return err
				}
				if i%2 == 1 {
					return boom
				}
				return nil
			})
			if i%2 == 1 {
				assert.ErrorIs(t, err, boom)
			} else {
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	got := pending(t, o, 0)
	require.Len(t, got, n/2)
	seen := map[string]bool{}
	for i, e := range got {
		assert.Equal(t, uint64(i+1), e.ID, "ids of rolled-back enqueues are not used")
		seen[e.Message.Text] = true
	}
	for i := 0; i < n; i += 2 {
		assert.True(t, seen[fmt.Sprintf("good %d", i)], "intent %d's effect is missing", i)
	}
}

// TestOutboxBucketsUpgradeInPlace: a file written before the outbox
// existed (testdata/schema3.db.gz) gets the outbox buckets on its first
// open, in place, and an intent records effects through incidents.Tx at
// once; its incidents are as they were.
func TestOutboxBucketsUpgradeInPlace(t *testing.T) {
	ctx := context.Background()
	path, fx := openFixtureCopy(t, "schema3")
	hasOutbox := func() (names []string) {
		t.Helper()
		bdb, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		defer bdb.Close()
		require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
			for _, name := range []string{"outbox", "outbox_pending", "outbox_keys"} {
				if tx.Bucket([]byte(name)) != nil {
					names = append(names, name)
				}
			}
			return nil
		}))
		return names
	}
	require.Empty(t, hasOutbox(), "the fixture predates the outbox")

	db := open(t, path)
	require.NoError(t, db.Close())
	assert.Equal(t, []string{"outbox", "outbox_pending", "outbox_keys"}, hasOutbox(), "Open creates the outbox buckets")

	db = open(t, path)
	defer db.Close()
	o := db.Outbox()
	all, waiting, err := o.Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, all)
	assert.Zero(t, waiting)
	e := post("after the upgrade")
	e.Incident = fx.Incidents[0].Incident.Number
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error { return tx.Enqueue(e) }))
	assert.True(t, signalled(o))
	got := pending(t, o, 0)
	require.Len(t, got, 1)
	assert.Equal(t, "after the upgrade", got[0].Message.Text)
	inc := readBoth(t, db, fx.Incidents[0].Incident.Number)
	assert.Equal(t, fx.Incidents[0].Incident, inc)
}

// TestTxEnqueueIsTheOutboxEnqueue: incidents.Tx.Enqueue records into the
// DB's one outbox, refuses an invalid effect, and a rolled-back intent
// keeps none.
func TestTxEnqueueIsTheOutboxEnqueue(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "firebreak.db"))
	defer db.Close()
	o, err := storage.NewOutbox(db)
	require.NoError(t, err)
	require.Same(t, db.Outbox(), o)
	err = db.Update(ctx, func(tx incidents.Tx) error { return tx.Enqueue(&incidents.Effect{Kind: incidents.EffectPost}) })
	require.ErrorContains(t, err, "no platform or channel")
	boom := errors.New("boom")
	require.ErrorIs(t, db.Update(ctx, func(tx incidents.Tx) error {
		require.NoError(t, tx.Enqueue(post("lost")))
		return boom
	}), boom)
	assert.False(t, signalled(o))
	a, b := post("first"), post("second")
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error { return errors.Join(tx.Enqueue(a), tx.Enqueue(b)) }))
	assert.Less(t, a.ID, b.ID)
	assert.True(t, signalled(o))
	assert.Len(t, pending(t, o, 0), 2)
}
