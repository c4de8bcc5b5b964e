package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
	"github.com/slack-go/slack"
)

// Platform is the name Firebreak uses for Slack in events and timelines.
const Platform = "slack"

const (
	defaultTimeout = 10 * time.Second
	defaultRetries = 3
	// cacheSize bounds the user and channel name caches.
	cacheSize = 2048
	// dedupeTTL covers Slack's redelivery schedule (retries after about 1
	// s, 1 min and 5 min) and the 5-minute signature window.
	dedupeTTL = 10 * time.Minute
	// handleTimeout bounds the work done for one event after it is acked.
	handleTimeout = 2 * time.Minute
)

var (
	_ bot.Chat           = (*Adapter)(nil)
	_ bot.ChannelCreator = (*Adapter)(nil)
)

// Adapter is Firebreak's Slack connection. It implements bot.Chat and
// bot.ChannelCreator; events go to the bot.Handler given to New.
type Adapter struct {
	cfg Config
	api *slack.Client
	// out makes the calls the outbox makes (Post, Update, Upload) without
	// retrying: the outbox retries them within its own bounds, honouring
	// the Retry-After this client hands back (see classified).
	out  *slack.Client
	h    bot.Handler
	log  *slog.Logger
	hc   *http.Client
	pin  string
	seen *ttlSet

	users    *lru
	channels *lru

	mu        sync.Mutex
	botUserID string
	botID     string
	// authed is closed once auth.test has told us who we are, so
	// Firebreak's own messages can be recognised and ignored.
	authed chan struct{}
	once   sync.Once

	wg sync.WaitGroup
}

// New builds an adapter; nothing is contacted until Run.
func New(cfg Config, h bot.Handler) (*Adapter, error) {
	if cfg.BotToken == "" {
		return nil, errors.New("slack: a bot token (SLACK_BOT_TOKEN) is required")
	}
	if cfg.AppToken == "" && cfg.SigningSecret == "" {
		return nil, errors.New("slack: an app token (Socket Mode) or a signing secret (HTTP mode) is required")
	}
	if h == nil {
		return nil, errors.New("slack: a handler is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("platform", Platform)
	retries := cfg.Retries
	if retries == 0 {
		retries = defaultRetries
	}
	opts := []slack.Option{slack.OptionHTTPClient(hc)}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	out := slack.New(cfg.BotToken, opts...)
	if retries > 0 {
		rc := slack.DefaultRetryConfig()
		rc.MaxRetries = retries
		rc.RetryAfterJitter = 250 * time.Millisecond
		// Only answers that prove Slack did not act on the request are
		// retried: 429 (after Retry-After) and 5xx (backoff with jitter).
		// A connection that breaks after the request was sent is not, so a
		// message whose answer was lost is never posted twice.
		rc.Handlers = []slack.RetryHandler{
			slack.NewRateLimitErrorRetryHandler(rc),
			slack.NewServerErrorRetryHandler(rc),
		}
		opts = append(opts, slack.OptionRetryConfig(rc))
	}
	pin := cfg.PinEmoji
	if pin == "" {
		pin = DefaultPinEmoji
	}
	return &Adapter{
		cfg:      cfg,
		api:      slack.New(cfg.BotToken, opts...),
		out:      out,
		h:        h,
		log:      log,
		hc:       hc,
		pin:      pin,
		seen:     newTTLSet(dedupeTTL, 100_000),
		users:    newLRU(cacheSize),
		channels: newLRU(cacheSize),
		authed:   make(chan struct{}),
	}, nil
}

// Platform returns "slack".
func (a *Adapter) Platform() string { return Platform }

// Run connects to Slack and processes events until ctx is done. In Socket
// Mode it holds the websocket (reconnecting as needed); in HTTP mode
// events arrive through HTTPHandler and Run only checks the token.
func (a *Adapter) Run(ctx context.Context) error {
	if err := a.authTest(ctx); err != nil {
		return err
	}
	defer a.wg.Wait()
	if !a.cfg.socketMode() {
		<-ctx.Done()
		return nil
	}
	return a.runSocket(ctx)
}

func (a *Adapter) authTest(ctx context.Context) error {
	res, err := a.api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("slack: auth.test with SLACK_BOT_TOKEN: %w", err)
	}
	a.mu.Lock()
	a.botUserID, a.botID = res.UserID, res.BotID
	a.mu.Unlock()
	a.once.Do(func() { close(a.authed) })
	a.log.Info("slack: connected", "team", res.Team, "bot_user", res.UserID, "socket_mode", a.cfg.socketMode())
	return nil
}

// own reports whether a message was posted by Firebreak itself.
func (a *Adapter) own(user, botID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return (user != "" && user == a.botUserID) || (botID != "" && botID == a.botID)
}

// dispatch runs the handler for ev after Slack has been acknowledged, in
// its own goroutine so the ack is never late.
func (a *Adapter) dispatch(ev bot.Event, r bot.Replier) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), handleTimeout)
		defer cancel()
		if err := a.h.Handle(ctx, ev, r); err != nil {
			a.log.Warn("slack: handling event failed", "event", ev.ID, "kind", ev.Kind, "channel", ev.Channel, "err", err)
		}
	}()
}

// actor names a Slack user, looking the real name up once.
func (a *Adapter) actor(ctx context.Context, id string) incidents.Actor {
	act := incidents.Actor{Platform: Platform, ID: id, Name: id}
	if id == "" {
		return act
	}
	if name, ok := a.users.get(id); ok {
		act.Name = name
		return act
	}
	u, err := a.api.GetUserInfoContext(ctx, id)
	if err != nil {
		a.log.Debug("slack: users.info failed; using the id as name", "user", id, "err", err)
		return act
	}
	name := u.RealName
	if name == "" {
		name = u.Profile.RealName
	}
	if name == "" {
		name = u.Profile.DisplayName
	}
	if name == "" {
		name = u.Name
	}
	if name == "" {
		name = id
	}
	a.users.put(id, name)
	act.Name = name
	return act
}

// channelName returns the channel's name ("alerts"), so playbooks.yaml
// may list alert channels by name.
func (a *Adapter) channelName(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if name, ok := a.channels.get(id); ok {
		return name
	}
	ch, err := a.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
	if err != nil {
		a.log.Debug("slack: conversations.info failed", "channel", id, "err", err)
		return ""
	}
	a.channels.put(id, ch.Name)
	return ch.Name
}

// KnownChannelName is the name of a channel this adapter has seen (every
// event looks its channel's name up), without asking Slack: the outbox
// keys one lane per channel by it (bot.ChannelNamer).
func (a *Adapter) KnownChannelName(id string) (string, bool) { return a.channels.get(id) }

var _ bot.ChannelNamer = (*Adapter)(nil)
