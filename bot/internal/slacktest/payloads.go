package slacktest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// VerificationToken is the deprecated token Slack still puts in payloads;
// signed requests make it redundant.
const VerificationToken = "firebreak-verification-token"

// Post stores a message that someone other than Firebreak (a person, or an
// app such as Alertmanager) posted, assigning its ts, and returns it.
func (s *Server) Post(m Message) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Type = "message"
	if m.TS == "" {
		m.TS = s.nextTS()
	}
	if c := s.findChannel(m.Channel); c != nil {
		m.Channel = c.ID
	}
	cp := m
	s.storeMessage(&cp)
	return m
}

// EventCallback wraps an inner event as Slack's Events API delivers it and
// returns the new event_id with the payload.
func (s *Server) EventCallback(inner map[string]any) (eventID string, payload json.RawMessage) {
	s.mu.Lock()
	eventID = s.nextID("Ev0FB")
	s.mu.Unlock()
	raw, err := json.Marshal(map[string]any{
		"token": VerificationToken, "team_id": TeamID, "api_app_id": AppID, "type": "event_callback",
		"event": inner, "event_id": eventID, "event_time": 1700000000, "event_context": "4-fake",
		"is_ext_shared_channel": false,
		"authorizations": []map[string]any{{"team_id": TeamID, "user_id": BotUserID, "is_bot": true,
			"is_enterprise_install": false}},
	})
	if err != nil {
		panic(fmt.Sprintf("fake slack: marshal event: %v", err))
	}
	return eventID, raw
}

// messageInner renders a stored message as the inner event of a
// message.channels delivery.
func messageInner(m Message, eventType string) map[string]any {
	raw, _ := json.Marshal(m)
	var inner map[string]any
	_ = json.Unmarshal(raw, &inner)
	inner["type"] = eventType
	inner["event_ts"] = m.TS
	inner["channel_type"] = "channel"
	if m.User != "" {
		inner["team"] = TeamID
	}
	return inner
}

// MessageEvent posts m (see Post) and returns the event_callback payload
// Slack sends for it.
func (s *Server) MessageEvent(m Message) json.RawMessage {
	m = s.Post(m)
	_, payload := s.EventCallback(messageInner(m, "message"))
	return payload
}

// AppMentionEvent posts a message that mentions Firebreak and returns the
// app_mention payload (Slack also sends a message event for it).
func (s *Server) AppMentionEvent(channel, user, text string) json.RawMessage {
	m := s.Post(Message{Channel: channel, User: user, Text: "<@" + BotUserID + "> " + text})
	inner := messageInner(m, "app_mention")
	delete(inner, "channel_type")
	_, payload := s.EventCallback(inner)
	return payload
}

// ReactionAddedEvent returns the payload for user adding reaction to the
// message at channel/ts.
func (s *Server) ReactionAddedEvent(user, reaction, channel, ts string) json.RawMessage {
	s.mu.Lock()
	itemUser := ""
	if m := s.findMessage(channel, ts); m != nil {
		itemUser = m.User
	}
	eventTS := s.nextTS()
	s.mu.Unlock()
	_, payload := s.EventCallback(map[string]any{
		"type": "reaction_added", "user": user, "reaction": reaction, "item_user": itemUser,
		"item":     map[string]any{"type": "message", "channel": channel, "ts": ts},
		"event_ts": eventTS,
	})
	return payload
}

// SlashCommand is a slash command invocation with Slack's field names. In
// HTTP mode it is sent as a form (Form), in Socket Mode as JSON.
type SlashCommand struct {
	Token               string `json:"token"`
	TeamID              string `json:"team_id"`
	TeamDomain          string `json:"team_domain"`
	ChannelID           string `json:"channel_id"`
	ChannelName         string `json:"channel_name"`
	UserID              string `json:"user_id"`
	UserName            string `json:"user_name"`
	Command             string `json:"command"`
	Text                string `json:"text"`
	APIAppID            string `json:"api_app_id"`
	IsEnterpriseInstall string `json:"is_enterprise_install"`
	ResponseURL         string `json:"response_url"`
	TriggerID           string `json:"trigger_id"`
}

// Form encodes the command as Slack posts it in HTTP mode.
func (c SlashCommand) Form() url.Values {
	return url.Values{
		"token": {c.Token}, "team_id": {c.TeamID}, "team_domain": {c.TeamDomain},
		"channel_id": {c.ChannelID}, "channel_name": {c.ChannelName}, "user_id": {c.UserID},
		"user_name": {c.UserName}, "command": {c.Command}, "text": {c.Text}, "api_app_id": {c.APIAppID},
		"is_enterprise_install": {c.IsEnterpriseInstall}, "response_url": {c.ResponseURL},
		"trigger_id": {c.TriggerID},
	}
}

// triggerID returns a fresh trigger id in Slack's shape.
func (s *Server) triggerID() string {
	s.seq++
	return fmt.Sprintf("%d.%d.%032x", 1700000000+s.seq, 4242, s.seq)
}

