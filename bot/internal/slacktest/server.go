// Package slacktest is a loopback Slack for tests: a Web API server that
// speaks Slack's wire format (form and JSON requests, {"ok":…} answers), the
// two-step file upload, response URLs, and a Socket Mode websocket that sends
// hello, pings, pushes envelopes and records the acks it gets back. It also
// builds signed HTTP requests for Slack's HTTP mode.
//
// Every adapter test and the end-to-end tests share it, so it keeps real
// state (channels, users, messages, pins, files): a button can only be
// pressed while it is on the message, and an updated message shows what the
// adapter last wrote.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Credentials and identities the fake knows.
const (
	BotToken      = "xoxb-1-firebreak-test-bot-token"
	AppToken      = "xapp-1-AFIREBREAK-1-firebreak-test-app-token"
	SigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	TeamID        = "TFIREBREAK"
	TeamDomain    = "firebreak-test"
	AppID         = "AFIREBREAK"
	BotUserID     = "UFIREBREAK"
	BotID         = "BFIREBREAK"
	// AlertsChannel is the id of the "alerts" channel every fake starts with.
	AlertsChannel = "C0ALERTS"
)

// WaitTimeout bounds every Wait… helper so a broken test fails quickly
// instead of hanging.
const WaitTimeout = 5 * time.Second

// Call is one request the fake received.
type Call struct {
	// Method is the Web API method ("chat.postMessage"), "upload" for a POST
	// to an upload URL, or "response_url" for a POST to a response URL.
	Method string
	// Params holds form or query values, without the token.
	Params url.Values
	// JSON is the decoded body of JSON requests.
	JSON map[string]any
	// Body is the raw body of uploads.
	Body []byte
	// Status is the HTTP status the fake answered with.
	Status int
	// Error is the Slack error code the fake answered with ("" when ok).
	Error string
	At    time.Time
}

// Param returns a form or query value.
func (c Call) Param(name string) string { return c.Params.Get(name) }

// Blocks decodes the "blocks" parameter (or JSON field).
func (c Call) Blocks() []map[string]any {
	var out []map[string]any
	if raw := c.Params.Get("blocks"); raw != "" {
		_ = json.Unmarshal([]byte(raw), &out)
		return out
	}
	if b, ok := c.JSON["blocks"]; ok {
		raw, _ := json.Marshal(b)
		_ = json.Unmarshal(raw, &out)
	}
	return out
}

// Channel is a conversation in the fake workspace.
type Channel struct {
	ID        string
	Name      string
	IsPrivate bool
	Members   []string
	Pins      []string // message timestamps
	Creator   string
}

// User is a member of the fake workspace.
type User struct {
	ID          string
	Name        string // handle
	RealName    string
	DisplayName string
	IsBot       bool
}

// Attachment is a legacy message attachment as apps such as Alertmanager
// and Grafana post them.
type Attachment struct {
	Fallback  string            `json:"fallback,omitempty"`
	Color     string            `json:"color,omitempty"`
	Pretext   string            `json:"pretext,omitempty"`
	Title     string            `json:"title,omitempty"`
	TitleLink string            `json:"title_link,omitempty"`
	Text      string            `json:"text,omitempty"`
	Footer    string            `json:"footer,omitempty"`
	Fields    []AttachmentField `json:"fields,omitempty"`
	MrkdwnIn  []string          `json:"mrkdwn_in,omitempty"`
}

// AttachmentField is a title/value pair inside an attachment.
type AttachmentField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short,omitempty"`
}

// File is an uploaded file.
type File struct {
	ID             string
	Name           string
	Title          string
	Length         int
	Content        []byte
	Uploaded       bool
	Channel        string
	ThreadTS       string
	InitialComment string
	Completed      bool
}

// Message is a message as Slack stores and sends it.
type Message struct {
	Type        string          `json:"type"`
	SubType     string          `json:"subtype,omitempty"`
	Channel     string          `json:"channel,omitempty"`
	User        string          `json:"user,omitempty"`
	BotID       string          `json:"bot_id,omitempty"`
	Username    string          `json:"username,omitempty"`
	Text        string          `json:"text"`
	TS          string          `json:"ts"`
	ThreadTS    string          `json:"thread_ts,omitempty"`
	Blocks      json.RawMessage `json:"blocks,omitempty"`
	Attachments []Attachment    `json:"attachments,omitempty"`
	Files       []string        `json:"-"`
	// Updates counts chat.update calls on this message.
	Updates int `json:"-"`
}

// BlockList decodes the message blocks.
func (m Message) BlockList() []map[string]any {
	var out []map[string]any
	_ = json.Unmarshal(m.Blocks, &out)
	return out
}

