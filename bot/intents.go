package bot

import (
	"context"
	"fmt"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// One text per lifecycle intent: the slash command and the button that
// mean the same thing say the same thing, because they run the same
// function below (issue 14: the two copies had drifted apart).
const (
	// textAcknowledged: who, incident, time to acknowledge.
	textAcknowledged = "👀 %s acknowledged **#%d** after %s."
	// textMitigated: who, incident, time to mitigate.
	textMitigated = "🟢 %s marked **#%d** mitigated after %s. `/incident resolve <summary>` when it is over."
	// textResolveNeedsSummary: incident, incident. Said only to the person
	// who pressed Resolve.
	textResolveNeedsSummary = "To resolve **#%d**, type `/incident #%d resolve <summary>`: what fixed it goes into the postmortem."
)

// intent is what one user intent did. Slash commands, buttons and
// reactions only translate their input into a call of an intent function
// and then answer with its result: the intent recorded what it says
// publicly with its change (see handling.saying), answer is said only to
// the person who acted (instead of a change).
type intent struct {
	out    incidents.Outcome
	answer string
}

// lifecycleNews is what a lifecycle intent says: m where the event's news
// goes and in the incident's former home when mirror, plus the redraw of
// the pressed button's message.
func (h *handling) lifecycleNews(o incidents.Origin, mirror bool, m func(inc *incidents.Incident) Message) incidents.Origin {
	return h.saying(o, func(out incidents.Outcome) []incidents.Effect {
		// The pressed card is redrawn first, then the news is said.
		var effs []incidents.Effect
		if h.redraw != nil {
			effs = h.redraw(out.Incident)
		}
		msg := m(out.Incident)
		effs = append(effs, h.replies(out.Incident, msg)...)
		if mirror {
			effs = append(effs, cards.MirrorOf(out.Incident, msg)...)
		}
		return effs
	})
}

// ack acknowledges incident n for the event's user: /incident ack and the
// Acknowledge button.
func (h *handling) ack(ctx context.Context, o incidents.Origin, n uint64) (intent, error) {
	who := Mention(h.ev.User, h.ev.Platform)
	o = h.lifecycleNews(o, false, func(inc *incidents.Incident) Message {
		return Message{Text: fmt.Sprintf(textAcknowledged, who, n, cards.Human(inc.TimeToAcknowledge()))}
	})
	out, err := h.svc.Acknowledge(ctx, o, n)
	if err != nil || out.Duplicate {
		return intent{out: out}, err
	}
	h.observeAck(out.Incident)
	h.joinRoom(out.Incident, h.ev.User)
	return intent{out: out}, nil
}

// mitigate marks incident n mitigated: /incident mitigate and the
// Mitigated button. The news is mirrored to the incident's other homes.
func (h *handling) mitigate(ctx context.Context, o incidents.Origin, n uint64) (intent, error) {
	who := Mention(h.ev.User, h.ev.Platform)
	o = h.lifecycleNews(o, true, func(inc *incidents.Incident) Message {
		return Message{Text: fmt.Sprintf(textMitigated, who, n, cards.Human(inc.TimeToMitigate()))}
	})
	out, err := h.svc.Mitigate(ctx, o, n)
	return intent{out: out}, err
}

// resolve closes incident n with summary: /incident resolve [summary].
// The Resolve button calls it with confirmed false: one click must not
// close an incident for everyone, so it changes nothing and answers with
// the command to type, which asks for the summary the postmortem needs.
func (h *handling) resolve(ctx context.Context, o incidents.Origin, n uint64, summary string, confirmed bool) (intent, error) {
	if !confirmed {
		return intent{answer: fmt.Sprintf(textResolveNeedsSummary, n, n)}, nil
	}
	who := Mention(h.ev.User, h.ev.Platform)
	o = h.lifecycleNews(o, true, func(inc *incidents.Incident) Message { return resolvedMessage(inc, who) })
	out, err := h.svc.Resolve(ctx, o, n, summary)
	if err != nil || out.Duplicate {
		return intent{out: out}, err
	}
	h.observeResolve(out.Incident)
	return intent{out: out}, nil
}

// step finishes step of incident n (done, or skipped with a reason in
// note): /incident step done|skip and the Done button. A press redraws the
// pressed step card as finished; a command posts the finished step. Both
// then post the next step card when the current step moved.
func (h *handling) step(ctx context.Context, o incidents.Origin, n uint64, step, note string, skip bool) (intent, error) {
	pressed := h.ev.Kind == KindAction
	o = h.saying(o, func(out incidents.Outcome) []incidents.Effect {
		var effs []incidents.Effect
		for _, e := range out.Entries {
			if e.Kind != incidents.EntryStepDone && e.Kind != incidents.EntryStepSkipped {
				continue
			}
			st := out.Incident.Step(e.Step)
			if st == nil {
				continue
			}
			if m := h.rd.FinishedStep(out.Incident, *st); pressed {
				effs = append(effs, h.pressedEdit(out.Incident, m)...)
			} else {
				effs = append(effs, h.replies(out.Incident, m)...)
			}
		}
		if out.StepChanged && out.Incident.Status.Open() {
			effs = append(effs, h.replies(out.Incident, h.rd.Step(out.Incident))...)
		}
		return effs
	})
	var out incidents.Outcome
	var err error
	if skip {
		out, err = h.svc.StepSkip(ctx, o, n, step, note)
	} else {
		out, err = h.svc.StepDone(ctx, o, n, step, note)
	}
	return intent{out: out}, err
}

// answer says what an intent did: an answer only to the person who acted,
// or, through finish, the refusal, nothing for a duplicate, or the public
// messages.
func (h *handling) answer(ctx context.Context, in intent, err error) error {
	if err == nil && in.answer != "" {
		h.outcome = "answered"
		return h.whisper(ctx, in.answer)
	}
	return h.finish(ctx, in.out, err)
}

// stepMessages announce the steps an intent finished and post the next
// step card when the current step moved.
func (h *handling) stepMessages(out incidents.Outcome) []Message {
	if out.Duplicate || out.Incident == nil {
		return nil
	}
	var msgs []Message
	for _, e := range out.Entries {
		if e.Kind != incidents.EntryStepDone && e.Kind != incidents.EntryStepSkipped {
			continue
		}
		if st := out.Incident.Step(e.Step); st != nil {
			msgs = append(msgs, h.rd.FinishedStep(out.Incident, *st))
		}
	}
	if out.StepChanged && out.Incident.Status.Open() {
		msgs = append(msgs, h.rd.Step(out.Incident))
	}
	return msgs
}

func resolvedMessage(inc *incidents.Incident, who string) Message {
	text := fmt.Sprintf("✅ %s resolved **#%d** after %s.", who, inc.Number, cards.Human(inc.TimeToResolve()))
	if inc.Summary != "" {
		text += "\nSummary: " + Escape(inc.Summary)
	}
	return Message{Text: text + fmt.Sprintf("\nWrite it up while memories are fresh: `/incident #%d postmortem`.", inc.Number)}
}

func (r *Router) observeAck(inc *incidents.Incident) {
	if r.cfg.Metrics != nil && inc != nil {
		r.cfg.Metrics.ObserveAcknowledged(inc.TimeToAcknowledge())
	}
}

func (r *Router) observeResolve(inc *incidents.Incident) {
	if r.cfg.Metrics != nil && inc != nil {
		r.cfg.Metrics.ObserveResolved(inc.TimeToResolve())
	}
}
