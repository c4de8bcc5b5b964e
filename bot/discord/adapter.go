// Package discord connects Firebreak to Discord through the Gateway and the
// REST API (github.com/bwmarrin/discordgo).
//
// Messages in alert channels (webhook and bot posts included, with the text
// of their embeds) become alerts, /incident with its subcommands and the
// buttons under playbook steps become commands, and a reaction with the pin
// emoji adds a message to the incident's timeline. What Firebreak says goes
// out through Adapter, which implements bot.Chat and bot.ChannelCreator.
package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/firebreak/firebreak/bot"
)

// platform is the name Firebreak gives Discord in events and homes.
const platform = "discord"

const (
	// defaultHTTPTimeout bounds one REST call, retries included, when the
	// configuration brings no client of its own.
	defaultHTTPTimeout = 90 * time.Second
	// ackTimeout leaves room inside Discord's 3-second interaction window.
	ackTimeout = 2500 * time.Millisecond
	// eventTimeout bounds the handling of one event, replies included.
	eventTimeout = 2 * time.Minute
	// drainTimeout is how long Run waits for events in flight at shutdown.
	drainTimeout = 10 * time.Second
	// seenSize is how many recent event ids the adapter remembers.
	seenSize = 4096
	// discordgoSilent is below discordgo's lowest log level (LogError).
	discordgoSilent = discordgo.LogError - 1
	// Gateway close codes with a cause the user can fix.
	closeAuthFailed        = 4004
	closeDisallowedIntents = 4014
	// downWarnEvery spaces out "still reconnecting" warnings.
	downWarnEvery = time.Minute
)

// watchdog decides when a gateway session is wedged. discordgo v0.29 can
// deadlock inside Session.Open when the gateway answers a RESUME with op 7
// RECONNECT (and it waits without limit for a HELLO that never comes); the
// session mutex then stays held for good. A session disconnected for longer
// than stuck whose mutex is still held on two checks interval apart is
// abandoned for a fresh one.
type watchdog struct {
	interval time.Duration
	stuck    time.Duration
}

func defaultWatchdog() watchdog {
	return watchdog{interval: 15 * time.Second, stuck: 90 * time.Second}
}

// Adapter is Firebreak on Discord. Create it with New and start it with Run.
type Adapter struct {
	cfg    Config
	h      bot.Handler
	log    *slog.Logger
	client *http.Client
	pin    pinEmoji
	chans  *channels
	seen   *seenEvents
	dog    watchdog

	mu   sync.Mutex
	sess *discordgo.Session
	// base is Run's context without its cancellation: events already
	// acknowledged are finished at shutdown, within drainTimeout.
	base      context.Context
	running   bool
	connected bool
	downSince time.Time
	// lastDownWarn is when "still reconnecting" was last logged.
	lastDownWarn time.Time
	// lockHeld counts watchdog checks that found the session mutex taken
	// while disconnected.
	lockHeld int
	// reopen is set when a replacement session failed to open; the
	// watchdog tries again on its next check.
	reopen bool
	// used is set once a session has been opened: a later Run starts a
	// fresh one.
	used bool
	// disconnected wakes supervise when the gateway connection drops.
	disconnected chan struct{}
	// openMu keeps supervise and the watchdog from opening at once.
	openMu sync.Mutex

	wg sync.WaitGroup
}

// Compile-time checks that the adapter is what the Router speaks through.
var (
	_ bot.Chat           = (*Adapter)(nil)
	_ bot.ChannelCreator = (*Adapter)(nil)
)

