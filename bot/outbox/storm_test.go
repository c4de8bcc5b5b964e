package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

// clockedChat is a fake chat that notes, on the worker's clock, when each
// post arrived.
type clockedChat struct {
	*fakeChat
	clock *fakeClock
	mu    sync.Mutex
	at    []time.Time
}

func (c *clockedChat) Post(ctx context.Context, channel string, m bot.Message) (bot.MessageRef, error) {
	ref, err := c.fakeChat.Post(ctx, channel, m)
	if err == nil {
		c.mu.Lock()
		c.at = append(c.at, c.clock.Now())
		c.mu.Unlock()
	}
	return ref, err
}

// runWorker runs a worker over store until the test ends.
func runWorker(t *testing.T, cfg outbox.Config) *outbox.Worker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w, err := outbox.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// TestWorkerPacesAStormPerChannel: thousands of distinct alerts of one
// group, each with its own post in the group's channel, go through the
// whole pipeline with serve's pace (one message per second per channel,
// bursts of 3) and with a strict one per second: none is dropped, they
// arrive in order, and no second of the worker's clock holds more than the
// burst — after it, one message per second.
func TestWorkerPacesAStormPerChannel(t *testing.T) {
	const n = 2000
	tests := []struct {
		name  string
		limit outbox.RateLimit
	}{
		{"serve: one a second, bursts of 3", outbox.RateLimit{Interval: time.Second, Burst: 3}},
		{"strictly one a second", outbox.RateLimit{Interval: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := incidentstest.NewMemStore()
			require.NoError(t, m.Update(ctx, func(tx incidents.Tx) error {
				for i := range n {
					e := effect(0, fmt.Sprintf("alert %d of the group: disk full on db-%d", i, i))
					if err := tx.Enqueue(&e); err != nil {
						return err
					}
				}
				return nil
			}))
			clock := newFakeClock()
			start := clock.Now()
			chat := &clockedChat{fakeChat: &fakeChat{posted: make(chan call, n)}, clock: clock}
			w := runWorker(t, outbox.Config{Store: m, Sender: &outbox.ChatSender{Chats: map[string]bot.Chat{"slack": chat}, Refs: m},
				RateLimit: tt.limit, Clock: clock})
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			require.NoError(t, w.Idle(wctx))

			calls := chat.Calls()
			require.Len(t, calls, n, "a storm is paced, never cut")
			for i, c := range calls {
				require.Equal(t, fmt.Sprintf("alert %d of the group: disk full on db-%d", i, i), c.Msg.Text, "in order")
			}
			burst := max(tt.limit.Burst, 1)
			chat.mu.Lock()
			at := chat.at
			chat.mu.Unlock()
			for i := burst; i < len(at); i++ {
				require.GreaterOrEqual(t, at[i].Sub(at[i-1]), time.Second, "posts %d and %d less than a second apart", i-1, i)
			}
			for i := range at {
				inSecond := 0
				for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
					inSecond++
				}
				require.LessOrEqual(t, inSecond, burst, "%d posts within one second from post %d", inSecond, i)
			}
			assert.Equal(t, time.Duration(n-burst)*time.Second, at[n-1].Sub(start), "one a second once the burst is spent")
		})
	}
}

