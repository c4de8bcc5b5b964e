package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
)

// oldEffects records n posts a month old and settles them as delivered;
// the first is the card "card/1".
func oldEffects(t *testing.T, m *incidentstest.MemStore, n int) {
	t.Helper()
	ctx := context.Background()
	month := time.Now().Add(-30 * 24 * time.Hour)
	for i := range n {
		e := &incidents.Effect{Kind: incidents.EffectPost, Home: incidents.Home{Platform: "slack", Channel: "C1"},
			Message: incidents.EffectMessage{Text: fmt.Sprint(i)}, CreatedAt: month}
		if i == 0 {
			e.Key = "card/1"
		}
		require.NoError(t, m.Update(ctx, func(tx incidents.Tx) error { return tx.Enqueue(e) }))
		require.NoError(t, m.Settle(ctx, e.ID, incidents.EffectResult{Status: incidents.EffectDelivered, At: month, Ref: incidents.EffectRef{Channel: "C1", ID: "card"}}))
	}
}

// TestWorkerPrunesSettledEffects: the worker prunes what settled before
// its retention when it starts, in batches, keeping the latest card of a
// key; with a negative retention it keeps everything.
func TestWorkerPrunesSettledEffects(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		want      int
	}{
		{"default retention (7 days)", 0, 1},
		{"kept forever", -1, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := incidentstest.NewMemStore()
			oldEffects(t, m, 12)
			w, err := outbox.New(outbox.Config{Store: m, Sender: &outbox.ChatSender{Chats: map[string]bot.Chat{"slack": newFakeChat()}, Refs: m},
				Retention: tt.retention, PruneBatch: 5, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = w.Run(ctx) }()
			defer func() { cancel(); <-done }()
			if tt.want < 12 {
				require.Eventually(t, func() bool { return len(m.Effects()) == tt.want }, 10*time.Second, 5*time.Millisecond)
			} else {
				require.NoError(t, w.Idle(ctx))
				time.Sleep(100 * time.Millisecond)
			}
			assert.Len(t, m.Effects(), tt.want)
			ref, ok, err := m.Ref(ctx, "card/1")
			require.NoError(t, err)
			assert.True(t, ok, "the card stays updatable")
			assert.Equal(t, "card", ref.ID)
		})
	}
}
