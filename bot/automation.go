package bot

import (
	"context"
	"fmt"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// Automation is what the Router asks of package automation
// (*automation.Automation): it starts automated steps when the current
// step changed, and button presses are translated into its intents. The
// Router never runs an action, fires a timer or words a stakeholder
// update itself.
type Automation interface {
	// AutoStart runs inc's current step when it is automated and needs
	// no confirmation.
	AutoStart(inc *incidents.Incident)
	// RunStep is the Run button: StartAction with o, the action in the
	// background.
	RunStep(ctx context.Context, o incidents.Origin, n uint64, stepID string) (incidents.Outcome, error)
	// PostUpdate is the "Post this update" button of a status_update step.
	PostUpdate(ctx context.Context, o incidents.Origin, n uint64, stepID string) (incidents.Outcome, error)
	// UpdateEffects are a status update's pages and stakeholder posts
	// beyond channel on platform.
	UpdateEffects(inc *incidents.Incident, platform, channel string) []incidents.Effect
}

// autoStart hands inc to automation after an intent that may have
// changed its current step (nothing runs without RouterConfig.Automation).
func (r *Router) autoStart(inc *incidents.Incident) {
	if r.cfg.Automation != nil {
		r.cfg.Automation.AutoStart(inc)
	}
}

// runPressed handles Run (and the confirmation of confirm: true steps):
// what the press says is recorded with the start (automation.RunStep),
// which refuses the press unless permitted, or while the step runs.
func (h *handling) runPressed(ctx context.Context, n uint64, stepID string) error {
	if stepID == "" {
		return h.refuse(ctx, refuseUsage(TextButtonNoStep))
	}
	if h.cfg.Automation == nil {
		return h.refuse(ctx, refuseUsage(TextNoAutomation))
	}
	who := Mention(h.ev.User, h.ev.Platform)
	o := h.saying(origin(h.ev), func(out incidents.Outcome) []incidents.Effect {
		inc := out.Incident
		ps := h.svc.PlaybookStep(inc, stepID)
		if ps == nil {
			return nil
		}
		title := stepID
		if st := inc.Step(stepID); st != nil {
			title = st.Title
		}
		verb := "started"
		if ps.Confirm {
			verb = "confirmed"
		}
		effs := h.pressedEdit(inc, Message{Text: fmt.Sprintf("▶️ #%d %s — %s by %s at %s", n, Escape(title), verb, who, Clock(h.cfg.Now()))})
		return append(effs, h.replies(inc, Message{Text: fmt.Sprintf("▶️ %s %s **%s** on #%d: %s…", who, verb, Escape(title), n, cards.DescribeAction(ps, cards.StepData(inc, stepID, h.cfg.Now())))})...)
	})
	out, err := h.cfg.Automation.RunStep(ctx, o, n, stepID)
	return h.finish(ctx, out, err)
}

// postUpdatePressed posts the update a status_update step suggests
// (automation.PostUpdate); the update finishes the step.
func (h *handling) postUpdatePressed(ctx context.Context, n uint64, stepID string) error {
	if h.cfg.Automation == nil {
		return h.refuse(ctx, refuseUsage(TextNoAutomation))
	}
	who := Mention(h.ev.User, h.ev.Platform)
	o := h.saying(origin(h.ev), func(out incidents.Outcome) []incidents.Effect {
		var effs []incidents.Effect
		if st := out.Incident.Step(stepID); st != nil {
			effs = h.pressedEdit(out.Incident, h.rd.FinishedStep(out.Incident, *st))
		}
		var next []Message
		if out.StepChanged && out.Incident.Status.Open() {
			next = []Message{h.rd.Step(out.Incident)}
		}
		text := fmt.Sprintf("📣 Status update on **#%d** from %s: %s", n, who, Escape(out.Incident.LastUpdate))
		return append(effs, h.updateEffects(out, text, next)...)
	})
	out, err := h.cfg.Automation.PostUpdate(ctx, o, n, stepID)
	return h.finish(ctx, out, err)
}

// updateEffects are what a status update says: text where the event's
// news goes and in the incident's former home, steps (the finished step,
// the next one), and what automation adds — the update as stakeholders
// read it in the stakeholder channels (on the platform it was posted
// from) and the pages of the update notifiers.
func (h *handling) updateEffects(out incidents.Outcome, text string, steps []Message) []incidents.Effect {
	inc := out.Incident
	m := Message{Text: text}
	effs := append(h.replies(inc, m), cards.MirrorOf(inc, m)...)
	effs = append(effs, h.replies(inc, steps...)...)
	if h.cfg.Automation != nil {
		effs = append(effs, h.cfg.Automation.UpdateEffects(inc, h.ev.Platform, h.ev.Channel)...)
	}
	return effs
}
