package slack

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"

	"github.com/firebreak/firebreak/bot/outbox"
)

// TestOutboxClassifiesSlackErrors: what the outbox makes of the errors
// Post, Update and Upload return.
func TestOutboxClassifiesSlackErrors(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		retry bool
		after time.Duration
	}{
		{"429 with Retry-After", &slack.RateLimitedError{RetryAfter: 3 * time.Second}, true, 3 * time.Second},
		{"channel_not_found", slack.SlackErrorResponse{Err: "channel_not_found"}, false, 0},
		{"502", slack.StatusCodeError{Code: 502, Status: "502 Bad Gateway"}, true, 0},
		{"403", slack.StatusCodeError{Code: 403, Status: "403 Forbidden"}, false, 0},
		{"broken connection", errors.New("connection reset by peer"), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("slack: chat.postMessage to C1: %w", classified(tt.err))
			retry, after := outbox.Classify(err)
			assert.Equal(t, tt.retry, retry)
			assert.Equal(t, tt.after, after)
			assert.ErrorContains(t, err, tt.err.Error(), "the SDK's error is still there")
		})
	}
}
