package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

var _ outbox.Store = (*storage.Outbox)(nil)

// bench is a real Firebreak database with its outbox, in a temp dir.
type bench struct {
	t    testing.TB
	path string
	db   *storage.DB
	box  *storage.Outbox
}

func newBench(t testing.TB) *bench {
	b := &bench{t: t, path: filepath.Join(t.TempDir(), "firebreak.db")}
	b.open()
	t.Cleanup(func() { _ = b.db.Close() })
	return b
}

// open (re)opens the file, as a restarted Firebreak would.
func (b *bench) open() {
	db, err := storage.Open(b.path, storage.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b.t, err)
	box, err := storage.NewOutbox(db)
	require.NoError(b.t, err)
	b.db, b.box = db, box
}

// crash closes the file under everyone's feet.
func (b *bench) crash() { require.NoError(b.t, b.db.Close()) }

// enqueue records effects the way an intent will: in one Update.
func (b *bench) enqueue(es ...incidents.Effect) []uint64 {
	var ids []uint64
	require.NoError(b.t, b.db.Update(context.Background(), func(tx incidents.Tx) error {
		ids = ids[:0]
		for i := range es {
			e := es[i]
			if err := b.box.Enqueue(tx, &e); err != nil {
				return err
			}
			ids = append(ids, e.ID)
		}
		return nil
	}))
	return ids
}

// awaitSettled waits until the worker has recorded how each effect ended:
// a test that stops the worker between a post and its record would be
// testing the duplicate window by accident.
func (b *bench) awaitSettled(ids ...uint64) {
	b.t.Helper()
	for _, id := range ids {
		require.Eventually(b.t, func() bool { return b.effect(id).Status != incidents.EffectPending }, 10*time.Second, time.Millisecond,
			"effect %d was not settled", id)
	}
}

func (b *bench) effect(id uint64) incidents.Effect {
	e, err := b.box.Effect(context.Background(), id)
	require.NoError(b.t, err)
	return e
}

// running is a worker started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	w      *outbox.Worker
}

func (b *bench) start(chat bot.Chat, cfg outbox.Config) *running {
	cfg.Store = b.box
	cfg.Sender = outbox.Senders{"chat": &outbox.ChatSender{Chats: map[string]bot.Chat{"slack": chat}, Refs: b.box}}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.RateLimit.Interval == 0 {
		cfg.RateLimit.Interval = time.Millisecond // these tests are about delivery, not pacing
	}
	w, err := outbox.New(cfg)
	require.NoError(b.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), w: w}
	go func() { r.done <- w.Run(ctx) }()
	return r
}

func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop within 10s of its context ending")
	}
}

// await waits for n calls to reach the fake chat.
func await(t testing.TB, chat *fakeChat, n int) []call {
	t.Helper()
	var got []call
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case c := <-chat.posted:
			got = append(got, c)
		case <-deadline:
			t.Fatalf("only %d of %d deliveries arrived within 10s: %v", len(got), n, chat.texts())
		}
	}
	return got
}

func post(text string) incidents.Effect {
	return incidents.Effect{Incident: 1, Kind: incidents.EffectPost, Home: home, Message: incidents.EffectMessage{Text: text}, CreatedAt: time.Now()}
}

func TestWorkerDeliversWhatACrashLeftAndNothingTwice(t *testing.T) {
	b := newBench(t)
	ids := b.enqueue(post("declared #1"), post("SEV1"), post("paged alice"))
	b.crash() // before any worker ran
	b.open()

	chat := newFakeChat()
	w := b.start(chat, outbox.Config{})
	await(t, chat, 3)
	b.awaitSettled(ids...)
	w.stop(t)
	assert.Equal(t, []string{"post:declared #1", "post:SEV1", "post:paged alice"}, chat.texts(), "in commit order")
	for _, id := range ids {
		e := b.effect(id)
		assert.Equal(t, incidents.EffectDelivered, e.Status)
		assert.Equal(t, 1, e.Attempts)
		assert.NotEmpty(t, e.Ref.ID)
	}

	// Restart: the delivered effects are not sent again; a new one is.
	b.crash()
	b.open()
	w = b.start(chat, outbox.Config{})
	b.enqueue(post("resolved"))
	await(t, chat, 1)
	w.stop(t)
	assert.Equal(t, []string{"post:declared #1", "post:SEV1", "post:paged alice", "post:resolved"}, chat.texts())
}

