package slacktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// Envelope is one Socket Mode request, as Slack frames it on the websocket.
type Envelope struct {
	// Type is "events_api", "slash_commands" or "interactive".
	Type string `json:"type"`
	// EnvelopeID is generated when empty.
	EnvelopeID             string          `json:"envelope_id"`
	Payload                json.RawMessage `json:"payload"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	// RetryAttempt and RetryReason mark a redelivery.
	RetryAttempt int    `json:"retry_attempt"`
	RetryReason  string `json:"retry_reason"`
}

// Ack is what the client sent back for an envelope.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	At         time.Time       `json:"-"`
}

type wsConn struct {
	c    *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
}

func (c *wsConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.c.WriteJSON(v)
}

func (c *wsConn) ping() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.c.WriteControl(websocket.PingMessage, []byte("firebreak-fake"), time.Now().Add(5*time.Second))
}

type socketState struct {
	mu       sync.Mutex
	tickets  map[string]bool
	conns    map[*wsConn]bool
	cur      *wsConn
	connects int
	acks     []Ack
	upgrader websocket.Upgrader
}

func (st *socketState) init() {
	st.tickets = map[string]bool{}
	st.conns = map[*wsConn]bool{}
	// slack-go dials with "Origin: https://api.slack.com", which the
	// default same-origin check would refuse; the one-time ticket is what
	// guards the socket, as in Slack.
	st.upgrader.CheckOrigin = func(*http.Request) bool { return true }
}

// ticketURL issues a one-time websocket URL, as apps.connections.open does.
func (st *socketState) ticketURL(base string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	ticket := fmt.Sprintf("t%d", len(st.tickets)+1)
	st.tickets[ticket] = true
	return "ws" + strings.TrimPrefix(base, "http") + "/socket?ticket=" + ticket
}

func (st *socketState) closeAll() {
	st.mu.Lock()
	conns := make([]*wsConn, 0, len(st.conns))
	for c := range st.conns {
		conns = append(conns, c)
	}
	st.mu.Unlock()
	for _, c := range conns {
		_ = c.c.Close()
	}
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.sock.mu.Lock()
	valid := s.sock.tickets[ticket]
	delete(s.sock.tickets, ticket) // tickets work once
	s.sock.mu.Unlock()
	if !valid {
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	c, err := s.sock.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn := &wsConn{c: c, done: make(chan struct{})}
	s.sock.mu.Lock()
	s.sock.conns[conn] = true
	s.sock.cur = conn
	s.sock.connects++
	n := len(s.sock.conns)
	s.sock.mu.Unlock()

	defer func() {
		close(conn.done)
		_ = c.Close()
		s.sock.mu.Lock()
		delete(s.sock.conns, conn)
		if s.sock.cur == conn {
			s.sock.cur = nil
		}
		s.sock.mu.Unlock()
	}()

	hello := map[string]any{
		"type": "hello", "num_connections": n,
		"debug_info":      map[string]any{"host": "firebreak-fake", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": AppID},
	}
	if conn.write(hello) != nil {
		return
	}
	go func() {
		tick := time.NewTicker(s.opts.PingInterval)
		defer tick.Stop()
		for {
			select {
			case <-conn.done:
				return
			case <-tick.C:
				if conn.ping() != nil {
					return
				}
			}
		}
	}()
	for {
		var ack Ack
		if err := c.ReadJSON(&ack); err != nil {
			return
		}
		ack.At = time.Now()
		s.sock.mu.Lock()
		s.sock.acks = append(s.sock.acks, ack)
		s.sock.mu.Unlock()
	}
}

// Connects counts websocket connections opened so far.
func (s *Server) Connects() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return s.sock.connects
}

// WaitConnected waits until at least n websocket connections have been
// opened and one is live.
func (s *Server) WaitConnected(t testing.TB, n int) {
	t.Helper()
	require.Eventuallyf(t, func() bool {
		s.sock.mu.Lock()
		defer s.sock.mu.Unlock()
		return s.sock.connects >= n && s.sock.cur != nil
	}, WaitTimeout, 10*time.Millisecond, "fake slack: no Socket Mode connection #%d", n)
}

// Push sends an envelope on the live websocket and returns its envelope id.
func (s *Server) Push(t testing.TB, env Envelope) string {
	t.Helper()
	s.WaitConnected(t, 1)
	if env.EnvelopeID == "" {
		s.mu.Lock()
		env.EnvelopeID = fmt.Sprintf("%s-%s", s.nextID("env"), "a1b2c3d4")
		s.mu.Unlock()
	}
	s.sock.mu.Lock()
	conn := s.sock.cur
	s.sock.mu.Unlock()
	require.NotNil(t, conn, "fake slack: no live Socket Mode connection")
	require.NoError(t, conn.write(env), "fake slack: write envelope")
	return env.EnvelopeID
}

// PushEvent sends an events_api envelope with an event_callback payload.
func (s *Server) PushEvent(t testing.TB, payload json.RawMessage) string {
	t.Helper()
	return s.Push(t, Envelope{Type: "events_api", Payload: payload})
}

// PushCommand sends a slash_commands envelope.
func (s *Server) PushCommand(t testing.TB, cmd SlashCommand) string {
	t.Helper()
	raw, err := json.Marshal(cmd)
	require.NoError(t, err)
	return s.Push(t, Envelope{Type: "slash_commands", Payload: raw, AcceptsResponsePayload: true})
}

// PushInteraction sends an interactive envelope (a block_actions payload).
func (s *Server) PushInteraction(t testing.TB, payload json.RawMessage) string {
	t.Helper()
	return s.Push(t, Envelope{Type: "interactive", Payload: payload, AcceptsResponsePayload: true})
}

// Disconnect asks the client to reconnect, as Slack does before it
// rotates a connection.
func (s *Server) Disconnect(t testing.TB) {
	t.Helper()
	s.sock.mu.Lock()
	conn := s.sock.cur
	s.sock.mu.Unlock()
	require.NotNil(t, conn, "fake slack: no live Socket Mode connection")
	require.NoError(t, conn.write(map[string]any{"type": "disconnect", "reason": "refresh_requested",
		"debug_info": map[string]any{"host": "firebreak-fake"}}))
}

// Acks returns every ack received so far.
func (s *Server) Acks() []Ack {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	out := make([]Ack, len(s.sock.acks))
	copy(out, s.sock.acks)
	return out
}

// WaitAck waits for the ack of an envelope and returns it.
func (s *Server) WaitAck(t testing.TB, envelopeID string) Ack {
	t.Helper()
	var got Ack
	require.Eventuallyf(t, func() bool {
		for _, a := range s.Acks() {
			if a.EnvelopeID == envelopeID {
				got = a
				return true
			}
		}
		return false
	}, WaitTimeout, 5*time.Millisecond, "fake slack: envelope %s was never acked", envelopeID)
	return got
}
