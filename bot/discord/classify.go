package discord

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"
)

// classified wraps the errors of the REST calls the outbox makes (Post,
// Update, Upload) so that bot/outbox.Classify, which imports no chat SDK,
// reads what Discord said: a 429 with how long to wait (Retry-After), any
// other answer with its HTTP status (5xx and 408 are retried, other 4xx
// such as Unknown Channel are final). Errors without an answer (a broken
// connection) pass as they are and are retried.
func classified(err error) error {
	re, ok := errors.AsType[*discordgo.RESTError](err)
	if !ok || re.Response == nil {
		return err
	}
	if re.Response.StatusCode == http.StatusTooManyRequests {
		return rateLimited{err: err, after: retryAfterHeader(re.Response.Header)}
	}
	return statusError{err: err, code: re.Response.StatusCode}
}

// retryAfterHeader reads Retry-After in seconds (Discord sends decimals).
func retryAfterHeader(h http.Header) time.Duration {
	s, err := strconv.ParseFloat(h.Get("Retry-After"), 64)
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

type rateLimited struct {
	err   error
	after time.Duration
}

func (e rateLimited) Error() string             { return e.err.Error() }
func (e rateLimited) Unwrap() error             { return e.err }
func (e rateLimited) RetryAfter() time.Duration { return e.after }

type statusError struct {
	err  error
	code int
}

func (e statusError) Error() string   { return e.err.Error() }
func (e statusError) Unwrap() error   { return e.err }
func (e statusError) StatusCode() int { return e.code }
