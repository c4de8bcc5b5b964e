package automation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/internal/background"
	"github.com/firebreak/firebreak/playbooks"
)

// ActionRunner runs the http and command actions of playbook steps;
// *actions.Runner implements it. Results must already be redacted.
type ActionRunner interface {
	HTTP(ctx context.Context, a playbooks.HTTPAction, timeout time.Duration, data any, idempotencyKey string) actions.Result
	Command(ctx context.Context, argv []string, timeout time.Duration, data any) actions.Result
}

var _ ActionRunner = (*actions.Runner)(nil)

// ProbeFunc runs the named probe once, on demand. ok is the probe's own
// verdict; err means it could not run at all (no such probe).
type ProbeFunc func(ctx context.Context, name string) (ok bool, summary string, err error)

// Defaults of Config.
const (
	// DefaultWriteTimeout bounds each store write automation makes on its
	// own (an action's result, a fired timer, an interrupted run): the one
	// timeout for everything it records outside a request's context.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultMaxRun bounds one run of an automated step, retries included.
	DefaultMaxRun = 5 * time.Minute
	// DefaultTimerInterval is how often due timers are looked for.
	DefaultTimerInterval = time.Second
)

// Config configures an Automation. Zero values pick the defaults.
type Config struct {
	Logger *slog.Logger
	// Now is the clock of step data and update templates (default
	// time.Now); the Service's clock stamps what is recorded.
	Now func() time.Time
	// Actions runs the http and command steps of playbooks; nil leaves
	// them to be done by hand.
	Actions ActionRunner
	// Probe runs probe steps; nil leaves them to be done by hand.
	Probe ProbeFunc
	// Pages makes escalations and status updates page the notifiers named
	// in playbooks.yaml: the pages are recorded as notify effects, which
	// the outbox delivers (bot.NotifySender). false: chat mentions only.
	Pages bool
	// TimerInterval is how often due escalations and reminders are
	// checked (default DefaultTimerInterval).
	TimerInterval time.Duration
	// WriteTimeout bounds every store write automation makes outside a
	// request (default DefaultWriteTimeout).
	WriteTimeout time.Duration
	// MaxRun bounds one run of an automated step (default DefaultMaxRun):
	// the action's context ends then. A step still running after
	// MaxRun+WriteTimeout runs nowhere, so RunTimers reports it
	// interrupted whatever replica started it.
	MaxRun time.Duration
	// SharedStore says other replicas write the same store (etcd): a run
	// started before this process may still be running on one of them, so
	// only runs older than MaxRun+WriteTimeout are interrupted. false (one
	// process on its bbolt file): every run started before this process
	// was cut short by its stop.
	SharedStore bool
}

// Automation runs automated playbook steps, fires escalations and
// reminders and words status updates, each as an incidents.Service intent
// that records what it says with its change (see the package doc). It is
// safe for concurrent use; Run owns the goroutines of running steps.
type Automation struct {
	svc *incidents.Service
	cfg Config
	log *slog.Logger
	// began is when this process's automation started: a step recorded
	// running since before then is no run of this process.
	began time.Time

	bg *background.Group
}

// New returns an Automation over svc. Call Run to own (and at the end
// stop) its running steps, and RunTimers on the leader to fire timers.
func New(svc *incidents.Service, cfg Config) *Automation {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TimerInterval <= 0 {
		cfg.TimerInterval = DefaultTimerInterval
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxRun <= 0 {
		cfg.MaxRun = DefaultMaxRun
	}
	return &Automation{svc: svc, cfg: cfg, log: cfg.Logger, began: cfg.Now(), bg: background.New()}
}

// Run blocks until ctx is done, then cancels the steps still running and
// waits for them: each records its (cancelled) result, so its step is
// pending again. Nothing starts once Run has ended.
func (a *Automation) Run(ctx context.Context) error { return a.bg.RunUntil(ctx) }

// goBackground runs fn on its own goroutine under Run's ownership.
func (a *Automation) goBackground(fn func(ctx context.Context)) bool { return a.bg.Go(fn) }

// writeCtx is the context of a write that must happen even while Run is
// stopping (a run's result): ctx's values, not its cancellation.
func (a *Automation) writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), a.cfg.WriteTimeout)
}

