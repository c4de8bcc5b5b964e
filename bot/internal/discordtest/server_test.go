package discordtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dial opens a raw gateway connection and reads HELLO.
func dial(t *testing.T, s *Server) (*websocket.Conn, int64) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/gateway/?v=9&encoding=json", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	f := read(t, ws)
	require.Equal(t, opHello, f.Op)
	var hello struct {
		Interval int64 `json:"heartbeat_interval"`
	}
	require.NoError(t, json.Unmarshal(f.D, &hello))
	return ws, hello.Interval
}

func read(t *testing.T, ws *websocket.Conn) frame {
	t.Helper()
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	var f frame
	require.NoError(t, ws.ReadJSON(&f))
	return f
}

func send(t *testing.T, ws *websocket.Conn, op int, d any) {
	t.Helper()
	require.NoError(t, ws.WriteJSON(map[string]any{"op": op, "d": d}))
}

// closeCode reads until the server closes the connection and returns the code.
func closeCode(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	for range 100 {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		require.NoError(t, err)
	}
	t.Fatal("no close frame")
	return 0
}

func TestGatewayIdentifyResumeAndReplay(t *testing.T) {
	s := New(t)
	ws, interval := dial(t, s)
	assert.Equal(t, int64(defaultHeartbeatMs), interval)

	send(t, ws, opHeartbeat, nil)
	assert.Equal(t, opHeartbeatAck, read(t, ws).Op)

	send(t, ws, opIdentify, map[string]any{"token": "Bot " + s.Token, "intents": discordgo.IntentsGuildMessages})
	ready := read(t, ws)
	require.Equal(t, "READY", *ready.T)
	assert.Equal(t, int64(1), *ready.S)
	var r struct {
		SessionID string          `json:"session_id"`
		User      *discordgo.User `json:"user"`
	}
	require.NoError(t, json.Unmarshal(ready.D, &r))
	assert.Equal(t, s.BotUser.ID, r.User.ID)
	guild := read(t, ws)
	assert.Equal(t, "GUILD_CREATE", *guild.T)
	assert.Equal(t, discordgo.IntentsGuildMessages, s.Stats().Intents)

	m := s.PushMessage(Post{ChannelID: s.ChannelID("alerts"), Webhook: "Alertmanager", Content: "[FIRING:1] x"})
	created := read(t, ws)
	assert.Equal(t, "MESSAGE_CREATE", *created.T)
	assert.Equal(t, int64(3), *created.S)

	// Missed while disconnected: replayed on resume, then RESUMED.
	s.Disconnect(CloseUnknownError)
	s.PushMessage(Post{ChannelID: s.ChannelID("alerts"), Webhook: "Alertmanager", Content: "[FIRING:1] y"})
	ws2, _ := dial(t, s)
	send(t, ws2, opResume, map[string]any{"token": "Bot " + s.Token, "session_id": r.SessionID, "seq": 3})
	replayed := read(t, ws2)
	assert.Equal(t, "MESSAGE_CREATE", *replayed.T)
	assert.Equal(t, int64(4), *replayed.S)
	assert.NotContains(t, string(replayed.D), m.ID)
	assert.Equal(t, "RESUMED", *read(t, ws2).T)
	assert.Equal(t, 1, s.Stats().Resumes)

	// An unknown session is invalid.
	ws3, _ := dial(t, s)
	send(t, ws3, opResume, map[string]any{"token": "Bot " + s.Token, "session_id": "nope", "seq": 1})
	assert.Equal(t, opInvalidSession, read(t, ws3).Op)
}

func TestGatewayRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*Server)
		token string
		want  int
	}{
		{"bad token", func(*Server) {}, "Bot wrong", CloseAuthFailed},
		{"privileged intent not enabled", (*Server).DisallowPrivilegedIntents, "", CloseDisallowedIntents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t)
			tt.setup(s)
			token := tt.token
			if token == "" {
				token = "Bot " + s.Token
			}
			ws, _ := dial(t, s)
			send(t, ws, opIdentify, map[string]any{"token": token, "intents": discordgo.IntentMessageContent})
			assert.Equal(t, tt.want, closeCode(t, ws))
		})
	}
}

func TestRESTFaultsAndValidation(t *testing.T) {
	s := New(t)
	post := func(body string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, s.APIURL()+"/channels/"+s.ChannelID("general")+"/messages", bytes.NewBufferString(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bot "+s.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}

	s.InjectFault(Fault{Route: RouteCreateMessage, Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond, Global: true})
	resp := post(`{"content":"hi"}`)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"), "whole seconds, rounded up")
	assert.Equal(t, "1.500", resp.Header.Get("X-RateLimit-Reset-After"))
	assert.Equal(t, "true", resp.Header.Get("X-RateLimit-Global"))
	var rl struct {
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rl))
	assert.InDelta(t, 1.5, rl.RetryAfter, 0.001)
	assert.True(t, rl.Global)

	s.InjectFault(Fault{Route: RouteCreateMessage, Status: http.StatusBadGateway})
	assert.Equal(t, http.StatusBadGateway, post(`{"content":"hi"}`).StatusCode)
	assert.Equal(t, http.StatusOK, post(`{"content":"hi"}`).StatusCode, "a fault fails only the requests it was given")

	tooLong := post(`{"content":"` + strings.Repeat("x", maxContent+1) + `"}`)
	assert.Equal(t, http.StatusBadRequest, tooLong.StatusCode)
	body, _ := io.ReadAll(tooLong.Body)
	assert.Contains(t, string(body), "50035")
	dup := post(`{"components":[{"type":1,"components":[{"type":2,"style":1,"label":"a","custom_id":"x"},{"type":2,"style":1,"label":"b","custom_id":"x"}]}]}`)
	assert.Equal(t, http.StatusBadRequest, dup.StatusCode)
	assert.Equal(t, http.StatusBadRequest, post(`{}`).StatusCode, "an empty message is refused")

	statuses := []int{}
	for _, c := range s.CallsTo(RouteCreateMessage) {
		statuses = append(statuses, c.Status)
	}
	assert.Equal(t, []int{429, 502, 200, 400, 400, 400}, statuses)
	assert.Len(t, s.Messages(s.ChannelID("general")), 1)
}

func TestCommandValidation(t *testing.T) {
	tests := []struct {
		name string
		cmds []*discordgo.ApplicationCommand
		ok   bool
	}{
		{"valid", []*discordgo.ApplicationCommand{{Name: "incident", Description: "d", Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: "ack", Description: "d"}}}}, true},
		{"upper-case name", []*discordgo.ApplicationCommand{{Name: "Incident", Description: "d"}}, false},
		{"no description", []*discordgo.ApplicationCommand{{Name: "incident"}}, false},
		{"required after optional", []*discordgo.ApplicationCommand{{Name: "incident", Description: "d", Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionString, Name: "a", Description: "d"},
			{Type: discordgo.ApplicationCommandOptionString, Name: "b", Description: "d", Required: true}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateCommands(tt.cmds)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}
