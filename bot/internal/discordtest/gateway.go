package discordtest

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// Gateway opcodes, as Discord numbers them.
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatAck   = 11
)

// Gateway close codes the fake sends.
const (
	CloseUnknownError      = 4000
	CloseAuthFailed        = 4004
	CloseAlreadyAuth       = 4005
	CloseDisallowedIntents = 4014
	// defaultHeartbeatMs is long on purpose: discordgo v0.29's heartbeat
	// goroutine can wake inside Session.Close, fail its write, and close
	// the connection the reconnect just opened with code 1000, which ends
	// the session and turns a resume into a new IDENTIFY. Discord announces
	// about 41 s, where that is rare; tests that want to see heartbeats
	// shorten it with SetHeartbeatInterval.
	defaultHeartbeatMs      = 30000
	gatewayWriteTimeout     = 5 * time.Second
	gatewayIdentifyDeadline = 10 * time.Second
)

// ResumeMode says how the gateway answers the next RESUME.
type ResumeMode int

// Resume behaviours.
const (
	// ResumeNormal replays the dispatches the client missed, then sends RESUMED.
	ResumeNormal ResumeMode = iota
	// ResumeReplayAll replays every dispatch since READY, including those the
	// client already processed, as Discord may after a flaky connection;
	// the client must not act on them twice.
	ResumeReplayAll
	// ResumeInvalid answers op 9 INVALID_SESSION: the client must IDENTIFY again.
	ResumeInvalid
	// ResumeReconnect answers op 7 RECONNECT at once, the sequence that
	// wedges discordgo v0.29 inside Session.Open (upstream issue 513).
	ResumeReconnect
)

type gateway struct {
	mu         sync.Mutex // orders sequence numbers and writes
	interval   time.Duration
	sessions   map[string]*gwSession
	cur        *gwSession
	conns      map[*gwConn]bool
	nextResume ResumeMode
	noPriv     bool
}

type gwSession struct {
	id       string
	seq      int64
	log      []frame
	conn     *gwConn
	compress bool
}

type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

type gwConn struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	sess    *gwSession
	closing bool // the fake closed it; what the client says next does not count
}

func (g *gateway) init() {
	g.interval = defaultHeartbeatMs * time.Millisecond
	g.sessions = map[string]*gwSession{}
	g.conns = map[*gwConn]bool{}
}

func (g *gateway) closeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.closing = true
		_ = c.ws.Close()
	}
}

// GatewayStats counts what the gateway saw.
type GatewayStats struct {
	Identifies int
	Resumes    int
	Heartbeats int
	// Connected is set while a client has a READY or RESUMED session.
	Connected bool
	// Intents are those of the latest IDENTIFY.
	Intents discordgo.Intent
}

// Stats returns the gateway's counters.
func (s *Server) Stats() GatewayStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// WaitGateway waits until the gateway's counters satisfy cond, and fails
// the test after timeout.
func (s *Server) WaitGateway(timeout time.Duration, what string, cond func(GatewayStats) bool) GatewayStats {
	s.t.Helper()
	var st GatewayStats
	if !s.waitUntil(timeout, func() bool { st = s.stats; return cond(st) }) {
		s.t.Fatalf("discordtest: gateway never reached %q within %s (stats %+v)", what, timeout, st)
	}
	return st
}

// WaitConnected waits until a client has a live gateway session.
func (s *Server) WaitConnected(timeout time.Duration) {
	s.t.Helper()
	s.WaitGateway(timeout, "connected", func(st GatewayStats) bool { return st.Connected })
}

// SetHeartbeatInterval changes the interval announced in HELLO to clients
// that connect from now on (default 30 s).
func (s *Server) SetHeartbeatInterval(d time.Duration) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	s.gw.interval = d
}

// SetNextResume decides how the next RESUME is answered.
func (s *Server) SetNextResume(m ResumeMode) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	s.gw.nextResume = m
}

// DisallowPrivilegedIntents makes IDENTIFY with the Message Content intent
// fail with close code 4014, as when the intent is not enabled in the
// developer portal.
func (s *Server) DisallowPrivilegedIntents() {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	s.gw.noPriv = true
}

// Disconnect ends the current gateway connection: with a close frame of
// that code, or, with code 0, by dropping the TCP connection without one.
// The session stays resumable.
func (s *Server) Disconnect(code int) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	sess := s.gw.cur
	if sess == nil || sess.conn == nil {
		s.t.Fatalf("discordtest: Disconnect with no client connected")
		return
	}
	c := sess.conn
	c.closing = true
	sess.conn = nil
	if code != 0 {
		c.wmu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "fake disconnect"), time.Now().Add(gatewayWriteTimeout))
		c.wmu.Unlock()
	}
	_ = c.ws.Close()
	s.setConnected(false)
}

