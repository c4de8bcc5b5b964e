package outbox

import (
	"context"
	"time"

	"github.com/firebreak/firebreak/bot/outbox/retry"
	"github.com/firebreak/firebreak/incidents"
)

// Store is the durable side of the outbox, as the worker needs it.
// storage.Outbox implements it on the bbolt file; intents record effects
// through it (Enqueue, inside their own transaction), which is not part of
// this interface because the worker never enqueues.
type Store interface {
	// PendingEffects streams effects not yet settled with ID > after, in
	// ID order. Values are copies fn may keep.
	PendingEffects(ctx context.Context, after uint64, fn func(incidents.Effect) error) error
	// Settle records durably how an effect ended (delivered with its Ref,
	// coalesced, given up). Settling a settled effect changes nothing.
	Settle(ctx context.Context, id uint64, r incidents.EffectResult) error
	// Ref is where the latest delivered post with that Key landed.
	Ref(ctx context.Context, key string) (ref incidents.EffectRef, ok bool, err error)
	// Committed receives after a transaction that enqueued effects has
	// committed: the worker's wake-up call.
	Committed() <-chan struct{}
}

// Sender performs one effect once. Like Alertmanager's Notifier it says
// whether trying again makes sense, because only the sender knows that a
// 429 or a 502 will pass later and a 404 channel never will. retryAfter,
// when positive, is how long the platform asked us to wait.
type Sender interface {
	Send(ctx context.Context, e incidents.Effect) (ref incidents.EffectRef, retry bool, retryAfter time.Duration, err error)
}

// Delivery is one effect on its way through the stages, and how it ended
// so far. A stage that settles it (coalesced, delivered, given up) sets
// Result.Status; the stages after it are skipped and the worker records
// Result.
type Delivery struct {
	Effect incidents.Effect
	Result incidents.EffectResult
	// Lane is the channel the effect is delivered and paced in (Config.Lane);
	// empty: Effect.Channel().
	Lane string
}

// lane is the channel d is delivered and paced in.
func (d *Delivery) lane() string {
	if d.Lane != "" {
		return d.Lane
	}
	return d.Effect.Channel()
}

// Settled reports whether a stage has decided how the delivery ends.
func (d *Delivery) Settled() bool { return d.Result.Status != incidents.EffectPending }

// Stage is one step of the delivery pipeline, in the style of
// Alertmanager's notify.Stage: cross-cutting behaviour (coalescing, rate
// limits, retries) is a stage, not code repeated in every sender. An error
// means the delivery could not go on now (the worker is stopping) and the
// effect stays pending; a decided outcome, failures included, is a Result.
type Stage interface {
	Exec(ctx context.Context, d *Delivery) (context.Context, error)
}

// StageFunc turns a function into a Stage.
type StageFunc func(ctx context.Context, d *Delivery) (context.Context, error)

// Exec implements Stage.
func (f StageFunc) Exec(ctx context.Context, d *Delivery) (context.Context, error) { return f(ctx, d) }

// MultiStage runs stages in order until one fails or settles the delivery.
type MultiStage []Stage

// Exec implements Stage.
func (ms MultiStage) Exec(ctx context.Context, d *Delivery) (context.Context, error) {
	var err error
	for _, s := range ms {
		if d.Settled() {
			return ctx, nil
		}
		if ctx, err = s.Exec(ctx, d); err != nil {
			return ctx, err
		}
	}
	return ctx, nil
}

// Clock is time as the stages see it, so tests can run a storm's worth of
// rate limiting and backoff without waiting for it (the retry loop's clock:
// one notion of time for every stage).
type Clock = retry.Clock

// realClock is the wall clock.
type realClock = retry.Wall
