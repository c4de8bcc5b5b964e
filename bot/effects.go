package bot

import (
	"context"
	"time"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// What Firebreak says in a channel is recorded as an incidents.Effect in
// the transaction of the intent that causes it and delivered by the outbox
// worker (bot/outbox), never posted from here: a crash between the commit
// and the post then delays the post instead of losing it. This file turns
// Messages into effects and back.

// MessageOf is the Message an effect says, in its home's thread.
func MessageOf(e incidents.Effect) Message { return cards.MessageOf(e) }

// editOf replaces the message at ref (a pressed card) with m.
func editOf(n uint64, platform string, ref MessageRef, m Message) incidents.Effect {
	return incidents.Effect{Kind: incidents.EffectUpdate, Incident: n,
		Home:    incidents.Home{Platform: platform, Channel: ref.Channel, Thread: ref.Thread},
		On:      incidents.EffectRef{Channel: ref.Channel, ID: ref.ID, Thread: ref.Thread},
		Message: cards.EffectMessage(m)}
}

// sayNow records the deliverable ones of effects in a transaction of their
// own (see incidents.Service.Say).
func (r *Router) sayNow(ctx context.Context, effects ...incidents.Effect) error {
	effects = cards.Reachable(effects)
	if len(effects) == 0 {
		return nil
	}
	return r.svc.Say(ctx, effects...)
}

// Escape makes outside text safe to put in a Message (see cards.Escape).
func Escape(s string) string { return cards.Escape(s) }

// Mention renders who for a chat on platform (see cards.Mention).
func Mention(who incidents.Actor, platform string) string { return cards.Mention(who, platform) }

// Clock formats t the way every card shows times (see cards.Clock).
func Clock(t time.Time) string { return cards.Clock(t) }

// Headline is the one line that names an incident everywhere (see
// cards.Headline).
func Headline(inc *incidents.Incident) string { return cards.Headline(inc) }
