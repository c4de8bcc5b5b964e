// Package discordtest is an in-process fake of the parts of Discord that
// Firebreak talks to, listening on 127.0.0.1: the REST endpoints the
// Discord adapter calls and a Gateway websocket that speaks the real
// opcodes (HELLO, IDENTIFY, RESUME, READY, heartbeats, dispatches,
// RECONNECT, INVALID_SESSION).
//
// It is strict where Discord is strict, so that tests catch what would fail
// in production: interaction callbacks later than three seconds are refused
// with "Unknown interaction", a second callback is refused, messages over
// Discord's size limits are refused with "Invalid Form Body", button custom
// ids must be unique and at most 100 characters, and the first follow-up
// after a deferred command keeps the deferral's visibility whatever flags it
// asks for.
//
// Tests point the real discordgo client at it through the adapter's
// configuration (Getenv gives DISCORD_API_URL and friends); the gateway URL
// comes from GET /gateway like in production. Every REST call is recorded,
// and faults (429 with Retry-After, 5xx) can be injected per route.
package discordtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
)

// APIPrefix is the path under which the fake serves the REST API, as Discord does.
const APIPrefix = "/api/v9"

// discordEpoch is the start of Discord's snowflake clock (2015-01-01).
const discordEpoch = 1420070400000

// InteractionDeadline is how long after dispatch an interaction may be
// answered, as on Discord.
const InteractionDeadline = 3 * time.Second

// Server is one fake Discord: one application, one guild, a few channels.
// Its methods are safe for concurrent use; the Wait… helpers and anything
// that fails the test must be called from the test's goroutine.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port); the REST API is under APIPrefix.
	URL string
	// Token is the bot token the fake accepts (sent as "Bot <Token>").
	Token string
	// AppID is the application id; follow-ups go to webhooks/<AppID>/<token>.
	AppID string
	// GuildID is the only guild.
	GuildID string
	// BotUser is the bot's own account, sent in READY and used as the
	// author of everything posted through the API.
	BotUser *discordgo.User
	// Settle, when set, waits until Firebreak's outbox has delivered what
	// was recorded so far; Interaction.WaitSaid calls it. Set it before the
	// first interaction.
	Settle func()

	t    testing.TB
	http *httptest.Server
	ids  atomic.Int64

	mu      sync.Mutex
	notify  chan struct{}
	names   map[string]string // channel name → id
	chans   map[string]*discordgo.Channel
	msgs    map[string][]*discordgo.Message // channel id → messages, oldest first
	users   map[string]*discordgo.Member
	cmds    map[string][]*discordgo.ApplicationCommand // guild id ("" global) → commands
	cmdPuts int
	calls   []Call
	faults  []*Fault
	inters  map[string]*Interaction // token → interaction
	tmembs  map[string][]string     // thread id → user ids added
	files   map[string]File         // attachment id → content
	limit   rateLimit
	limited int
	stats   GatewayStats

	gw gateway
}

// Call is one REST request the fake received.
type Call struct {
	Method string
	// Route is the matched route without APIPrefix, e.g.
	// "POST /channels/{channel}/messages"; Path is the actual path.
	Route string
	Path  string
	Query string
	// Status is what the fake answered.
	Status int
	// Body is the JSON body, or the payload_json part of a multipart body.
	Body  json.RawMessage
	Files []File
	At    time.Time
}

// File is an attachment received in a multipart request.
type File struct {
	Name        string
	ContentType string
	Content     []byte
}

// Fault makes the fake fail requests to a route before handling them.
type Fault struct {
	// Route as in Call.Route; empty matches every route.
	Route string
	// Status to answer: 429 for a rate limit, 5xx for a server error.
	Status int
	// RetryAfter, for 429: sent as the Retry-After header (whole seconds,
	// rounded up, as HTTP wants), X-RateLimit-Reset-After and the JSON
	// body's retry_after (both precise).
	RetryAfter time.Duration
	// Global marks a 429 as the global rate limit.
	Global bool
	// Times is how many requests fail (0 means 1).
	Times int
}

type rateLimit struct {
	limit   int
	window  time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	remaining int
	reset     time.Time
}