// Command builds "/incident <text>" typed by user in channel.
func (s *Server) Command(user, channel, text string) SlashCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := SlashCommand{Token: VerificationToken, TeamID: TeamID, TeamDomain: TeamDomain, ChannelID: channel,
		UserID: user, Command: "/incident", Text: text, APIAppID: AppID, IsEnterpriseInstall: "false"}
	if ch := s.findChannel(channel); ch != nil {
		c.ChannelID, c.ChannelName = ch.ID, ch.Name
	}
	if u, ok := s.users[user]; ok {
		c.UserName = u.Name
	}
	c.TriggerID = s.triggerID()
	c.ResponseURL = s.http.URL + "/response/cmd-" + strconv.Itoa(s.seq)
	return c
}

// BlockAction builds the block_actions payload for user pressing the
// button actionID on the message at channel/ts. The button must be on the
// message (as the fake last stored it), exactly as in Slack.
func (s *Server) BlockAction(t testing.TB, user, channel, ts, actionID string) json.RawMessage {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.findChannel(channel)
	require.NotNil(t, c, "fake slack: no channel %s", channel)
	m := s.findMessage(c.ID, ts)
	require.NotNil(t, m, "fake slack: no message %s in %s", ts, channel)
	var button map[string]any
	blockID := ""
	for _, b := range m.BlockList() {
		if b["type"] != "actions" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			if el["action_id"] == actionID {
				button = el
				blockID, _ = b["block_id"].(string)
			}
		}
	}
	require.NotNilf(t, button, "fake slack: message %s has no button %q (buttons: %v)", ts, actionID, m.Buttons())
	u := s.users[user]
	name := user
	if u != nil {
		name = u.Name
	}
	actionTS := s.nextTS()
	action := map[string]any{"type": "button", "action_id": actionID, "block_id": blockID,
		"text": button["text"], "value": button["value"], "action_ts": actionTS}
	if st, ok := button["style"]; ok {
		action["style"] = st
	}
	container := map[string]any{"type": "message", "message_ts": m.TS, "channel_id": c.ID, "is_ephemeral": false}
	if m.ThreadTS != "" {
		container["thread_ts"] = m.ThreadTS
	}
	raw, err := json.Marshal(map[string]any{
		"type":                  "block_actions",
		"user":                  map[string]any{"id": user, "username": name, "name": name, "team_id": TeamID},
		"api_app_id":            AppID,
		"token":                 VerificationToken,
		"container":             container,
		"trigger_id":            s.triggerID(),
		"team":                  map[string]any{"id": TeamID, "domain": TeamDomain},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": c.ID, "name": c.Name},
		"message":               m,
		"state":                 map[string]any{"values": map[string]any{}},
		"response_url":          s.http.URL + "/response/act-" + strconv.Itoa(s.seq),
		"actions":               []any{action},
	})
	require.NoError(t, err)
	return raw
}

// EphemeralAction builds the block_actions payload for user pressing the
// button actionID on an ephemeral message Firebreak sent them. Slack
// marks the container is_ephemeral and sends no message body for it.
func (s *Server) EphemeralAction(t testing.TB, user string, e Ephemeral, actionID string) json.RawMessage {
	t.Helper()
	var blocks []map[string]any
	require.NoError(t, json.Unmarshal(e.Blocks, &blocks), "fake slack: ephemeral blocks")
	var button map[string]any
	blockID := ""
	for _, b := range blocks {
		els, _ := b["elements"].([]any)
		for _, el := range els {
			m, _ := el.(map[string]any)
			if b["type"] == "actions" && m["action_id"] == actionID {
				button, blockID = m, fmt.Sprint(b["block_id"])
			}
		}
	}
	require.NotNilf(t, button, "fake slack: the ephemeral message has no button %q", actionID)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.findChannel(e.Channel)
	require.NotNil(t, c, "fake slack: no channel %s", e.Channel)
	ts := e.TS
	if ts == "" {
		ts = s.nextTS()
	}
	container := map[string]any{"type": "message", "message_ts": ts, "channel_id": c.ID, "is_ephemeral": true}
	if e.ThreadTS != "" {
		container["thread_ts"] = e.ThreadTS
	}
	raw, err := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "team_id": TeamID},
		"api_app_id":   AppID,
		"token":        VerificationToken,
		"container":    container,
		"trigger_id":   s.triggerID(),
		"team":         map[string]any{"id": TeamID, "domain": TeamDomain},
		"channel":      map[string]any{"id": c.ID, "name": c.Name},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": s.http.URL + "/response/" + s.ephemeralResponse(ts),
		"actions": []any{map[string]any{"type": "button", "action_id": actionID, "block_id": blockID,
			"text": button["text"], "value": button["value"], "action_ts": s.nextTS()}},
	})
	require.NoError(t, err)
	return raw
}

// ephemeralResponse names a response URL for a press on the ephemeral
// message ts, so a replace_original posted to it replaces that message;
// the caller holds mu.
func (s *Server) ephemeralResponse(ts string) string {
	s.seq++
	id := "eph-" + strconv.Itoa(s.seq)
	if s.pressedEphemeral == nil {
		s.pressedEphemeral = map[string]string{}
	}
	s.pressedEphemeral[id] = ts
	return id
}
