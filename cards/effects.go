package cards

import (
	"fmt"
	"slices"

	"github.com/firebreak/firebreak/incidents"
)

// What Firebreak says in a channel is recorded as an incidents.Effect in
// the transaction of the intent that causes it and delivered by the outbox
// worker (bot/outbox). These helpers turn Messages into effects and back,
// for every source of intents (the chat Router, intake, automation).

// EffectMessage is m as an effect stores it (chat-neutral data; the
// thread and the ephemeral flag are the effect's home and do not apply).
func EffectMessage(m Message) incidents.EffectMessage {
	var em incidents.EffectMessage
	em.Text = m.Text
	for _, f := range m.Fields {
		em.Fields = append(em.Fields, incidents.EffectField{Label: f.Label, Value: f.Value})
	}
	for _, a := range m.Actions {
		em.Buttons = append(em.Buttons, incidents.EffectButton{ID: a.ID, Label: a.Label, Style: string(a.Style), Value: a.Value})
	}
	return em
}

// MessageOf is the Message an effect says, in its home's thread: what the
// outbox hands to an adapter.
func MessageOf(e incidents.Effect) Message {
	m := Message{Text: e.Message.Text, Thread: e.Home.Thread}
	for _, f := range e.Message.Fields {
		m.Fields = append(m.Fields, Field{Label: f.Label, Value: f.Value})
	}
	for _, b := range e.Message.Buttons {
		m.Actions = append(m.Actions, Action{ID: b.ID, Label: b.Label, Style: ActionStyle(b.Style), Value: b.Value})
	}
	return m
}

// CardKey names the first card of incident n, so that moving the incident
// to a room of its own can turn it into a pointer there.
func CardKey(n uint64) string { return fmt.Sprintf("card/%d", n) }

// PostIn is a post of m about incident n in home's channel, in m's thread
// or else home's.
func PostIn(n uint64, home incidents.Home, m Message) incidents.Effect {
	if m.Thread != "" {
		home.Thread = m.Thread
	}
	return incidents.Effect{Kind: incidents.EffectPost, Incident: n, Home: home, Message: EffectMessage(m)}
}

// PostHome is a post of m in inc's home channel (and thread).
func PostHome(inc *incidents.Incident, m Message) incidents.Effect {
	return PostIn(inc.Number, inc.Home, m)
}

// EditKeyed replaces the post recorded under key in home's channel.
func EditKeyed(n uint64, home incidents.Home, key string, m Message) incidents.Effect {
	return incidents.Effect{Kind: incidents.EffectUpdate, Incident: n, Home: home, Target: key, Message: EffectMessage(m)}
}

// MirrorOf is m as the incident's former home (the alert channel it was
// announced in before it moved to a room) sees it, or nothing when it has
// none.
func MirrorOf(inc *incidents.Incident, m Message) []incidents.Effect {
	if inc == nil || inc.Mirror.IsZero() || inc.Mirror == inc.Home {
		return nil
	}
	m.Thread, m.Actions = inc.Mirror.Thread, nil
	return []incidents.Effect{PostIn(inc.Number, inc.Mirror, m)}
}

// Reachable drops chat effects that have nowhere to go: an incident opened
// by a webhook while no chat platform is connected has no home channel,
// and its news is only on its timeline.
func Reachable(effs []incidents.Effect) []incidents.Effect {
	return slices.DeleteFunc(effs, func(e incidents.Effect) bool {
		switch e.Kind {
		case incidents.EffectPost, incidents.EffectUpdate, incidents.EffectUpload:
			return e.Home.Platform == "" || e.Home.Channel == ""
		}
		return false
	})
}

// SaysThat is build as an incidents.EffectsFunc that keeps only effects
// that can be delivered.
func SaysThat(build func(outs []incidents.Outcome) []incidents.Effect) incidents.EffectsFunc {
	return func(outs []incidents.Outcome) ([]incidents.Effect, error) { return Reachable(build(outs)), nil }
}
