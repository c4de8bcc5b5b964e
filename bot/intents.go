package bot

import (
	"context"
	"fmt"

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

// intent is what one user intent did and what Firebreak says about it.
// Slash commands, buttons and reactions only translate their input into a
// call of an intent function and then answer with its result: msgs
// publicly through finish, or answer only to the person who acted
// (instead of a change).
type intent struct {
	out    incidents.Outcome
	msgs   []Message
	answer string
}

// ack acknowledges incident n for the event's user: /incident ack and the
// Acknowledge button.
func (h *handling) ack(ctx context.Context, o incidents.Origin, n uint64) (intent, error) {
	out, err := h.svc.Acknowledge(ctx, o, n)
	if err != nil || out.Duplicate {
		return intent{out: out}, err
	}
	h.observeAck(out.Incident)
	h.joinRoom(out.Incident, h.ev.User)
	who := Mention(h.ev.User, h.ev.Platform)
	return intent{out: out, msgs: []Message{{Text: fmt.Sprintf(textAcknowledged, who, n, human(out.Incident.TimeToAcknowledge()))}}}, nil
}

// mitigate marks incident n mitigated: /incident mitigate and the
// Mitigated button. The news is mirrored to the incident's other homes.
func (h *handling) mitigate(ctx context.Context, o incidents.Origin, n uint64) (intent, error) {
	out, err := h.svc.Mitigate(ctx, o, n)
	if err != nil || out.Duplicate {
		return intent{out: out}, err
	}
	who := Mention(h.ev.User, h.ev.Platform)
	m := Message{Text: fmt.Sprintf(textMitigated, who, n, human(out.Incident.TimeToMitigate()))}
	h.mirror(out.Incident, m)
	return intent{out: out, msgs: []Message{m}}, nil
}

// resolve closes incident n with summary: /incident resolve [summary].
// The Resolve button calls it with confirmed false: one click must not
// close an incident for everyone, so it changes nothing and answers with
// the command to type, which asks for the summary the postmortem needs.
func (h *handling) resolve(ctx context.Context, o incidents.Origin, n uint64, summary string, confirmed bool) (intent, error) {
	if !confirmed {
		return intent{answer: fmt.Sprintf(textResolveNeedsSummary, n, n)}, nil
	}
	out, err := h.svc.Resolve(ctx, o, n, summary)
	if err != nil || out.Duplicate {
		return intent{out: out}, err
	}
	h.observeResolve(out.Incident)
	h.forgetRepeats(n)
	m := resolvedMessage(out.Incident, Mention(h.ev.User, h.ev.Platform))
	h.mirror(out.Incident, m)
	return intent{out: out, msgs: []Message{m}}, nil
}

// answer says what an intent did: an answer only to the person who acted,
// or, through finish, the refusal, nothing for a duplicate, or the public
// messages.
func (h *handling) answer(ctx context.Context, in intent, err error) error {
	if err == nil && in.answer != "" {
		h.outcome = "answered"
		return h.whisper(ctx, in.answer)
	}
	return h.finish(ctx, in.out, err, in.msgs)
}