// TestWorkerDuplicateWindow: a crash after the platform accepted a post
// and before the delivery was recorded sends that post once more after the
// restart, and never a third time. This is the window doc.go documents.
func TestWorkerDuplicateWindow(t *testing.T) {
	b := newBench(t)
	chat := newFakeChat()
	var w *running
	crashed := make(chan struct{})
	chat.onPost = func(c call) {
		if c.Msg.Text == "card" {
			w.cancel() // the process dies right after the platform's 200
			close(crashed)
		}
	}
	w = b.start(chat, outbox.Config{})
	ids := b.enqueue(post("card"))
	<-crashed
	w.stop(t)
	assert.Equal(t, incidents.EffectPending, b.effect(ids[0]).Status, "the delivery was not recorded")

	chat.mu.Lock()
	chat.onPost = nil
	chat.mu.Unlock()
	<-chat.posted
	b.crash()
	b.open()
	w = b.start(chat, outbox.Config{})
	await(t, chat, 1)
	b.awaitSettled(ids...)
	w.stop(t)
	assert.Equal(t, incidents.EffectDelivered, b.effect(ids[0]).Status)

	b.crash()
	b.open()
	w = b.start(chat, outbox.Config{})
	b.enqueue(post("sentinel"))
	await(t, chat, 1)
	w.stop(t)
	assert.Equal(t, []string{"post:card", "post:card", "post:sentinel"}, chat.texts(), "one duplicate at most")
}

func TestWorkerUpdatesTheCardItPosted(t *testing.T) {
	b := newBench(t)
	chat := newFakeChat()
	w := b.start(chat, outbox.Config{})
	defer w.stop(t)
	card := post("card: firing")
	card.Key = "card/1"
	edit := incidents.Effect{Incident: 1, Kind: incidents.EffectUpdate, Home: home, Target: "card/1", Message: incidents.EffectMessage{Text: "card: acknowledged"}}
	b.enqueue(card, edit) // one intent: the card and its edit, the edit must not overtake it
	got := await(t, chat, 2)
	assert.Equal(t, "post", got[0].Method)
	assert.Equal(t, "update", got[1].Method)
	assert.Equal(t, got[0].Ref, got[1].Ref, "the update edits the posted card")
}

func TestWorkerCoalescesRepeatsAndRecordsGiveUps(t *testing.T) {
	b := newBench(t)
	var repeats []incidents.Effect
	for i := 1; i <= 5; i++ {
		e := post(fmt.Sprintf("still firing (%d)", i))
		e.CoalesceKey = "repeat/1"
		repeats = append(repeats, e)
	}
	ids := b.enqueue(repeats...)
	refused := post("to a channel that is gone")
	refused.Home.Channel = "C-GONE"
	gone := b.enqueue(refused)[0]

	chat := newFakeChat()
	chat.script = nil
	deny := &denyChannel{fakeChat: chat, channel: "C-GONE"}
	var mu sync.Mutex
	var told []string
	reg := prometheus.NewRegistry()
	w := b.start(deny, outbox.Config{Metrics: outbox.NewMetrics(reg),
		GaveUp: func(_ context.Context, e incidents.Effect, r incidents.EffectResult) error {
			mu.Lock()
			defer mu.Unlock()
			// Told before the give-up is recorded, so a crash repeats it.
			assert.Equal(t, incidents.EffectPending, b.effect(e.ID).Status)
			told = append(told, fmt.Sprintf("%d: %s", e.ID, r.Reason))
			return nil
		}})
	await(t, chat, 1)
	b.awaitSettled(append(ids, gone)...)
	w.stop(t)

	assert.Equal(t, []string{"post:still firing (5)"}, chat.texts(), "only the latest repeat is sent")
	for _, id := range ids[:4] {
		e := b.effect(id)
		assert.Equal(t, incidents.EffectCoalesced, e.Status)
		assert.Contains(t, e.Reason, fmt.Sprintf("superseded by effect %d", ids[4]))
	}
	e := b.effect(gone)
	assert.Equal(t, incidents.EffectGaveUp, e.Status)
	assert.Contains(t, e.Reason, "refused")
	assert.Contains(t, e.Reason, "HTTP 404")
	mu.Lock()
	assert.Equal(t, []string{fmt.Sprintf("%d: %s", gone, e.Reason)}, told, "the give-up is told once")
	mu.Unlock()
	assert.Equal(t, 1.0, mustCounter(t, reg, "firebreak_outbox_effects_total", "gave_up"))
	assert.Equal(t, 1.0, mustCounter(t, reg, "firebreak_outbox_effects_total", "delivered"))
	assert.Equal(t, 4.0, mustCounter(t, reg, "firebreak_outbox_effects_total", "coalesced"))
}