// New checks cfg and prepares an adapter that hands events to h. Nothing is
// sent to Discord before Run.
func New(cfg Config, h bot.Handler) (*Adapter, error) {
	if h == nil {
		return nil, errors.New("discord: a handler is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	base, err := apiBase(cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("platform", platform)
	client := &http.Client{Timeout: defaultHTTPTimeout}
	if cfg.HTTPClient != nil {
		cp := *cfg.HTTPClient
		client = &cp
		if client.Timeout == 0 {
			client.Timeout = defaultHTTPTimeout
		}
	}
	client.Transport = newRESTTransport(client.Transport, base, defaultRetry(), log)
	a := &Adapter{
		cfg:    cfg,
		h:      h,
		log:    log,
		client: client,
		pin:    newPinEmoji(cfg.PinEmoji),
		chans:  newChannels(),
		seen:   newSeenEvents(seenSize),
		dog:    defaultWatchdog(),
		base:   context.Background(),

		disconnected: make(chan struct{}, 1),
	}
	if a.sess, err = a.newSession(); err != nil {
		return nil, err
	}
	return a, nil
}

// Platform names Discord in events and incident homes.
func (a *Adapter) Platform() string { return platform }

// newSession builds a discordgo session that makes its REST calls through
// the adapter's client and sends every event to the adapter.
func (a *Adapter) newSession() (*discordgo.Session, error) {
	s, err := discordgo.New("Bot " + a.cfg.BotToken)
	if err != nil {
		return nil, fmt.Errorf("discord: creating the session: %w", err)
	}
	s.Client = a.client
	s.Identify.Intents = Intents
	// The adapter reconnects itself (see supervise): discordgo's own loop
	// reconnects at once, while a stale heartbeat goroutine of the closed
	// connection may still close whatever connection is current — the new
	// one, with code 1000, which ends the session and loses the events a
	// resume would have replayed.
	s.ShouldReconnectOnError = false
	// The transport waits out short rate limits and retries server errors
	// itself, bounded by the caller's context; discordgo's own retries would
	// sleep without regard for it.
	s.ShouldRetryOnRateLimit = false
	s.MaxRestRetries = 0
	s.StateEnabled = true
	// discordgo logs with the standard logger through a package-level hook
	// Firebreak does not touch; the adapter reports connection state, retries
	// and stuck reconnects through slog instead.
	s.LogLevel = discordgoSilent
	s.AddHandler(a.onConnect)
	s.AddHandler(a.onDisconnect)
	s.AddHandler(a.onResumed)
	s.AddHandler(a.onMessageCreate)
	s.AddHandler(a.onInteractionCreate)
	s.AddHandler(a.onReactionAdd)
	return s, nil
}

// session is the live discordgo session.
func (a *Adapter) session() *discordgo.Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sess
}

// rest is the session REST calls go through.
func (a *Adapter) rest() *discordgo.Session { return a.session() }

// state is the gateway's cache of guilds and channels, or nil.
func (a *Adapter) state() *discordgo.State {
	s := a.session()
	if s == nil || !s.StateEnabled {
		return nil
	}
	return s.State
}

// selfID is the bot's own user id, from READY.
func (a *Adapter) selfID() string {
	st := a.state()
	if st == nil {
		return ""
	}
	st.RLock()
	defer st.RUnlock()
	if st.User == nil {
		return ""
	}
	return st.User.ID
}

// Run registers /incident, connects to the Gateway and handles events until
// ctx is done; then it disconnects and waits (briefly) for events in flight.
// It returns nil after a clean shutdown, or the error that kept Discord from
// starting.
func (a *Adapter) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("discord: the adapter is already running")
	}
	a.running = true
	a.base = context.WithoutCancel(ctx)
	used := a.used
	a.used = true
	a.mu.Unlock()
	if used {
		fresh, err := a.newSession()
		if err != nil {
			return a.startErr(ctx, err)
		}
		a.mu.Lock()
		a.sess, a.connected, a.downSince = fresh, false, time.Time{}
		a.mu.Unlock()
	}

	if err := a.registerCommands(ctx); err != nil {
		return a.startErr(ctx, err)
	}
	if err := a.open(ctx, a.session()); err != nil {
		return a.startErr(ctx, err)
	}
	a.log.Info("discord: connected", "guild", a.cfg.GuildID, "bot", a.selfID(), "invite", InviteURL(a.cfg.AppID))

	supervised := make(chan struct{})
	go func() {
		defer close(supervised)
		a.supervise(ctx)
	}()
	tick := time.NewTicker(a.dog.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			a.shutdown()
			<-supervised
			return nil
		case <-tick.C:
			a.checkWedged(ctx)
		}
	}
}

