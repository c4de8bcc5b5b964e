package bot

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
)

// testWorker delivers what intents record, as the outbox worker
// (bot/outbox, which imports this package and so cannot run in its
// tests) does: woken by each commit that recorded effects, in ID order,
// through the Chat of the effect's platform, settling each. The real
// worker with its stages is tested in bot/outbox, in the adapters' end to
// end tests and in cmd/firebreak.
type testWorker struct {
	store *incidentstest.MemStore
	mu    sync.Mutex
	chats map[string]Chat
	// notify delivers notify effects (pages), when set.
	notify *NotifySender
	// rooms opens incident rooms, and is told of their give-ups, when set.
	rooms *RoomSender
	busy  bool
}

// startTestWorker runs a worker over store until the test ends.
func startTestWorker(t testing.TB, store *incidentstest.MemStore, chats map[string]Chat) *testWorker {
	t.Helper()
	w := &testWorker{store: store, chats: chats}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			w.deliver(ctx)
			select {
			case <-ctx.Done():
				return
			case <-store.Committed():
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return w
}

// notifyThrough delivers notify effects through s.
func (w *testWorker) notifyThrough(s *NotifySender) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.notify = s
}

// roomsThrough opens rooms through s (the worker's "room" sender and
// GaveUp in cmd/firebreak).
func (w *testWorker) roomsThrough(s *RoomSender) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rooms = s
}

// add registers the Chat of a platform.
func (w *testWorker) add(platform string, c Chat) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chats[platform] = c
}

func (w *testWorker) deliver(ctx context.Context) {
	w.mu.Lock()
	w.busy = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.busy = false
		w.mu.Unlock()
	}()
	var pending []incidents.Effect
	_ = w.store.PendingEffects(ctx, 0, func(e incidents.Effect) error {
		pending = append(pending, e)
		return nil
	})
	for _, e := range pending {
		r := incidents.EffectResult{Status: incidents.EffectDelivered, Attempts: 1, At: time.Now()}
		ref, err := w.send(ctx, e)
		if err != nil {
			r.Status, r.Reason = incidents.EffectGaveUp, err.Error()
			w.mu.Lock()
			rooms := w.rooms
			w.mu.Unlock()
			if rooms != nil {
				_ = rooms.GaveUp(ctx, e, r)
			}
		}
		r.Ref = ref
		_ = w.store.Settle(ctx, e.ID, r)
	}
}

func (w *testWorker) send(ctx context.Context, e incidents.Effect) (incidents.EffectRef, error) {
	w.mu.Lock()
	chat, notify, rooms := w.chats[e.Home.Platform], w.notify, w.rooms
	w.mu.Unlock()
	if e.Kind == incidents.EffectRoom {
		if rooms == nil {
			return incidents.EffectRef{}, context.Canceled
		}
		ref, _, _, err := rooms.Send(ctx, e)
		return ref, err
	}
	if e.Kind == incidents.EffectNotify {
		if notify == nil {
			return incidents.EffectRef{}, context.Canceled
		}
		ref, _, _, err := notify.Send(ctx, e)
		return ref, err
	}
	if chat == nil {
		return incidents.EffectRef{}, context.Canceled
	}
	m := MessageOf(e)
	switch e.Kind {
	case incidents.EffectPost:
		ref, err := chat.Post(ctx, e.Home.Channel, m)
		return incidents.EffectRef{Channel: ref.Channel, ID: ref.ID, Thread: ref.Thread}, err
	case incidents.EffectUpdate:
		on := e.On
		if on.ID == "" {
			ref, ok, err := w.store.Ref(ctx, e.Target)
			if err != nil || !ok {
				return on, context.Canceled
			}
			on = ref
		}
		return on, chat.Update(ctx, MessageRef{Channel: on.Channel, ID: on.ID, Thread: on.Thread}, m)
	case incidents.EffectUpload:
		f := e.Message.File
		return incidents.EffectRef{}, chat.Upload(ctx, e.Home.Channel, e.Home.Thread, File{Name: f.Name, Title: f.Title, Content: f.Content}, e.Message.Text)
	}
	return incidents.EffectRef{}, context.Canceled
}

// idle waits until every recorded effect is settled and no delivery runs.
func (w *testWorker) idle(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool {
		w.mu.Lock()
		busy := w.busy
		w.mu.Unlock()
		return !busy && w.store.PendingCount() == 0
	}, 5*time.Second, time.Millisecond, "the outbox did not deliver everything")
}