// SendReconnect sends op 7 RECONNECT on the current connection: the client
// should close it and resume.
func (s *Server) SendReconnect() {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	if s.gw.cur == nil || s.gw.cur.conn == nil {
		s.t.Fatalf("discordtest: SendReconnect with no client connected")
		return
	}
	_ = s.gw.cur.conn.write(frame{Op: opReconnect, D: json.RawMessage("null")}, false)
}

// Dispatch sends an op 0 event to the connected client with the next
// sequence number and keeps it for replay on RESUME; with the client
// disconnected, it is only kept. It returns the sequence number.
func (s *Server) Dispatch(eventType string, data any) int64 {
	s.t.Helper()
	seq, ok := s.dispatchQuiet(eventType, data)
	if !ok {
		s.t.Fatalf("discordtest: Dispatch %s before any client identified", eventType)
	}
	return seq
}

// dispatchQuiet dispatches when a session exists and reports whether one did.
func (s *Server) dispatchQuiet(eventType string, data any) (int64, bool) {
	raw, err := json.Marshal(data)
	if err != nil {
		panic("discordtest: encoding " + eventType + ": " + err.Error())
	}
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	sess := s.gw.cur
	if sess == nil {
		return 0, false
	}
	return s.gw.dispatch(sess, eventType, raw, false), true
}

// dispatch appends to the session's log and writes to its connection; the
// caller holds g.mu.
func (g *gateway) dispatch(sess *gwSession, eventType string, raw json.RawMessage, compress bool) int64 {
	sess.seq++
	seq := sess.seq
	t := eventType
	f := frame{Op: opDispatch, D: raw, S: &seq, T: &t}
	sess.log = append(sess.log, f)
	if sess.conn != nil {
		// A write error means the connection broke: the client resumes and gets it replayed.
		_ = sess.conn.write(f, compress)
	}
	return seq
}

func (c *gwConn) write(f frame, compress bool) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	kind := websocket.TextMessage
	if compress {
		var buf bytes.Buffer
		z := zlib.NewWriter(&buf)
		if _, err := z.Write(b); err != nil {
			return err
		}
		if err := z.Close(); err != nil {
			return err
		}
		b, kind = buf.Bytes(), websocket.BinaryMessage
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(gatewayWriteTimeout))
	return c.ws.WriteMessage(kind, b)
}

func (s *Server) setConnected(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Connected = v
	s.changed()
}

func (s *Server) count(f func(*GatewayStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
	s.changed()
}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("encoding") != "json" {
		http.Error(w, "encoding=json expected", http.StatusBadRequest)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := &gwConn{ws: ws}
	s.gw.mu.Lock()
	s.gw.conns[c] = true
	interval := s.gw.interval
	hello, _ := json.Marshal(map[string]int64{"heartbeat_interval": interval.Milliseconds()})
	_ = c.write(frame{Op: opHello, D: hello}, false)
	s.gw.mu.Unlock()
	defer s.dropConn(c)

	// Discord closes a connection whose client stops heartbeating; a
	// generous deadline keeps slow -race runs from tripping it.
	readWindow := max(3*interval+5*time.Second, gatewayIdentifyDeadline)
	for {
		_ = ws.SetReadDeadline(time.Now().Add(readWindow))
		_, data, err := ws.ReadMessage()
		if err != nil {
			s.clientGone(c, err)
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			s.closeConn(c, 4002, "Decode error")
			return
		}
		switch f.Op {
		case opHeartbeat:
			s.count(func(st *GatewayStats) { st.Heartbeats++ })
			s.gw.mu.Lock()
			_ = c.write(frame{Op: opHeartbeatAck, D: json.RawMessage("null")}, false)
			s.gw.mu.Unlock()
		case opIdentify:
			if !s.identify(c, f.D) {
				return
			}
		case opResume:
			if !s.resume(c, f.D) {
				return
			}
		}
	}
}

// clientGone handles the end of a connection: a client closing with 1000 or
// 1001 ends its session, as on Discord; anything else leaves it resumable.
func (s *Server) clientGone(c *gwConn, err error) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	if c.closing {
		return
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) && c.sess != nil {
		delete(s.gw.sessions, c.sess.id)
	}
}

