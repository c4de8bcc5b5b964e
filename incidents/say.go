package incidents

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// EffectsFunc builds the effects an intent's outcome causes: the card of a
// new incident, the notice of a finished step, the edit of a pressed
// message. Adapters' renderers build them (incidents knows no chat), and
// the intent records them in its own transaction.
//
// It runs inside the store transaction, after the change; it may run more
// than once (the store may retry a transaction) and must not touch the
// store or anything outside it: it only turns outcomes into effects.
type EffectsFunc func(outs []Outcome) ([]Effect, error)

// recordEffects asks o.Effects what outs cause and records each effect in
// tx, stamped with now when the builder left CreatedAt unset.
func recordEffects(tx Tx, o Origin, outs []Outcome, now time.Time) error {
	if o.Effects == nil {
		return nil
	}
	effects, err := o.Effects(outs)
	if err != nil {
		return fmt.Errorf("say what changed: %w", err)
	}
	return enqueue(tx, effects, now)
}

func enqueue(tx Tx, effects []Effect, now time.Time) error {
	for i := range effects {
		e := &effects[i]
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		if err := tx.Enqueue(e); err != nil {
			return fmt.Errorf("record %s effect of incident #%d: %w", e.Kind, e.Incident, err)
		}
	}
	return nil
}

// Say records effects that no change of state causes — a repeat summary,
// the upload of a postmortem written to disk, the step card of an incident
// whose own channel could not be opened — in a transaction of their own,
// so the outbox delivers them like any other and a crash after Say
// returns loses none. Incidents the effects name must exist.
func (s *Service) Say(ctx context.Context, effects ...Effect) error {
	_, err := s.SayOnce(ctx, "", effects...)
	return err
}

// SayOnce is Say for effects that must be recorded once however often it
// is called — the fallback of a room that could not be opened, which the
// outbox may report again after a crash: a second call with the same
// eventID records nothing and reports false. An empty eventID is Say.
func (s *Service) SayOnce(ctx context.Context, eventID string, effects ...Effect) (bool, error) {
	if len(effects) == 0 {
		return false, nil
	}
	now := s.now()
	said := false
	err := s.store.Update(ctx, func(tx Tx) error {
		said = false
		if dup, err := markSeen(tx, Origin{EventID: eventID}, now); err != nil || dup {
			return err
		}
		said = true
		recorded := make([]Effect, len(effects))
		copy(recorded, effects)
		for _, e := range recorded {
			if e.Incident == 0 {
				continue
			}
			if _, err := tx.Incident(e.Incident); errors.Is(err, ErrNotFound) {
				return Refuse(ErrNotFound, TextNoSuchIncident, e.Incident)
			} else if err != nil {
				return err
			}
		}
		return enqueue(tx, recorded, now)
	})
	return said && err == nil, err
}

// Undelivered puts on incident e.Incident's timeline that the outbox gave
// up on effect e ("could not post to #alerts: channel_not_found"), so
// responders and the postmortem see what Firebreak failed to say. It is
// recorded once per effect however often it is called (the outbox may
// call it again after a crash); effects of no incident are not recorded.
func (s *Service) Undelivered(ctx context.Context, e Effect, reason string) (Outcome, error) {
	if e.Incident == 0 {
		return Outcome{}, nil
	}
	where := e.Home.Channel
	if e.Notifier != "" {
		where = e.Notifier
	}
	verb := map[EffectKind]string{EffectPost: "post to", EffectUpdate: "update a message in", EffectUpload: "attach a file to",
		EffectNotify: "notify", EffectTracker: "update the tracker", EffectRoom: "open the incident's room from"}[e.Kind]
	o := Origin{Actor: Bot, EventID: fmt.Sprintf("outbox:gave-up:%d", e.ID)}
	return s.Record(ctx, o, e.Incident, Entry{Kind: EntryUndelivered,
		Text: fmt.Sprintf("could not %s %s: %s", verb, where, reason),
		Data: map[string]string{"effect": fmt.Sprint(e.ID), "kind": string(e.Kind), "platform": e.Home.Platform, "channel": e.Home.Channel, "reason": reason}})
}
