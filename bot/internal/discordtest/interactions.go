package discordtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Option is one option of a slash command as Discord sends it.
type Option = discordgo.ApplicationCommandInteractionDataOption

// Interaction is an interaction the fake dispatched, and how the client
// answered it.
type Interaction struct {
	ID        string
	Token     string
	ChannelID string
	Type      discordgo.InteractionType
	User      *discordgo.User
	// Message is the message a pressed button sat on.
	Message *discordgo.Message

	s  *Server
	at time.Time
	// guarded by s.mu
	cb              *Callback
	late            bool
	pending         bool // deferred with type 5 and not resolved yet
	deferEphemeral  bool
	originalDeleted bool
	followups       []Followup
}

// Callback is the client's answer to the interaction.
type Callback struct {
	Type  discordgo.InteractionResponseType
	Flags discordgo.MessageFlags
	// After is how long after dispatch the callback arrived.
	After time.Duration
}

// Followup is a message sent through the interaction's webhook.
type Followup struct {
	Message *discordgo.Message
	// Ephemeral is what the user saw: the first follow-up after a deferred
	// command keeps the deferral's visibility, whatever flags it asked for.
	Ephemeral bool
	// AskedEphemeral is whether the client set flag 64.
	AskedEphemeral bool
}

// Subcommand is a subcommand option holding options.
func Subcommand(name string, options ...*Option) *Option {
	return &Option{Name: name, Type: discordgo.ApplicationCommandOptionSubCommand, Options: options}
}

// StringOption is a string option.
func StringOption(name, v string) *Option {
	return &Option{Name: name, Type: discordgo.ApplicationCommandOptionString, Value: v}
}

// IntegerOption is an integer option (JSON numbers decode as float64, as from Discord).
func IntegerOption(name string, v int64) *Option {
	return &Option{Name: name, Type: discordgo.ApplicationCommandOptionInteger, Value: float64(v)}
}

// BoolOption is a boolean option.
func BoolOption(name string, v bool) *Option {
	return &Option{Name: name, Type: discordgo.ApplicationCommandOptionBoolean, Value: v}
}

// UserOption is a user option; the user is added to the resolved data.
func UserOption(name, userID string) *Option {
	return &Option{Name: name, Type: discordgo.ApplicationCommandOptionUser, Value: userID}
}

// PushCommand dispatches INTERACTION_CREATE for the slash command name,
// used by user in channelID with the given options.
func (s *Server) PushCommand(channelID string, user *discordgo.User, name string, options ...*Option) *Interaction {
	s.t.Helper()
	s.mu.Lock()
	cmdID := ""
	for _, list := range s.cmds {
		for _, c := range list {
			if c.Name == name {
				cmdID = c.ID
			}
		}
	}
	resolved := map[string]map[string]any{"users": {}, "members": {}}
	var walk func([]*Option)
	walk = func(opts []*Option) {
		for _, o := range opts {
			walk(o.Options)
			id, ok := o.Value.(string)
			if o.Type != discordgo.ApplicationCommandOptionUser || !ok {
				continue
			}
			if m, ok := s.users[id]; ok {
				resolved["users"][id] = m.User
				resolved["members"][id] = map[string]any{"nick": m.Nick, "roles": []string{}, "joined_at": m.JoinedAt}
			} else {
				resolved["users"][id] = map[string]any{"id": id, "username": "user" + id}
			}
		}
	}
	walk(options)
	s.mu.Unlock()
	if cmdID == "" {
		cmdID = s.NewID()
	}
	if options == nil {
		options = []*Option{}
	}
	data := map[string]any{"id": cmdID, "name": name, "type": discordgo.ChatApplicationCommand, "options": options, "resolved": resolved}
	return s.pushInteraction(discordgo.InteractionApplicationCommand, channelID, user, data, nil)
}

// PushComponent dispatches INTERACTION_CREATE for user pressing the button
// with customID on message m, and fails the test if m has no such button.
func (s *Server) PushComponent(m *discordgo.Message, user *discordgo.User, customID string) *Interaction {
	s.t.Helper()
	found := false
	for _, b := range Buttons(m) {
		found = found || b.CustomID == customID
	}
	if !found {
		s.t.Fatalf("discordtest: message %s has no button %q", m.ID, customID)
	}
	data := map[string]any{"custom_id": customID, "component_type": discordgo.ButtonComponent}
	return s.pushInteraction(discordgo.InteractionMessageComponent, m.ChannelID, user, data, m)
}

