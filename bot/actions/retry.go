package actions

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Backoff is the retry policy of HTTP actions and webhook notifiers:
// exponential delays with jitter, so many Firebreak instances retrying
// against one recovering endpoint do not arrive in lockstep. The loop is
// the outbox's (bot/outbox/retry.Do); Backoff gives its waits.
type Backoff struct {
	// Attempts is the total number of tries, the first included (default 4).
	Attempts int
	// Base is the delay before the first retry (default 500ms); each retry
	// doubles it, up to Max (default 30s).
	Base, Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = 4
	}
	if b.Base <= 0 {
		b.Base = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	return b
}

// Delay is the wait before retry number n (1 for the first retry): the
// exponential step with "equal jitter" — at least half of it, so the delays
// still grow, and a random rest, so callers spread out.
func (b Backoff) Delay(n int, rnd func() float64) time.Duration {
	b = b.withDefaults()
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date); ok is
// false when absent or unreadable. The header is outside input: a huge
// number of seconds is capped (about 12 days) rather than overflowing into
// a negative wait.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(min(s, maxRetryAfterSeconds)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// maxRetryAfterSeconds bounds a Retry-After in seconds so the Duration
// cannot overflow; any caller gives up long before it.
const maxRetryAfterSeconds = 1 << 20

// backOff is b as the cenkalti/backoff BackOff that retry.Do draws its
// waits from: Delay(1), Delay(2), … with rnd as the jitter, from the
// start again after Reset (Do resets it after a Retry-After).
func (b Backoff) backOff(rnd func() float64) backoff.BackOff {
	return &equalJitter{b: b.withDefaults(), rnd: rnd}
}

// equalJitter is Backoff's schedule as a backoff.BackOff.
type equalJitter struct {
	b   Backoff
	rnd func() float64
	n   int
}

func (e *equalJitter) NextBackOff() time.Duration {
	e.n++
	return e.b.Delay(e.n, e.rnd)
}

func (e *equalJitter) Reset() { e.n = 0 }

// runnerClock is the Runner's Now and Sleep (Options) as retry.Do's Clock.
type runnerClock struct{ r *Runner }

func (c runnerClock) Now() time.Time { return c.r.now() }

func (c runnerClock) Sleep(ctx context.Context, d time.Duration) error { return c.r.sleep(ctx, d) }

func jitter() float64 { return rand.Float64() }