// New starts a fake Discord on 127.0.0.1 with a guild holding the channels
// "alerts" and "general", and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:      t,
		Token:  "firebreak-test-token",
		notify: make(chan struct{}),
		names:  map[string]string{},
		chans:  map[string]*discordgo.Channel{},
		msgs:   map[string][]*discordgo.Message{},
		users:  map[string]*discordgo.Member{},
		cmds:   map[string][]*discordgo.ApplicationCommand{},
		inters: map[string]*Interaction{},
		tmembs: map[string][]string{},
		files:  map[string]File{},
	}
	s.ids.Store(1)
	s.AppID = s.NewID()
	s.GuildID = s.NewID()
	s.BotUser = &discordgo.User{ID: s.AppID, Username: "Firebreak", Bot: true}
	s.gw.init()
	s.AddChannel("alerts")
	s.AddChannel("general")

	mux := http.NewServeMux()
	s.routes(mux)
	mux.HandleFunc("GET /gateway", s.serveGateway)
	mux.HandleFunc("GET /gateway/", s.serveGateway)
	s.http = httptest.NewServer(mux)
	s.URL = s.http.URL
	t.Cleanup(s.Close)
	return s
}

// Close drops gateway connections and stops the server. Tests need not
// call it: New registers it with t.Cleanup.
func (s *Server) Close() {
	s.gw.closeAll()
	s.http.CloseClientConnections()
	s.http.Close()
}

// APIURL is the REST base URL, to use as DISCORD_API_URL.
func (s *Server) APIURL() string { return s.URL + APIPrefix }

// Getenv answers the DISCORD_* variables for this fake (token, application,
// guild and API URL), so tests can build the adapter's configuration
// exactly as production does.
func (s *Server) Getenv(key string) string {
	switch key {
	case "DISCORD_BOT_TOKEN":
		return s.Token
	case "DISCORD_APP_ID":
		return s.AppID
	case "DISCORD_GUILD_ID":
		return s.GuildID
	case "DISCORD_API_URL":
		return s.APIURL()
	}
	return ""
}

// NewID returns a fresh snowflake, increasing like Discord's.
func (s *Server) NewID() string {
	n := s.ids.Add(1)
	ms := time.Now().UnixMilli() - discordEpoch
	return strconv.FormatInt(ms<<22|n&0x3fffff, 10)
}

// AddChannel creates a text channel in the guild and returns its id.
func (s *Server) AddChannel(name string) string {
	id := s.NewID()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chans[id] = &discordgo.Channel{ID: id, GuildID: s.GuildID, Name: name, Type: discordgo.ChannelTypeGuildText}
	s.names[name] = id
	s.changed()
	return id
}

// ChannelID returns the id of the channel (or thread) with that name, or
// fails the test.
func (s *Server) ChannelID(name string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.names[name]
	if !ok {
		s.t.Fatalf("discordtest: no channel named %q", name)
	}
	return id
}

// Channel returns a copy of a channel or thread, or nil.
func (s *Server) Channel(id string) *discordgo.Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chans[id]
	if !ok {
		return nil
	}
	cp := *c
	return &cp
}

// Threads returns the threads whose parent is channelID, oldest first.
func (s *Server) Threads(channelID string) []*discordgo.Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*discordgo.Channel
	for _, c := range s.chans {
		if c.ParentID == channelID && c.IsThread() {
			cp := *c
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *discordgo.Channel) int { return compareIDs(a.ID, b.ID) })
	return out
}

// ThreadMembers returns the users added to a thread through the API.
func (s *Server) ThreadMembers(threadID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tmembs[threadID])
}

// AddUser makes a guild member with that username (and nickname, when
// not empty) and returns the user.
func (s *Server) AddUser(username, nick string) *discordgo.User {
	u := &discordgo.User{ID: s.NewID(), Username: username, GlobalName: username}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = &discordgo.Member{GuildID: s.GuildID, User: u, Nick: nick, JoinedAt: time.Now().UTC()}
	return u
}

// Messages returns the messages in a channel or thread, oldest first
// (posted by the API and pushed by the test alike).
func (s *Server) Messages(channelID string) []*discordgo.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMessages(s.msgs[channelID])
}

// Message returns one message, or nil.
func (s *Server) Message(channelID, messageID string) *discordgo.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMessage(channelID, messageID)
	if m == nil {
		return nil
	}
	return cloneMessage(m)
}

