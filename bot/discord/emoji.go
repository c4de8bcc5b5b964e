package discord

import (
	"strings"

	"github.com/bwmarrin/discordgo"
)

// defaultPinEmoji is the reaction that pins a message to the timeline.
const defaultPinEmoji = "pushpin"

// pinEmoji matches reactions against the configured pin emoji. Slack-style
// names ("pushpin") are what playbooks.yaml uses, while Discord reports a
// Unicode emoji by its character and a custom emoji by its name, so both
// spellings match.
type pinEmoji struct {
	name    string // as configured, without colons
	unicode string // the character for a known name, or ""
}

func newPinEmoji(configured string) pinEmoji {
	name := strings.Trim(strings.TrimSpace(configured), ":")
	if name == "" {
		name = defaultPinEmoji
	}
	return pinEmoji{name: name, unicode: unicodeEmoji(name)}
}

func (p pinEmoji) matches(e discordgo.Emoji) bool {
	// Clients differ on the emoji presentation selector (U+FE0F); ignore it.
	name := strings.ReplaceAll(e.Name, "\ufe0f", "")
	return name != "" && (name == strings.ReplaceAll(p.name, "\ufe0f", "") || name == strings.ReplaceAll(p.unicode, "\ufe0f", ""))
}

// unicodeEmoji returns the character for the emoji names teams commonly
// pick for pinning, or "" for any other name (a custom emoji).
func unicodeEmoji(name string) string {
	switch name {
	case "pushpin":
		return "📌"
	case "round_pushpin":
		return "📍"
	case "paperclip":
		return "📎"
	case "memo", "pencil":
		return "📝"
	case "bookmark":
		return "🔖"
	case "star":
		return "⭐"
	case "eyes":
		return "👀"
	case "fire":
		return "🔥"
	case "warning":
		return "⚠️"
	case "white_check_mark":
		return "✅"
	case "heavy_check_mark":
		return "✔️"
	case "exclamation":
		return "❗"
	case "rotating_light":
		return "🚨"
	case "point_up":
		return "☝️"
	}
	return ""
}
