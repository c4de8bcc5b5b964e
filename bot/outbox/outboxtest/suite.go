package outboxtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
)

// SuiteStore is what the store suite checks: the worker's side of the
// outbox (outbox.Store, outbox.Pruner) and the two reads operators and
// tests use.
type SuiteStore interface {
	outbox.Store
	outbox.Pruner
	// Effect loads one effect, settled or not; errors.Is(err,
	// incidents.ErrNotFound) when there is none with that id.
	Effect(ctx context.Context, id uint64) (incidents.Effect, error)
	// Counts reports how many effects are recorded and how many wait.
	Counts(ctx context.Context) (all, pending int, err error)
}

// Subject is one outbox store under the suite: its outbox and the Update
// of the incident store whose transactions record effects in it.
type Subject struct {
	Outbox SuiteStore
	Update func(ctx context.Context, fn func(incidents.Tx) error) error
}

// suiteT0 is when the suite's effects are recorded.
var suiteT0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

var suiteHome = incidents.Home{Platform: "slack", Channel: "C-ALERTS"}

func suitePost(text string, at time.Time) *incidents.Effect {
	return &incidents.Effect{Kind: incidents.EffectPost, Home: suiteHome, Message: incidents.EffectMessage{Text: text}, CreatedAt: at}
}

// RunStoreSuite checks the outbox guarantees every store gives the worker
// (bbolt's storage.Outbox, etcdstore.Outbox, the in-memory MemStore):
// effects commit with their intent or not at all and wake the worker;
// invalid effects are refused; settling records the outcome once and the
// latest delivered post of a Key is found by Ref; ids follow commit order;
// pruning deletes only settled effects older than the retention, in
// bounded batches, and keeps what Ref needs. open returns a fresh, empty
// store whose Committed has nothing pending.
func RunStoreSuite(t *testing.T, open func(t *testing.T) Subject) {
	t.Run("EnqueueCommitsWithTheIntent", func(t *testing.T) { testEnqueueCommits(t, open(t)) })
	t.Run("RefusesBadEffects", func(t *testing.T) { testRefusesBadEffects(t, open(t)) })
	t.Run("SettleAndRef", func(t *testing.T) { testSettleAndRef(t, open(t)) })
	t.Run("IDsFollowCommitOrder", func(t *testing.T) { testIDsFollowCommitOrder(t, open(t)) })
	t.Run("PruneKeepsWhatIsNeeded", func(t *testing.T) { testPrune(t, open(t)) })
	t.Run("PruneInBoundedBatches", func(t *testing.T) { testPruneBatches(t, open(t)) })
}

func pendingIn(t *testing.T, o SuiteStore, after uint64) []incidents.Effect {
	t.Helper()
	var got []incidents.Effect
	require.NoError(t, o.PendingEffects(context.Background(), after, func(e incidents.Effect) error {
		got = append(got, e)
		return nil
	}))
	return got
}

// woken waits up to d for the worker's wake-up call.
func woken(o SuiteStore, d time.Duration) bool {
	select {
	case <-o.Committed():
		return true
	case <-time.After(d):
		return false
	}
}

func enqueueAll(ctx context.Context, s Subject, effects ...*incidents.Effect) error {
	return s.Update(ctx, func(tx incidents.Tx) error {
		for _, e := range effects {
			if err := tx.Enqueue(e); err != nil {
				return err
			}
		}
		return nil
	})
}