// AutoStart runs the current step of inc in the background when it is an
// automated step that needs no confirmation. Whoever changed the current
// step calls it after the change committed: the Router after commands and
// buttons, intake after a new incident, a finished run for the next step.
// The store decides who runs a step: StartAction refuses a step already
// running, so a Run press and AutoStart never run it twice.
func (a *Automation) AutoStart(inc *incidents.Incident) {
	if inc == nil || !inc.Status.Open() {
		return
	}
	ps := a.svc.CurrentPlaybookStep(inc)
	if ps == nil || !ps.Automated() || ps.Confirm {
		return
	}
	n, step := inc.Number, ps.ID
	a.goBackground(func(ctx context.Context) {
		out, err := a.svc.StartAction(ctx, incidents.Origin{Actor: incidents.Bot}, n, step)
		if err != nil {
			if !errors.Is(err, incidents.ErrInvalidTransition) && ctx.Err() == nil {
				a.log.Warn("automated step not started", "incident", n, "step", step, "err", err)
			}
			return // moved on, or running already
		}
		a.execute(ctx, out.Incident, ps)
	})
}

// RunStep is the Run button (and the confirmation of confirm: true
// steps): the start is recorded with o (its actor and what o.Effects
// says), refused unless permitted or while the step runs already
// (incidents.TextStepRunning), and the action runs in the background, so
// the press is answered at once.
func (a *Automation) RunStep(ctx context.Context, o incidents.Origin, n uint64, stepID string) (incidents.Outcome, error) {
	out, err := a.svc.StartAction(ctx, o, n, stepID)
	if err != nil || out.Duplicate {
		return out, err
	}
	inc := out.Incident
	ps := a.svc.PlaybookStep(inc, stepID)
	if ps == nil {
		return out, nil // StartAction checked it; the playbook cannot vanish meanwhile
	}
	if !a.goBackground(func(bctx context.Context) { a.execute(bctx, inc, ps) }) {
		// Firebreak is stopping: end the run it recorded, so the step
		// can be run again after the restart.
		wctx, cancel := a.writeCtx(ctx)
		defer cancel()
		st := inc.Step(stepID)
		if _, err := a.svc.InterruptAction(wctx, incidents.Origin{Actor: incidents.Bot}, n, stepID, st.At); err != nil {
			a.log.Error("ending a run Firebreak could not start", "incident", n, "step", stepID, "err", err)
		}
	}
	return out, nil
}

// run performs one automated step, bounded by MaxRun.
func (a *Automation) run(ctx context.Context, inc *incidents.Incident, ps *playbooks.Step) incidents.ActionResult {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.MaxRun)
	defer cancel()
	data := cards.StepData(inc, ps.ID, a.cfg.Now())
	res := incidents.ActionResult{Kind: ps.Kind}
	switch ps.Kind {
	case playbooks.KindHTTP:
		if a.cfg.Actions == nil || ps.HTTP == nil {
			res.Summary = "this Firebreak runs no http actions; do the step by hand"
			return res
		}
		// One key per run: the receiving system may replay a retried
		// request, while a deliberate "Run again" is a new request.
		key := fmt.Sprintf("firebreak-%d-%s-%d", inc.Number, ps.ID, inc.Entries)
		r := a.cfg.Actions.HTTP(ctx, *ps.HTTP, ps.Timeout.D(), data, key)
		res.OK, res.Summary, res.Output = r.OK, r.Summary(), r.Output
	case playbooks.KindCommand:
		if a.cfg.Actions == nil {
			res.Summary = "this Firebreak runs no commands; do the step by hand"
			return res
		}
		r := a.cfg.Actions.Command(ctx, ps.Command, ps.Timeout.D(), data)
		res.OK, res.Summary, res.Output = r.OK, r.Summary(), r.Output
	case playbooks.KindProbe:
		if a.cfg.Probe == nil {
			res.Summary = "probes are not running in this Firebreak; do the step by hand"
			return res
		}
		ok, summary, err := a.cfg.Probe(ctx, ps.Probe)
		if err != nil {
			res.Summary = "❌ " + err.Error()
			return res
		}
		verdict := "outage confirmed"
		if ok {
			verdict = "the probe is healthy — the outage is not visible from outside"
		}
		// A probe that fails has still validated the outage.
		res.OK, res.Summary, res.Finishes = ok, summary+" ("+verdict+")", true
	default:
		res.Summary = "step kind " + ps.Kind + " has no action"
	}
	return res
}

