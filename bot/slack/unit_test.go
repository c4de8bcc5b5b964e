package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
)

func TestMrkdwn(t *testing.T) {
	tests := []struct{ in, want string }{
		{"**bold** text", "*bold* text"},
		{"see [runbook](https://x.example/rb)", "see <https://x.example/rb|runbook>"},
		{"<@U123> pressed", "<@U123> pressed"},
		{"`**kept**` and **b**", "`**kept**` and *b*"},
		{"_italic_ stays", "_italic_ stays"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) { assert.Equal(t, tt.want, mrkdwn(tt.in)) })
	}
}

func TestBlocks(t *testing.T) {
	m := bot.Message{
		Text:   "**#1** step",
		Fields: []bot.Field{{Label: "Severity", Value: "SEV2"}},
		Actions: []bot.Action{
			{ID: bot.ActionStepDone, Label: "Done", Style: bot.StylePrimary, Value: "1:validate"},
			{ID: bot.ActionResolve, Label: "Resolve", Style: bot.StyleDanger, Value: "1"},
			{ID: bot.ActionStepSkip, Label: "Skip", Value: "1:validate"},
		},
	}
	raw, err := json.Marshal(blocks(m))
	require.NoError(t, err)
	var got []map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got, 2)
	assert.Equal(t, "section", got[0]["type"])
	assert.Equal(t, "*#1* step", got[0]["text"].(map[string]any)["text"])
	assert.Equal(t, "*Severity*\nSEV2", got[0]["fields"].([]any)[0].(map[string]any)["text"])
	els := got[1]["elements"].([]any)
	require.Len(t, els, 3)
	tests := []struct{ id, value, style string }{
		{bot.ActionStepDone, "1:validate", "primary"},
		{bot.ActionResolve, "1", "danger"},
		{bot.ActionStepSkip, "1:validate", ""},
	}
	for i, tt := range tests {
		el := els[i].(map[string]any)
		assert.Equal(t, tt.id, el["action_id"])
		assert.Equal(t, tt.value, el["value"])
		style, _ := el["style"].(string)
		assert.Equal(t, tt.style, style)
	}

	noButtons, err := json.Marshal(blocks(bot.Message{Text: "done"}))
	require.NoError(t, err)
	assert.NotContains(t, string(noButtons), "actions")
}

func TestAlertText(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"plain", `{"text":"[FIRING:1] Disk full"}`, "[FIRING:1] Disk full"},
		{"alertmanager attachment", `{"text":"","attachments":[{"title":"[FIRING:2] HighErrorRate api (critical)","text":"5xx at 17%","fields":[{"title":"severity","value":"critical"}]}]}`,
			"[FIRING:2] HighErrorRate api (critical)\n5xx at 17%\nseverity: critical"},
		{"grafana pretext", `{"attachments":[{"pretext":"Grafana","title":"[Alerting] CPU"}]}`, "Grafana\n[Alerting] CPU"},
		{"fallback only", `{"attachments":[{"fallback":"Datadog: monitor triggered"}]}`, "Datadog: monitor triggered"},
		{"section block", `{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*Triggered*: p99 latency"},"fields":[{"type":"mrkdwn","text":"host: web-1"}]},{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"Ack"}}]}]}`,
			"*Triggered*: p99 latency\nhost: web-1"},
		{"rich text duplicate of text", `{"text":"db down","blocks":[{"type":"rich_text","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"db down"}]}]}]}`, "db down"},
		{"rich text with mention", `{"blocks":[{"type":"rich_text","elements":[{"type":"rich_text_section","elements":[{"type":"user","user_id":"U1"},{"type":"text","text":" disk full"}]}]}]}`, "<@U1> disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m inboundMessage
			require.NoError(t, json.Unmarshal([]byte(tt.raw), &m))
			assert.Equal(t, tt.want, alertText(m))
		})
	}
}

