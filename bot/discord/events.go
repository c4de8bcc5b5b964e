package discord

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
)

// Event id prefixes: the incidents service refuses an id it has seen, so
// a redelivered gateway event changes nothing.
const (
	msgIDPrefix      = "discord:msg:"
	intIDPrefix      = "discord:int:"
	reactionIDPrefix = "discord:pin:"
)

// onMessageCreate reads a channel message. Everything but Firebreak's own
// posts is passed on: the Router decides whether the channel is an alert
// channel, so webhook and bot posts (Alertmanager, Grafana) come through
// with FromBot set.
func (a *Adapter) onMessageCreate(s *discordgo.Session, mc *discordgo.MessageCreate) {
	m := mc.Message
	if m == nil || m.Author == nil || !readable(m.Type) {
		return
	}
	if self := a.selfID(); (self != "" && m.Author.ID == self) || (m.WebhookID != "" && m.WebhookID == a.cfg.AppID) {
		return
	}
	text := alertText(m)
	if strings.TrimSpace(text) == "" {
		// Without the Message Content intent every message arrives empty.
		a.log.Debug("discord: message without text or embeds ignored", "channel", m.ChannelID, "message", m.ID)
		return
	}
	id := msgIDPrefix + m.ID
	if !a.seen.first(id) {
		a.log.Debug("discord: redelivered message ignored", "event", id)
		return
	}
	ctx, cancel := a.eventContext()
	defer cancel()
	channel, thread, name := a.where(ctx, m.ChannelID)
	ev := bot.Event{
		ID:          id,
		Platform:    platform,
		Kind:        bot.KindMessage,
		Channel:     channel,
		ChannelName: name,
		Thread:      thread,
		User:        actor(m.Author, m.Member),
		FromBot:     m.Author.Bot || m.WebhookID != "",
		Text:        text,
		Target:      bot.MessageRef{Channel: channel, ID: m.ID, Thread: thread},
		Permalink:   permalink(m.GuildID, m.ChannelID, m.ID),
	}
	a.dispatch(ev, &channelReplier{a: a, channel: m.ChannelID, source: m.ID, parent: channel, thread: thread})
}

// readable reports whether a message type carries something people or
// tools wrote (not joins, pins or thread notices).
func readable(t discordgo.MessageType) bool {
	return t == discordgo.MessageTypeDefault || t == discordgo.MessageTypeReply
}

// alertText is a message's text as alert parsing reads it: the content,
// then each embed's title, description, fields ("name: value") and footer,
// one per line. Alertmanager and Grafana post embeds with empty content.
func alertText(m *discordgo.Message) string {
	var lines []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			lines = append(lines, s)
		}
	}
	add(m.Content)
	for _, e := range m.Embeds {
		if e == nil {
			continue
		}
		add(e.Title)
		add(e.Description)
		for _, f := range e.Fields {
			if f == nil {
				continue
			}
			name, value := strings.TrimSpace(f.Name), strings.TrimSpace(f.Value)
			switch {
			case name != "" && value != "":
				add(name + ": " + value)
			default:
				add(name + value)
			}
		}
		if e.Footer != nil {
			add(e.Footer.Text)
		}
	}
	return strings.Join(lines, "\n")
}

// actor is who did something, named as the guild shows them: nickname,
// then display name, then username.
func actor(u *discordgo.User, m *discordgo.Member) incidents.Actor {
	if u == nil && m != nil {
		u = m.User
	}
	if u == nil {
		return incidents.Actor{Platform: platform}
	}
	name := u.Username
	switch {
	case m != nil && m.Nick != "":
		name = m.Nick
	case u.GlobalName != "":
		name = u.GlobalName
	}
	return incidents.Actor{Platform: platform, ID: u.ID, Name: name}
}

// permalink is the link Discord clients open a message with.
func permalink(guild, channel, message string) string {
	if guild == "" {
		guild = "@me"
	}
	return "https://discord.com/channels/" + guild + "/" + channel + "/" + message
}

