// Package slack connects Firebreak to Slack with github.com/slack-go/slack:
// Socket Mode (no public URL) or HTTP mode (signed requests to
// /slack/commands, /slack/interactions and /slack/events). It turns Slack
// messages, slash commands, button presses and reactions into bot.Event,
// and renders bot.Message as Block Kit.
package slack

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// DefaultPinEmoji is the reaction that adds a message to the timeline.
const DefaultPinEmoji = "pushpin"

// Config says how to reach Slack.
type Config struct {
	// BotToken (xoxb-…) calls the Web API.
	BotToken string
	// AppToken (xapp-…) selects Socket Mode.
	AppToken string
	// SigningSecret selects HTTP mode when AppToken is empty; every request
	// is verified with it.
	SigningSecret string
	// APIURL overrides the Web API base (GovSlack, proxies, tests); it must
	// end in "/api/".
	APIURL string
	// HTTPClient is used for every outgoing call; default: 10 s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// PinEmoji is the reaction name (without colons) that pins a message to
	// the incident timeline; default "pushpin".
	PinEmoji string
	// Retries bounds retries of rate-limited (429) and 5xx calls; default 3,
	// negative disables.
	Retries int
}

// ConfigFromEnv reads SLACK_BOT_TOKEN, SLACK_APP_TOKEN,
// SLACK_SIGNING_SECRET, SLACK_API_URL, SLACK_PIN_EMOJI and SLACK_RETRIES.
// ok is false when SLACK_BOT_TOKEN is unset: Slack is simply not in use.
func ConfigFromEnv(getenv func(string) string) (Config, bool, error) {
	cfg := Config{
		BotToken:      strings.TrimSpace(getenv("SLACK_BOT_TOKEN")),
		AppToken:      strings.TrimSpace(getenv("SLACK_APP_TOKEN")),
		SigningSecret: strings.TrimSpace(getenv("SLACK_SIGNING_SECRET")),
		APIURL:        strings.TrimSpace(getenv("SLACK_API_URL")),
		PinEmoji:      strings.Trim(strings.TrimSpace(getenv("SLACK_PIN_EMOJI")), ":"),
	}
	if cfg.BotToken == "" {
		return Config{}, false, nil
	}
	if cfg.AppToken == "" && cfg.SigningSecret == "" {
		return Config{}, true, errors.New("slack: SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is")
	}
	if cfg.AppToken != "" && !strings.HasPrefix(cfg.AppToken, "xapp-") {
		return Config{}, true, errors.New("slack: SLACK_APP_TOKEN must be an app-level token starting with xapp-")
	}
	if cfg.APIURL != "" && !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if s := strings.TrimSpace(getenv("SLACK_RETRIES")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Config{}, true, errors.New("slack: SLACK_RETRIES must be a whole number, got " + strconv.Quote(s))
		}
		cfg.Retries = n
	}
	return cfg, true, nil
}

// socketMode reports whether the adapter connects out over Socket Mode.
func (c Config) socketMode() bool { return c.AppToken != "" }
