package discord

import (
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
)

// Discord's limits on what a message may hold.
const (
	maxContent       = 2000
	maxCustomID      = 100
	maxLabel         = 80
	maxFields        = 25
	maxFieldName     = 256
	maxFieldValue    = 1024
	maxRows          = 5
	maxButtonsPerRow = 5
	maxThreadName    = 100
	// inlineField is the longest field value shown side by side with others.
	inlineField = 40
	// customIDSep separates Action.ID from Action.Value in a button's custom id.
	customIDSep = "|"
)

// zeroWidth stands in for empty embed field names and values, which Discord refuses.
const zeroWidth = "\u200b"

// rendered is a bot.Message in Discord's terms: the text in as many
// messages as it needs, the last one carrying the fields and buttons.
type rendered struct {
	chunks     []string
	embeds     []*discordgo.MessageEmbed
	components []discordgo.MessageComponent
}

// render turns m into Discord messages. Discord Markdown already reads the
// portable markup (**bold**, _italic_, `code`, [text](url), <@id>), so the
// text goes out as written; only its length needs care.
func render(m bot.Message, log *slog.Logger) rendered {
	r := rendered{chunks: splitContent(m.Text, maxContent), components: buttons(m.Actions, log)}
	if e := fieldsEmbed(m.Fields); e != nil {
		r.embeds = []*discordgo.MessageEmbed{e}
	}
	if len(r.chunks) == 0 && (len(r.embeds) > 0 || len(r.components) > 0) {
		r.chunks = []string{""}
	}
	return r
}

// sends is r as channel messages.
func (r rendered) sends() []*discordgo.MessageSend {
	out := make([]*discordgo.MessageSend, len(r.chunks))
	for i, c := range r.chunks {
		out[i] = &discordgo.MessageSend{Content: c, AllowedMentions: usersOnly()}
		if i == len(r.chunks)-1 {
			out[i].Embeds, out[i].Components = r.embeds, r.components
		}
	}
	return out
}

// webhooks is r as interaction follow-ups.
func (r rendered) webhooks(flags discordgo.MessageFlags) []*discordgo.WebhookParams {
	out := make([]*discordgo.WebhookParams, len(r.chunks))
	for i, c := range r.chunks {
		out[i] = &discordgo.WebhookParams{Content: c, Flags: flags, AllowedMentions: usersOnly()}
		if i == len(r.chunks)-1 {
			out[i].Embeds, out[i].Components = r.embeds, r.components
		}
	}
	return out
}

// edit is m as a replacement for a posted message. An edit is one message,
// so text beyond Discord's limit is cut; empty fields and actions are sent
// as empty lists, which removes the old embed and buttons.
func renderEdit(channelID, messageID string, m bot.Message, log *slog.Logger) *discordgo.MessageEdit {
	content := truncate(m.Text, maxContent)
	embeds := []*discordgo.MessageEmbed{}
	if e := fieldsEmbed(m.Fields); e != nil {
		embeds = append(embeds, e)
	}
	comps := buttons(m.Actions, log)
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	return &discordgo.MessageEdit{ID: messageID, Channel: channelID, Content: &content, Embeds: &embeds, Components: &comps, AllowedMentions: usersOnly()}
}

// fieldsEmbed shows fields as one embed, or returns nil without fields.
func fieldsEmbed(fields []bot.Field) *discordgo.MessageEmbed {
	if len(fields) == 0 {
		return nil
	}
	e := &discordgo.MessageEmbed{Type: discordgo.EmbedTypeRich}
	for i, f := range fields {
		if i == maxFields {
			break
		}
		name, value := truncate(f.Label, maxFieldName), truncate(f.Value, maxFieldValue)
		if strings.TrimSpace(name) == "" {
			name = zeroWidth
		}
		if strings.TrimSpace(value) == "" {
			value = zeroWidth
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: name, Value: value, Inline: utf8.RuneCountInString(value) <= inlineField})
	}
	return e
}

