package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// ActionRunner runs the http and command actions of playbook steps;
// *actions.Runner implements it. Results must already be redacted.
type ActionRunner interface {
	HTTP(ctx context.Context, a playbooks.HTTPAction, timeout time.Duration, data any, idempotencyKey string) actions.Result
	Command(ctx context.Context, argv []string, timeout time.Duration, data any) actions.Result
}

// ProbeFunc runs the named probe once, on demand. ok is the probe's own
// verdict; err means it could not run at all (no such probe).
type ProbeFunc func(ctx context.Context, name string) (ok bool, summary string, err error)

// actionResult is what one automated step did, ready for the timeline.
type actionResult struct {
	ok      bool
	summary string
	output  string
	// finishes is true when the step is done even though ok is false: a
	// probe that fails has still validated the outage.
	finishes bool
}

// autoStart runs the current step of inc in the background when it is an
// automated step that needs no confirmation. Called whenever an incident's
// current step may have changed, after its card was posted.
func (r *Router) autoStart(inc *incidents.Incident) {
	if inc == nil || !inc.Status.Open() {
		return
	}
	ps := r.svc.CurrentPlaybookStep(inc)
	if ps == nil || !ps.Automated() || ps.Confirm {
		return
	}
	n, step := inc.Number, ps.ID
	r.goBackground(func(ctx context.Context) {
		if !r.claim(n, step) {
			return
		}
		defer r.release(n, step)
		out, err := r.svc.StartAction(ctx, incidents.Origin{Actor: incidents.Bot}, n, step)
		if err != nil {
			if !errors.Is(err, incidents.ErrInvalidTransition) && ctx.Err() == nil {
				r.log.Warn("automated step not started", "incident", n, "step", step, "err", err)
			}
			return // moved on meanwhile
		}
		r.execute(ctx, out.Incident, ps)
	})
}

// claim marks step of incident n as running; false when it already is,
// so a Run press during an automatic run does not run the action twice.
func (r *Router) claim(n uint64, step string) bool {
	key := fmt.Sprintf("%d:%s", n, step)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[key] {
		return false
	}
	r.running[key] = true
	return true
}

func (r *Router) release(n uint64, step string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, fmt.Sprintf("%d:%s", n, step))
}

// run performs one automated step.
func (r *Router) run(ctx context.Context, inc *incidents.Incident, ps *playbooks.Step) actionResult {
	data := cards.StepData(inc, ps.ID, r.cfg.Now())
	switch ps.Kind {
	case playbooks.KindHTTP:
		if r.cfg.Actions == nil || ps.HTTP == nil {
			return actionResult{summary: "this Firebreak runs no http actions; do the step by hand"}
		}
		// One key per run: the receiving system may replay a retried
		// request, while a deliberate "Run again" is a new request.
		key := fmt.Sprintf("firebreak-%d-%s-%d", inc.Number, ps.ID, inc.Entries)
		res := r.cfg.Actions.HTTP(ctx, *ps.HTTP, ps.Timeout.D(), data, key)
		return actionResult{ok: res.OK, summary: res.Summary(), output: res.Output}
	case playbooks.KindCommand:
		if r.cfg.Actions == nil {
			return actionResult{summary: "this Firebreak runs no commands; do the step by hand"}
		}
		res := r.cfg.Actions.Command(ctx, ps.Command, ps.Timeout.D(), data)
		return actionResult{ok: res.OK, summary: res.Summary(), output: res.Output}
	case playbooks.KindProbe:
		if r.cfg.Probe == nil {
			return actionResult{summary: "probes are not running in this Firebreak; do the step by hand"}
		}
		ok, summary, err := r.cfg.Probe(ctx, ps.Probe)
		if err != nil {
			return actionResult{summary: "❌ " + err.Error()}
		}
		verdict := "outage confirmed"
		if ok {
			verdict = "the probe is healthy — the outage is not visible from outside"
		}
		return actionResult{ok: ok, summary: summary + " (" + verdict + ")", finishes: true}
	}
	return actionResult{summary: "step kind " + ps.Kind + " has no action"}
}

