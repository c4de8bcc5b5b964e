package discord

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
)

const (
	// threadArchiveMinutes keeps an incident thread open for three days
	// without activity, long enough for a weekend incident.
	threadArchiveMinutes = 4320
	// codeThreadExists is Discord's error for a second thread on one message.
	codeThreadExists = 160004
	// markdownType is the content type of the postmortem attachment.
	markdownType = "text/markdown; charset=utf-8"
)

// Post sends m to channel (an id, <#id> or "#name"), in m.Thread when set.
// Text beyond Discord's 2,000 characters is split over several messages;
// the returned reference is the last one, which carries fields and buttons.
func (a *Adapter) Post(ctx context.Context, channel string, m bot.Message) (bot.MessageRef, error) {
	ctx = forOutbox(ctx)
	id, err := a.resolveChannel(ctx, channel)
	if err != nil {
		return bot.MessageRef{}, err
	}
	sends := render(m, a.log).sends()
	if len(sends) == 0 {
		return bot.MessageRef{}, errors.New("discord: nothing to post: the message has no text, fields or buttons")
	}
	target := a.threadTarget(ctx, id, m.Thread, sends[0])
	mid, err := a.send(ctx, target, sends)
	if err != nil {
		return bot.MessageRef{}, err
	}
	return bot.MessageRef{Channel: id, ID: mid, Thread: m.Thread}, nil
}

// threadTarget is where a message for thread goes. A thread is a channel
// of its own on Discord; but the Router, like Slack, may name a message as
// the thread to answer under, and a message without a thread of its own
// is answered with a reply to it in its channel instead.
func (a *Adapter) threadTarget(ctx context.Context, channel, thread string, first *discordgo.MessageSend) string {
	if thread == "" || thread == channel {
		return channel
	}
	if ci, err := a.channel(ctx, thread); err == nil && ci.Thread {
		return thread
	}
	first.Reference = &discordgo.MessageReference{MessageID: thread, ChannelID: channel, FailIfNotExists: ptr(false)}
	return channel
}

// send posts messages in order and returns the id of the last.
func (a *Adapter) send(ctx context.Context, target string, sends []*discordgo.MessageSend) (string, error) {
	var last string
	for _, s := range sends {
		msg, err := a.rest().ChannelMessageSendComplex(target, s, discordgo.WithContext(ctx))
		if err != nil {
			return "", fmt.Errorf("discord: posting in channel %s: %w", target, classified(err))
		}
		last = msg.ID
	}
	return last, nil
}

// Update replaces the text, fields and buttons of a posted message; a
// message without actions loses its buttons.
func (a *Adapter) Update(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	ctx = forOutbox(ctx)
	target := ref.Channel
	if ref.Thread != "" {
		target = ref.Thread
	}
	if target == "" || ref.ID == "" {
		return fmt.Errorf("discord: updating a message needs its channel and id (got %+v)", ref)
	}
	if _, err := a.rest().ChannelMessageEditComplex(renderEdit(target, ref.ID, m, a.log), discordgo.WithContext(ctx)); err != nil {
		return fmt.Errorf("discord: updating message %s in channel %s: %w", ref.ID, target, classified(err))
	}
	return nil
}

// Upload attaches f to a message in channel (or thread) with comment as
// its text.
func (a *Adapter) Upload(ctx context.Context, channel, thread string, f bot.File, comment string) error {
	ctx = forOutbox(ctx)
	id, err := a.resolveChannel(ctx, channel)
	if err != nil {
		return err
	}
	target := id
	if thread != "" {
		target = thread
	}
	name := strings.TrimSpace(f.Name)
	if name == "" {
		name = "firebreak.md"
	}
	ctype := markdownType
	if !strings.HasSuffix(strings.ToLower(name), ".md") {
		ctype = http.DetectContentType(f.Content)
	}
	text := strings.TrimSpace(comment)
	if text == "" {
		text = strings.TrimSpace(f.Title)
	}
	send := &discordgo.MessageSend{
		Content: truncate(text, maxContent),
		Files:   []*discordgo.File{{Name: name, ContentType: ctype, Reader: bytes.NewReader(f.Content)}},

		AllowedMentions: usersOnly(),
	}
	if _, err := a.rest().ChannelMessageSendComplex(target, send, discordgo.WithContext(ctx)); err != nil {
		return fmt.Errorf("discord: attaching %s in channel %s: %w", name, target, classified(err))
	}
	return nil
}