// TestWorkerGivesUpAndSaysSoOnTheTimeline: a channel that answers 503 to
// every post is tried MaxAttempts times with backoff, then the effect is
// settled as given up and — through the GaveUp hook wired as serve wires
// it — the incident's timeline says what could not be said and why.
func TestWorkerGivesUpAndSaysSoOnTheTimeline(t *testing.T) {
	ctx := context.Background()
	m := incidentstest.NewMemStore()
	svc := incidents.NewService(m, playbooks.Default(), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	out, err := svc.Declare(ctx, incidents.Origin{Actor: incidents.Actor{Platform: "slack", ID: "U1", Name: "ana"}}, "Checkout down", incidents.SEV2)
	require.NoError(t, err)
	n := out.Incident.Number
	require.NoError(t, svc.Say(ctx, incidents.Effect{Kind: incidents.EffectPost, Incident: n, Home: incidents.Home{Platform: "slack", Channel: "C-DOWN"},
		Message: incidents.EffectMessage{Text: "#1 is acknowledged"}}))

	chat := newFakeChat()
	chat.script = []error{statusError(503), statusError(503), statusError(503), statusError(503)}
	clock := newFakeClock()
	w := runWorker(t, outbox.Config{Store: m, Sender: &outbox.ChatSender{Chats: map[string]bot.Chat{"slack": chat}, Refs: m},
		Clock: clock, Retry: outbox.RetryPolicy{MaxAttempts: 3},
		GaveUp: func(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error {
			_, err := svc.Undelivered(ctx, e, r.Reason)
			return err
		}})
	require.NoError(t, w.Idle(ctx))

	effs := m.Effects()
	require.Len(t, effs, 1)
	assert.Equal(t, incidents.EffectGaveUp, effs[0].Status)
	assert.Equal(t, 3, effs[0].Attempts, "the bound: three failed attempts")
	assert.Equal(t, "gave up after 3 failed attempts: post to slack C-DOWN: HTTP 503", effs[0].Reason)
	assert.Len(t, clock.Sleeps(), 2, "two waits between three attempts")
	assert.Empty(t, chat.Calls(), "nothing was posted")

	var said []string
	require.NoError(t, svc.Timeline(ctx, n, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryUndelivered {
			said = append(said, e.Text)
		}
		return nil
	}))
	assert.Equal(t, []string{"could not post to C-DOWN: gave up after 3 failed attempts: post to slack C-DOWN: HTTP 503"}, said)
}

// chainSender delivers like a tracker sender does: delivering the first
// effect records a second one (the "Filed as" post) before it returns.
type chainSender struct {
	store *incidentstest.MemStore
	mu    sync.Mutex
	sent  []string
}

func (c *chainSender) Send(ctx context.Context, e incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	if e.Message.Text == "file it" {
		next := effect(0, "filed as OPS-1")
		if err := c.store.Update(ctx, func(tx incidents.Tx) error { return tx.Enqueue(&next) }); err != nil {
			return incidents.EffectRef{}, true, 0, err
		}
	}
	c.mu.Lock()
	c.sent = append(c.sent, e.Message.Text)
	c.mu.Unlock()
	return incidents.EffectRef{ID: "1"}, false, 0, nil
}

// TestWorkerIdleWaitsForWhatDeliveriesRecord: Idle also waits for the
// effects a delivery recorded before it settled, so the console prints a
// follow-up's "Filed as" line before it reads the next line.
func TestWorkerIdleWaitsForWhatDeliveriesRecord(t *testing.T) {
	ctx := context.Background()
	for range 5 {
		m := incidentstest.NewMemStore()
		s := &chainSender{store: m}
		w := runWorker(t, outbox.Config{Store: lateWakeUps(t, m), Sender: s, RateLimit: outbox.RateLimit{Unlimited: []string{"slack"}}})
		first := effect(0, "file it")
		require.NoError(t, m.Update(ctx, func(tx incidents.Tx) error { return tx.Enqueue(&first) }))
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		require.NoError(t, w.Idle(ictx))
		cancel()
		s.mu.Lock()
		assert.Equal(t, []string{"file it", "filed as OPS-1"}, s.sent)
		s.mu.Unlock()
		assert.Zero(t, m.PendingCount())
	}
}

// lateStore is a store whose commits wake the worker 50 ms late (a busy
// disk, an etcd watch), so a test sees the gap between a delivery that
// recorded more and the worker reading it.
type lateStore struct {
	*incidentstest.MemStore
	woken chan struct{}
}

func (l *lateStore) Committed() <-chan struct{} { return l.woken }

func lateWakeUps(t *testing.T, m *incidentstest.MemStore) *lateStore {
	l := &lateStore{MemStore: m, woken: make(chan struct{}, 1)}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-m.Committed():
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			select {
			case l.woken <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
	return l
}

// namingChat is a clockedChat whose adapter has seen the alert channel's
// name (as the Slack and Discord adapters have, once an event came from it).
type namingChat struct{ *clockedChat }

func (namingChat) KnownChannelName(id string) (string, bool) {
	if id == "C0ALERTS" {
		return "alerts", true
	}
	return "", false
}

// TestAlertChannelIsOneLane: webhooks announce in the alert channel as
// playbooks.yaml spells it, while commands typed there are answered by its
// id. With serve's lane key (bot.Lanes) the two spellings are one lane:
// delivered in the order they were recorded and paced together, one post a
// second, never two lanes each at the channel's rate.
func TestAlertChannelIsOneLane(t *testing.T) {
	ctx := context.Background()
	m := incidentstest.NewMemStore()
	const n = 6
	require.NoError(t, m.Update(ctx, func(tx incidents.Tx) error {
		for i := range n {
			e := effect(0, fmt.Sprintf("post %d", i))
			e.Home = incidents.Home{Platform: "slack", Channel: []string{"#alerts", "C0ALERTS"}[i%2]}
			if err := tx.Enqueue(&e); err != nil {
				return err
			}
		}
		return nil
	}))
	clock := newFakeClock()
	chat := namingChat{&clockedChat{fakeChat: &fakeChat{posted: make(chan call, n)}, clock: clock}}
	chats := map[string]bot.Chat{"slack": chat}
	books := &playbooks.Config{AlertChannels: []string{"#alerts"}}
	w := runWorker(t, outbox.Config{Store: m, Sender: &outbox.ChatSender{Chats: chats, Refs: m},
		RateLimit: outbox.RateLimit{Interval: time.Second}, Clock: clock, Lane: bot.Lanes(chats, books)})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, w.Idle(wctx))

	calls := chat.Calls()
	require.Len(t, calls, n)
	for i, c := range calls {
		assert.Equal(t, fmt.Sprintf("post %d", i), c.Msg.Text, "in the order recorded, across both spellings")
	}
	chat.mu.Lock()
	defer chat.mu.Unlock()
	for i := 1; i < len(chat.at); i++ {
		assert.GreaterOrEqual(t, chat.at[i].Sub(chat.at[i-1]), time.Second, "posts %d and %d are paced as one channel", i-1, i)
	}
}
