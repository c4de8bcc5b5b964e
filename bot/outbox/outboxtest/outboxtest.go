// Package outboxtest runs the real outbox worker in the tests of packages
// that wire the Router to adapters (console, Slack, Discord), over the
// in-memory store, so that what the Router records reaches the adapter's
// fake platform as it does in production.
package outboxtest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
)

var _ outbox.Store = (*incidentstest.MemStore)(nil)

// Worker is a running outbox worker.
type Worker struct {
	*outbox.Worker
	t testing.TB
}

// Start runs a worker over store that delivers through chats until the
// test ends. Its rate limit is a millisecond per channel and its retries
// fast and few, so tests do not wait on Slack's real pace.
func Start(t testing.TB, store outbox.Store, chats map[string]bot.Chat) *Worker {
	t.Helper()
	return StartWith(t, store, Options{Chats: chats})
}

// StartWithRooms is Start with incident rooms opened through rooms (the
// Router's RoomSender), which is told of their give-ups, as in
// cmd/firebreak. nil rooms is Start.
func StartWithRooms(t testing.TB, store outbox.Store, chats map[string]bot.Chat, rooms *bot.RoomSender) *Worker {
	t.Helper()
	return StartWith(t, store, Options{Chats: chats, Rooms: rooms})
}

// Options are what StartWith delivers through besides chat.
type Options struct {
	// Chats maps a platform to its adapter.
	Chats map[string]bot.Chat
	// Senders deliver the other kinds, by the name outbox.Senders routes
	// them to ("notify/<name>", "tracker/<name>").
	Senders outbox.Senders
	// Rooms opens incident rooms (the Router's RoomSender) and is told of
	// their give-ups before GaveUp, as in cmd/firebreak; nil: no rooms.
	Rooms *bot.RoomSender
	// GaveUp is the worker's GaveUp hook (serve's puts the give-up on the
	// timeline and lets the tracker say so in chat).
	GaveUp func(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error
}

// StartWith is Start with notifier, tracker or room senders and a GaveUp
// hook.
func StartWith(t testing.TB, store outbox.Store, o Options) *Worker {
	t.Helper()
	senders := outbox.Senders{"chat": &outbox.ChatSender{Chats: o.Chats, Refs: store}}
	for name, s := range o.Senders {
		senders[name] = s
	}
	gaveUp := o.GaveUp
	if o.Rooms != nil {
		senders[string(incidents.EffectRoom)] = o.Rooms
		gaveUp = func(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error {
			if err := o.Rooms.GaveUp(ctx, e, r); err != nil || o.GaveUp == nil {
				return err
			}
			return o.GaveUp(ctx, e, r)
		}
	}
	w, err := outbox.New(outbox.Config{
		Store:     store,
		Sender:    senders,
		GaveUp:    gaveUp,
		RateLimit: outbox.RateLimit{Interval: time.Millisecond, Burst: 10},
		Retry:     outbox.RetryPolicy{AttemptTimeout: 5 * time.Second, InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxAttempts: 3},
		Logger:    slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &Worker{Worker: w, t: t}
}

// Wait waits until everything recorded so far is delivered (or settled
// otherwise), failing the test after 10 s.
func (w *Worker) Wait() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(w.t, w.Idle(ctx), "the outbox did not deliver everything in time")
	// What a delivery itself recorded before settling (a room's cards,
	// the fallback of a room given up) may have committed after the read
	// that Idle waited for: one more pass delivers it.
	require.NoError(w.t, w.Idle(ctx), "the outbox did not deliver everything in time")
}
