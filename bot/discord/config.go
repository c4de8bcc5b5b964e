package discord

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Config is what the adapter needs to reach Discord.
type Config struct {
	// BotToken is the bot's token from the developer portal (without "Bot ").
	BotToken string
	// AppID is the application id; slash commands are registered under it.
	AppID string
	// GuildID, when set, registers the commands on that guild only, where
	// they are available at once; global commands may take a while to appear.
	GuildID string
	// APIURL replaces https://discord.com for REST calls, e.g. a rate-limit
	// proxy. A base without a path gets /api/v9 appended; one ending in
	// /api/v<N> is used as is.
	APIURL string
	// HTTPClient makes the REST calls (default: a client with a timeout).
	// The adapter wraps its transport with the API URL rewrite and retries.
	HTTPClient *http.Client
	// Logger gets the adapter's structured logs (default slog.Default()).
	Logger *slog.Logger
	// PinEmoji is the reaction that adds a message to an incident's
	// timeline: a name such as "pushpin", a Unicode emoji, or a custom
	// emoji's name (default "pushpin").
	PinEmoji string
}

// snowflake is the shape of a Discord id: a decimal number of up to 20 digits.
var snowflake = regexp.MustCompile(`^[0-9]{1,20}$`)

// ConfigFromEnv reads DISCORD_BOT_TOKEN, DISCORD_APP_ID, DISCORD_GUILD_ID
// and DISCORD_API_URL. ok is false when no token is set (Discord is not
// configured); a token without an application id is an error, so a half
// configuration fails at start-up instead of running without Discord.
func ConfigFromEnv(getenv func(string) string) (cfg Config, ok bool, err error) {
	token := strings.TrimSpace(getenv("DISCORD_BOT_TOKEN"))
	if token == "" {
		return Config{}, false, nil
	}
	cfg = Config{
		BotToken: strings.TrimPrefix(token, "Bot "),
		AppID:    strings.TrimSpace(getenv("DISCORD_APP_ID")),
		GuildID:  strings.TrimSpace(getenv("DISCORD_GUILD_ID")),
		APIURL:   strings.TrimSpace(getenv("DISCORD_API_URL")),
	}
	if cfg.AppID == "" {
		return Config{}, false, errors.New("DISCORD_BOT_TOKEN is set but DISCORD_APP_ID is not: copy the Application ID from the developer portal's General Information page")
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, false, err
	}
	return cfg, true, nil
}

// Validate reports the first problem with the configuration, naming the
// environment variable to fix.
func (c Config) Validate() error {
	switch {
	case c.BotToken == "":
		return errors.New("DISCORD_BOT_TOKEN is empty")
	case strings.ContainsAny(c.BotToken, " \t\r\n"):
		return errors.New("DISCORD_BOT_TOKEN contains white space; paste the token exactly as the developer portal shows it")
	case !snowflake.MatchString(c.AppID):
		return fmt.Errorf("DISCORD_APP_ID %q is not a Discord id (digits only)", c.AppID)
	case c.GuildID != "" && !snowflake.MatchString(c.GuildID):
		return fmt.Errorf("DISCORD_GUILD_ID %q is not a Discord id (digits only)", c.GuildID)
	}
	if _, err := apiBase(c.APIURL); err != nil {
		return err
	}
	return nil
}

// apiVersionPath matches a base URL that already names the API version.
var apiVersionPath = regexp.MustCompile(`/api/v[0-9]+/?$`)

// apiBase turns DISCORD_API_URL into the base that replaces
// https://discord.com/api/v9 ("" keeps Discord).
func apiBase(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("DISCORD_API_URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("DISCORD_API_URL %q: want an http:// or https:// URL with a host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("DISCORD_API_URL %q: a base URL has no query or fragment", raw)
	}
	base := strings.TrimSuffix(u.String(), "/")
	if !apiVersionPath.MatchString(u.Path) {
		base += "/api/v9"
	}
	return base, nil
}
