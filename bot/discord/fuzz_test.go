package discord

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/bot"
)

// FuzzCommandText feeds interaction data as Discord could send it: the
// translation must not panic, must be one line, and must be something the
// core parser reads without panicking.
func FuzzCommandText(f *testing.F) {
	f.Add(`{"name":"incident","options":[{"name":"step-skip","type":1,"options":[{"name":"reason","type":3,"value":"no"},{"name":"incident","type":4,"value":4}]}]}`)
	f.Add(`{"name":"incident","options":[{"name":"role","type":1,"options":[{"name":"role","type":3,"value":"comms"},{"name":"user","type":6,"value":"123"}]}]}`)
	f.Add(`{"name":"incident","options":[{"name":"declare","type":1,"options":[{"name":"title","type":3,"value":"x\u2028y"},{"name":"severity","type":3,"value":"SEV9"}]}]}`)
	f.Add(`{"name":"incident","options":[{"name":"list","type":1,"options":[{"name":"all","type":5,"value":"yes"}]}]}`)
	f.Add(`{"name":"incident","options":[{"name":"ack","type":1,"options":[{"name":"incident","type":4,"value":1e300}]}]}`)
	f.Add(`{"name":"incident","options":[null]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var data discordgo.ApplicationCommandInteractionData
		if json.Unmarshal([]byte(raw), &data) != nil {
			return
		}
		text, err := commandText(data)
		if err != nil {
			return
		}
		if strings.ContainsFunc(text, unicode.IsControl) || strings.ContainsAny(text, "\u2028\u2029") {
			t.Fatalf("command text %q spans lines", text)
		}
		if !utf8.ValidString(text) {
			t.Fatalf("command text %q is not UTF-8", text)
		}
		_, _ = bot.ParseCommand(text)
	})
}

// FuzzCustomID checks that what a button carries reads back as it was.
func FuzzCustomID(f *testing.F) {
	f.Add("step_done", "4:check")
	f.Add("ack", "")
	f.Add("a|b", "c")
	f.Add("x", "é|||")
	f.Fuzz(func(t *testing.T, id, value string) {
		s, ok := customID(bot.Action{ID: id, Value: value})
		if !ok {
			_, _, _ = parseCustomID(id + "|" + value)
			return
		}
		if utf8.RuneCountInString(s) > maxCustomID {
			t.Fatalf("custom id %q is over %d characters", s, maxCustomID)
		}
		gotID, gotValue, ok := parseCustomID(s)
		if !ok || gotID != id || gotValue != value {
			t.Fatalf("custom id %q read back as (%q, %q, %v), want (%q, %q)", s, gotID, gotValue, ok, id, value)
		}
	})
}

// FuzzRateLimitWait reads what a server says about waiting: never negative,
// never longer than maxWait, and the body is left for discordgo to read.
func FuzzRateLimitWait(f *testing.F) {
	f.Add(`{"retry_after": 0.5, "global": false}`, "1", "0.5", "")
	f.Add(`{"retry_after": -3}`, "Wed, 25 Nov 2026 08:00:00 GMT", "", "true")
	f.Add(`not json`, "", "1e400", "")
	f.Add(`{"retry_after": 1e308}`, "NaN", "Inf", "TRUE")
	f.Fuzz(func(t *testing.T, body, retryAfter, resetAfter, global string) {
		resp := &http.Response{Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
		resp.Header.Set("Retry-After", retryAfter)
		resp.Header.Set("X-RateLimit-Reset-After", resetAfter)
		resp.Header.Set("X-RateLimit-Global", global)
		wait, _ := rateLimitWait(resp)
		if wait < 0 || wait > maxWait {
			t.Fatalf("wait %v out of [0, %v]", wait, maxWait)
		}
		rest, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(rest, []byte(body)[:min(len(body), 64<<10)]) {
			t.Fatalf("body not put back: %q, %v", rest, err)
		}
	})
}

// FuzzAlertText reads messages as the gateway could deliver them.
func FuzzAlertText(f *testing.F) {
	f.Add(`{"content":"x","embeds":[{"title":"t","fields":[{"name":"a","value":"b"},null],"footer":{"text":"f"}},null]}`)
	f.Add(`{"embeds":[{"footer":null}]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var m discordgo.Message
		if json.Unmarshal([]byte(raw), &m) != nil {
			return
		}
		text := alertText(&m)
		if text != strings.TrimSpace(text) {
			t.Fatalf("alert text %q has surrounding space", text)
		}
	})
}

// FuzzSplitContent checks that split text fits Discord's limit and loses
// nothing but the white space it was cut at.
func FuzzSplitContent(f *testing.F) {
	f.Add("hello world", 10)
	f.Add("```\ncode\n```\nmore text here", 12)
	f.Add(strings.Repeat("é", 50), 16)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < minSplit || limit > 4000 || !utf8.ValidString(text) {
			return
		}
		pieces := splitContent(text, limit)
		var all strings.Builder
		for _, p := range pieces {
			if n := utf8.RuneCountInString(p); n > limit {
				t.Fatalf("piece of %d runes over limit %d: %q", n, limit, p)
			}
			all.WriteString(strings.ReplaceAll(p, fence, ""))
		}
		squash := func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
		}
		if squash(all.String()) != squash(strings.ReplaceAll(text, fence, "")) {
			t.Fatalf("text changed:\n in: %q\nout: %q", text, pieces)
		}
	})
}