// Buttons lists the action_id of every button on the message.
func (m Message) Buttons() []string {
	var ids []string
	for _, b := range m.BlockList() {
		if b["type"] != "actions" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			if id, ok := el["action_id"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// Ephemeral is a message shown to one user only. TS is the message_ts
// chat.postEphemeral returned, which a button press on it carries;
// Replaced counts replace_original posts to a response_url of such a
// press (the only way an app can change an ephemeral message).
type Ephemeral struct {
	Channel, User, Text, ThreadTS string
	Blocks                        json.RawMessage
	TS                            string
	Replaced                      int
}

type failure struct {
	status     int
	retryAfter time.Duration
	slackError string
	drop       bool
}

// Options tune a fake.
type Options struct {
	// PingInterval is how often the Socket Mode websocket pings the client
	// (default 2 s; slack-go reconnects after 30 s without one).
	PingInterval time.Duration
}

// Server is the fake Slack. All methods are safe for concurrent use.
type Server struct {
	t    testing.TB
	http *httptest.Server
	opts Options

	mu         sync.Mutex
	calls      []Call
	failures   map[string][]failure
	channels   map[string]*Channel
	users      map[string]*User
	messages   map[string][]*Message // by channel, in ts order
	ephemerals []Ephemeral
	// pressedEphemeral maps the response_url id of a press on an
	// ephemeral message to that message's TS.
	pressedEphemeral map[string]string
	files            map[string]*File
	seq              int
	tsSeq            int

	sock socketState
}

// New starts a fake Slack on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB) *Server { return NewWithOptions(t, Options{}) }

// NewWithOptions is New with tuning.
func NewWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.PingInterval <= 0 {
		opts.PingInterval = 2 * time.Second
	}
	s := &Server{
		t:        t,
		opts:     opts,
		failures: map[string][]failure{},
		channels: map[string]*Channel{},
		users:    map[string]*User{},
		messages: map[string][]*Message{},
		files:    map[string]*File{},
	}
	s.sock.init()
	s.users[BotUserID] = &User{ID: BotUserID, Name: "firebreak", RealName: "Firebreak", IsBot: true}
	s.channels[AlertsChannel] = &Channel{ID: AlertsChannel, Name: "alerts", Members: []string{BotUserID}}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/upload/", s.serveUpload)
	mux.HandleFunc("/response/", s.serveResponseURL)
	mux.HandleFunc("/socket", s.serveSocket)
	s.http = httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "fake slack: listen on 127.0.0.1")
	s.http.Listener = ln
	s.http.Start()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and closes websocket connections.
func (s *Server) Close() {
	s.sock.closeAll()
	s.http.CloseClientConnections()
	s.http.Close()
}

// URL is the Web API base URL, ending in "/api/" as slack.OptionAPIURL wants.
func (s *Server) URL() string { return s.http.URL + "/api/" }

// BaseURL is the server root ("http://127.0.0.1:port").
func (s *Server) BaseURL() string { return s.http.URL }

// AddUser adds a person (or bot) to the workspace.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := u
	s.users[u.ID] = &cp
}

// AddChannel adds a channel; the bot is a member.
func (s *Server) AddChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[id] = &Channel{ID: id, Name: name, Members: []string{BotUserID}}
}

// Channels returns copies of every channel, in id order.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Channel
	for _, c := range s.channels {
		cp := *c
		cp.Members = slices.Clone(c.Members)
		cp.Pins = slices.Clone(c.Pins)
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b Channel) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// SetMembers replaces the members of a channel (the bot leaves it unless
// BotUserID is among them).
func (s *Server) SetMembers(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channels[id]; c != nil {
		c.Members = slices.Clone(members)
	}
}

// Channel returns a copy of a channel, looked up by id or name.
func (s *Server) Channel(idOrName string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.findChannel(idOrName)
	if c == nil {
		return Channel{}, false
	}
	cp := *c
	cp.Members = slices.Clone(c.Members)
	cp.Pins = slices.Clone(c.Pins)
	return cp, true
}

// Messages returns copies of a channel's messages (thread replies
// included), oldest first.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		out = append(out, *m)
	}
	return out
}

// Message returns a copy of one message.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMessage(channel, ts)
	if m == nil {
		return Message{}, false
	}
	return *m, true
}

// Ephemerals returns every ephemeral message posted with chat.postEphemeral.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ephemerals)
}

// Files returns copies of the files uploaded so far.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, f := range s.files {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Calls returns the calls of one method ("" for all), oldest first.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until method has been called at least n times and
// returns those calls.
func (s *Server) WaitCalls(t testing.TB, method string, n int) []Call {
	t.Helper()
	require.Eventuallyf(t, func() bool { return len(s.Calls(method)) >= n },
		WaitTimeout, 10*time.Millisecond, "fake slack: waiting for %d %s call(s), got %d", n, method, len(s.Calls(method)))
	return s.Calls(method)
}

