package slack

import (
	"encoding/json"
	"strings"
)

// inboundMessage is the part of a Slack message (message event, history
// entry) that Firebreak reads. Apps such as Alertmanager, Grafana and
// Datadog leave text empty and put the alert in attachments and blocks.
type inboundMessage struct {
	Type        string            `json:"type"`
	SubType     string            `json:"subtype"`
	Channel     string            `json:"channel"`
	User        string            `json:"user"`
	BotID       string            `json:"bot_id"`
	Username    string            `json:"username"`
	Text        string            `json:"text"`
	TS          string            `json:"ts"`
	ThreadTS    string            `json:"thread_ts"`
	Attachments []inboundAttach   `json:"attachments"`
	Blocks      []json.RawMessage `json:"blocks"`
	// Message is set for message_changed; the new version lives here.
	Message *inboundMessage `json:"message"`
	// BotProfile names the app for bot messages.
	BotProfile *struct {
		Name string `json:"name"`
	} `json:"bot_profile"`
}

type inboundAttach struct {
	Pretext string `json:"pretext"`
	Title   string `json:"title"`
	Text    string `json:"text"`
	Fields  []struct {
		Title string `json:"title"`
		Value string `json:"value"`
	} `json:"fields"`
	Fallback string `json:"fallback"`
}

// maxBlockDepth bounds recursion into nested rich text so a hostile
// payload cannot exhaust the stack.
const maxBlockDepth = 8

// alertText joins everything a human would read in the message: its text,
// each attachment's pretext, title, text and fields ("title: value"), and
// the text of section and rich text blocks, one piece per line.
func alertText(m inboundMessage) string {
	var parts []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	add(m.Text)
	for _, a := range m.Attachments {
		add(a.Pretext)
		add(a.Title)
		add(a.Text)
		for _, f := range a.Fields {
			switch {
			case f.Title != "" && f.Value != "":
				add(f.Title + ": " + f.Value)
			default:
				add(f.Title + f.Value)
			}
		}
		if a.Pretext == "" && a.Title == "" && a.Text == "" && len(a.Fields) == 0 {
			add(a.Fallback)
		}
	}
	for _, raw := range m.Blocks {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		if s := blockText(v, 0); s != m.Text || m.Text == "" {
			add(s)
		}
	}
	return strings.Join(parts, "\n")
}

// blockText reads the words out of one section, header, context or rich
// text block. Buttons and images carry no alert text and are skipped.
func blockText(v any, depth int) string {
	if depth > maxBlockDepth {
		return ""
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	typ, _ := obj["type"].(string)
	switch typ {
	case "actions", "image", "divider", "button", "input", "file":
		return ""
	case "rich_text", "rich_text_section", "rich_text_preformatted", "rich_text_quote", "rich_text_list":
		els, _ := obj["elements"].([]any)
		var b strings.Builder
		for _, e := range els {
			s := blockText(e, depth+1)
			if typ == "rich_text" || typ == "rich_text_list" {
				if s != "" && b.Len() > 0 {
					b.WriteByte('\n')
				}
			}
			b.WriteString(s)
		}
		return b.String()
	case "text", "mrkdwn", "plain_text":
		s, _ := obj["text"].(string)
		return s
	case "link":
		if s, _ := obj["text"].(string); s != "" {
			return s
		}
		s, _ := obj["url"].(string)
		return s
	case "user":
		id, _ := obj["user_id"].(string)
		return "<@" + id + ">"
	case "emoji":
		name, _ := obj["name"].(string)
		return ":" + name + ":"
	}
	var lines []string
	if t, ok := obj["text"]; ok {
		if s := blockText(t, depth+1); s != "" {
			lines = append(lines, s)
		}
	}
	for _, key := range []string{"fields", "elements"} {
		list, _ := obj[key].([]any)
		for _, f := range list {
			if s := blockText(f, depth+1); s != "" {
				lines = append(lines, s)
			}
		}
	}
	return strings.Join(lines, "\n")
}
