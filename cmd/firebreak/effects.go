package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/console"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/bot/trackers"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore"
)

// effectsStore is where serve's intents record their effects and where
// its outbox worker reads them. The bbolt file records them durably in the
// intent's own transaction (storage.Outbox); so does the etcd store
// (etcdstore.Outbox), whose worker runs on the elected leader only, its
// settlements fenced by the leader's term (termOutbox, runOutboxTerm).
func effectsStore(db store) (incidents.Store, outbox.Store) {
	if b, ok := db.(boltStore); ok {
		return b, b.Outbox()
	}
	e := db.(etcdStore)
	return e, &termOutbox{Outbox: etcdstore.NewOutbox(e.Store)}
}

var (
	_ outbox.Sender = bot.NotifySender{}
	_ outbox.Sender = (*trackers.Worker)(nil)
	_ outbox.Sender = (*bot.RoomSender)(nil)
)

// newWorker builds the outbox worker that delivers what intents record
// through the connected chats: the one place Firebreak posts from. The
// console is not rate-limited; Slack's and Discord's channels get one
// message per second, a burst of 3. Pages to the notifiers of
// playbooks.yaml (escalations, status updates) go through notifier,
// follow-ups to file through tracker (nil: none configured), and the
// opening of incident rooms through rooms (whose GaveUp works an incident
// without its room where it was announced). What it gives up on goes on
// the incident's timeline; its metrics go on reg.
func newWorker(box outbox.Store, chats map[string]bot.Chat, notifier bot.Notifier, tracker *trackers.Worker, rooms *bot.RoomSender, svc *incidents.Service, reg prometheus.Registerer, env environ, log *slog.Logger) (*outbox.Worker, error) {
	senders := outbox.Senders{"chat": &outbox.ChatSender{Chats: chats, Refs: box}, string(incidents.EffectRoom): rooms}
	books := svc.Playbooks()
	for _, nf := range books.Notifiers {
		senders[string(incidents.EffectNotify)+"/"+nf.Name] = bot.NotifySender{Notifier: notifier, Books: books}
	}
	if tracker != nil {
		senders[string(incidents.EffectTracker)+"/"+tracker.Name()] = tracker
	}
	retention, err := outboxRetention(env)
	if err != nil {
		return nil, err
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
			if err := rooms.GaveUp(ctx, e, r); err != nil {
				log.Warn("working the incident where it was announced", "incident", e.Incident, "err", err)
			}
			if _, err := svc.Undelivered(ctx, e, r.Reason); err != nil {
				return err
			}
			if tracker != nil {
				return tracker.GaveUp(ctx, e, r)
			}
			return nil
		},
		RateLimit: outbox.RateLimit{Interval: time.Second, Burst: 3, Unlimited: []string{console.Platform}},
		Retention: retention,
		Lane:      bot.Lanes(chats, books),
		Logger:    log,
	})
}

// retentionEnv names how long settled effects are kept (docs/outbox.md).
const retentionEnv = "FIREBREAK_OUTBOX_RETENTION"

// outboxRetention is FIREBREAK_OUTBOX_RETENTION: a duration of at least
// an hour ("168h", the default when unset, is 7 days), or "forever" to
// never prune; as outbox.Config.Retention (0: the default, negative:
// forever).
func outboxRetention(env environ) (time.Duration, error) {
	v := strings.TrimSpace(env.getenv(retentionEnv))
	switch v {
	case "":
		return 0, nil
	case "forever":
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("%s %q: want a duration of at least 1h, such as 168h (7 days), or forever", retentionEnv, v)
	}
	return d, nil
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