// FailNext makes the next call of method fail with an HTTP status before
// anything is processed. A 429 carries Retry-After (whole seconds, rounded
// up) when retryAfter > 0.
func (s *Server) FailNext(method string, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], failure{status: status, retryAfter: retryAfter})
}

// ErrorNext makes the next call of method answer {"ok":false,"error":code}
// without processing it.
func (s *Server) ErrorNext(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], failure{slackError: code})
}

// DropNext makes the next call of method be processed (the message is
// posted) and then the connection is closed without an answer, as when a
// response is lost on the way back.
func (s *Server) DropNext(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], failure{drop: true})
}

func (s *Server) takeFailure(method string) (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.failures[method]
	if len(q) == 0 {
		return failure{}, false
	}
	s.failures[method] = q[1:]
	return q[0], true
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.At = time.Now()
	s.calls = append(s.calls, c)
}

// nextID returns prefix + a number unique within this fake.
func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%06d", prefix, s.seq)
}

// nextTS returns a message timestamp later than every earlier one.
func (s *Server) nextTS() string {
	s.tsSeq++
	return fmt.Sprintf("%d.%06d", 1700000000+s.tsSeq/1000000, s.tsSeq%1000000)
}

// NextTS reserves a message timestamp (for messages built by hand).
func (s *Server) NextTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextTS()
}

func (s *Server) findChannel(idOrName string) *Channel {
	if c, ok := s.channels[idOrName]; ok {
		return c
	}
	name := strings.TrimPrefix(idOrName, "#")
	for _, c := range s.channels {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (s *Server) findMessage(channel, ts string) *Message {
	for _, m := range s.messages[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

func (s *Server) storeMessage(m *Message) {
	s.messages[m.Channel] = append(s.messages[m.Channel], m)
	slices.SortStableFunc(s.messages[m.Channel], func(a, b *Message) int { return compareTS(a.TS, b.TS) })
}

// compareTS orders Slack timestamps ("1700000000.000001") numerically.
func compareTS(a, b string) int {
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	ai, _ := strconv.ParseInt(as, 10, 64)
	bi, _ := strconv.ParseInt(bs, 10, 64)
	switch {
	case ai < bi:
		return -1
	case ai > bi:
		return 1
	}
	af = (af + "000000")[:6]
	bf = (bf + "000000")[:6]
	return strings.Compare(af, bf)
}

// writeJSON answers like Slack: HTTP 200 with a JSON object.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func slackError(code string) map[string]any { return map[string]any{"ok": false, "error": code} }

// bearer returns the token a request carries (header or form).
func bearer(r *http.Request, form url.Values) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	return form.Get("token")
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	call := Call{Method: method, Params: url.Values{}}
	form := url.Values{}
	for k, v := range r.URL.Query() {
		form[k] = v
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		if len(body) > 0 {
			if err := json.Unmarshal(body, &call.JSON); err != nil {
				s.respond(w, &call, http.StatusOK, slackError("invalid_json"))
				return
			}
		}
	case len(body) > 0:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			s.respond(w, &call, http.StatusOK, slackError("invalid_form_data"))
			return
		}
		for k, v := range vals {
			form[k] = v
		}
	}
	token := bearer(r, form)
	for k, v := range form {
		if k != "token" {
			call.Params[k] = v
		}
	}

	if f, ok := s.takeFailure(method); ok {
		switch {
		case f.drop:
			s.dispatch(method, call.Params, call.JSON)
			call.Status = 0
			call.Error = "dropped"
			s.record(call)
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic("fake slack: response writer cannot hijack")
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		case f.slackError != "":
			s.respond(w, &call, http.StatusOK, slackError(f.slackError))
			return
		default:
			if f.retryAfter > 0 {
				secs := int((f.retryAfter + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
			call.Status = f.status
			s.record(call)
			w.WriteHeader(f.status)
			_, _ = io.WriteString(w, http.StatusText(f.status))
			return
		}
	}

	want := BotToken
	if method == "apps.connections.open" {
		want = AppToken
	}
	switch {
	case token == "":
		s.respond(w, &call, http.StatusOK, slackError("not_authed"))
		return
	case token != want:
		s.respond(w, &call, http.StatusOK, slackError("invalid_auth"))
		return
	}
	s.respond(w, &call, http.StatusOK, s.dispatch(method, call.Params, call.JSON))
}

func (s *Server) respond(w http.ResponseWriter, call *Call, status int, res map[string]any) {
	call.Status = status
	if ok, _ := res["ok"].(bool); !ok {
		call.Error, _ = res["error"].(string)
	}
	s.record(*call)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}