func testEnqueueCommits(t *testing.T, s Subject) {
	ctx := context.Background()
	o := s.Outbox
	// An intent that fails after recording its effect keeps neither.
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx incidents.Tx) error {
		require.NoError(t, tx.Enqueue(suitePost("lost", suiteT0)))
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Empty(t, pendingIn(t, o, 0))
	assert.False(t, woken(o, 300*time.Millisecond), "a rolled-back enqueue must not wake the worker")

	// One that succeeds keeps the incident and the effect, and wakes the worker.
	var number uint64
	e := suitePost("declared", suiteT0)
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		inc := &incidents.Incident{Title: "checkout down", Home: suiteHome, OpenedAt: suiteT0}
		if err := tx.CreateIncident(inc); err != nil {
			return err
		}
		number = inc.Number
		e.Incident = inc.Number
		return tx.Enqueue(e)
	}))
	assert.True(t, woken(o, 10*time.Second))
	got := pendingIn(t, o, 0)
	require.Len(t, got, 1)
	assert.Equal(t, e.ID, got[0].ID)
	assert.Equal(t, number, got[0].Incident)
	assert.Equal(t, "declared", got[0].Message.Text)
	assert.Equal(t, incidents.EffectPending, got[0].Status)
	all, waiting, err := o.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, all)
	assert.Equal(t, 1, waiting)
}

func testRefusesBadEffects(t *testing.T, s Subject) {
	ctx := context.Background()
	cases := []struct {
		name string
		e    *incidents.Effect
		err  string
	}{
		{"invalid effect", &incidents.Effect{Kind: incidents.EffectPost}, "no platform or channel"},
		{"settled effect", &incidents.Effect{Kind: incidents.EffectPost, Home: suiteHome, Status: incidents.EffectDelivered}, "must be pending"},
		{"unknown kind", &incidents.Effect{Kind: "fax", Home: suiteHome}, "not one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Update(ctx, func(tx incidents.Tx) error { return tx.Enqueue(tc.e) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	all, _, err := s.Outbox.Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, all)
}

func testSettleAndRef(t *testing.T, s Subject) {
	ctx := context.Background()
	o := s.Outbox
	card, note, edit := suitePost("card", suiteT0), suitePost("note", suiteT0), &incidents.Effect{Kind: incidents.EffectUpdate, Home: suiteHome, Target: "card/1", CreatedAt: suiteT0}
	card.Key = "card/1"
	require.NoError(t, enqueueAll(ctx, s, card, note, edit))
	require.Less(t, card.ID, note.ID)
	require.Less(t, note.ID, edit.ID)
	assert.Len(t, pendingIn(t, o, 0), 3)
	assert.Len(t, pendingIn(t, o, card.ID), 2, "after skips what was already read")

	_, ok, err := o.Ref(ctx, "card/1")
	require.NoError(t, err)
	assert.False(t, ok, "no ref before the card is delivered")

	ref := incidents.EffectRef{Channel: "C-ALERTS", ID: "1733.0017"}
	cases := []struct {
		id     uint64
		result incidents.EffectResult
	}{
		{card.ID, incidents.EffectResult{Status: incidents.EffectDelivered, Attempts: 2, At: suiteT0.Add(time.Second), Ref: ref}},
		{note.ID, incidents.EffectResult{Status: incidents.EffectGaveUp, Attempts: 5, At: suiteT0.Add(time.Minute), Reason: "channel_not_found"}},
		{edit.ID, incidents.EffectResult{Status: incidents.EffectCoalesced, At: suiteT0.Add(time.Minute), Reason: "superseded by effect 9"}},
	}
	for _, tc := range cases {
		require.NoError(t, o.Settle(ctx, tc.id, tc.result))
		e, err := o.Effect(ctx, tc.id)
		require.NoError(t, err)
		assert.Equal(t, tc.result.Status, e.Status)
		assert.Equal(t, tc.result.Attempts, e.Attempts)
		assert.Equal(t, tc.result.Reason, e.Reason)
		assert.True(t, tc.result.At.Equal(e.SettledAt))
	}
	assert.Empty(t, pendingIn(t, o, 0))
	got, ok, err := o.Ref(ctx, "card/1")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, ref, got)
	all, waiting, err := o.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, all)
	assert.Zero(t, waiting)

	// Settling again changes nothing: a delivery is never undone.
	require.NoError(t, o.Settle(ctx, card.ID, incidents.EffectResult{Status: incidents.EffectGaveUp, Reason: "late"}))
	e, err := o.Effect(ctx, card.ID)
	require.NoError(t, err)
	assert.Equal(t, incidents.EffectDelivered, e.Status)

	require.Error(t, o.Settle(ctx, card.ID, incidents.EffectResult{}), "pending is not a settlement")
	require.ErrorIs(t, o.Settle(ctx, 999, incidents.EffectResult{Status: incidents.EffectDelivered}), incidents.ErrNotFound)
	_, err = o.Effect(ctx, 999)
	require.ErrorIs(t, err, incidents.ErrNotFound)
}

