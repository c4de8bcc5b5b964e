package automation

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// timersPerTick bounds the timers one tick fires (in batches of
// timerBatch), so a backlog after a long stop cannot hold a tick forever.
const (
	timerBatch    = 100
	timersPerTick = 10 * timerBatch
)

// RunTimers is the leader's loop until ctx is done. First it ends the runs
// of automated steps that a crash or a failover cut short (see
// recoverRuns); then, every TimerInterval, it fires due escalations and
// reminders through svc, their notices and pages recorded with the firing
// (FireDueWith) and delivered by the outbox. Timers live in the store, so
// one that came due while no replica fired them fires on the first tick.
// serve runs it for each term of the elected leader with a Service whose
// writes are fenced by that term, so a deposed leader's FireDue is refused
// by the store and announces nothing.
func (a *Automation) RunTimers(ctx context.Context, svc *incidents.Service) {
	t := time.NewTicker(a.cfg.TimerInterval)
	defer t.Stop()
	recheck := a.cfg.Now() // runs left behind are looked for at once
	for {
		if !recheck.IsZero() && !a.cfg.Now().Before(recheck) {
			recheck = a.recoverRuns(ctx, svc)
		}
		a.fireTimers(ctx, svc)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recoverRuns finds steps the store says are running although no process
// runs them any more — Firebreak was killed, or the leader replica died,
// while the action ran — and ends each run on the timeline ("interrupted
// by a restart; run it again"), with a Run again button in the incident's
// home, so the step can be run again. A run is over when it started
// before this process did (one process on its bbolt file), or when it has
// been running longer than any run may (MaxRun+WriteTimeout: it runs
// nowhere). It returns when to look again: when the first run that is not
// over yet would be, else one bound from now, so a run whose result could
// not be recorded (the store was down) is ended too.
func (a *Automation) recoverRuns(ctx context.Context, svc *incidents.Service) time.Time {
	running, err := svc.RunningSteps(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("looking for interrupted automated steps", "err", err)
			return a.cfg.Now().Add(a.cfg.TimerInterval)
		}
		return time.Time{}
	}
	bound := a.cfg.MaxRun + a.cfg.WriteTimeout
	now := a.cfg.Now()
	var next time.Time
	for _, r := range running {
		over := now.Sub(r.Step.At) >= bound || (!a.cfg.SharedStore && r.Step.At.Before(a.began))
		if !over {
			if at := r.Step.At.Add(bound); next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		a.interrupt(ctx, svc, r.Incident.Number, r.Step)
	}
	if next.IsZero() {
		next = now.Add(bound)
	}
	return next
}

// interrupt ends one run cut short and says so in the incident's home.
func (a *Automation) interrupt(ctx context.Context, svc *incidents.Service, n uint64, st incidents.StepState) {
	o := incidents.Origin{Actor: incidents.Bot}
	o.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		out := outs[0]
		if len(out.Entries) == 0 || out.Incident.Home.Channel == "" {
			return nil
		}
		value := fmt.Sprintf("%d:%s", n, st.ID)
		return []incidents.Effect{cards.PostHome(out.Incident, cards.Message{
			Text: fmt.Sprintf("⚠️ **#%d %s** — the run started at %s was interrupted by a restart; run it again.", n, cards.Escape(st.Title), cards.Clock(st.At)),
			Actions: []cards.Action{{ID: cards.ActionRunStep, Label: "Run again", Style: cards.StyleDanger, Value: value},
				{ID: cards.ActionStepDone, Label: "Done by hand", Value: value}, {ID: cards.ActionStepSkip, Label: "Skip", Value: value}}})}
	})
	wctx, cancel := context.WithTimeout(ctx, a.cfg.WriteTimeout)
	defer cancel()
	out, err := svc.InterruptAction(wctx, o, n, st.ID, st.At)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("recording an interrupted automated step", "incident", n, "step", st.ID, "err", err)
		}
		return
	}
	if len(out.Entries) > 0 {
		a.log.Warn("automated step was interrupted by a restart; it can be run again", "incident", n, "step", st.ID, "started", st.At)
	}
}

func (a *Automation) fireTimers(ctx context.Context, svc *incidents.Service) {
	for range timersPerTick / timerBatch {
		wctx, cancel := context.WithTimeout(ctx, a.cfg.WriteTimeout)
		fired, err := svc.FireDueWith(wctx, timerBatch, a.timerEffects)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("firing timers", "err", err)
			}
			return
		}
		if len(fired) < timerBatch {
			return
		}
	}
}

// timerEffects is the notice of a fired timer in the incident's home
// channel, and the pages of an escalation level, recorded in the
// transaction that fires it.
func (a *Automation) timerEffects(f incidents.Fired) ([]incidents.Effect, error) {
	inc := f.Incident
	var m cards.Message
	switch {
	case f.Escalation() && f.Level != nil:
		m = cards.Message{Text: fmt.Sprintf("🔔 **#%d %s** is not acknowledged — escalating to level %s: %s",
			inc.Number, cards.Escape(inc.Title), f.Entry.Data["level"], strings.Join(f.Level.Notify, " ")),
			Actions: []cards.Action{{ID: cards.ActionAck, Label: "Acknowledge", Style: cards.StylePrimary, Value: fmt.Sprint(inc.Number)}}}
	case f.Entry.Data["reminder"] == "step":
		m = cards.Message{Text: fmt.Sprintf("⏰ **#%d**: %s. Done? `/incident step done`", inc.Number, cards.Escape(f.Entry.Text))}
	default:
		m = cards.Message{Text: fmt.Sprintf("📝 **#%d**: a status update is due — `/incident update <what changed, impact, next update>`", inc.Number)}
	}
	var effs []incidents.Effect
	if inc.Home.Channel != "" { // else nowhere to say it; the timeline has it
		effs = append(effs, cards.PostHome(inc, m))
	}
	if f.Escalation() && f.Level != nil {
		key := fmt.Sprintf("firebreak-%d-%s", inc.Number, strings.ReplaceAll(f.Timer.Key, "/", "-"))
		effs = append(effs, a.notifyEffects(inc, f.Level.Notifiers, "escalation", f.Entry.Text, f.Entry.At, key)...)
	}
	return effs, nil
}

// notifyEffects page the notifiers of playbooks.yaml named in names about
// inc (an escalation, a status update), recorded like any other effect so
// that a page survives a crash between its cause and its sending. key is
// the idempotency key the receiving system dedupes on. None unless
// Config.Pages.
func (a *Automation) notifyEffects(inc *incidents.Incident, names []string, kind, text string, at time.Time, key string) []incidents.Effect {
	if !a.cfg.Pages {
		return nil
	}
	var effs []incidents.Effect
	for _, name := range names {
		if a.svc.Playbooks().Notifier(name) == nil {
			continue
		}
		effs = append(effs, incidents.Effect{Kind: incidents.EffectNotify, Incident: inc.Number, Notifier: name,
			Message: incidents.EffectMessage{Text: text},
			Data: map[string]string{"kind": kind, "title": inc.Title, "severity": inc.Severity.String(), "status": string(inc.Status),
				"at": at.UTC().Format(time.RFC3339Nano), "key": key}})
	}
	return effs
}
