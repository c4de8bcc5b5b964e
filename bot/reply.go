package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// How the Router answers: to the person who acted, straight back through
// the event's Replier (refusals, questions, answers meant for one), and to
// the channel, by effects recorded with the intent for the outbox.

// say answers the person who acted through the event's Replier, unrecorded:
// ephemeral answers, refusals, questions. What the channel is told goes
// through the outbox instead (see saying).
func (h *handling) say(ctx context.Context, m Message) error {
	if _, err := h.reply.Reply(ctx, m); err != nil {
		return fmt.Errorf("reply in %s: %w", h.ev.Channel, err)
	}
	return nil
}

// replyHome is where the public news of an event about inc goes: the
// event's channel and thread, or inc's home thread there when the event
// came from the channel at large — a Slack slash command never carries a
// thread — so an incident's conversation stays in one place.
func (h *handling) replyHome(inc *incidents.Incident) incidents.Home {
	home := incidents.Home{Platform: h.ev.Platform, Channel: h.ev.Channel, Thread: cmp.Or(h.ev.Thread, h.thread)}
	if inc != nil && inc.Home.Platform == h.ev.Platform && slices.Contains(h.channelAliases(), inc.Home.Channel) {
		// A webhook's incident was announced in the channel as
		// playbooks.yaml names it: its news goes there under the same
		// name, so the outbox delivers card and news in one lane, in order.
		home.Channel = inc.Home.Channel
	}
	if home.Thread == "" && inc != nil && inc.Home.Thread != "" && inc.Home.Platform == h.ev.Platform && inc.Home.Channel == home.Channel {
		home.Thread = inc.Home.Thread
	}
	return home
}

// replies are msgs as posts where the event's public news about inc goes.
func (h *handling) replies(inc *incidents.Incident, msgs ...Message) []incidents.Effect {
	var n uint64
	if inc != nil {
		n = inc.Number
	}
	home := h.replyHome(inc)
	effs := make([]incidents.Effect, 0, len(msgs))
	for _, m := range msgs {
		effs = append(effs, cards.PostIn(n, home, m))
	}
	return effs
}

// saying is o with Effects that record what build says about the intent's
// outcome, in the intent's own transaction (see incidents.EffectsFunc:
// build must only compute).
func (h *handling) saying(o incidents.Origin, build func(out incidents.Outcome) []incidents.Effect) incidents.Origin {
	o.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		var effs []incidents.Effect
		for _, out := range outs {
			if out.Incident != nil {
				effs = append(effs, build(out)...)
			}
		}
		return effs
	})
	return o
}

// sayingMsgs is saying for public replies only.
func (h *handling) sayingMsgs(o incidents.Origin, build func(out incidents.Outcome) []Message) incidents.Origin {
	return h.saying(o, func(out incidents.Outcome) []incidents.Effect { return h.replies(out.Incident, build(out)...) })
}

// whisper answers only the event's user.
func (h *handling) whisper(ctx context.Context, text string) error {
	return h.say(ctx, Message{Text: text, Ephemeral: true})
}

// userError reports whether a person caused err and can fix it; such
// errors are answered and are not the adapter's problem.
func userError(err error) bool {
	for _, e := range []error{ErrUsage, incidents.ErrInvalidTransition, incidents.ErrNoSuchStep,
		incidents.ErrNoIncident, incidents.ErrEmpty, incidents.ErrTooLong, incidents.ErrNotFound,
		incidents.ErrBadSeverity, incidents.ErrForbidden} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refuse tells the user what went wrong. Errors the user did not cause
// are returned too, so the adapter logs them.
func (h *handling) refuse(ctx context.Context, err error) error {
	h.outcome = "refused"
	user := userError(err)
	said, ok := incidents.UserText(err)
	if !ok {
		said = err.Error()
	}
	text := "⚠️ " + Escape(said)
	if !user {
		h.outcome = "failed"
		text = "⚠️ Firebreak could not do that: " + Escape(err.Error())
	}
	if rerr := h.whisper(ctx, text); rerr != nil {
		return errors.Join(err, rerr)
	}
	if user {
		return nil
	}
	return err
}