// startErr is Run's answer to a failed start: nil when the start failed
// because ctx was cancelled (a shutdown, not a fault).
func (a *Adapter) startErr(ctx context.Context, err error) error {
	a.mu.Lock()
	a.running = false
	a.mu.Unlock()
	if ctx.Err() != nil {
		a.shutdown()
		return nil
	}
	return err
}

// registerCommands bulk-overwrites the application's commands with
// /incident: the same request at every start, so registration is
// idempotent and a removed subcommand disappears.
func (a *Adapter) registerCommands(ctx context.Context) error {
	cmds := []*discordgo.ApplicationCommand{commandDefinition()}
	_, err := a.rest().ApplicationCommandBulkOverwrite(a.cfg.AppID, a.cfg.GuildID, cmds, discordgo.WithContext(ctx))
	if err != nil {
		where := "globally"
		if a.cfg.GuildID != "" {
			where = "on guild " + a.cfg.GuildID
		}
		return fmt.Errorf("discord: registering /%s %s (check DISCORD_BOT_TOKEN, DISCORD_APP_ID and that the bot was invited with the applications.commands scope): %w", commandName, where, err)
	}
	return nil
}

// open connects s to the Gateway. discordgo's Open takes no context and can
// hang, so it runs aside and ctx bounds the wait.
func (a *Adapter) open(ctx context.Context, s *discordgo.Session) error {
	done := make(chan error, 1)
	go func() { done <- s.Open() }()
	select {
	case err := <-done:
		if err != nil {
			return gatewayError(err)
		}
		a.setConnected(true)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("discord: connecting to the gateway: %w", ctx.Err())
	}
}

// gatewayError explains the gateway close codes a user can fix.
func gatewayError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case closeAuthFailed:
			return fmt.Errorf("discord: the gateway rejected DISCORD_BOT_TOKEN: %w", err)
		case closeDisallowedIntents:
			return fmt.Errorf("discord: the gateway refused the Message Content intent (4014); enable it in the developer portal under Bot → Privileged Gateway Intents: %w", err)
		}
	}
	return fmt.Errorf("discord: connecting to the gateway: %w", err)
}

func (a *Adapter) shutdown() {
	s := a.session()
	// discordgo never reconnects by itself (see newSession) and supervise
	// stops with Run's context. A session whose lock is held for good (a
	// wedged Open) is left behind.
	if tryLock(s, 2*time.Second) {
		s.Unlock()
		if err := s.Close(); err != nil {
			a.log.Warn("discord: closing the gateway", "error", err)
		}
	} else {
		a.log.Warn("discord: gateway session is busy connecting; leaving it behind")
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		a.log.Warn("discord: stopped with events still being handled", "waited", drainTimeout)
	}
	a.mu.Lock()
	a.running = false
	a.mu.Unlock()
}

// tryLock takes s's lock if it comes free within d; heartbeats and event
// handling hold it briefly, a wedged Open for good.
func tryLock(s *discordgo.Session, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if s.TryLock() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (a *Adapter) setConnected(up bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if up {
		a.connected, a.lockHeld = true, 0
		return
	}
	if a.connected || a.downSince.IsZero() {
		a.downSince = time.Now()
	}
	a.connected = false
}

func (a *Adapter) onConnect(s *discordgo.Session, _ *discordgo.Connect) {
	if s == a.session() {
		a.setConnected(true)
	}
}

func (a *Adapter) onResumed(s *discordgo.Session, _ *discordgo.Resumed) {
	if s == a.session() {
		a.setConnected(true)
		a.log.Info("discord: gateway session resumed")
	}
}

func (a *Adapter) onDisconnect(s *discordgo.Session, _ *discordgo.Disconnect) {
	if s == a.session() {
		a.setConnected(false)
		a.log.Warn("discord: gateway disconnected; reconnecting")
		select {
		case a.disconnected <- struct{}{}:
		default: // a reconnect is already due
		}
	}
}

// errSessionBusy: the session is already connecting.
var errSessionBusy = errors.New("discord: the gateway session is busy connecting")

// Reconnect backoff: the first attempt waits a little so that goroutines
// of the closed connection finish before a new one exists.
const (
	reconnectFirst = 750 * time.Millisecond
	reconnectMax   = time.Minute
)

// supervise reconnects the gateway after every disconnect until ctx is
// done: after reconnectFirst (with jitter), then with exponential backoff.
// A session whose Open hangs is the watchdog's to replace.
func (a *Adapter) supervise(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.disconnected:
		}
		wait := reconnectFirst
		for {
			t := time.NewTimer(wait/2 + rand.N(wait/2+1))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			a.openMu.Lock()
			a.mu.Lock()
			up, s := a.connected, a.sess
			a.mu.Unlock()
			if up {
				a.openMu.Unlock()
				break
			}
			err := errSessionBusy
			// A session whose lock is taken is opening already, or wedged
			// (the watchdog's case); another Open would only queue behind it.
			if s.TryLock() {
				s.Unlock()
				octx, cancel := context.WithTimeout(ctx, a.dog.stuck)
				err = a.open(octx, s)
				cancel()
			}
			a.openMu.Unlock()
			if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
				break
			}
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("discord: reconnecting to the gateway failed", "error", err, "retry_in", wait)
			wait = min(2*wait, reconnectMax)
		}
	}
}

