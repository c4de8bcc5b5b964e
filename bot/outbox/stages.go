package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/firebreak/firebreak/bot/outbox/retry"
	"github.com/firebreak/firebreak/incidents"
)

// Compile-time checks that every stage is a Stage.
var (
	_ Stage = (*CoalesceStage)(nil)
	_ Stage = (*RateLimitStage)(nil)
	_ Stage = (*RetryStage)(nil)
	_ Stage = MultiStage(nil)
	_ Stage = StageFunc(nil)
)

// Newest tells the coalesce stage which pending effect is the latest of a
// CoalesceKey. The worker implements it over the effects it has read.
type Newest interface {
	// Newest is the highest pending effect id with that coalesce key.
	Newest(coalesceKey string) (id uint64, ok bool)
}

// CoalesceStage skips an effect when a newer pending effect has the same
// CoalesceKey: after a burst of "still firing" notes or card edits only the
// latest is sent. The skipped effect settles as coalesced, naming the one
// that replaced it, so nothing recorded disappears without a trace.
type CoalesceStage struct {
	Pending Newest
	Clock   Clock
}

// Exec implements Stage.
func (s *CoalesceStage) Exec(ctx context.Context, d *Delivery) (context.Context, error) {
	key := d.Effect.CoalesceKey
	if key == "" {
		return ctx, nil
	}
	if newest, ok := s.Pending.Newest(key); ok && newest > d.Effect.ID {
		d.Result = incidents.EffectResult{
			Status: incidents.EffectCoalesced,
			At:     s.Clock.Now(),
			Reason: fmt.Sprintf("superseded by effect %d (same coalesce key %q)", newest, key),
		}
	}
	return ctx, nil
}

// RateLimit bounds how often one channel is spoken to.
type RateLimit struct {
	// Interval is the sustained spacing between two messages in one
	// channel (default DefaultInterval: Slack's one message per second per
	// channel).
	Interval time.Duration
	// Burst is how many messages may go out back to back after a quiet
	// spell (default 1: never more than one per Interval).
	Burst int
	// Unlimited names platforms that are not rate-limited: the console
	// writes to a terminal, which asks for no spacing.
	Unlimited []string
}

// DefaultInterval is RateLimit.Interval's default.
const DefaultInterval = time.Second

func (r RateLimit) withDefaults() RateLimit {
	if r.Interval <= 0 {
		r.Interval = DefaultInterval
	}
	if r.Burst < 1 {
		r.Burst = 1
	}
	return r
}

// RateLimitStage holds each effect until its channel may be spoken to
// again (a generic cell rate algorithm: one theoretical arrival time per
// channel). It waits rather than drops, so a storm slows the outbox down
// but never loses a recorded effect. Safe for concurrent use by the lanes
// of different channels.
type RateLimitStage struct {
	Limit RateLimit
	Clock Clock

	mu  sync.Mutex
	tat map[string]time.Time // channel → theoretical arrival time of its next message
}

// maxIdleChannels is how many channels' timings are kept before those
// already idle long enough to be unlimited are forgotten.
const maxIdleChannels = 1024

// reserve takes the channel's next slot and says how long to wait for it.
func (s *RateLimitStage) reserve(channel string, now time.Time) time.Duration {
	lim := s.Limit.withDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tat == nil {
		s.tat = make(map[string]time.Time)
	}
	if len(s.tat) > maxIdleChannels {
		for ch, t := range s.tat {
			if !t.After(now) {
				delete(s.tat, ch)
			}
		}
	}
	tat := s.tat[channel]
	if tat.Before(now) {
		tat = now
	}
	allowedAt := tat.Add(-time.Duration(lim.Burst-1) * lim.Interval)
	s.tat[channel] = tat.Add(lim.Interval)
	return allowedAt.Sub(now)
}

// Exec implements Stage.
func (s *RateLimitStage) Exec(ctx context.Context, d *Delivery) (context.Context, error) {
	if slices.Contains(s.Limit.Unlimited, d.Effect.Home.Platform) {
		return ctx, nil
	}
	wait := s.reserve(d.lane(), s.Clock.Now())
	if wait <= 0 {
		return ctx, nil
	}
	return ctx, s.Clock.Sleep(ctx, wait)
}

// RetryPolicy bounds the attempts to deliver one effect.
type RetryPolicy struct {
	// AttemptTimeout bounds one attempt (default 10 s): a hung connection
	// is retried, not waited on forever.
	AttemptTimeout time.Duration
	// InitialInterval and MaxInterval shape the exponential backoff between
	// failed attempts (defaults 500 ms and 1 min); each wait is randomised
	// by ±50% so that many channels recovering at once do not retry in step.
	InitialInterval, MaxInterval time.Duration
	// MaxAttempts gives up after this many failed attempts (default 8).
	// Rate-limited attempts that came with a Retry-After do not count: the
	// platform said when to come back, it did not refuse.
	MaxAttempts int
	// MaxElapsed gives up once this long has passed since the first attempt
	// (default 1 h), rate-limited or not.
	MaxElapsed time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = 10 * time.Second
	}
	if p.InitialInterval <= 0 {
		p.InitialInterval = 500 * time.Millisecond
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = time.Minute
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = time.Hour
	}
	return p
}

// RetryStage performs the effect through its Sender, with a timeout per
// attempt, exponential backoff with jitter between failures and the
// platform's Retry-After when it gives one — the one retry loop Firebreak
// has for outside calls (bot/outbox/retry, which playbook actions share).
// Clock sleeps the waits, so tests need not. It settles the delivery:
// delivered with the platform's reference, or given up with the last
// error once the sender says retrying is useless or the policy's bounds
// are reached.
type RetryStage struct {
	Sender Sender
	Policy RetryPolicy
	Clock  Clock
	Log    *slog.Logger
}

// Exec implements Stage. It returns an error only when ctx ends before the
// effect settled; the effect then stays pending.
func (s *RetryStage) Exec(ctx context.Context, d *Delivery) (context.Context, error) {
	p := s.Policy.withDefaults()
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var ref incidents.EffectRef
	attempts, err := retry.Do(ctx, retry.Policy{
		AttemptTimeout: p.AttemptTimeout,
		BackOff:        retry.Exponential(p.InitialInterval, p.MaxInterval),
		MaxAttempts:    p.MaxAttempts,
		MaxElapsed:     p.MaxElapsed,
	}, s.Clock, func(actx context.Context) (bool, time.Duration, error) {
		var retry bool
		var after time.Duration
		var err error
		ref, retry, after, err = s.Sender.Send(actx, d.Effect)
		return retry, after, err
	}, func(err error, attempt int, wait time.Duration) {
		log.Warn("outbox delivery failed; will retry", "effect", d.Effect.ID, "incident", d.Effect.Incident,
			"channel", d.Effect.Channel(), "attempt", d.Result.Attempts+attempt, "wait", wait, "err", err)
	})
	d.Result.Attempts += attempts
	var gaveUp *retry.GaveUpError
	switch {
	case err == nil:
		d.Result = incidents.EffectResult{Status: incidents.EffectDelivered, Attempts: d.Result.Attempts, At: s.Clock.Now(), Ref: ref}
	case errors.As(err, &gaveUp):
		d.Result = incidents.EffectResult{Status: incidents.EffectGaveUp, Attempts: d.Result.Attempts, At: s.Clock.Now(), Reason: gaveUp.Error()}
	default:
		// Stopping: whether the last attempt landed is unknown; the effect
		// stays pending and is sent again by the next worker.
		return ctx, err
	}
	return ctx, nil
}