// testIDsFollowCommitOrder: concurrent intents, some failing after they
// enqueued, and the ids of what committed are still 1, 2, 3, … in commit
// order, so a worker reading "after the last id I saw" never misses one.
func testIDsFollowCommitOrder(t *testing.T, s Subject) {
	ctx := context.Background()
	boom := errors.New("refused after recording")
	const writers, each = 4, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := s.Update(ctx, func(tx incidents.Tx) error {
					if err := tx.Enqueue(suitePost(fmt.Sprintf("%d/%d", w, i), suiteT0)); err != nil {
						return err
					}
					if i%3 == 2 {
						return boom
					}
					return nil
				})
				if i%3 == 2 {
					assert.ErrorIs(t, err, boom)
				} else {
					assert.NoError(t, err)
				}
			}
		})
	}
	wg.Wait()
	got := pendingIn(t, s.Outbox, 0)
	require.Len(t, got, writers*each*2/3)
	seen := map[string]bool{}
	for i, e := range got {
		assert.Equal(t, uint64(i+1), e.ID, "ids are dense and in commit order")
		seen[e.Message.Text] = true
	}
	for w := range writers {
		for i := range each {
			assert.Equal(t, i%3 != 2, seen[fmt.Sprintf("%d/%d", w, i)], "effect %d/%d", w, i)
		}
	}
}

// pruneFixture records effects of every kind of age and outcome, settles
// them, and returns them by name; before is the retention's cut.
func pruneFixture(t *testing.T, s Subject) (effects map[string]*incidents.Effect, before time.Time) {
	t.Helper()
	ctx := context.Background()
	before = suiteT0.Add(-7 * 24 * time.Hour)
	day := 24 * time.Hour
	old, older := before.Add(-2*day), before.Add(-3*day)
	type fixture struct {
		name    string
		key     string
		created time.Time
		status  incidents.EffectStatus
		settled time.Time
	}
	fixtures := []fixture{
		{"old delivered", "", older, incidents.EffectDelivered, older},
		{"first card", "card/1", older, incidents.EffectDelivered, older},
		{"old gave up", "", older, incidents.EffectGaveUp, old},
		{"old coalesced", "", older, incidents.EffectCoalesced, old},
		{"latest card", "card/1", old, incidents.EffectDelivered, old},
		{"other card", "card/2", old, incidents.EffectDelivered, old},
		{"old pending", "", old, incidents.EffectPending, time.Time{}},
		{"settled lately", "", old, incidents.EffectGaveUp, before.Add(day)},
		{"recent", "", before.Add(6 * day), incidents.EffectDelivered, before.Add(6 * day)},
	}
	effects = map[string]*incidents.Effect{}
	for _, f := range fixtures {
		e := suitePost(f.name, f.created)
		e.Key = f.key
		require.NoError(t, enqueueAll(ctx, s, e))
		effects[f.name] = e
		if f.status != incidents.EffectPending {
			require.NoError(t, s.Outbox.Settle(ctx, e.ID, incidents.EffectResult{Status: f.status, At: f.settled,
				Ref: incidents.EffectRef{Channel: "C-ALERTS", ID: f.name}}))
		}
	}
	return effects, before
}