// mustCounter reads the value of a counter with one label from reg.
func mustCounter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}

// denyChannel refuses posts to one channel with a 404.
type denyChannel struct {
	*fakeChat
	channel string
}

func (d *denyChannel) Post(ctx context.Context, channel string, m bot.Message) (bot.MessageRef, error) {
	if channel == d.channel {
		return bot.MessageRef{}, statusError(404)
	}
	return d.fakeChat.Post(ctx, channel, m)
}

// TestWorkerStormNeverDrops: a storm into one channel is paced, not cut.
func TestWorkerStormNeverDrops(t *testing.T) {
	b := newBench(t)
	const n = 100
	var es []incidents.Effect
	for i := range n {
		es = append(es, post(fmt.Sprintf("alert %d", i)))
	}
	b.enqueue(es...)
	chat := newFakeChat()
	w := b.start(chat, outbox.Config{MaxInFlight: 16, RateLimit: outbox.RateLimit{Interval: 100 * time.Microsecond}})
	got := await(t, chat, n)
	w.stop(t)
	for i, c := range got {
		assert.Equal(t, fmt.Sprintf("alert %d", i), c.Msg.Text, "in order, none lost, with a small in-flight bound")
	}
}

func TestWorkerRefusesABadConfig(t *testing.T) {
	_, err := outbox.New(outbox.Config{})
	assert.ErrorContains(t, err, "Store and Sender are required")
}

// TestWorkerStopsCleanlyWhileRateLimited: a stop while effects wait for
// their channel's turn leaves them pending, and the next worker sends them.
func TestWorkerStopsCleanlyWhileRateLimited(t *testing.T) {
	b := newBench(t)
	ids := b.enqueue(post("first"), post("second, an hour later"))
	chat := newFakeChat()
	w := b.start(chat, outbox.Config{RateLimit: outbox.RateLimit{Interval: time.Hour}})
	await(t, chat, 1)
	b.awaitSettled(ids[0])
	w.stop(t)
	assert.Equal(t, incidents.EffectPending, b.effect(ids[1]).Status)

	w = b.start(chat, outbox.Config{})
	await(t, chat, 1)
	b.awaitSettled(ids[1])
	w.stop(t)
	assert.Equal(t, []string{"post:first", "post:second, an hour later"}, chat.texts())
}

func TestWorkerRunsOnce(t *testing.T) {
	b := newBench(t)
	w, err := outbox.New(outbox.Config{Store: b.box, Sender: outbox.Senders{}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- w.Run(ctx) }()
	go func() { done <- w.Run(ctx) }()
	select {
	case err := <-done: // whichever came second refuses at once
		assert.ErrorContains(t, err, "already running")
	case <-time.After(10 * time.Second):
		t.Fatal("a second Run did not refuse")
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

// TestWorkerIdle: Idle returns once everything committed before it is
// settled, and waits while a delivery is on its way.
func TestWorkerIdle(t *testing.T) {
	b := newBench(t)
	chat := newFakeChat()
	chat.script = nil
	w := b.start(chat, outbox.Config{RateLimit: outbox.RateLimit{Interval: 50 * time.Millisecond}})
	ids := b.enqueue(post("one"), post("two"), post("three"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, w.w.Idle(ctx))
	for _, id := range ids {
		assert.Equal(t, incidents.EffectDelivered, b.effect(id).Status, "effect %d settled before Idle returned", id)
	}
	w.stop(t)
	stopped, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	b.enqueue(post("four"))
	assert.ErrorIs(t, w.w.Idle(stopped), context.DeadlineExceeded, "a stopped worker is never idle with work pending")
}
