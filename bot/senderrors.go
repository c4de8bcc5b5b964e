package bot

import "time"

// The errors below are how adapters tell the outbox what a platform
// answered to a Post, Update or Upload, without the outbox importing any
// chat SDK: bot/outbox.Classify reads their RetryAfter, Retryable and
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
