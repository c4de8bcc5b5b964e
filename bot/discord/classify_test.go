package discord

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"

	"github.com/firebreak/firebreak/bot/outbox"
)

// TestOutboxClassifiesDiscordErrors: what the outbox makes of the errors
// Post, Update and Upload return.
func TestOutboxClassifiesDiscordErrors(t *testing.T) {
	rest := func(code int, retryAfter string) error {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &discordgo.RESTError{Response: &http.Response{StatusCode: code, Header: h}}
	}
	tests := []struct {
		name  string
		err   error
		retry bool
		after time.Duration
	}{
		{"429 with Retry-After", rest(429, "1.5"), true, 1500 * time.Millisecond},
		{"discordgo's 429", &discordgo.RateLimitError{RateLimit: &discordgo.RateLimit{TooManyRequests: &discordgo.TooManyRequests{RetryAfter: 2 * time.Second}}}, true, 2 * time.Second},
		{"Unknown Channel", rest(404, ""), false, 0},
		{"Missing Permissions", rest(403, ""), false, 0},
		{"502", rest(502, ""), true, 0},
		{"broken connection", errors.New("connection reset by peer"), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("discord: posting in channel 1: %w", classified(tt.err))
			retry, after := outbox.Classify(err)
			assert.Equal(t, tt.retry, retry)
			assert.Equal(t, tt.after, after)
			assert.ErrorIs(t, err, tt.err)
		})
	}
}
