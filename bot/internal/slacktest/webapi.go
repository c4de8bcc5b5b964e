package slacktest

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// channelNameRE is what conversations.create accepts.
var channelNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,80}$`)

// dispatch runs one Web API method against the fake's state and returns
// Slack's answer.
func (s *Server) dispatch(method string, p map[string][]string, js map[string]any) map[string]any {
	get := func(k string) string {
		if v := p[k]; len(v) > 0 {
			return v[0]
		}
		if v, ok := js[k].(string); ok {
			return v
		}
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch method {
	case "auth.test":
		return map[string]any{"ok": true, "url": "https://" + TeamDomain + ".slack.com/", "team": "Firebreak Test",
			"user": "firebreak", "team_id": TeamID, "user_id": BotUserID, "bot_id": BotID}
	case "apps.connections.open":
		return map[string]any{"ok": true, "url": s.sock.ticketURL(s.http.URL)}
	case "chat.postMessage":
		return s.postMessage(get("channel"), get("text"), get("thread_ts"), get("blocks"), get("attachments"))
	case "chat.update":
		return s.updateMessage(get("channel"), get("ts"), get("text"), p["blocks"], get("attachments"))
	case "chat.postEphemeral":
		return s.postEphemeral(get("channel"), get("user"), get("text"), get("thread_ts"), get("blocks"))
	case "chat.getPermalink":
		c := s.findChannel(get("channel"))
		if c == nil {
			return slackError("channel_not_found")
		}
		if s.findMessage(c.ID, get("message_ts")) == nil {
			return slackError("message_not_found")
		}
		return map[string]any{"ok": true, "channel": c.ID, "permalink": Permalink(c.ID, get("message_ts"))}
	case "conversations.info":
		c := s.findChannel(get("channel"))
		if c == nil {
			return slackError("channel_not_found")
		}
		return map[string]any{"ok": true, "channel": channelJSON(c)}
	case "conversations.create":
		return s.createChannel(get("name"), get("is_private") == "true")
	case "conversations.list":
		return s.listChannels(get("types"), get("exclude_archived") == "true" || get("exclude_archived") == "1", get("limit"), get("cursor"))
	case "conversations.invite":
		return s.invite(get("channel"), get("users"))
	case "conversations.history":
		return s.history(get("channel"), get("latest"), get("oldest"), get("inclusive") == "1" || get("inclusive") == "true", get("limit"))
	case "conversations.replies":
		return s.replies(get("channel"), get("ts"), get("latest"), get("oldest"), get("inclusive") == "1" || get("inclusive") == "true")
	case "users.info":
		u, ok := s.users[get("user")]
		if !ok {
			return slackError("user_not_found")
		}
		return map[string]any{"ok": true, "user": map[string]any{
			"id": u.ID, "team_id": TeamID, "name": u.Name, "real_name": u.RealName, "is_bot": u.IsBot,
			"profile": map[string]any{"real_name": u.RealName, "display_name": u.DisplayName},
		}}
	case "pins.add":
		c := s.findChannel(get("channel"))
		if c == nil {
			return slackError("channel_not_found")
		}
		ts := get("timestamp")
		if s.findMessage(c.ID, ts) == nil {
			return slackError("message_not_found")
		}
		if slices.Contains(c.Pins, ts) {
			return slackError("already_pinned")
		}
		c.Pins = append(c.Pins, ts)
		return map[string]any{"ok": true}
	case "files.getUploadURLExternal":
		n, err := strconv.Atoi(get("length"))
		if err != nil || n <= 0 {
			return slackError("invalid_arguments")
		}
		if get("filename") == "" {
			return slackError("invalid_arguments")
		}
		f := &File{ID: s.nextID("F"), Name: get("filename"), Length: n}
		s.files[f.ID] = f
		return map[string]any{"ok": true, "upload_url": s.http.URL + "/upload/" + f.ID, "file_id": f.ID}
	case "files.completeUploadExternal":
		return s.completeUpload(get("files"), get("channel_id"), get("thread_ts"), get("initial_comment"))
	}
	return slackError("unknown_method")
}

// Permalink is the link the fake hands out for a message.
func Permalink(channel, ts string) string {
	return "https://" + TeamDomain + ".slack.com/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", "")
}

func channelJSON(c *Channel) map[string]any {
	return map[string]any{"id": c.ID, "name": c.Name, "is_channel": !c.IsPrivate, "is_group": c.IsPrivate,
		"is_private": c.IsPrivate, "is_member": slices.Contains(c.Members, BotUserID), "creator": c.Creator,
		"num_members": len(c.Members)}
}

func (s *Server) postMessage(channel, text, thread, blocks, attachments string) map[string]any {
	c := s.findChannel(channel)
	if c == nil {
		return slackError("channel_not_found")
	}
	if text == "" && blocks == "" && attachments == "" {
		return slackError("no_text")
	}
	m := &Message{Type: "message", Channel: c.ID, User: BotUserID, BotID: BotID, Text: text, TS: s.nextTS(), ThreadTS: thread}
	if blocks != "" {
		if !json.Valid([]byte(blocks)) {
			return slackError("invalid_blocks_format")
		}
		m.Blocks = json.RawMessage(blocks)
	}
	if attachments != "" {
		if err := json.Unmarshal([]byte(attachments), &m.Attachments); err != nil {
			return slackError("invalid_attachments")
		}
	}
	if thread != "" && s.findMessage(c.ID, thread) == nil {
		return slackError("thread_not_found")
	}
	s.storeMessage(m)
	return map[string]any{"ok": true, "channel": c.ID, "ts": m.TS, "message": m}
}

func (s *Server) updateMessage(channel, ts, text string, blocks []string, attachments string) map[string]any {
	c := s.findChannel(channel)
	if c == nil {
		return slackError("channel_not_found")
	}
	m := s.findMessage(c.ID, ts)
	if m == nil {
		return slackError("message_not_found")
	}
	if m.User != BotUserID {
		return slackError("cant_update_message")
	}
	m.Text = text
	if len(blocks) > 0 {
		if !json.Valid([]byte(blocks[0])) {
			return slackError("invalid_blocks_format")
		}
		m.Blocks = json.RawMessage(blocks[0])
	}
	if attachments != "" {
		m.Attachments = nil
		if err := json.Unmarshal([]byte(attachments), &m.Attachments); err != nil {
			return slackError("invalid_attachments")
		}
	}
	m.Updates++
	return map[string]any{"ok": true, "channel": c.ID, "ts": m.TS, "text": m.Text, "message": m}
}

func (s *Server) postEphemeral(channel, user, text, thread, blocks string) map[string]any {
	c := s.findChannel(channel)
	if c == nil {
		return slackError("channel_not_found")
	}
	if _, ok := s.users[user]; !ok {
		return slackError("user_not_found")
	}
	e := Ephemeral{Channel: c.ID, User: user, Text: text, ThreadTS: thread, TS: s.nextTS()}
	if blocks != "" {
		e.Blocks = json.RawMessage(blocks)
	}
	s.ephemerals = append(s.ephemerals, e)
	return map[string]any{"ok": true, "message_ts": e.TS}
}

func (s *Server) createChannel(name string, private bool) map[string]any {
	if !channelNameRE.MatchString(name) {
		return slackError("invalid_name_specials")
	}
	for _, c := range s.channels {
		if c.Name == name {
			return slackError("name_taken")
		}
	}
	c := &Channel{ID: s.nextID("C"), Name: name, IsPrivate: private, Members: []string{BotUserID}, Creator: BotUserID}
	s.channels[c.ID] = c
	return map[string]any{"ok": true, "channel": channelJSON(c)}
}

// listChannels answers conversations.list as Slack does for a bot token:
// public channels by default ("types"), private ones only where the bot
// is a member, in pages of limit (default 100, at most 1,000) with an
// opaque next_cursor. The fake has no archived channels, so
// exclude_archived changes nothing.
func (s *Server) listChannels(types string, _ bool, limit, cursor string) map[string]any {
	if types == "" {
		types = "public_channel"
	}
	want := map[string]bool{}
	for t := range strings.SplitSeq(types, ",") {
		want[strings.TrimSpace(t)] = true
	}
	n, err := strconv.Atoi(limit)
	if limit == "" {
		n, err = 100, nil
	}
	if err != nil || n < 1 {
		return slackError("invalid_limit")
	}
	n = min(n, 1000)
	ids := make([]string, 0, len(s.channels))
	for id := range s.channels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	start := 0
	if cursor != "" {
		after, ok := strings.CutPrefix(cursor, "next:")
		if !ok {
			return slackError("invalid_cursor")
		}
		start, _ = slices.BinarySearch(ids, after)
	}
	var page []map[string]any
	next := ""
	for i := start; i < len(ids); i++ {
		c := s.channels[ids[i]]
		if c.IsPrivate && (!want["private_channel"] || !slices.Contains(c.Members, BotUserID)) || !c.IsPrivate && !want["public_channel"] {
			continue
		}
		if len(page) == n {
			next = "next:" + ids[i]
			break
		}
		page = append(page, channelJSON(c))
	}
	return map[string]any{"ok": true, "channels": page, "response_metadata": map[string]any{"next_cursor": next}}
}

func (s *Server) invite(channel, users string) map[string]any {
	c := s.findChannel(channel)
	if c == nil {
		return slackError("channel_not_found")
	}
	added := 0
	for u := range strings.SplitSeq(users, ",") {
		if u == "" {
			continue
		}
		if u == BotUserID {
			return slackError("cant_invite_self")
		}
		if _, ok := s.users[u]; !ok {
			return slackError("user_not_found")
		}
		if !slices.Contains(c.Members, u) {
			c.Members = append(c.Members, u)
			added++
		}
	}
	if added == 0 {
		return slackError("already_in_channel")
	}
	return map[string]any{"ok": true, "channel": channelJSON(c)}
}

// inRange reports whether ts lies between oldest and latest ("" = open).
func inRange(ts, oldest, latest string, inclusive bool) bool {
	if latest != "" {
		c := compareTS(ts, latest)
		if c > 0 || (c == 0 && !inclusive) {
			return false
		}
	}
	if oldest != "" {
		c := compareTS(ts, oldest)
		if c < 0 || (c == 0 && !inclusive) {
			return false
		}
	}
	return true
}

func (s *Server) history(channel, latest, oldest string, inclusive bool, limitS string) map[string]any {
	c := s.findChannel(channel)
	if c == nil {
		return slackError("channel_not_found")
	}
	limit, err := strconv.Atoi(limitS)
	if err != nil || limit <= 0 {
		limit = 100
	}
	var out []*Message
	msgs := s.messages[c.ID]
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.ThreadTS != "" && m.ThreadTS != m.TS {
			continue // replies live in conversations.replies
		}
		if inRange(m.TS, oldest, latest, inclusive) {
			out = append(out, m)
		}
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return map[string]any{"ok": true, "messages": nonNil(out), "has_more": more}
}

func (s *Server) replies(channel, ts, latest, oldest string, inclusive bool) map[string]any {
	c := s.findChannel(channel)
	if c == nil {
		return slackError("channel_not_found")
	}
	m := s.findMessage(c.ID, ts)
	if m == nil {
		return slackError("thread_not_found")
	}
	parent := ts
	if m.ThreadTS != "" {
		parent = m.ThreadTS
	}
	var out []*Message
	for _, x := range s.messages[c.ID] {
		switch {
		case x.TS == parent:
			out = append([]*Message{x}, out...) // the parent always comes first
		case x.ThreadTS == parent && inRange(x.TS, oldest, latest, inclusive):
			out = append(out, x)
		}
	}
	return map[string]any{"ok": true, "messages": nonNil(out), "has_more": false}
}

func nonNil(ms []*Message) []*Message {
	if ms == nil {
		return []*Message{}
	}
	return ms
}

func (s *Server) completeUpload(filesJSON, channel, thread, comment string) map[string]any {
	var list []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(filesJSON), &list); err != nil || len(list) == 0 {
		return slackError("invalid_arguments")
	}
	var ch *Channel
	if channel != "" {
		if ch = s.findChannel(channel); ch == nil {
			return slackError("channel_not_found")
		}
	}
	var out []map[string]any
	for _, item := range list {
		f, ok := s.files[item.ID]
		if !ok || !f.Uploaded {
			return slackError("file_not_found")
		}
		if f.Completed {
			return slackError("file_upload_already_completed")
		}
		f.Completed = true
		f.Title = item.Title
		f.InitialComment = comment
		f.ThreadTS = thread
		if ch != nil {
			f.Channel = ch.ID
		}
		out = append(out, map[string]any{"id": f.ID, "title": f.Title})
	}
	if ch != nil {
		m := &Message{Type: "message", SubType: "file_share", Channel: ch.ID, User: BotUserID, BotID: BotID,
			Text: comment, TS: s.nextTS(), ThreadTS: thread}
		for _, item := range list {
			m.Files = append(m.Files, item.ID)
		}
		s.storeMessage(m)
	}
	return map[string]any{"ok": true, "files": out}
}