// execute runs a started step, records what it did, finishes the step on
// success and tells the incident's home.
func (r *Router) execute(ctx context.Context, inc *incidents.Incident, ps *playbooks.Step) {
	n := inc.Number
	res := r.run(ctx, inc, ps)
	data := map[string]string{"phase": "finished", "kind": ps.Kind, "ok": fmt.Sprint(res.ok)}
	if res.output != "" {
		data["output"] = res.output
	}
	bot := incidents.Origin{Actor: incidents.Bot}
	// The action ran: its result must reach the timeline even when the
	// Router is stopping, so it is recorded outside ctx's cancellation.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	title := ps.Title
	if st := inc.Step(ps.ID); st != nil {
		title = st.Title
	}
	failed := !res.ok && !res.finishes
	rec := bot
	if failed {
		// The failure is said with its record: Run again or Skip.
		value := fmt.Sprintf("%d:%s", n, ps.ID)
		rec.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
			return []incidents.Effect{cards.PostHome(outs[0].Incident, Message{Text: fmt.Sprintf("❌ **#%d %s** did not succeed: %s", n, Escape(title), Escape(res.summary)),
				Actions: []Action{{ID: ActionRunStep, Label: "Run again", Style: StyleDanger, Value: value}, {ID: ActionStepSkip, Label: "Skip", Value: value}}})}
		})
	}
	if _, err := r.svc.Record(rctx, rec, n, incidents.Entry{Kind: incidents.EntryAction, Step: ps.ID,
		Text: title + ": " + res.summary, Data: data}); err != nil {
		r.log.Error("recording an action result", "incident", n, "step", ps.ID, "err", err)
	}
	if failed {
		return
	}
	done := bot
	done.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		out := outs[0]
		effs := []incidents.Effect{cards.PostHome(out.Incident, Message{Text: fmt.Sprintf("⚙️ **#%d %s** — done by Firebreak: %s", n, Escape(title), Escape(res.summary))})}
		if out.StepChanged && out.Incident.Status.Open() {
			effs = append(effs, cards.PostHome(out.Incident, r.renderer(out.Incident.Home.Platform).Step(out.Incident)))
		}
		return effs
	})
	out, err := r.svc.StepDone(rctx, done, n, ps.ID, res.summary)
	if err != nil {
		// Done or skipped by hand while it ran; the result is recorded.
		r.record(rctx, cards.PostHome(inc, Message{Text: fmt.Sprintf("⚙️ **#%d %s**: %s", n, Escape(title), Escape(res.summary))}))
		return
	}
	if out.StepChanged {
		r.autoStart(out.Incident)
	}
}

// runPressed handles Run (and the confirmation of confirm: true steps):
// the start is recorded with the presser, refused unless permitted, and
// the action runs in the background so the press is answered at once.
func (h *handling) runPressed(ctx context.Context, n uint64, stepID string) error {
	if stepID == "" {
		return h.refuse(ctx, refuseUsage(TextButtonNoStep))
	}
	if !h.claim(n, stepID) {
		h.outcome = "answered"
		return h.whisper(ctx, fmt.Sprintf("Step %s of #%d is already running.", stepID, n))
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
	out, err := h.svc.StartAction(ctx, o, n, stepID)
	if err != nil || out.Duplicate {
		h.release(n, stepID)
		return h.finish(ctx, out, err, nil)
	}
	inc := out.Incident
	ps := h.svc.PlaybookStep(inc, stepID)
	if !h.goBackground(func(bctx context.Context) {
		defer h.release(n, stepID)
		h.execute(bctx, inc, ps)
	}) {
		h.release(n, stepID)
	}
	return h.finish(ctx, out, nil, nil)
}

// postUpdatePressed posts the update a status_update step suggests; the
// update finishes the step (see incidents.Service.PostUpdate).
func (h *handling) postUpdatePressed(ctx context.Context, n uint64, stepID string) error {
	inc, err := h.svc.Get(ctx, n)
	if err != nil {
		return h.refuse(ctx, err)
	}
	ps := h.svc.PlaybookStep(inc, stepID)
	if ps == nil || ps.Kind != playbooks.KindStatusUpdate {
		return h.refuse(ctx, incidents.Refuse(incidents.ErrNoSuchStep, TextNoStatusUpdate, stepID, n))
	}
	if cur := inc.CurrentStep(); cur == nil || cur.ID != stepID {
		return h.refuse(ctx, incidents.Refuse(incidents.ErrInvalidTransition, incidents.TextNotCurrentStep, stepID, n))
	}
	text, err := cards.SuggestedUpdate(inc, ps, h.cfg.Now())
	if err != nil {
		return h.refuse(ctx, err)
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
		return append(effs, h.updateEffects(out, fmt.Sprintf("📣 Status update on **#%d** from %s: %s", n, who, Escape(text)), next)...)
	})
	out, err := h.svc.PostUpdate(ctx, o, n, text)
	return h.finish(ctx, out, err, nil)
}