// checkWedged replaces a session that has been down too long while its
// Open holds the session mutex (see watchdog).
func (a *Adapter) checkWedged(ctx context.Context) {
	a.mu.Lock()
	s, reopen := a.sess, a.reopen
	down := !a.connected && !a.downSince.IsZero() && time.Since(a.downSince) > a.dog.stuck
	if !a.connected && !a.downSince.IsZero() && time.Since(a.lastDownWarn) > downWarnEvery && time.Since(a.downSince) > downWarnEvery/2 {
		a.lastDownWarn = time.Now()
		a.log.Warn("discord: gateway still reconnecting", "down_for", time.Since(a.downSince).Round(time.Second))
	}
	switch {
	case reopen && s.TryLock():
		s.Unlock()
	case reopen:
		// The failed Open is still hanging on to the session: replace it.
		reopen = false
	case !down:
		a.lockHeld = 0
		a.mu.Unlock()
		return
	case s.TryLock():
		s.Unlock()
		a.lockHeld = 0
		a.mu.Unlock()
		return
	default:
		a.lockHeld++
		if a.lockHeld < 2 {
			a.mu.Unlock()
			return
		}
	}
	downSince := a.downSince
	a.mu.Unlock()

	if !reopen {
		a.log.Error("discord: gateway reconnect is stuck; starting a new session", "down_for", time.Since(downSince).Round(time.Second))
		fresh, err := a.newSession()
		if err != nil {
			a.log.Error("discord: replacing the stuck session", "error", err)
			return
		}
		a.mu.Lock()
		a.sess, s = fresh, fresh
		a.mu.Unlock()
	}
	octx, cancel := context.WithTimeout(ctx, a.dog.stuck)
	defer cancel()
	a.openMu.Lock()
	err := a.open(octx, s)
	a.openMu.Unlock()
	a.mu.Lock()
	a.lockHeld, a.reopen = 0, err != nil
	a.mu.Unlock()
	if err != nil {
		// discordgo starts no reconnect loop of its own for a session whose
		// first Open failed, so the next check tries again.
		a.log.Error("discord: opening a new gateway session", "error", err)
	}
}

// eventContext is the context one event is handled in. It outlives Run's
// cancellation so that acknowledged interactions still get their answer.
func (a *Adapter) eventContext() (context.Context, context.CancelFunc) {
	a.mu.Lock()
	base := a.base
	a.mu.Unlock()
	return context.WithTimeout(base, eventTimeout)
}

// dispatch hands ev to the handler in its own goroutine and finishes r when
// the handler returns.
func (a *Adapter) dispatch(ev bot.Event, r replier) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := a.eventContext()
		defer cancel()
		err := a.h.Handle(ctx, ev, r)
		if err != nil {
			a.log.Warn("discord: event not handled", "event", ev.ID, "kind", ev.Kind, "error", err)
		}
		r.finish(ctx, err)
	}()
}