// PressButton is PushComponent for the button labelled label.
func (s *Server) PressButton(m *discordgo.Message, user *discordgo.User, label string) *Interaction {
	s.t.Helper()
	var labels []string
	for _, b := range Buttons(m) {
		if b.Label == label {
			return s.PushComponent(m, user, b.CustomID)
		}
		labels = append(labels, b.Label)
	}
	s.t.Fatalf("discordtest: message %s has no button labelled %q (it has %q)", m.ID, label, labels)
	return nil
}

func (s *Server) pushInteraction(typ discordgo.InteractionType, channelID string, user *discordgo.User, data any, m *discordgo.Message) *Interaction {
	s.t.Helper()
	if s.Settle != nil {
		// A person acts on what the channel shows: what Firebreak recorded
		// before is delivered first, so it is not taken for this answer.
		s.Settle()
	}
	in := &Interaction{ID: s.NewID(), Token: "itok-" + s.NewID(), ChannelID: channelID, Type: typ, User: user, Message: m, s: s}
	ch := s.Channel(channelID)
	if ch == nil {
		s.t.Fatalf("discordtest: no channel %s", channelID)
	}
	payload := map[string]any{
		"id": in.ID, "application_id": s.AppID, "type": typ, "data": data,
		"guild_id": s.GuildID, "channel_id": channelID, "channel": ch,
		"member": s.memberJSON(user), "token": in.Token, "version": 1,
		"locale": "en-US", "guild_locale": "en-US", "app_permissions": "2147483647",
		"context": 0,
	}
	if m != nil {
		payload["message"] = json.RawMessage(mustJSON(m))
	}
	s.mu.Lock()
	s.inters[in.Token] = in
	in.at = time.Now()
	s.mu.Unlock()
	s.Dispatch("INTERACTION_CREATE", payload)
	return in
}

// memberJSON is the guild member object Discord sends with interactions.
func (s *Server) memberJSON(u *discordgo.User) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]any{"user": u, "roles": []string{}, "joined_at": time.Now().UTC(), "permissions": "2147483647", "deaf": false, "mute": false}
	if mem, ok := s.users[u.ID]; ok {
		m["nick"] = mem.Nick
		m["joined_at"] = mem.JoinedAt
	}
	return m
}

// WaitCallback waits for the client's callback and fails the test after timeout.
func (in *Interaction) WaitCallback(timeout time.Duration) Callback {
	in.s.t.Helper()
	var cb Callback
	ok := in.s.waitUntil(timeout, func() bool {
		if in.cb != nil {
			cb = *in.cb
		}
		return in.cb != nil || in.late
	})
	switch {
	case !ok:
		in.s.t.Fatalf("discordtest: interaction %s got no callback within %s", in.ID, timeout)
	case cb.Type == 0:
		in.s.t.Fatalf("discordtest: interaction %s was answered after Discord's %s deadline", in.ID, InteractionDeadline)
	}
	return cb
}

// WaitFollowups waits until the interaction has at least n follow-ups and
// returns them all.
func (in *Interaction) WaitFollowups(n int, timeout time.Duration) []Followup {
	in.s.t.Helper()
	var out []Followup
	ok := in.s.waitUntil(timeout, func() bool {
		out = cloneFollowups(in.followups)
		return len(out) >= n
	})
	if !ok {
		in.s.t.Fatalf("discordtest: interaction %s has %d follow-ups, not %d, after %s", in.ID, len(out), n, timeout)
	}
	return out
}

// Followups returns the follow-ups so far.
func (in *Interaction) Followups() []Followup {
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	return cloneFollowups(in.followups)
}

// cloneFollowups copies follow-ups, messages included, so a test reads
// them while the fake edits the originals; the caller holds mu.
func cloneFollowups(fs []Followup) []Followup {
	out := slices.Clone(fs)
	for i := range out {
		out[i].Message = cloneMessage(out[i].Message)
	}
	return out
}

// Pending reports whether a deferred command still shows "thinking…".
func (in *Interaction) Pending() bool {
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	return in.pending
}

// OriginalDeleted reports whether the client deleted the deferred response.
func (in *Interaction) OriginalDeleted() bool {
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	return in.originalDeleted
}

// interaction finds a live interaction by token; the caller holds s.mu.
func (s *Server) interaction(app, token string) (*Interaction, error) {
	in, ok := s.inters[token]
	if !ok || app != s.AppID || in.cb == nil {
		return nil, errorf(404, codeUnknownWebhook, "Unknown Webhook")
	}
	return in, nil
}

