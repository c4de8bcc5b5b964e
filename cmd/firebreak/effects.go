package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/console"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
)

// effectsStore is where serve's intents record their effects and where
// its outbox worker reads them. The bbolt file records them durably in the
// intent's own transaction (storage.Outbox). The etcd store does not
// record effects yet (issue 15 builds its outbox): on etcd, serve keeps
// them in this process's memory after the commit (memOutbox), so chat
// works as it did before the outbox, without its crash safety.
func effectsStore(db store, log *slog.Logger) (incidents.Store, outbox.Store) {
	if b, ok := db.(boltStore); ok {
		return b, b.Outbox()
	}
	log.Warn("the etcd store does not record chat posts yet: they are kept in memory and lost if this process dies before posting them")
	m := newMemOutbox()
	return memEffects{Store: db, box: m}, m
}

// memEffects records the effects of each committed Update in memOutbox.
type memEffects struct {
	incidents.Store
	box *memOutbox
}

func (s memEffects) Update(ctx context.Context, fn func(incidents.Tx) error) error {
	var effects []*incidents.Effect
	err := s.Store.Update(ctx, func(tx incidents.Tx) error {
		effects = effects[:0] // fn may run again
		return fn(memTx{Tx: tx, effects: &effects})
	})
	if err == nil {
		s.box.add(effects)
	}
	return err
}

// withEffects is store as fenced by the leader's term, recording effects
// like s.
func (s memEffects) withEffects(fenced incidents.Store) incidents.Store {
	return memEffects{Store: fenced, box: s.box}
}

type memTx struct {
	incidents.Tx
	effects *[]*incidents.Effect
}

// Enqueue keeps e until the transaction has committed.
func (t memTx) Enqueue(e *incidents.Effect) error {
	if err := e.Validate(); err != nil {
		return fmt.Errorf("enqueue effect: %w", err)
	}
	*t.effects = append(*t.effects, e)
	return nil
}

// memOutbox is an outbox.Store in memory, for stores that record no
// effects.
type memOutbox struct {
	mu        sync.Mutex
	last      uint64
	pending   []incidents.Effect
	refs      map[string]incidents.EffectRef
	committed chan struct{}
}

var (
	_ outbox.Store  = (*memOutbox)(nil)
	_ outbox.Sender = bot.NotifySender{}
)

func newMemOutbox() *memOutbox {
	return &memOutbox{refs: map[string]incidents.EffectRef{}, committed: make(chan struct{}, 1)}
}

func (m *memOutbox) add(effects []*incidents.Effect) {
	if len(effects) == 0 {
		return
	}
	m.mu.Lock()
	for _, e := range effects {
		m.last++
		e.ID = m.last
		m.pending = append(m.pending, *e)
	}
	m.mu.Unlock()
	select {
	case m.committed <- struct{}{}:
	default:
	}
}

func (m *memOutbox) Committed() <-chan struct{} { return m.committed }

func (m *memOutbox) PendingEffects(ctx context.Context, after uint64, fn func(incidents.Effect) error) error {
	m.mu.Lock()
	var out []incidents.Effect
	for _, e := range m.pending {
		if e.ID > after {
			out = append(out, e)
		}
	}
	m.mu.Unlock()
	for _, e := range out {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (m *memOutbox) Settle(_ context.Context, id uint64, r incidents.EffectResult) error {
	if r.Status == incidents.EffectPending {
		return errors.New("settle: status must be delivered, coalesced or gave_up")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.pending, func(e incidents.Effect) bool { return e.ID == id })
	if i < 0 {
		return nil
	}
	if e := m.pending[i]; r.Status == incidents.EffectDelivered && e.Key != "" && e.Kind == incidents.EffectPost {
		m.refs[e.Key] = r.Ref
	}
	m.pending = slices.Delete(m.pending, i, i+1)
	return nil
}

func (m *memOutbox) Ref(_ context.Context, key string) (incidents.EffectRef, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.refs[key]
	return r, ok, nil
}

// newWorker builds the outbox worker that delivers what intents record
// through the connected chats: the one place Firebreak posts from. The
// console is not rate-limited; Slack's and Discord's channels get one
// message per second, a burst of 3. Pages to the notifiers of
// playbooks.yaml (escalations, status updates) go through notifier. What it
// gives up on goes on the incident's timeline; its metrics go on reg.
func newWorker(box outbox.Store, chats map[string]bot.Chat, notifier bot.Notifier, svc *incidents.Service, reg prometheus.Registerer, env environ, log *slog.Logger) (*outbox.Worker, error) {
	senders := outbox.Senders{"chat": &outbox.ChatSender{Chats: chats, Refs: box}}
	books := svc.Playbooks()
	for _, nf := range books.Notifiers {
		senders[string(incidents.EffectNotify)+"/"+nf.Name] = bot.NotifySender{Notifier: notifier, Books: books}
	}
	var sender outbox.Sender = senders
	if d, err := time.ParseDuration(env.getenv(drillDelayEnv)); err == nil && d > 0 {
		log.Warn(drillDelayEnv+" is set: every post waits before it is sent (for the crash drill only)", "delay", d)
		sender = slowSender{Sender: sender, delay: d}
	}
	return outbox.New(outbox.Config{
		Store:   box,
		Sender:  sender,
		Metrics: outbox.NewMetrics(reg),
		GaveUp: func(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error {
			_, err := svc.Undelivered(ctx, e, r.Reason)
			return err
		},
		RateLimit: outbox.RateLimit{Interval: time.Second, Burst: 3, Unlimited: []string{console.Platform}},
		Logger:    log,
	})
}

// drillDelayEnv names a delay before each post, so that the crash drill
// (TestCrashDeliversEveryEffect) finds effects committed and not yet
// posted whenever it kills the process. Nothing else sets it.
const drillDelayEnv = "FIREBREAK_DRILL_POST_DELAY"

// slowSender waits before each delivery (see drillDelayEnv).
type slowSender struct {
	outbox.Sender
	delay time.Duration
}

func (s slowSender) Send(ctx context.Context, e incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	select {
	case <-ctx.Done():
		return incidents.EffectRef{}, true, 0, ctx.Err()
	case <-time.After(s.delay):
	}
	return s.Sender.Send(ctx, e)
}
