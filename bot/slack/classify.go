package slack

import (
	"errors"

	"github.com/slack-go/slack"

	"github.com/firebreak/firebreak/bot"
)

// classified wraps the errors of the Web API calls the outbox makes (Post,
// Update, Upload) so that bot.Classify, which imports no chat SDK,
// reads what Slack said: a 429 comes back with how long to wait, and an
// answer with "ok": false (channel_not_found, not_in_channel,
// invalid_auth…) is final, since sending it again changes nothing. Other
// errors (a 5xx, a broken connection) pass as they are and are retried.
func classified(err error) error {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return &bot.RateLimitedError{Err: err, After: rl.RetryAfter}
	}
	if _, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return &bot.FinalError{Err: err}
	}
	return err
}
