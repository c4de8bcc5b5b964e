package discord

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
)

// TestRefusalCodeRendersAsCode: a refusal's suggested command reaches
// Discord as a Markdown code span (issue 12 item 5).
func TestRefusalCodeRendersAsCode(t *testing.T) {
	r := render(bot.Message{Text: "⚠️ " + bot.Escape("did you mean `/incident ack`? **now**")}, slog.New(slog.DiscardHandler))
	require.Len(t, r.chunks, 1)
	assert.Contains(t, r.chunks[0], "`/incident ack`")
	assert.NotContains(t, r.chunks[0], "\u02cb")
	assert.NotContains(t, r.chunks[0], "**now**")
}
