package discord

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/bot"
)

// BenchmarkRender measures turning a step card into a Discord message.
func BenchmarkRender(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := bot.Message{
		Text:   "**#42 Step 2/5: Roll back the deploy**\n" + strings.Repeat("Check the dashboards and the error budget. ", 20),
		Fields: []bot.Field{{Label: "Severity", Value: "SEV2"}, {Label: "Status", Value: "acknowledged"}, {Label: "Commander", Value: "<@80351110224678912>"}},
		Actions: []bot.Action{
			{ID: "step_done", Label: "Done", Style: bot.StylePrimary, Value: "42:rollback"},
			{ID: "step_skip", Label: "Skip", Value: "42:rollback"},
			{ID: "ack", Label: "Acknowledge", Value: "42"},
			{ID: "resolve", Label: "Resolve", Style: bot.StyleDanger, Value: "42"},
		},
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = render(m, log).sends()
	}
}

// BenchmarkAlertText measures reading an Alertmanager embed.
func BenchmarkAlertText(b *testing.B) {
	m := &discordgo.Message{Embeds: []*discordgo.MessageEmbed{{
		Title:       "[FIRING:3] HighErrorRate api-gateway (critical)",
		Description: strings.Repeat("5xx ratio above 5% for 10 minutes on pod api-7d9f. ", 10),
		Fields:      []*discordgo.MessageEmbedField{{Name: "severity", Value: "critical"}, {Name: "service", Value: "api"}, {Name: "cluster", Value: "eu-1"}},
		Footer:      &discordgo.MessageEmbedFooter{Text: "Alertmanager"},
	}}}
	b.ReportAllocs()
	for b.Loop() {
		_ = alertText(m)
	}
}

// BenchmarkCommandText measures translating a slash command.
func BenchmarkCommandText(b *testing.B) {
	data := sub("step-skip",
		opt("reason", discordgo.ApplicationCommandOptionString, "the database is read-only, nothing to roll back"),
		opt("incident", discordgo.ApplicationCommandOptionInteger, 42.0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := commandText(data); err != nil {
			b.Fatal(err)
		}
	}
}