// buttons lays actions out in rows of five. A button Discord cannot carry
// (custom id over 100 characters, or beyond 25 buttons) is left out and
// logged: the slash command does the same thing, so the message is still
// worth posting.
func buttons(actions []bot.Action, log *slog.Logger) []discordgo.MessageComponent {
	var rows []discordgo.MessageComponent
	var row []discordgo.MessageComponent
	seen := map[string]bool{}
	for _, a := range actions {
		id, ok := customID(a)
		switch {
		case !ok:
			log.Warn("discord: leaving out a button whose id and value exceed Discord's 100 characters", "action", a.ID, "value", a.Value)
			continue
		case seen[id]:
			log.Warn("discord: leaving out a duplicate button", "action", a.ID, "value", a.Value)
			continue
		case len(rows) == maxRows:
			log.Warn("discord: leaving out a button beyond Discord's 25 per message", "action", a.ID, "value", a.Value)
			continue
		}
		seen[id] = true
		label := strings.TrimSpace(a.Label)
		if label == "" {
			label = a.ID
		}
		row = append(row, discordgo.Button{Label: truncate(label, maxLabel), Style: buttonStyle(a.Style), CustomID: id})
		if len(row) == maxButtonsPerRow {
			rows = append(rows, discordgo.ActionsRow{Components: row})
			row = nil
		}
	}
	if len(row) > 0 && len(rows) < maxRows {
		rows = append(rows, discordgo.ActionsRow{Components: row})
	}
	return rows
}

func buttonStyle(s bot.ActionStyle) discordgo.ButtonStyle {
	switch s {
	case bot.StylePrimary:
		return discordgo.PrimaryButton
	case bot.StyleDanger:
		return discordgo.DangerButton
	}
	return discordgo.SecondaryButton
}

// customID packs an action into a button's custom id, "ID|Value". ok is
// false when it would not fit Discord's 100 characters or the ID holds the
// separator (the press could not be read back).
func customID(a bot.Action) (string, bool) {
	id := a.ID + customIDSep + a.Value
	if a.ID == "" || strings.Contains(a.ID, customIDSep) || utf8.RuneCountInString(id) > maxCustomID {
		return "", false
	}
	return id, true
}

// parseCustomID reads a pressed button's custom id back into the action id
// and value. The value may itself contain the separator.
func parseCustomID(s string) (id, value string, ok bool) {
	id, value, ok = strings.Cut(s, customIDSep)
	if !ok || id == "" || utf8.RuneCountInString(s) > maxCustomID {
		return "", "", false
	}
	return id, value, true
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string { return incidents.Truncate(s, n) }

// fence is a Markdown code fence.
const fence = "```"

// minSplit is the smallest piece splitContent makes: a reopened fence, a
// closing one and some text.
const minSplit = 16

// splitContent cuts text into pieces of at most limit runes, at line
// breaks where possible, then spaces; a code block cut in two is closed
// and reopened so both halves still render as code. limit must leave room
// for that (minSplit runes at least); Discord's is 2,000.
func splitContent(text string, limit int) []string {
	limit = max(limit, minSplit)
	text = strings.TrimRight(strings.ToValidUTF8(text, "\uFFFD"), " \n\t")
	if strings.TrimSpace(text) == "" {
		return nil
	}
	var out []string
	reopen := false
	for text != "" {
		prefix := 0
		if reopen {
			text = fence + "\n" + text
			prefix = len(fence) + 1
		}
		if utf8.RuneCountInString(text) <= limit {
			out = append(out, text)
			break
		}
		// Room for a closing fence, should this piece end inside a block.
		room := limit - len(fence) - 1
		head := string([]rune(text)[:room])
		cut := len(head)
		if i := strings.LastIndex(head, "\n"); i > prefix {
			cut = i
		} else if i := strings.LastIndex(head, " "); i > prefix {
			cut = i
		}
		// Never cut inside a run of backticks: half a fence opens no
		// block, and a run cut in two reads as other fences than it was.
		// A run longer than the piece is cut between whole fences.
		c := cut
		for c > prefix && c < len(text) && text[c-1] == '`' && text[c] == '`' {
			c--
		}
		if c > prefix {
			cut = c
		} else if whole := c + (cut-c)/len(fence)*len(fence); whole > c {
			cut = whole
		}
		piece := text[:cut]
		text = strings.TrimLeft(text[cut:], " \n")
		reopen = strings.Count(piece, fence)%2 == 1
		if reopen {
			piece += "\n" + fence
		}
		out = append(out, piece)
	}
	return out
}

// usersOnly lets Firebreak's messages ping the people and roles they name
// (escalation levels, role holders) but never @everyone or @here, whatever
// text an alert carried in. Text from outside is also escaped (bot.Escape),
// so it cannot name a role either; this is the second line of defence.
func usersOnly() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{discordgo.AllowedMentionTypeUsers, discordgo.AllowedMentionTypeRoles}}
}