func (s *Server) dropConn(c *gwConn) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	delete(s.gw.conns, c)
	if c.sess != nil && c.sess.conn == c {
		c.sess.conn = nil
		if s.gw.cur == c.sess {
			s.setConnected(false)
		}
	}
	_ = c.ws.Close()
}

func (s *Server) closeConn(c *gwConn, code int, text string) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	c.closing = true
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(gatewayWriteTimeout))
	c.wmu.Unlock()
}

func (s *Server) tokenOK(token string) bool {
	return strings.TrimPrefix(token, "Bot ") == s.Token
}

// identify answers op 2: READY and GUILD_CREATE, or a close code. It
// reports whether the connection stays open.
func (s *Server) identify(c *gwConn, d json.RawMessage) bool {
	var id struct {
		Token    string           `json:"token"`
		Intents  discordgo.Intent `json:"intents"`
		Compress bool             `json:"compress"`
	}
	if err := json.Unmarshal(d, &id); err != nil {
		s.closeConn(c, 4002, "Decode error")
		return false
	}
	s.gw.mu.Lock()
	noPriv, already := s.gw.noPriv, c.sess != nil
	s.gw.mu.Unlock()
	switch {
	case !s.tokenOK(id.Token):
		s.closeConn(c, CloseAuthFailed, "Authentication failed.")
		return false
	case already:
		s.closeConn(c, CloseAlreadyAuth, "Already authenticated.")
		return false
	case noPriv && id.Intents&discordgo.IntentMessageContent != 0:
		s.closeConn(c, CloseDisallowedIntents, "Disallowed intent(s).")
		return false
	}
	s.count(func(st *GatewayStats) { st.Identifies++; st.Intents = id.Intents })

	ready, _ := json.Marshal(map[string]any{
		"v":                  9,
		"user":               s.BotUser,
		"session_id":         s.NewID(),
		"resume_gateway_url": "ws" + strings.TrimPrefix(s.URL, "http") + "/gateway",
		"guilds":             []map[string]any{{"id": s.GuildID, "unavailable": true}},
		"private_channels":   []any{},
		"application":        map[string]any{"id": s.AppID, "flags": 0},
	})
	s.mu.Lock()
	var chans []*discordgo.Channel
	for _, ch := range s.chans {
		cp := *ch
		chans = append(chans, &cp)
	}
	s.mu.Unlock()
	guild, _ := json.Marshal(map[string]any{
		"id": s.GuildID, "name": "Firebreak test guild", "unavailable": false,
		"channels": chans, "threads": []any{}, "members": []any{}, "roles": []any{},
	})

	s.gw.mu.Lock()
	var sid struct {
		SessionID string `json:"session_id"`
	}
	_ = json.Unmarshal(ready, &sid)
	sess := &gwSession{id: sid.SessionID, conn: c, compress: id.Compress}
	s.gw.sessions[sess.id] = sess
	s.gw.cur = sess
	c.sess = sess
	s.gw.dispatch(sess, "READY", ready, id.Compress)
	s.gw.dispatch(sess, "GUILD_CREATE", guild, false)
	s.gw.mu.Unlock()
	s.setConnected(true)
	return true
}

// resume answers op 6 as the next resume mode says. It reports whether the
// connection stays open.
func (s *Server) resume(c *gwConn, d json.RawMessage) bool {
	var r struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	if err := json.Unmarshal(d, &r); err != nil {
		s.closeConn(c, 4002, "Decode error")
		return false
	}
	if !s.tokenOK(r.Token) {
		s.closeConn(c, CloseAuthFailed, "Authentication failed.")
		return false
	}
	s.count(func(st *GatewayStats) { st.Resumes++ })
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	mode := s.gw.nextResume
	s.gw.nextResume = ResumeNormal
	sess, ok := s.gw.sessions[r.SessionID]
	if !ok || mode == ResumeInvalid {
		_ = c.write(frame{Op: opInvalidSession, D: json.RawMessage("false")}, false)
		return true
	}
	if mode == ResumeReconnect {
		_ = c.write(frame{Op: opReconnect, D: json.RawMessage("null")}, false)
		return true
	}
	if old := sess.conn; old != nil && old != c {
		old.closing = true
		_ = old.ws.Close()
	}
	sess.conn, c.sess, s.gw.cur = c, sess, sess
	from := r.Seq
	if mode == ResumeReplayAll {
		from = 1 // everything after READY
	}
	for _, f := range sess.log {
		if *f.S > from {
			_ = c.write(f, false)
		}
	}
	s.gw.dispatch(sess, "RESUMED", json.RawMessage("{}"), false)
	s.setConnected(true)
	return true
}