// pruneAll prunes in batches of limit until nothing is left to look at,
// checking that no batch deletes more than limit; it returns how many were
// deleted and in how many calls.
func pruneAll(t *testing.T, o SuiteStore, before time.Time, limit int) (deleted, calls int) {
	t.Helper()
	var after uint64
	for calls < 1000 {
		last, n, err := o.Prune(context.Background(), before, after, limit)
		require.NoError(t, err)
		calls++
		assert.LessOrEqual(t, n, limit, "a batch deletes at most its limit")
		deleted += n
		if last == 0 {
			return deleted, calls
		}
		require.Greater(t, last, after, "each batch moves on")
		after = last
	}
	t.Fatal("pruning never finished")
	return
}

func testPrune(t *testing.T, s Subject) {
	ctx := context.Background()
	o := s.Outbox
	effects, before := pruneFixture(t, s)

	deleted, _ := pruneAll(t, o, before, 100)
	assert.Equal(t, 4, deleted)
	for name, e := range effects {
		_, err := o.Effect(ctx, e.ID)
		switch name {
		case "old delivered", "first card", "old gave up", "old coalesced":
			assert.ErrorIs(t, err, incidents.ErrNotFound, "%s is pruned", name)
		default:
			assert.NoError(t, err, "%s is kept", name)
		}
	}
	ref, ok, err := o.Ref(ctx, "card/1")
	require.NoError(t, err)
	require.True(t, ok, "the latest card of a key is kept, however old")
	assert.Equal(t, "latest card", ref.ID)
	ref, ok, err = o.Ref(ctx, "card/2")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "other card", ref.ID)
	pending := pendingIn(t, o, 0)
	require.Len(t, pending, 1)
	assert.Equal(t, effects["old pending"].ID, pending[0].ID, "a pending effect is never pruned")
	all, waiting, err := o.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(effects)-4, all)
	assert.Equal(t, 1, waiting)

	// Pruning again finds nothing more; the pending one, settled now and
	// old enough, goes the next time.
	deleted, _ = pruneAll(t, o, before, 100)
	assert.Zero(t, deleted)
	require.NoError(t, o.Settle(ctx, effects["old pending"].ID, incidents.EffectResult{Status: incidents.EffectDelivered, At: before.Add(-time.Hour)}))
	deleted, _ = pruneAll(t, o, before, 100)
	assert.Equal(t, 1, deleted)

	// An effect recorded after a later delivery of its key took over is
	// pruned once it is old: only the latest delivery of a key is kept.
	newer := suitePost("newest card", suiteT0)
	newer.Key = "card/2"
	require.NoError(t, enqueueAll(ctx, s, newer))
	require.NoError(t, o.Settle(ctx, newer.ID, incidents.EffectResult{Status: incidents.EffectDelivered, At: suiteT0, Ref: incidents.EffectRef{ID: "newest"}}))
	deleted, _ = pruneAll(t, o, before, 100)
	assert.Equal(t, 1, deleted, "the older card/2 goes")
	ref, ok, err = o.Ref(ctx, "card/2")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "newest", ref.ID)
}

func testPruneBatches(t *testing.T, s Subject) {
	ctx := context.Background()
	o := s.Outbox
	const n = 25
	old := suiteT0.Add(-30 * 24 * time.Hour)
	for i := range n {
		e := suitePost(fmt.Sprintf("old %d", i), old)
		require.NoError(t, enqueueAll(ctx, s, e))
		require.NoError(t, o.Settle(ctx, e.ID, incidents.EffectResult{Status: incidents.EffectDelivered, At: old}))
	}
	before := suiteT0.Add(-7 * 24 * time.Hour)
	last, deleted, err := o.Prune(ctx, before, 0, 4)
	require.NoError(t, err)
	assert.Equal(t, 4, deleted, "one batch deletes at most its limit")
	assert.NotZero(t, last, "and says where to go on")
	all, _, err := o.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, n-4, all)

	deleted, calls := pruneAll(t, o, before, 4)
	assert.Equal(t, n-4, deleted)
	assert.GreaterOrEqual(t, calls, (n-4)/4, "in several bounded batches")
	all, _, err = o.Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, all)
}
