package incidentstest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
)

// TestMemStoreOutbox: effects commit with their Update or not at all, get
// increasing ids, wake Committed, settle once, and a delivered keyed post
// becomes the Ref later updates edit.
func TestMemStoreOutbox(t *testing.T) {
	ctx := context.Background()
	m := incidentstest.NewMemStore()
	post := func(text, key string) *incidents.Effect {
		return &incidents.Effect{Kind: incidents.EffectPost, Home: incidents.Home{Platform: "console", Channel: "alerts"},
			Message: incidents.EffectMessage{Text: text}, Key: key}
	}
	boom := errors.New("boom")
	require.ErrorIs(t, m.Update(ctx, func(tx incidents.Tx) error {
		require.NoError(t, tx.Enqueue(post("lost", "")))
		return boom
	}), boom)
	assert.Empty(t, m.Effects())
	select {
	case <-m.Committed():
		t.Fatal("a rolled-back enqueue woke the worker")
	default:
	}
	require.Error(t, m.Update(ctx, func(tx incidents.Tx) error { return tx.Enqueue(&incidents.Effect{Kind: "shout"}) }))

	a, b := post("card", "card/1"), post("step", "")
	require.NoError(t, m.Update(ctx, func(tx incidents.Tx) error { return errors.Join(tx.Enqueue(a), tx.Enqueue(b)) }))
	assert.Equal(t, []uint64{1, 2}, []uint64{a.ID, b.ID})
	<-m.Committed()
	var got []uint64
	require.NoError(t, m.PendingEffects(ctx, 0, func(e incidents.Effect) error { got = append(got, e.ID); return nil }))
	assert.Equal(t, []uint64{1, 2}, got)

	ref := incidents.EffectRef{Channel: "alerts", ID: "7"}
	require.NoError(t, m.Settle(ctx, 1, incidents.EffectResult{Status: incidents.EffectDelivered, Ref: ref, Attempts: 1}))
	require.NoError(t, m.Settle(ctx, 1, incidents.EffectResult{Status: incidents.EffectGaveUp, Reason: "late"}))
	r, ok, err := m.Ref(ctx, "card/1")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, ref, r)
	assert.Equal(t, incidents.EffectDelivered, m.Effects()[0].Status, "a delivery is never undone")
	assert.Equal(t, 1, m.PendingCount())
}
