package bot

import (
	"context"
	"errors"
	"net"
	"time"
)

// The errors below are how adapters tell the outbox what a platform
// answered to a Post, Update or Upload, without the outbox importing any
// chat SDK: bot.Classify reads their RetryAfter, Retryable and
// StatusCode methods. Each wraps the SDK's own error, so errors.As still
// finds it.

// RateLimitedError is a 429: the platform asked to wait After before the
// next try, and the outbox does, without counting it as a failure.
type RateLimitedError struct {
	Err   error
	After time.Duration
}

func (e *RateLimitedError) Error() string { return e.Err.Error() }

// Unwrap returns the SDK's error.
func (e *RateLimitedError) Unwrap() error { return e.Err }

// RetryAfter is how long the platform asked to wait.
func (e *RateLimitedError) RetryAfter() time.Duration { return e.After }

// FinalError is an answer the platform would give again (an unknown
// channel, a revoked token): sending again changes nothing, so the outbox
// gives up at once and puts the reason on the timeline.
type FinalError struct{ Err error }

func (e *FinalError) Error() string { return e.Err.Error() }

// Unwrap returns the SDK's error.
func (e *FinalError) Unwrap() error { return e.Err }

// Retryable is always false.
func (e *FinalError) Retryable() bool { return false }

// StatusError carries the HTTP status of the platform's answer; the outbox
// retries 408, 429 and 5xx and gives up on other 4xx.
type StatusError struct {
	Err  error
	Code int
}

func (e *StatusError) Error() string { return e.Err.Error() }

// Unwrap returns the SDK's error.
func (e *StatusError) Unwrap() error { return e.Err }

// StatusCode is the answer's HTTP status.
func (e *StatusError) StatusCode() int { return e.Code }

// Classify says whether a failed chat call is worth retrying and after how
// long, from what the error says about itself. Adapters wrap their SDK's
// errors so that they answer one of these (neither bot nor the outbox imports a chat
// SDK):
//
//   - RetryAfter() time.Duration: rate limited; retry after that long
//     (slack-go's *slack.RateLimitedError carries it as a field, so the
//     Slack adapter wraps it);
//   - Retryable() bool: slack-go's StatusCodeError and RateLimitedError
//     already answer this (429 and 5xx yes, other statuses no);
//   - StatusCode() int: an HTTP status: 429, 408 and 5xx are retried, any
//     other 4xx is final;
//   - Temporary() / Timeout() bool: network errors.
//
// An error that says nothing is presumed transient and retried within the
// RetryPolicy's bounds: giving up on an effect loses it, retrying costs
// only time.
func Classify(err error) (retry bool, after time.Duration) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return true, max(ra.RetryAfter(), 0)
	}
	var rt interface{ Retryable() bool }
	if errors.As(err, &rt) {
		return rt.Retryable(), 0
	}
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		code := sc.StatusCode()
		return code == 429 || code == 408 || code >= 500, 0
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true, 0
	}
	if errors.Is(err, context.Canceled) {
		return false, 0
	}
	return true, 0
}
