package slack

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/firebreak/firebreak/bot"
)

// TestRefusalCodeRendersAsCode: a refusal's suggested command reaches Slack
// as an mrkdwn code span (issue 12 item 5), while outside markup stays
// defused.
func TestRefusalCodeRendersAsCode(t *testing.T) {
	got := mrkdwn("⚠️ " + bot.Escape(`There is no command "ackk" — did you mean `+"`/incident ack`"+`? *now*`))
	assert.Contains(t, got, "`/incident ack`")
	assert.NotContains(t, got, "\u02cb")
	assert.Contains(t, got, "*\u200bnow*\u200b")
}
