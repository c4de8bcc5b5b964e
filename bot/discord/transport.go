package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
)

// retryPolicy bounds how the transport retries one REST request.
type retryPolicy struct {
	// attempts is the most tries per request, the first included.
	attempts int
	// attemptTimeout bounds one try, so a stalled connection is retried
	// instead of holding a rate-limit bucket for the client's whole timeout.
	attemptTimeout time.Duration
	// base and max shape the exponential backoff between server errors.
	base, max time.Duration
	// maxRetryAfter is the longest rate-limit wait worth sitting out; a
	// longer one is returned to the caller as an error.
	maxRetryAfter time.Duration
}

// defaultRetry is the policy of production adapters.
func defaultRetry() retryPolicy {
	return retryPolicy{attempts: 5, attemptTimeout: 15 * time.Second, base: 250 * time.Millisecond, max: 8 * time.Second, maxRetryAfter: 60 * time.Second}
}

// restTransport carries discordgo's REST requests. discordgo computes its
// endpoints from https://discord.com at start-up, so the transport is where
// DISCORD_API_URL takes effect. discordgo handles bucket headers but
// sleeps through a 429 without regard for the caller's context and does not
// retry 5xx at all; the transport does both, with exponential backoff and
// jitter, honouring Retry-After, and never sleeping past the request's
// deadline.
type restTransport struct {
	next   http.RoundTripper
	from   string // discordgo.EndpointAPI
	to     string // configured base with a trailing slash, or "" to keep Discord
	policy retryPolicy
	log    *slog.Logger
	// globalUntil is when a global rate limit ends (Unix nanoseconds); every
	// request waits for it, as Discord counts the global limit per bot.
	globalUntil atomic.Int64
}

func newRESTTransport(next http.RoundTripper, base string, p retryPolicy, log *slog.Logger) *restTransport {
	if next == nil {
		next = http.DefaultTransport
	}
	t := &restTransport{next: next, from: discordgo.EndpointAPI, policy: p, log: log}
	if base != "" {
		t.to = strings.TrimSuffix(base, "/") + "/"
	}
	return t
}

// RoundTrip sends req, retrying rate limits and server errors.
func (t *restTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.to != "" && strings.HasPrefix(req.URL.String(), t.from) {
		u, err := req.URL.Parse(t.to + strings.TrimPrefix(req.URL.String(), t.from))
		if err != nil {
			return nil, fmt.Errorf("discord: rewriting %s for DISCORD_API_URL: %w", req.URL.Redacted(), err)
		}
		req = req.Clone(ctx)
		req.URL, req.Host = u, ""
	}
	attempts := t.policy.attempts
	if byOutbox(ctx) {
		attempts = 1 // the outbox retries, within its own bounds
	}
	for attempt := 1; ; attempt++ {
		if err := t.waitGlobal(ctx); err != nil {
			return nil, err
		}
		try, cancel, err := t.attempt(req, attempt)
		if err != nil {
			return nil, err
		}
		resp, err := t.next.RoundTrip(try)
		if err != nil {
			cancel()
			if ctx.Err() != nil || attempt >= attempts || !canRetry(req) {
				return nil, err
			}
			if err := t.pause(ctx, req, attempt, 0, t.backoff(attempt), err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		var wait time.Duration
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			var global bool
			wait, global = rateLimitWait(resp)
			if global {
				t.globalUntil.Store(time.Now().Add(wait).UnixNano())
			}
			// A small jitter keeps requests that waited together from
			// arriving together.
			wait += rand.N(50*time.Millisecond + 1)
			if wait > t.policy.maxRetryAfter {
				return resp, nil
			}
		case resp.StatusCode >= 500 && resp.StatusCode <= 599 && resp.StatusCode != http.StatusNotImplemented:
			wait = t.backoff(attempt)
			if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = max(wait, ra)
			}
		default:
			return resp, nil
		}
		if attempt >= attempts || !canRetry(req) || !fits(ctx, wait) {
			return resp, nil
		}
		drain(resp)
		if err := t.pause(ctx, req, attempt, resp.StatusCode, wait, ""); err != nil {
			return nil, err
		}
	}
}

// attempt prepares one try: a fresh body and a per-try deadline.
func (t *restTransport) attempt(req *http.Request, n int) (*http.Request, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.policy.attemptTimeout)
	try := req.Clone(ctx)
	if n > 1 && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("discord: replaying request body: %w", err)
		}
		try.Body = body
	}
	return try, cancel, nil
}

func canRetry(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// fits reports whether waiting d still leaves time before ctx's deadline.
func fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d
}

func (t *restTransport) pause(ctx context.Context, req *http.Request, attempt, status int, d time.Duration, cause string) error {
	t.log.Warn("discord: retrying REST call", "method", req.Method, "path", req.URL.Path, "status", status, "error", cause, "attempt", attempt, "wait", d)
	return sleep(ctx, d)
}

// backoff is exponential with "equal jitter": half the step is fixed so
// retries do spread out, half random so callers do not retry in lockstep.
func (t *restTransport) backoff(attempt int) time.Duration {
	step := t.policy.base << min(attempt-1, 20)
	if step <= 0 || step > t.policy.max {
		step = t.policy.max
	}
	return step/2 + rand.N(step/2+1)
}

func (t *restTransport) waitGlobal(ctx context.Context) error {
	until := time.Unix(0, t.globalUntil.Load())
	if d := time.Until(until); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// cancelBody ends a try's context only once its body is closed, so the
// caller can still read it.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Close closes the body, then releases the try's context.
func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// rateLimitWait reads how long a 429 asks to wait: the body's precise
// retry_after first, then the Retry-After header, then the bucket's
// X-RateLimit-Reset-After; one second when none can be read. The body is
// put back for discordgo to read.
func rateLimitWait(resp *http.Response) (wait time.Duration, global bool) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	global = strings.EqualFold(resp.Header.Get("X-RateLimit-Global"), "true")
	var rl struct {
		RetryAfter *float64 `json:"retry_after"`
		Global     bool     `json:"global"`
	}
	if json.Unmarshal(body, &rl) == nil {
		global = global || rl.Global
		if rl.RetryAfter != nil {
			if d, ok := seconds(*rl.RetryAfter); ok {
				return d, global
			}
		}
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		return d, global
	}
	if f, err := strconv.ParseFloat(resp.Header.Get("X-RateLimit-Reset-After"), 64); err == nil {
		if d, ok := seconds(f); ok {
			return d, global
		}
	}
	return time.Second, global
}

// maxWait caps any wait a server can ask for, so a garbled header cannot
// overflow a Duration.
const maxWait = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: seconds (Discord may send a
// fraction) or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return seconds(f)
	}
	if at, err := http.ParseTime(v); err == nil {
		return min(max(at.Sub(now), 0), maxWait), true
	}
	return 0, false
}

func seconds(f float64) (time.Duration, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	if f > maxWait.Seconds() {
		return maxWait, true
	}
	return time.Duration(f * float64(time.Second)), true
}
