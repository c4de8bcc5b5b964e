package slack

import (
	"errors"
	"time"

	"github.com/slack-go/slack"
)

// classified wraps the errors of the Web API calls the outbox makes (Post,
// Update, Upload) so that bot/outbox.Classify, which imports no chat SDK,
// reads what Slack said: a 429 comes back with how long to wait, and an
// answer with "ok": false (channel_not_found, not_in_channel,
// invalid_auth…) is final, since sending it again changes nothing. Other
// errors (a 5xx, a broken connection) pass as they are and are retried.
func classified(err error) error {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return rateLimited{err: err, after: rl.RetryAfter}
	}
	if _, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return final{err}
	}
	return err
}

// rateLimited is a 429 with Slack's Retry-After.
type rateLimited struct {
	err   error
	after time.Duration
}

func (e rateLimited) Error() string             { return e.err.Error() }
func (e rateLimited) Unwrap() error             { return e.err }
func (e rateLimited) RetryAfter() time.Duration { return e.after }

// final is an answer Slack will give again.
type final struct{ err error }

func (e final) Error() string   { return e.err.Error() }
func (e final) Unwrap() error   { return e.err }
func (e final) Retryable() bool { return false }
