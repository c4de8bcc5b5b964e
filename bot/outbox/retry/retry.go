// Package retry is Firebreak's one retry loop for calls to the outside
// world: the outbox's delivery of each effect (bot/outbox.RetryStage) and
// the HTTP calls of playbook actions and webhook notifiers (bot/actions)
// both run through Do. A call's own code says, per attempt, whether trying
// again can help and how long the other side asked to wait (Retry-After);
// Do adds the rest once: a timeout per attempt, the waits between failures
// from a cenkalti/backoff/v5 BackOff (exponential with jitter), Retry-After
// honoured in place of the next wait, and the bounds after which it gives
// up with a reason worded for the incident's timeline.
//
// Waits go through a Clock, so tests run a storm's worth of backoff
// without waiting for it.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Clock is time as Do sees it.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends (returning ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// Wall is the wall clock.
type Wall struct{}

// Now implements Clock.
func (Wall) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (Wall) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Policy bounds the attempts of one call.
type Policy struct {
	// AttemptTimeout bounds each attempt (0: only ctx bounds it). An
	// attempt that runs out of it is retried: a hung connection is not a
	// refusal.
	AttemptTimeout time.Duration
	// BackOff gives the waits between failed attempts; Do resets it before
	// the first attempt and after a Retry-After. nil: Exponential(500 ms,
	// 1 min).
	BackOff backoff.BackOff
	// MaxAttempts gives up after this many failed attempts (default 8).
	MaxAttempts int
	// RateLimitsCount makes attempts answered with a Retry-After count
	// toward MaxAttempts. Without it they do not: the other side said when
	// to come back, it did not refuse (MaxElapsed still bounds them).
	RateLimitsCount bool
	// MaxElapsed gives up once the next wait would end this long after the
	// first attempt (0: no bound).
	MaxElapsed time.Duration
	// MaxRetryAfter caps a Retry-After wait (0: waited as asked).
	MaxRetryAfter time.Duration
}

// Exponential is the outbox's backoff: from initial, growing 1.5× per
// failure up to max, each wait randomised by ±50% so many callers
// recovering at once do not retry in step (cenkalti's ExponentialBackOff).
func Exponential(initial, max time.Duration) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = initial, max
	b.Reset()
	return b
}

// Attempt makes one try. nil is success; otherwise retry says whether
// trying again could help (a 5xx, a 429, a network error: yes; another
// 4xx: no) and after, when positive, how long the other side asked to
// wait.
type Attempt func(ctx context.Context) (retry bool, after time.Duration, err error)

// OnRetry is told of every failed attempt that will be tried again: the
// error, the attempt's number (from 1) and the wait before the next.
type OnRetry func(err error, attempt int, wait time.Duration)

// GaveUpError is Do's error when it stopped trying. Its message is the
// reason the outbox records and the timeline shows.
type GaveUpError struct {
	// Err is the last attempt's error.
	Err error
	// Attempts is how many attempts were made, Failures how many of them
	// counted toward MaxAttempts.
	Attempts, Failures int
	// Elapsed is the time from the first attempt to the give-up.
	Elapsed time.Duration
	// Why is which bound ended it.
	Why Bound
}

// Bound says why Do gave up.
type Bound int

// Why Do gives up.
const (
	// Refused: the attempt said retrying cannot help.
	Refused Bound = iota
	// TooManyAttempts: MaxAttempts failed attempts.
	TooManyAttempts
	// TooLong: the next wait would pass MaxElapsed.
	TooLong
)

func (e *GaveUpError) Error() string {
	switch e.Why {
	case Refused:
		return fmt.Sprintf("refused: %v", e.Err)
	case TooManyAttempts:
		return fmt.Sprintf("gave up after %d failed attempts: %v", e.Failures, e.Err)
	}
	return fmt.Sprintf("gave up after %s and %d attempts: %v", e.Elapsed.Round(time.Second), e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *GaveUpError) Unwrap() error { return e.Err }

// Do runs attempt until it succeeds, Policy gives up, or ctx ends. It
// returns how many attempts it made and nil, a *GaveUpError, or ctx's
// error when ctx ended first (the last attempt's outcome is then unknown:
// the outbox leaves the effect pending). onRetry may be nil.
func Do(ctx context.Context, p Policy, clock Clock, attempt Attempt, onRetry OnRetry) (int, error) {
	if clock == nil {
		clock = Wall{}
	}
	b := p.BackOff
	if b == nil {
		b = Exponential(500*time.Millisecond, time.Minute)
	}
	b.Reset()
	maxAttempts := p.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 8
	}
	start := clock.Now()
	attempts, failures := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return attempts, err
		}
		attempts++
		actx, cancel := ctx, context.CancelFunc(func() {})
		if p.AttemptTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, p.AttemptTimeout)
		}
		retry, after, err := attempt(actx)
		cancel()
		if err == nil {
			return attempts, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return attempts, cerr
		}
		if errors.Is(err, context.DeadlineExceeded) {
			retry = true // the attempt's timeout, not the other side's refusal
		}
		gaveUp := func(why Bound) (int, error) {
			return attempts, &GaveUpError{Err: err, Attempts: attempts, Failures: failures, Elapsed: clock.Now().Sub(start), Why: why}
		}
		var wait time.Duration
		switch {
		case !retry:
			return gaveUp(Refused)
		case after > 0:
			wait = after
			if p.MaxRetryAfter > 0 {
				wait = min(wait, p.MaxRetryAfter)
			}
			b.Reset()
			if p.RateLimitsCount {
				if failures++; failures >= maxAttempts {
					return gaveUp(TooManyAttempts)
				}
			}
		default:
			if failures++; failures >= maxAttempts {
				return gaveUp(TooManyAttempts)
			}
			if wait = b.NextBackOff(); wait == backoff.Stop {
				return gaveUp(TooManyAttempts)
			}
		}
		if p.MaxElapsed > 0 && clock.Now().Sub(start)+wait > p.MaxElapsed {
			return gaveUp(TooLong)
		}
		if onRetry != nil {
			onRetry(err, attempts, wait)
		}
		if err := clock.Sleep(ctx, wait); err != nil {
			return attempts, err
		}
	}
}
