package discord

import (
	"context"
	"fmt"
	"sync"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/bot"
)

var _ bot.PressedUpdater = (*interactionReplier)(nil)

// replier answers one event; finish runs after the handler returned.
type replier interface {
	bot.Replier
	finish(ctx context.Context, handleErr error)
}

// interactionReplier answers a slash command or button press with
// follow-up messages on the interaction's webhook.
type interactionReplier struct {
	a  *Adapter
	s  *discordgo.Session
	in *discordgo.Interaction
	// parent and thread place replies for MessageRef (a thread is the
	// thread of its parent channel).
	parent, thread string

	mu sync.Mutex
	// pending is set while a deferred command still shows "thinking…".
	// The first follow-up takes the deferral's place and its visibility,
	// so an ephemeral first answer deletes it first.
	pending bool
	replied int
}

// Reply sends m as follow-ups; Ephemeral ones are seen by the user only.
func (r *interactionReplier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var flags discordgo.MessageFlags
	if m.Ephemeral {
		flags = discordgo.MessageFlagsEphemeral
		if r.pending {
			if err := r.s.InteractionResponseDelete(r.in, discordgo.WithContext(ctx)); err != nil {
				return bot.MessageRef{}, fmt.Errorf("discord: clearing the deferred answer to interaction %s: %w", r.in.ID, err)
			}
			r.pending = false
		}
	}
	var last *discordgo.Message
	for _, p := range render(m, r.a.log).webhooks(flags) {
		msg, err := r.s.FollowupMessageCreate(r.in, true, p, discordgo.WithContext(ctx))
		if err != nil {
			return bot.MessageRef{}, fmt.Errorf("discord: answering interaction %s: %w", r.in.ID, err)
		}
		r.pending, r.replied, last = false, r.replied+1, msg
	}
	if last == nil {
		return bot.MessageRef{}, nil
	}
	return bot.MessageRef{Channel: r.parent, ID: last.ID, Thread: r.thread}, nil
}

// UpdatePressed implements bot.PressedUpdater: the message whose button
// this interaction pressed is edited through the interaction (its
// deferred update), which also reaches messages shown to one user only;
// a channel message edit cannot.
func (r *interactionReplier) UpdatePressed(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	if r.in.Type != discordgo.InteractionMessageComponent || r.in.Message == nil || r.in.Message.ID != ref.ID {
		return r.a.Update(ctx, ref, m)
	}
	e := renderEdit(r.in.ChannelID, ref.ID, m, r.a.log)
	edit := &discordgo.WebhookEdit{Content: e.Content, Embeds: e.Embeds, Components: e.Components, AllowedMentions: e.AllowedMentions}
	if _, err := r.s.InteractionResponseEdit(r.in, edit, discordgo.WithContext(ctx)); err != nil {
		return fmt.Errorf("discord: editing the pressed message %s: %w", ref.ID, err)
	}
	return nil
}

// finish makes sure the user is not left with "thinking…": the handler's
// error is shown to them when nothing was said, and a deferral nobody
// answered is removed.
func (r *interactionReplier) finish(ctx context.Context, handleErr error) {
	r.mu.Lock()
	replied := r.replied
	r.mu.Unlock()
	if handleErr != nil && replied == 0 {
		if _, err := r.Reply(ctx, bot.Message{Text: "Firebreak could not do that: " + handleErr.Error(), Ephemeral: true}); err != nil {
			r.a.log.Warn("discord: reporting an error to the user", "interaction", r.in.ID, "error", err)
		}
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending {
		if err := r.s.InteractionResponseDelete(r.in, discordgo.WithContext(ctx)); err != nil {
			r.a.log.Warn("discord: clearing an unanswered deferral", "interaction", r.in.ID, "error", err)
		}
		r.pending = false
	}
}

// channelReplier answers a message or reaction in its channel or thread.
// Discord has no ephemeral messages outside interactions, so an ephemeral
// reply is posted as a reply to the source message, which shows whom it is
// for.
type channelReplier struct {
	a *Adapter
	// channel is where the source message is (a thread id for threads);
	// source is its id.
	channel, source string
	parent, thread  string
}

// Reply posts m next to the source message.
func (r *channelReplier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	sends := render(m, r.a.log).sends()
	if len(sends) == 0 {
		return bot.MessageRef{}, nil
	}
	target := r.a.threadTarget(ctx, r.channel, m.Thread, sends[0])
	if m.Ephemeral && target == r.channel && sends[0].Reference == nil {
		sends[0].Reference = &discordgo.MessageReference{MessageID: r.source, ChannelID: r.channel, FailIfNotExists: ptr(false)}
	}
	id, err := r.a.send(ctx, target, sends)
	if err != nil {
		return bot.MessageRef{}, err
	}
	ref := bot.MessageRef{Channel: r.parent, ID: id, Thread: r.thread}
	if target != r.channel {
		ref.Thread = target
	}
	return ref, nil
}

func (r *channelReplier) finish(context.Context, error) {}
