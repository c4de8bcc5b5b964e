package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/outbox/retry"
)

// fakeClock advances only when Do sleeps on it, and records the waits.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

// answer is one attempt's outcome.
type answer struct {
	retry bool
	after time.Duration
	err   error
}

var (
	ok        = answer{}
	transient = answer{retry: true, err: errors.New("HTTP 503")}
	refused   = answer{err: errors.New("HTTP 404")}
)

func limited(d time.Duration) answer {
	return answer{retry: true, after: d, err: errors.New("HTTP 429")}
}

// constant is a BackOff of fixed waits, so the table can name them.
type constant time.Duration

func (c constant) NextBackOff() time.Duration { return time.Duration(c) }
func (constant) Reset()                       {}

func TestDo(t *testing.T) {
	tests := []struct {
		name     string
		policy   retry.Policy
		answers  []answer // one per attempt; the last repeats
		attempts int
		sleeps   []time.Duration
		why      retry.Bound // when it gives up
		reason   string      // "" for success
	}{
		{name: "success at once", answers: []answer{ok}, attempts: 1},
		{name: "5xx then success", answers: []answer{transient, transient, ok}, attempts: 3,
			sleeps: []time.Duration{time.Second, time.Second}},
		{name: "a refusal is final", answers: []answer{refused}, attempts: 1, why: retry.Refused, reason: "refused: HTTP 404"},
		{name: "gives up after MaxAttempts failures", policy: retry.Policy{MaxAttempts: 3}, answers: []answer{transient}, attempts: 3,
			sleeps: []time.Duration{time.Second, time.Second}, why: retry.TooManyAttempts, reason: "gave up after 3 failed attempts: HTTP 503"},
		{name: "Retry-After replaces the backoff", answers: []answer{limited(7 * time.Second), ok}, attempts: 2,
			sleeps: []time.Duration{7 * time.Second}},
		{name: "rate limits do not count by default", policy: retry.Policy{MaxAttempts: 2},
			answers: []answer{limited(time.Second), limited(time.Second), limited(time.Second), transient, ok}, attempts: 5,
			sleeps: []time.Duration{time.Second, time.Second, time.Second, time.Second}},
		{name: "rate limits count when asked (actions)", policy: retry.Policy{MaxAttempts: 2, RateLimitsCount: true},
			answers: []answer{limited(time.Second)}, attempts: 2, sleeps: []time.Duration{time.Second},
			why: retry.TooManyAttempts, reason: "gave up after 2 failed attempts: HTTP 429"},
		{name: "MaxRetryAfter caps the wait", policy: retry.Policy{MaxRetryAfter: 5 * time.Minute},
			answers: []answer{limited(time.Hour), ok}, attempts: 2, sleeps: []time.Duration{5 * time.Minute}},
		{name: "a wait past MaxElapsed gives up", policy: retry.Policy{MaxElapsed: time.Minute},
			answers: []answer{limited(time.Hour)}, attempts: 1, why: retry.TooLong, reason: "gave up after 0s and 1 attempts: HTTP 429"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			p.BackOff = constant(time.Second)
			clock := &fakeClock{now: time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)}
			calls := 0
			var retried []int
			n, err := retry.Do(context.Background(), p, clock, func(context.Context) (bool, time.Duration, error) {
				a := tt.answers[min(calls, len(tt.answers)-1)]
				calls++
				return a.retry, a.after, a.err
			}, func(_ error, attempt int, _ time.Duration) { retried = append(retried, attempt) })
			assert.Equal(t, tt.attempts, n)
			assert.Equal(t, tt.attempts, calls)
			assert.Equal(t, tt.sleeps, clock.sleeps)
			assert.Len(t, retried, len(tt.sleeps), "told of every retry")
			if tt.reason == "" {
				require.NoError(t, err)
				return
			}
			var gaveUp *retry.GaveUpError
			require.ErrorAs(t, err, &gaveUp)
			assert.Equal(t, tt.why, gaveUp.Why)
			assert.Equal(t, tt.reason, gaveUp.Error())
			assert.ErrorIs(t, err, tt.answers[len(tt.answers)-1].err, "the last attempt's error is wrapped")
		})
	}
}

// TestDoBacksOffExponentiallyWithJitter: the default backoff waits 500 ms,
// 750 ms, 1.125 s… each randomised by ±50%.
func TestDoBacksOffExponentiallyWithJitter(t *testing.T) {
	clock := &fakeClock{}
	_, err := retry.Do(context.Background(), retry.Policy{MaxAttempts: 4}, clock, func(context.Context) (bool, time.Duration, error) {
		return transient.retry, 0, transient.err
	}, nil)
	require.Error(t, err)
	require.Len(t, clock.sleeps, 3)
	for i, base := range []time.Duration{500 * time.Millisecond, 750 * time.Millisecond, 1125 * time.Millisecond} {
		assert.InDelta(t, base, clock.sleeps[i], float64(base)/2+1, "wait %d", i)
	}
}

// TestDoRetriesAHungAttempt: an attempt that outlives AttemptTimeout is
// tried again, even when the caller calls its deadline final.
func TestDoRetriesAHungAttempt(t *testing.T) {
	calls := 0
	n, err := retry.Do(context.Background(), retry.Policy{AttemptTimeout: 20 * time.Millisecond, BackOff: constant(0)}, &fakeClock{},
		func(ctx context.Context) (bool, time.Duration, error) {
			calls++
			if calls == 1 {
				<-ctx.Done()
				return false, 0, ctx.Err()
			}
			return false, 0, nil
		}, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

// TestDoStopsWithTheContext: a stop during a wait returns ctx's error, not
// a give-up, so the outbox keeps the effect pending.
func TestDoStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n, err := retry.Do(ctx, retry.Policy{BackOff: constant(time.Second)}, &fakeClock{}, func(context.Context) (bool, time.Duration, error) {
		cancel()
		return true, 0, errors.New("HTTP 503")
	}, nil)
	assert.ErrorIs(t, err, context.Canceled)
	var gaveUp *retry.GaveUpError
	assert.False(t, errors.As(err, &gaveUp))
	assert.Equal(t, 1, n)
}