func FuzzAlertText(f *testing.F) {
	f.Add(`{"text":"a","attachments":[{"title":"t","fields":[{"title":"k","value":"v"}]}]}`)
	f.Add(`{"blocks":[{"type":"rich_text","elements":[{"type":"rich_text_list","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"x"}]}]}]}]}`)
	f.Add(`{"blocks":[{"type":"section","text":{"text":{"text":{"text":"deep"}}}}]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var m inboundMessage
		if json.Unmarshal([]byte(raw), &m) != nil {
			return
		}
		out := alertText(m)
		if utf8.ValidString(raw) && !utf8.ValidString(out) {
			t.Fatalf("valid input gave invalid UTF-8 %q", out)
		}
		if strings.TrimSpace(m.Text) != "" && !strings.Contains(out, strings.TrimSpace(m.Text)) {
			t.Fatalf("text %q missing from %q", m.Text, out)
		}
	})
}

func TestChannelSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"inc-42-api-gateway-5xx", "inc-42-api-gateway-5xx"},
		{"INC 42: API Gateway 5xx!", "inc-42-api-gateway-5xx"},
		{"---", "incident"},
		{strings.Repeat("ab ", 60), strings.TrimRight(strings.Repeat("ab-", 27), "-")},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := channelSlug(tt.in)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, len(got), 80)
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		ok      bool
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "no bot token", env: map[string]string{"SLACK_APP_TOKEN": "xapp-1"}},
		{name: "socket mode", env: map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, ok: true,
			check: func(t *testing.T, c Config) { assert.True(t, c.socketMode()) }},
		{name: "http mode", env: map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "http://127.0.0.1:1/api", "SLACK_PIN_EMOJI": ":round_pushpin:"}, ok: true,
			check: func(t *testing.T, c Config) {
				assert.False(t, c.socketMode())
				assert.Equal(t, "http://127.0.0.1:1/api/", c.APIURL)
				assert.Equal(t, "round_pushpin", c.PinEmoji)
			}},
		{name: "neither mode", env: map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}, ok: true, wantErr: "neither"},
		{name: "wrong app token", env: map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, ok: true, wantErr: "xapp-"},
		{name: "bad retries", env: map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_RETRIES": "many"}, ok: true, wantErr: "SLACK_RETRIES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			assert.Equal(t, tt.ok, ok)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestTTLSet(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s := newTTLSet(time.Minute, 2)
	s.now = func() time.Time { return now }
	assert.True(t, s.first("a"))
	assert.False(t, s.first("a"))
	assert.True(t, s.first(""), "empty keys are never deduplicated")
	now = now.Add(2 * time.Minute)
	assert.True(t, s.first("a"), "forgotten after the TTL")
	assert.True(t, s.first("b"))
	assert.True(t, s.first("c"))
	assert.LessOrEqual(t, len(s.seen), 2, "bounded")
}

func TestLRU(t *testing.T) {
	c := newLRU(2)
	c.put("a", "1")
	c.put("b", "2")
	_, _ = c.get("a")
	c.put("c", "3")
	_, ok := c.get("b")
	assert.False(t, ok, "least recently used entry evicted")
	v, ok := c.get("a")
	assert.True(t, ok)
	assert.Equal(t, "1", v)
}

func BenchmarkAlertText(b *testing.B) {
	raw := []byte(`{"type":"message","subtype":"bot_message","bot_id":"B1","text":"","attachments":[{"title":"[FIRING:2] HighErrorRate api-gateway (critical)","text":"5xx rate 17% on api-gateway\nrunbook: https://runbooks.example/5xx","fields":[{"title":"severity","value":"critical"},{"title":"cluster","value":"eu-1"}]}],"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*Firing* HighErrorRate"}}]}`)
	b.ReportAllocs()
	for b.Loop() {
		var m inboundMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			b.Fatal(err)
		}
		if alertText(m) == "" {
			b.Fatal("no text")
		}
	}
}

func BenchmarkBlocks(b *testing.B) {
	m := bot.Message{
		Text:   "**#42 · Step 2/5: Validate the user impact**\nCheck [the dashboard](https://grafana.example/d/api) and tell <@U123>.",
		Fields: []bot.Field{{Label: "Severity", Value: "SEV2"}, {Label: "Commander", Value: "<@U123>"}},
		Actions: []bot.Action{{ID: bot.ActionStepDone, Label: "Done", Style: bot.StylePrimary, Value: "42:validate"},
			{ID: bot.ActionStepSkip, Label: "Skip", Value: "42:validate"}, {ID: bot.ActionResolve, Label: "Resolve", Style: bot.StyleDanger, Value: "42"}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(blocks(m)); err != nil {
			b.Fatal(err)
		}
	}
}