// execute runs a started step and ends its run with the result
// (FinishAction): the step done on success, pending again on failure,
// each said in the incident's home in the same transaction.
func (a *Automation) execute(ctx context.Context, inc *incidents.Incident, ps *playbooks.Step) {
	n := inc.Number
	res := a.run(ctx, inc, ps)
	title := ps.Title
	if st := inc.Step(ps.ID); st != nil {
		title = st.Title
	}
	o := incidents.Origin{Actor: incidents.Bot}
	o.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		return a.finishedEffects(outs[0], ps.ID, title, res)
	})
	// The action ran: its result must reach the timeline even when Run is
	// stopping, so it is recorded outside ctx's cancellation.
	wctx, cancel := a.writeCtx(ctx)
	defer cancel()
	out, err := a.svc.FinishAction(wctx, o, n, ps.ID, res)
	if err != nil {
		a.log.Error("recording an action result", "incident", n, "step", ps.ID, "err", err)
		return
	}
	if out.StepChanged {
		a.AutoStart(out.Incident)
	}
}

// finishedEffects say how a run ended: done by Firebreak (and the next
// step's card), failed with Run again and Skip, or only its result when
// the step was finished by hand (or the incident resolved) while it ran.
func (a *Automation) finishedEffects(out incidents.Outcome, stepID, title string, res incidents.ActionResult) []incidents.Effect {
	inc := out.Incident
	n := inc.Number
	finished := false
	for _, e := range out.Entries {
		finished = finished || e.Kind == incidents.EntryStepDone
	}
	st := inc.Step(stepID)
	switch {
	case finished:
		effs := []incidents.Effect{cards.PostHome(inc, cards.Message{Text: fmt.Sprintf("⚙️ **#%d %s** — done by Firebreak: %s", n, cards.Escape(title), cards.Escape(res.Summary))})}
		if out.StepChanged && inc.Status.Open() {
			rd := cards.Renderer{Platform: inc.Home.Platform, Books: a.svc.Playbooks(), Now: a.cfg.Now()}
			effs = append(effs, cards.PostHome(inc, rd.Step(inc)))
		}
		return effs
	case st != nil && st.Status == incidents.StepPending && inc.Status.Open():
		value := fmt.Sprintf("%d:%s", n, stepID)
		return []incidents.Effect{cards.PostHome(inc, cards.Message{Text: fmt.Sprintf("❌ **#%d %s** did not succeed: %s", n, cards.Escape(title), cards.Escape(res.Summary)),
			Actions: []cards.Action{{ID: cards.ActionRunStep, Label: "Run again", Style: cards.StyleDanger, Value: value}, {ID: cards.ActionStepSkip, Label: "Skip", Value: value}}})}
	default:
		return []incidents.Effect{cards.PostHome(inc, cards.Message{Text: fmt.Sprintf("⚙️ **#%d %s**: %s", n, cards.Escape(title), cards.Escape(res.Summary))})}
	}
}
