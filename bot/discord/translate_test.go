package discord

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
)

func opt(name string, typ discordgo.ApplicationCommandOptionType, v any) *discordgo.ApplicationCommandInteractionDataOption {
	return &discordgo.ApplicationCommandInteractionDataOption{Name: name, Type: typ, Value: v}
}

func sub(name string, opts ...*discordgo.ApplicationCommandInteractionDataOption) discordgo.ApplicationCommandInteractionData {
	return discordgo.ApplicationCommandInteractionData{Name: "incident", Options: []*discordgo.ApplicationCommandInteractionDataOption{
		{Name: name, Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts},
	}}
}

func TestCommandText(t *testing.T) {
	const (
		str  = discordgo.ApplicationCommandOptionString
		num  = discordgo.ApplicationCommandOptionInteger
		user = discordgo.ApplicationCommandOptionUser
		boo  = discordgo.ApplicationCommandOptionBoolean
	)
	tests := []struct {
		name string
		data discordgo.ApplicationCommandInteractionData
		want string
		err  string
	}{
		{"declare with severity", sub("declare", opt("title", str, "API  down"), opt("severity", str, "SEV2")), "declare API down --sev SEV2", ""},
		{"declare without severity", sub("declare", opt("title", str, "checkout errors")), "declare checkout errors", ""},
		{"declare needs a title", sub("declare", opt("title", str, "  ")), "", "title is required"},
		{"ack implied", sub("ack"), "ack", ""},
		{"ack named", sub("ack", opt("incident", num, 12.0)), "#12 ack", ""},
		{"step done with note", sub("step-done", opt("note", str, "restarted"), opt("incident", num, 3.0)), "#3 step done restarted", ""},
		{"step done bare", sub("step-done"), "step done", ""},
		{"step skip", sub("step-skip", opt("reason", str, "no access\r\nto prod")), "step skip no access to prod", ""},
		{"step skip needs a reason", sub("step-skip"), "", "reason is required"},
		{"note", sub("note", opt("text", str, "db failover done")), "note db failover done", ""},
		{"followup", sub("followup", opt("text", str, "add an alert")), "followup add an alert", ""},
		{"update", sub("update", opt("text", str, "degraded")), "update degraded", ""},
		{"role", sub("role", opt("role", str, "commander"), opt("user", user, "80351110224678912")), "role commander <@80351110224678912>", ""},
		{"role needs a user", sub("role", opt("role", str, "comms")), "", "user is required"},
		{"role user must be an id", sub("role", opt("role", str, "comms"), opt("user", user, "<@1>")), "", "not a user"},
		{"severity", sub("severity", opt("level", str, "SEV1"), opt("incident", num, 9.0)), "#9 severity SEV1", ""},
		{"resolve with summary", sub("resolve", opt("summary", str, "rolled back")), "resolve rolled back", ""},
		{"resolve bare", sub("resolve"), "resolve", ""},
		{"list all", sub("list", opt("all", boo, true)), "list all", ""},
		{"list open", sub("list", opt("all", boo, false)), "list", ""},
		{"help", sub("help"), "help", ""},
		{"timeline", sub("timeline"), "timeline", ""},
		{"postmortem", sub("postmortem", opt("incident", num, 1.0)), "#1 postmortem", ""},
		{"fractional incident", sub("ack", opt("incident", num, 1.5)), "", "whole number"},
		{"negative incident", sub("ack", opt("incident", num, -1.0)), "", "whole number"},
		{"incident as text", sub("ack", opt("incident", str, "4")), "", "whole number"},
		{"text as number", sub("note", opt("text", num, 4.0)), "", "not text"},
		{"unknown subcommand", sub("page"), "", "unknown command"},
		{"other command", discordgo.ApplicationCommandInteractionData{Name: "ping"}, "", "unknown command"},
		{"no subcommand", discordgo.ApplicationCommandInteractionData{Name: "incident"}, "", "needs a subcommand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := commandText(tt.data)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestCommandTextParses checks that every translation is a command the
// core parser accepts, with the meaning the options had.
func TestCommandTextParses(t *testing.T) {
	tests := []struct {
		data discordgo.ApplicationCommandInteractionData
		want bot.Command
	}{
		{sub("declare", opt("title", discordgo.ApplicationCommandOptionString, "db on sev"), opt("severity", discordgo.ApplicationCommandOptionString, "SEV2")), bot.Command{Name: "declare", Args: "db on sev", Severity: 2}},
		{sub("step-skip", opt("reason", discordgo.ApplicationCommandOptionString, "n/a"), opt("incident", discordgo.ApplicationCommandOptionInteger, 4.0)), bot.Command{Name: "step", Sub: "skip", Incident: 4, Args: "n/a"}},
		{sub("role", opt("role", discordgo.ApplicationCommandOptionString, "comms"), opt("user", discordgo.ApplicationCommandOptionUser, "123")), bot.Command{Name: "role", Role: "comms", User: "<@123>"}},
		{sub("list", opt("all", discordgo.ApplicationCommandOptionBoolean, true)), bot.Command{Name: "list", All: true}},
	}
	for _, tt := range tests {
		t.Run(tt.want.Name, func(t *testing.T) {
			text, err := commandText(tt.data)
			require.NoError(t, err)
			got, err := bot.ParseCommand(text)
			require.NoError(t, err, text)
			assert.Equal(t, tt.want.Name, got.Name)
			assert.Equal(t, tt.want.Sub, got.Sub)
			assert.Equal(t, tt.want.Incident, got.Incident)
			assert.Equal(t, tt.want.Args, got.Args)
			assert.EqualValues(t, tt.want.Severity, got.Severity)
			assert.EqualValues(t, tt.want.Role, got.Role)
			assert.Equal(t, tt.want.User, got.User)
			assert.Equal(t, tt.want.All, got.All)
		})
	}
}

func TestCommandDefinitionFitsDiscord(t *testing.T) {
	def := commandDefinition()
	_, err := json.Marshal(def)
	require.NoError(t, err)
	// Discord caps the names, descriptions and choice values of one
	// command at 8,000 characters in all.
	total := len(def.Name) + len(def.Description)
	var walk func([]*discordgo.ApplicationCommandOption)
	walk = func(opts []*discordgo.ApplicationCommandOption) {
		for _, o := range opts {
			total += len(o.Name) + len(o.Description)
			for _, c := range o.Choices {
				total += len(c.Name) + len(c.Value.(string))
			}
			walk(o.Options)
		}
	}
	walk(def.Options)
	assert.Less(t, total, 8000)
	for _, s := range def.Options {
		assert.Equal(t, discordgo.ApplicationCommandOptionSubCommand, s.Type, s.Name)
		optional := false
		for _, o := range s.Options {
			assert.False(t, optional && o.Required, "%s: required option %s after an optional one", s.Name, o.Name)
			optional = optional || !o.Required
		}
	}
}

func TestAlertText(t *testing.T) {
	tests := []struct {
		name string
		m    *discordgo.Message
		want string
	}{
		{"content only", &discordgo.Message{Content: " disk full "}, "disk full"},
		{"grafana embed", &discordgo.Message{Embeds: []*discordgo.MessageEmbed{{
			Title: "[Alerting] CPU", Description: "cpu > 90%",
			Fields: []*discordgo.MessageEmbedField{{Name: "host", Value: "web-1"}, {Name: "", Value: "orphan"}, nil},
			Footer: &discordgo.MessageEmbedFooter{Text: "Grafana v11"},
		}}}, "[Alerting] CPU\ncpu > 90%\nhost: web-1\norphan\nGrafana v11"},
		{"content and two embeds", &discordgo.Message{Content: "@here", Embeds: []*discordgo.MessageEmbed{{Title: "a"}, nil, {Description: "b"}}}, "@here\na\nb"},
		{"empty", &discordgo.Message{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, alertText(tt.m))
		})
	}
}

func TestActorName(t *testing.T) {
	u := &discordgo.User{ID: "1", Username: "ann", GlobalName: "Ann"}
	assert.Equal(t, "Ann SRE", actor(u, &discordgo.Member{Nick: "Ann SRE"}).Name)
	assert.Equal(t, "Ann", actor(u, &discordgo.Member{}).Name)
	assert.Equal(t, "ann", actor(&discordgo.User{ID: "1", Username: "ann"}, nil).Name)
	assert.Equal(t, "1", actor(nil, &discordgo.Member{User: u}).ID)
	assert.Equal(t, "discord", actor(nil, nil).Platform)
}

func TestRenderButtons(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var actions []bot.Action
	for i := range 27 {
		actions = append(actions, bot.Action{ID: "a", Label: "Button", Value: strings.Repeat("x", i)})
	}
	actions = append(actions, bot.Action{ID: "long", Value: strings.Repeat("v", 100)}, bot.Action{ID: "a", Value: ""})
	rows := buttons(actions, log)
	require.Len(t, rows, maxRows)
	n := 0
	for _, r := range rows {
		n += len(r.(discordgo.ActionsRow).Components)
	}
	assert.Equal(t, 25, n, "at most 25 buttons, the rest left out")

	id, ok := customID(bot.Action{ID: "step_done", Value: "4:check|db"})
	require.True(t, ok)
	a, v, ok := parseCustomID(id)
	require.True(t, ok)
	assert.Equal(t, "step_done", a)
	assert.Equal(t, "4:check|db", v)
	_, ok = customID(bot.Action{ID: "has|bar", Value: "1"})
	assert.False(t, ok)
	_, _, ok = parseCustomID("nobar")
	assert.False(t, ok)
}

func TestRenderFieldsAndEdit(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := render(bot.Message{Fields: []bot.Field{{Label: "", Value: ""}, {Label: "Summary", Value: strings.Repeat("s", 2000)}}}, log)
	require.Len(t, r.sends(), 1)
	e := r.embeds[0]
	assert.Equal(t, zeroWidth, e.Fields[0].Name)
	assert.True(t, e.Fields[0].Inline)
	assert.Equal(t, maxFieldValue, utf8.RuneCountInString(e.Fields[1].Value))
	assert.False(t, e.Fields[1].Inline)

	ed := renderEdit("c", "m", bot.Message{Text: strings.Repeat("é", 2500)}, log)
	assert.Equal(t, maxContent, utf8.RuneCountInString(*ed.Content))
	assert.NotNil(t, ed.Components)
	assert.Empty(t, *ed.Components)
	assert.Empty(t, render(bot.Message{}, log).sends())
}

func TestSplitContent(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"short", "hello", 20, []string{"hello"}},
		{"blank", " \n ", 20, nil},
		{"at lines", "aaaaaaaa\nbbbbbbbb\ncccc", 20, []string{"aaaaaaaa", "bbbbbbbb\ncccc"}},
		{"at spaces", "aaaaaaaa bbbbbbbb cccc", 20, []string{"aaaaaaaa", "bbbbbbbb cccc"}},
		{"code block reopened", "```\n11111111\n22222222\n```", 20, []string{"```\n11111111\n```", "```\n22222222\n```"}},
		{"fence kept whole", "0000000000```0000", 16, []string{"0000000000", "```0000"}},
		{"tiny limit raised", "aaaa bbbb cccc dddd", 4, []string{"aaaa bbbb", "cccc dddd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitContent(tt.text, tt.limit)
			assert.Equal(t, tt.want, got)
			for _, p := range got {
				assert.LessOrEqual(t, utf8.RuneCountInString(p), max(tt.limit, minSplit))
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name string
		env  func(string) string
		ok   bool
		err  string
		want Config
	}{
		{"not configured", env(), false, "", Config{}},
		{"token without app", env("DISCORD_BOT_TOKEN", "t"), false, "DISCORD_APP_ID", Config{}},
		{"minimal", env("DISCORD_BOT_TOKEN", "Bot abc", "DISCORD_APP_ID", "123"), true, "", Config{BotToken: "abc", AppID: "123"}},
		{"full", env("DISCORD_BOT_TOKEN", "abc", "DISCORD_APP_ID", "123", "DISCORD_GUILD_ID", "456", "DISCORD_API_URL", "http://127.0.0.1:9"), true, "", Config{BotToken: "abc", AppID: "123", GuildID: "456", APIURL: "http://127.0.0.1:9"}},
		{"bad app id", env("DISCORD_BOT_TOKEN", "abc", "DISCORD_APP_ID", "my-app"), false, "DISCORD_APP_ID", Config{}},
		{"bad guild", env("DISCORD_BOT_TOKEN", "abc", "DISCORD_APP_ID", "1", "DISCORD_GUILD_ID", "x"), false, "DISCORD_GUILD_ID", Config{}},
		{"bad url", env("DISCORD_BOT_TOKEN", "abc", "DISCORD_APP_ID", "1", "DISCORD_API_URL", "ftp://x"), false, "DISCORD_API_URL", Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ok, err := ConfigFromEnv(tt.env)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestAPIBase(t *testing.T) {
	tests := map[string]string{
		"":                               "",
		"http://127.0.0.1:8080":          "http://127.0.0.1:8080/api/v9",
		"https://proxy.example/":         "https://proxy.example/api/v9",
		"https://proxy.example/api/v10/": "https://proxy.example/api/v10",
	}
	for in, want := range tests {
		got, err := apiBase(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}

func TestPermissionsAndInvite(t *testing.T) {
	assert.Equal(t, int64(311385246784), Permissions)
	assert.Equal(t, "https://discord.com/oauth2/authorize?client_id=42&permissions=311385246784&scope=bot+applications.commands", InviteURL("42"))
}

func TestPinEmoji(t *testing.T) {
	p := newPinEmoji("")
	assert.True(t, p.matches(discordgo.Emoji{Name: "📌"}))
	assert.True(t, p.matches(discordgo.Emoji{Name: "pushpin"}))
	assert.False(t, p.matches(discordgo.Emoji{Name: "👍"}))
	w := newPinEmoji(":warning:")
	assert.True(t, w.matches(discordgo.Emoji{Name: "⚠"}), "with or without the presentation selector")
	c := newPinEmoji("firebreak_pin")
	assert.True(t, c.matches(discordgo.Emoji{ID: "9", Name: "firebreak_pin"}))
	assert.False(t, c.matches(discordgo.Emoji{}))
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2", 2 * time.Second, true},
		{"0.25", 250 * time.Millisecond, true},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"1e30", maxWait, true},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestSeenEventsForgetsOldest(t *testing.T) {
	s := newSeenEvents(2)
	assert.True(t, s.first("a"))
	assert.False(t, s.first("a"))
	assert.True(t, s.first("b"))
	assert.True(t, s.first("c"))
	assert.True(t, s.first("a"), "a was forgotten once the memory was full")
	assert.False(t, s.first("c"))
}