func (s *Server) callback(r *http.Request, c *Call) (int, any, error) {
	var resp struct {
		Type discordgo.InteractionResponseType `json:"type"`
		Data json.RawMessage                   `json:"data"`
	}
	if err := json.Unmarshal(c.Body, &resp); err != nil {
		return 0, nil, fmt.Errorf("interaction response: %w", err)
	}
	data := &Call{Body: resp.Data}
	if len(resp.Data) == 0 || string(resp.Data) == "null" {
		data.Body = nil
	}
	o, comps, err := decodeOutgoing(data)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	in, ok := s.inters[r.PathValue("token")]
	switch {
	case !ok || in.ID != r.PathValue("id"):
		s.mu.Unlock()
		return 0, nil, errorf(404, codeUnknownInteract, "Unknown interaction")
	case time.Since(in.at) > InteractionDeadline:
		in.late = true
		s.changed()
		s.mu.Unlock()
		return 0, nil, errorf(404, codeUnknownInteract, "Unknown interaction")
	case in.cb != nil:
		s.mu.Unlock()
		return 0, nil, errorf(400, codeAlreadyAnswered, "Interaction has already been acknowledged.")
	}
	component := in.Type == discordgo.InteractionMessageComponent
	var post *discordgo.Message
	switch resp.Type {
	case discordgo.InteractionResponseDeferredChannelMessageWithSource:
		in.pending = true
		in.deferEphemeral = o.Flags&discordgo.MessageFlagsEphemeral != 0
	case discordgo.InteractionResponseChannelMessageWithSource:
		m, err := s.newMessage(in.ChannelID, o, comps, nil)
		if err != nil {
			s.mu.Unlock()
			return 0, nil, err
		}
		m.WebhookID = s.AppID
		if o.Flags&discordgo.MessageFlagsEphemeral == 0 {
			post = m
		}
	case discordgo.InteractionResponseDeferredMessageUpdate:
		if !component {
			s.mu.Unlock()
			return 0, nil, errorf(400, 40043, "Interaction callback type not supported for this interaction")
		}
	case discordgo.InteractionResponseUpdateMessage:
		if !component {
			s.mu.Unlock()
			return 0, nil, errorf(400, 40043, "Interaction callback type not supported for this interaction")
		}
		if m := s.findMessage(in.Message.ChannelID, in.Message.ID); m != nil {
			applyEdit(m, o, comps)
		}
	default:
		s.mu.Unlock()
		return 0, nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: type: unsupported interaction response type %d", resp.Type)
	}
	in.cb = &Callback{Type: resp.Type, Flags: o.Flags, After: time.Since(in.at)}
	s.changed()
	s.mu.Unlock()
	if post != nil {
		s.store(post, nil)
		s.dispatchMessage(post)
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) followup(r *http.Request, c *Call) (int, any, error) {
	o, comps, err := decodeOutgoing(c)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	in, err := s.interaction(r.PathValue("app"), r.PathValue("token"))
	if err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	asked := o.Flags&discordgo.MessageFlagsEphemeral != 0
	eph := asked
	if in.pending {
		// The first follow-up resolves the deferred "thinking…" message and
		// keeps its visibility.
		eph, in.pending = in.deferEphemeral, false
	}
	m, err := s.newMessage(in.ChannelID, o, comps, c.Files)
	if err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	m.WebhookID = s.AppID
	m.Flags &^= discordgo.MessageFlagsEphemeral
	if eph {
		m.Flags |= discordgo.MessageFlagsEphemeral
	}
	in.followups = append(in.followups, Followup{Message: cloneMessage(m), Ephemeral: eph, AskedEphemeral: asked})
	s.changed()
	s.mu.Unlock()
	body := mustJSON(m) // before m is stored and others may change it
	if !eph {
		s.store(m, c.Files)
		s.dispatchMessage(m)
	}
	if r.URL.Query().Get("wait") != "true" {
		return http.StatusNoContent, nil, nil
	}
	return 200, json.RawMessage(body), nil
}

func (s *Server) editFollowup(r *http.Request, c *Call) (int, any, error) {
	o, comps, err := decodeOutgoing(c)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.interaction(r.PathValue("app"), r.PathValue("token"))
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("message")
	if id == "@original" && in.Message != nil {
		id = in.Message.ID
	}
	for i := range in.followups {
		if f := &in.followups[i]; f.Message.ID == id {
			applyEdit(f.Message, o, comps)
		}
	}
	m := s.findMessage(in.ChannelID, id)
	if m == nil && r.PathValue("message") == "@original" && in.Message != nil {
		// A button pressed on an ephemeral follow-up (shown to one user,
		// stored nowhere else): @original is that follow-up, which only
		// the interaction can edit.
		m = s.ephemeralFollowup(id)
	}
	if m == nil {
		return 0, nil, errorf(404, codeUnknownMessage, "Unknown Message")
	}
	applyEdit(m, o, comps)
	s.changed()
	return 200, json.RawMessage(mustJSON(m)), nil
}

// ephemeralFollowup finds an ephemeral follow-up message of any
// interaction by id; the caller holds mu.
func (s *Server) ephemeralFollowup(id string) *discordgo.Message {
	for _, in := range s.inters {
		for _, f := range in.followups {
			if f.Message.ID == id && f.Ephemeral {
				return f.Message
			}
		}
	}
	return nil
}

func (s *Server) deleteFollowup(r *http.Request, _ *Call) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.interaction(r.PathValue("app"), r.PathValue("token"))
	if err != nil {
		return 0, nil, err
	}
	if r.PathValue("message") != "@original" || !in.pending {
		return 0, nil, errorf(404, codeUnknownMessage, "Unknown Message")
	}
	in.pending, in.originalDeleted = false, true
	s.changed()
	return http.StatusNoContent, nil, nil
}