// CreateIncidentChannel opens a public thread for an incident: from the
// alert message when there is one, so the alert heads the thread, else in
// from's channel. invite lists Discord user ids (or <@id> mentions) to add.
// Discord allows one thread per message; when the message has one already,
// that thread is the incident's home. Without a message, an active thread
// of that name Firebreak started in the channel is the incident's home:
// opening the room again (the outbox redelivers it after a crash) finds
// the thread the first attempt opened.
func (a *Adapter) CreateIncidentChannel(ctx context.Context, name string, from bot.MessageRef, invite []string) (incidents.Home, error) {
	if from.Thread != "" {
		// Already in a thread, which cannot hold threads of its own.
		return incidents.Home{Platform: platform, Channel: from.Channel, Thread: from.Thread}, nil
	}
	if from.Channel == "" {
		return incidents.Home{}, errors.New("discord: an incident thread needs the channel to open it in")
	}
	parent, err := a.resolveChannel(ctx, from.Channel)
	if err != nil {
		return incidents.Home{}, err
	}
	name = threadName(name)
	var th *discordgo.Channel
	if from.ID != "" {
		th, err = a.rest().MessageThreadStartComplex(parent, from.ID, &discordgo.ThreadStart{Name: name, AutoArchiveDuration: threadArchiveMinutes}, discordgo.WithContext(ctx))
		var rerr *discordgo.RESTError
		if errors.As(err, &rerr) && rerr.Message != nil && rerr.Message.Code == codeThreadExists {
			// A thread started from a message has the message's id.
			th, err = a.rest().Channel(from.ID, discordgo.WithContext(ctx))
		}
	} else if th, err = a.activeThread(ctx, parent, name); err == nil && th == nil {
		th, err = a.rest().ThreadStartComplex(parent, &discordgo.ThreadStart{Name: name, AutoArchiveDuration: threadArchiveMinutes, Type: discordgo.ChannelTypeGuildPublicThread}, discordgo.WithContext(ctx))
	}
	if err != nil {
		return incidents.Home{}, fmt.Errorf("discord: opening thread %q in channel %s (the bot needs Create Public Threads): %w", name, parent, classified(err))
	}
	a.chans.put(infoOf(th))
	home := incidents.Home{Platform: platform, Channel: parent, Thread: th.ID}
	if err := a.InviteToIncidentChannel(ctx, home, invite); err != nil {
		a.log.Warn("discord: adding responders to the incident thread", "thread", th.ID, "error", err)
	}
	return home, nil
}

// activeThread is the active thread called name that Firebreak started
// in channel parent, or nil: an incident thread started without a message
// is found again so that a room opened twice (the outbox redelivers it
// after a crash) is one thread.
func (a *Adapter) activeThread(ctx context.Context, parent, name string) (*discordgo.Channel, error) {
	guild := a.cfg.GuildID
	if guild == "" {
		ch, err := a.rest().Channel(parent, discordgo.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("discord: channel %s: %w", parent, classified(err))
		}
		guild = ch.GuildID
	}
	list, err := a.rest().GuildThreadsActive(guild, discordgo.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("discord: active threads of guild %s: %w", guild, classified(err))
	}
	me := a.selfID()
	for _, th := range list.Threads {
		if th.ParentID == parent && th.Name == name && (me == "" || th.OwnerID == me) {
			return th, nil
		}
	}
	return nil, nil
}

// InviteToIncidentChannel adds people (Discord user ids or <@id>
// mentions) to an incident's thread, for those who join the response
// after it opened. Adding a member twice is harmless on Discord.
func (a *Adapter) InviteToIncidentChannel(ctx context.Context, home incidents.Home, invite []string) error {
	if home.Thread == "" {
		return nil // a channel's members are the channel's business
	}
	var errs []error
	for _, u := range invite {
		u = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(u), "<@"), "!"), ">")
		if !snowflake.MatchString(u) {
			continue
		}
		if err := a.rest().ThreadMemberAdd(home.Thread, u, discordgo.WithContext(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("discord: adding %s to thread %s: %w", u, home.Thread, err))
		}
	}
	return errors.Join(errs...)
}

// threadName fits an incident's name into Discord's thread name rules.
func threadName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		name = "incident"
	}
	return truncate(name, maxThreadName)
}
