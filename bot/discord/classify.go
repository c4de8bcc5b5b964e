package discord

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/bot"
)

// classified wraps the errors of the REST calls the outbox makes (Post,
// Update, Upload) so that bot.Classify, which imports no chat SDK,
// reads what Discord said: a 429 with how long to wait (retry_after), any
// other answer with its HTTP status (5xx and 408 are retried, other 4xx
// such as Unknown Channel are final). Errors without an answer (a broken
// connection) pass as they are and are retried.
func classified(err error) error {
	// With ShouldRetryOnRateLimit off, discordgo answers a 429 with a
	// RateLimitError that carries Discord's retry_after.
	if rl, ok := errors.AsType[*discordgo.RateLimitError](err); ok && rl.RateLimit != nil && rl.TooManyRequests != nil {
		return &bot.RateLimitedError{Err: err, After: max(rl.TooManyRequests.RetryAfter, 0)}
	}
	re, ok := errors.AsType[*discordgo.RESTError](err)
	if !ok || re.Response == nil {
		return err
	}
	if re.Response.StatusCode == http.StatusTooManyRequests {
		// The wait as the transport reads it: the body's retry_after, else
		// the headers.
		resp := *re.Response
		resp.Body = io.NopCloser(bytes.NewReader(re.ResponseBody))
		wait, _ := rateLimitWait(&resp)
		return &bot.RateLimitedError{Err: err, After: wait}
	}
	return &bot.StatusError{Err: err, Code: re.Response.StatusCode}
}

// outboxCallKey marks the context of a call the outbox makes.
type outboxCallKey struct{}

// forOutbox marks ctx as the context of a Post, Update or Upload: the
// outbox retries those within its own bounds, so the REST transport makes
// one attempt and hands a 429 or 5xx back (classified) instead of retrying.
func forOutbox(ctx context.Context) context.Context {
	return context.WithValue(ctx, outboxCallKey{}, true)
}

// byOutbox reports whether ctx is marked by forOutbox.
func byOutbox(ctx context.Context) bool {
	v, _ := ctx.Value(outboxCallKey{}).(bool)
	return v
}
