package slack

import (
	"regexp"
	"strings"

	"github.com/firebreak/firebreak/bot"
	"github.com/slack-go/slack"
)

var (
	boldRe = regexp.MustCompile(`\*\*([^*\n]+?)\*\*`)
	linkRe = regexp.MustCompile(`\[([^\]\n]+)\]\(([^)\s]+)\)`)
)

// maxSectionText is Slack's limit for a section block's text; longer text
// is cut so the whole post is not refused.
const maxSectionText = 3000

// mrkdwn converts Firebreak's portable markup to Slack mrkdwn. Code spans
// are left alone so their content is shown verbatim.
func mrkdwn(s string) string {
	var b strings.Builder
	parts := strings.Split(s, "`")
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('`')
		}
		if i%2 == 1 {
			b.WriteString(p)
			continue
		}
		p = linkRe.ReplaceAllString(p, "<$2|$1>")
		p = boldRe.ReplaceAllString(p, "*$1*")
		b.WriteString(p)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s[:n-1])
	return strings.ToValidUTF8(string(r), "") + "…"
}

// blocks renders m as Block Kit: a section with the text and fields, and
// an actions block holding the buttons.
func blocks(m bot.Message) []slack.Block {
	var out []slack.Block
	var text *slack.TextBlockObject
	if m.Text != "" {
		text = slack.NewTextBlockObject(slack.MarkdownType, truncate(mrkdwn(m.Text), maxSectionText), false, false)
	}
	var fields []*slack.TextBlockObject
	for i, f := range m.Fields {
		if i == 10 { // Slack allows ten fields per section.
			break
		}
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType,
			truncate("*"+f.Label+"*\n"+mrkdwn(f.Value), 2000), false, false))
	}
	if text != nil || len(fields) > 0 {
		out = append(out, slack.NewSectionBlock(text, fields, nil))
	}
	if len(m.Actions) > 0 {
		var els []slack.BlockElement
		for _, a := range m.Actions {
			btn := slack.NewButtonBlockElement(a.ID, a.Value,
				slack.NewTextBlockObject(slack.PlainTextType, truncate(a.Label, 75), false, false))
			switch a.Style {
			case bot.StylePrimary:
				btn.Style = slack.StylePrimary
			case bot.StyleDanger:
				btn.Style = slack.StyleDanger
			}
			els = append(els, btn)
		}
		out = append(out, slack.NewActionBlock("firebreak_actions", els...))
	}
	return out
}

// fallbackText is the notification text Slack shows where blocks are not
// rendered (push notifications, screen readers).
func fallbackText(m bot.Message) string {
	if m.Text != "" {
		return truncate(mrkdwn(m.Text), 4000)
	}
	var parts []string
	for _, f := range m.Fields {
		parts = append(parts, f.Label+": "+f.Value)
	}
	return strings.Join(parts, "\n")
}

// msgOptions is the chat.postMessage / chat.update body for m.
func msgOptions(m bot.Message) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(fallbackText(m), false)}
	if bs := blocks(m); len(bs) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(bs...))
	}
	return opts
}