// WaitMessage waits until a message Firebreak posted in channelID (author is
// the bot; ephemeral follow-ups excluded) satisfies match, and returns it.
// It fails the test after timeout.
func (s *Server) WaitMessage(channelID string, timeout time.Duration, match func(*discordgo.Message) bool) *discordgo.Message {
	s.t.Helper()
	var found *discordgo.Message
	ok := s.waitUntil(timeout, func() bool {
		for _, m := range s.msgs[channelID] {
			if m.Author != nil && m.Author.ID == s.BotUser.ID && match(m) {
				found = cloneMessage(m)
				return true
			}
		}
		return false
	})
	if !ok {
		s.t.Fatalf("discordtest: no matching message from the bot in channel %s within %s; it has:\n%s", channelID, timeout, s.describe(channelID))
	}
	return found
}

// Calls returns every REST call so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the calls that matched route (as in Call.Route).
func (s *Server) CallsTo(route string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Route == route {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls matched route, and returns them.
func (s *Server) WaitCalls(route string, n int, timeout time.Duration) []Call {
	s.t.Helper()
	ok := s.waitUntil(timeout, func() bool {
		c := 0
		for _, call := range s.calls {
			if call.Route == route {
				c++
			}
		}
		return c >= n
	})
	if !ok {
		s.t.Fatalf("discordtest: fewer than %d calls to %q within %s", n, route, timeout)
	}
	return s.CallsTo(route)
}

// Commands returns the application commands registered for guildID ("" for
// global ones), and how many bulk overwrites there were in all.
func (s *Server) Commands(guildID string) ([]*discordgo.ApplicationCommand, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmds[guildID]), s.cmdPuts
}

// InjectFault makes the next f.Times requests to f.Route fail with f.Status.
func (s *Server) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// SetRateLimit makes every route bucket (per route and channel) allow limit
// requests per window and announce it in X-RateLimit-* headers, answering
// 429 to a client that does not wait. limit 0 (the default) turns limits off.
func (s *Server) SetRateLimit(limit int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = rateLimit{limit: limit, window: window, buckets: map[string]*bucket{}}
}

// changed wakes every waiter; the caller holds s.mu.
func (s *Server) changed() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// waitUntil evaluates cond under s.mu whenever state changes, until it holds
// or timeout passes.
func (s *Server) waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.notify
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

func (s *Server) findMessage(channelID, messageID string) *discordgo.Message {
	for _, m := range s.msgs[channelID] {
		if m.ID == messageID {
			return m
		}
	}
	return nil
}

func (s *Server) describe(channelID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ""
	for _, m := range s.msgs[channelID] {
		b, _ := MessageJSON(m)
		out += "  " + string(b) + "\n"
	}
	if out == "" {
		return "  (nothing)"
	}
	return out
}

// MessageJSON encodes a message as Discord does, components included
// (discordgo.Message drops them when marshalled).
func MessageJSON(m *discordgo.Message) ([]byte, error) {
	type plain discordgo.Message
	return json.Marshal(struct {
		*plain
		Components []discordgo.MessageComponent `json:"components"`
	}{(*plain)(m), m.Components})
}

func cloneMessage(m *discordgo.Message) *discordgo.Message {
	b, err := MessageJSON(m)
	if err != nil {
		panic("discordtest: encoding a message: " + err.Error())
	}
	var cp discordgo.Message
	if err := json.Unmarshal(b, &cp); err != nil {
		panic("discordtest: decoding a message: " + err.Error())
	}
	return &cp
}

func cloneMessages(ms []*discordgo.Message) []*discordgo.Message {
	out := make([]*discordgo.Message, len(ms))
	for i, m := range ms {
		out[i] = cloneMessage(m)
	}
	return out
}

// compareIDs orders snowflakes numerically.
func compareIDs(a, b string) int {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// Buttons returns the buttons of a message, in order.
func Buttons(m *discordgo.Message) []discordgo.Button {
	var out []discordgo.Button
	for _, c := range m.Components {
		row, ok := c.(*discordgo.ActionsRow)
		if !ok {
			continue
		}
		for _, rc := range row.Components {
			if b, ok := rc.(*discordgo.Button); ok {
				out = append(out, *b)
			}
		}
	}
	return out
}