// onInteractionCreate answers a slash command or button press at once
// (deferred, inside Discord's 3-second window) and only then hands it on:
// the work may take longer than the window allows.
func (a *Adapter) onInteractionCreate(s *discordgo.Session, ic *discordgo.InteractionCreate) {
	in := ic.Interaction
	if in == nil {
		return
	}
	var ack discordgo.InteractionResponseType
	switch in.Type {
	case discordgo.InteractionApplicationCommand:
		ack = discordgo.InteractionResponseDeferredChannelMessageWithSource
	case discordgo.InteractionMessageComponent:
		ack = discordgo.InteractionResponseDeferredMessageUpdate
	default:
		return
	}
	id := intIDPrefix + in.ID
	if !a.seen.first(id) {
		// A replayed interaction was answered already; a second answer
		// would be refused.
		a.log.Debug("discord: redelivered interaction ignored", "event", id)
		return
	}
	actx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	err := s.InteractionRespond(in, &discordgo.InteractionResponse{Type: ack}, discordgo.WithContext(actx))
	cancel()
	if err != nil {
		a.log.Warn("discord: could not acknowledge an interaction in time", "event", id, "error", err)
		return
	}
	r := &interactionReplier{a: a, s: s, in: in, pending: ack == discordgo.InteractionResponseDeferredChannelMessageWithSource}
	ctx, cancel := a.eventContext()
	defer cancel()
	ev, err := a.interactionEvent(ctx, in)
	if err != nil {
		a.log.Info("discord: interaction refused", "event", id, "error", err)
		if _, rerr := r.Reply(ctx, bot.Message{Text: "Firebreak cannot do that: " + err.Error(), Ephemeral: true}); rerr != nil {
			a.log.Warn("discord: telling the user about a refused interaction", "event", id, "error", rerr)
		}
		return
	}
	r.parent, r.thread = ev.Channel, ev.Thread
	a.dispatch(ev, r)
}

// interactionEvent translates a command or button press.
func (a *Adapter) interactionEvent(ctx context.Context, in *discordgo.Interaction) (bot.Event, error) {
	channel, thread, name := a.where(ctx, in.ChannelID)
	ev := bot.Event{
		ID:          intIDPrefix + in.ID,
		Platform:    platform,
		Channel:     channel,
		ChannelName: name,
		Thread:      thread,
		User:        actor(in.User, in.Member),
	}
	switch in.Type {
	case discordgo.InteractionApplicationCommand:
		text, err := commandText(in.ApplicationCommandData())
		if err != nil {
			return bot.Event{}, err
		}
		ev.Kind, ev.Text = bot.KindCommand, text
	case discordgo.InteractionMessageComponent:
		data := in.MessageComponentData()
		id, value, ok := parseCustomID(data.CustomID)
		if !ok {
			return bot.Event{}, fmt.Errorf("%w: button %q", errUnknownCommand, data.CustomID)
		}
		ev.Kind, ev.ActionID, ev.Value = bot.KindAction, id, value
		if in.Message != nil {
			ev.Target = bot.MessageRef{Channel: channel, ID: in.Message.ID, Thread: thread}
			ev.TargetText = alertText(in.Message)
			ev.Permalink = permalink(in.GuildID, in.ChannelID, in.Message.ID)
		}
	default:
		return bot.Event{}, errors.New("unsupported interaction")
	}
	return ev, nil
}

// onReactionAdd turns the pin emoji on a message into a KindReaction event
// carrying the message's author, text and link.
func (a *Adapter) onReactionAdd(s *discordgo.Session, ra *discordgo.MessageReactionAdd) {
	r := ra.MessageReaction
	if r == nil || !a.pin.matches(r.Emoji) {
		return
	}
	if self := a.selfID(); self != "" && r.UserID == self {
		return
	}
	id := reactionIDPrefix + r.MessageID + ":" + r.UserID
	if !a.seen.first(id) {
		return
	}
	ctx, cancel := a.eventContext()
	defer cancel()
	m, err := s.ChannelMessage(r.ChannelID, r.MessageID, discordgo.WithContext(ctx))
	if err != nil {
		a.log.Warn("discord: fetching a pinned message", "channel", r.ChannelID, "message", r.MessageID, "error", err)
		return
	}
	channel, thread, name := a.where(ctx, r.ChannelID)
	var user *discordgo.User
	if ra.Member != nil {
		user = ra.Member.User
	}
	if user == nil {
		user = &discordgo.User{ID: r.UserID}
	}
	ev := bot.Event{
		ID:           id,
		Platform:     platform,
		Kind:         bot.KindReaction,
		Channel:      channel,
		ChannelName:  name,
		Thread:       thread,
		User:         actor(user, ra.Member),
		Emoji:        a.pin.name,
		Target:       bot.MessageRef{Channel: channel, ID: m.ID, Thread: thread},
		Permalink:    permalink(r.GuildID, r.ChannelID, r.MessageID),
		TargetAuthor: actor(m.Author, m.Member),
		TargetText:   alertText(m),
	}
	a.dispatch(ev, &channelReplier{a: a, channel: r.ChannelID, source: r.MessageID, parent: channel, thread: thread})
}