// Post is a message someone other than Firebreak posts in a channel.
type Post struct {
	ChannelID string
	// Author is the user posting; ignored when Webhook is set.
	Author *discordgo.User
	// Webhook, when set, posts as a webhook with that name (how
	// Alertmanager and Grafana post): webhook_id is set and the author is
	// the webhook, a bot.
	Webhook string
	Content string
	Embeds  []*discordgo.MessageEmbed
}

// PushMessage stores a message and dispatches MESSAGE_CREATE for it.
func (s *Server) PushMessage(p Post) *discordgo.Message {
	s.t.Helper()
	if s.Channel(p.ChannelID) == nil {
		s.t.Fatalf("discordtest: no channel %s", p.ChannelID)
	}
	m := &discordgo.Message{
		ID: s.NewID(), ChannelID: p.ChannelID, GuildID: s.GuildID, Content: p.Content,
		Embeds: p.Embeds, Timestamp: time.Now().UTC(), Type: discordgo.MessageTypeDefault,
		Author: p.Author, Components: []discordgo.MessageComponent{},
	}
	if p.Webhook != "" {
		m.WebhookID = s.NewID()
		m.Author = &discordgo.User{ID: m.WebhookID, Username: p.Webhook, Bot: true}
	}
	if m.Author == nil {
		s.t.Fatalf("discordtest: PushMessage needs an Author or a Webhook")
	}
	s.store(m, nil)
	// Copied before Firebreak sees it: its answers (a thread started from
	// the message) change the stored message under s.mu.
	posted := cloneMessage(m)
	s.dispatchMessage(m)
	return posted
}

// dispatchMessage sends MESSAGE_CREATE with the partial member Discord
// includes for guild members.
func (s *Server) dispatchMessage(m *discordgo.Message) {
	var obj map[string]any
	s.mu.Lock() // m is stored: requests change it under s.mu
	if err := json.Unmarshal(mustJSON(m), &obj); err != nil {
		s.mu.Unlock()
		panic("discordtest: " + err.Error())
	}
	if mem, ok := s.users[m.Author.ID]; ok && m.WebhookID == "" {
		obj["member"] = map[string]any{"nick": mem.Nick, "roles": []string{}, "joined_at": mem.JoinedAt}
	}
	s.mu.Unlock()
	s.dispatchQuiet("MESSAGE_CREATE", obj)
}

// PushReaction dispatches MESSAGE_REACTION_ADD: user reacted to a message
// with emoji (a Unicode emoji such as "📌", or a custom emoji's name).
func (s *Server) PushReaction(channelID, messageID string, user *discordgo.User, emoji string) {
	s.t.Helper()
	s.Dispatch("MESSAGE_REACTION_ADD", map[string]any{
		"user_id": user.ID, "channel_id": channelID, "message_id": messageID, "guild_id": s.GuildID,
		"member": s.memberJSON(user), "emoji": map[string]any{"id": nil, "name": emoji}, "burst": false, "type": 0,
	})
}
