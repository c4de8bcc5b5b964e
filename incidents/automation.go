package incidents

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/playbooks"
)

// PlaybookStep is the playbook definition of step id of inc, or nil when
// the playbook (or the step) is no longer in playbooks.yaml.
func (s *Service) PlaybookStep(inc *Incident, id string) *playbooks.Step {
	if s.books == nil || inc == nil || inc.Playbook == "" {
		return nil
	}
	pb := s.books.Playbook(inc.Playbook)
	if pb == nil {
		return nil
	}
	if i := pb.StepIndex(id); i >= 0 {
		return &pb.Steps[i]
	}
	return nil
}

// CurrentPlaybookStep is the playbook definition of inc's current step.
func (s *Service) CurrentPlaybookStep(inc *Incident) *playbooks.Step {
	st := inc.CurrentStep()
	if st == nil {
		return nil
	}
	return s.PlaybookStep(inc, st.ID)
}

// StartAction records that o.Actor starts the automated action of step
// stepID (http, probe or command), before anything runs, so the timeline
// says who set a rollback off even if Firebreak dies while it runs. The
// step is StepRunning from then on, in the store: a second start — a
// second Run press, on any replica — is refused with TextStepRunning until
// FinishAction (or InterruptAction) ends the run.
//
// The step must be the current, pending step of an open incident, so a
// stale confirmation button cannot run an action the incident has moved
// past. Steps marked confirm: true require permissions.confirm_actions; a
// refusal is recorded and returned as ErrForbidden.
func (s *Service) StartAction(ctx context.Context, o Origin, n uint64, stepID string) (Outcome, error) {
	return s.apply(ctx, o, n, "start action", func(c *change) error {
		inc := c.inc
		if !inc.Status.Open() {
			return Refuse(ErrInvalidTransition, TextActionsStopped, n, inc.Status)
		}
		cur := inc.CurrentStep()
		if cur == nil || cur.ID != stepID {
			if st := inc.Step(stepID); st != nil && st.Status.Finished() {
				return Refuse(ErrInvalidTransition, TextStepAlready, st.ID, n, st.Status, st.By, at(st.At))
			}
			return Refuse(ErrInvalidTransition, TextNotCurrentStep, stepID, n)
		}
		if cur.Status == StepRunning {
			return Refuse(ErrInvalidTransition, TextStepRunning, cur.ID, n, at(cur.At))
		}
		ps := s.PlaybookStep(inc, stepID)
		if ps == nil || !ps.Automated() {
			return Refuse(ErrNoSuchStep, TextNoAction, stepID, n)
		}
		if ps.Confirm {
			if err := c.require(PermConfirmActions); err != nil {
				return err
			}
		}
		text := fmt.Sprintf("started %s action of step %q", ps.Kind, cur.Title)
		if ps.Confirm && !c.actor.Same(Bot) {
			text = fmt.Sprintf("confirmed %s action of step %q", ps.Kind, cur.Title)
		}
		cur.Status, cur.By, cur.At = StepRunning, c.actor, c.now
		return c.add(Entry{Kind: EntryAction, Step: stepID, Text: text,
			Data: map[string]string{"phase": "started", "kind": ps.Kind}})
	})
}

// ActionResult is what one run of an automated step did, for FinishAction.
type ActionResult struct {
	// Kind is the step's kind (http, command, probe).
	Kind string
	// OK is the action's own verdict.
	OK bool
	// Finishes is set when the step is done even though OK is false: a
	// probe that fails has still validated the outage.
	Finishes bool
	// Summary is one line for the timeline and the step's done note;
	// Output what the action answered (redacted), kept in the entry.
	Summary, Output string
}

// FinishAction records the result of a run StartAction began and ends the
// run, in one transaction: the action entry, then the step done (note:
// the summary) when the result finishes it, or the step back to pending
// when the action failed, so Run again works. A step finished by hand
// while it ran, or an incident resolved meanwhile, keeps its state: the
// result is only recorded. Whether the step was finished here shows as an
// EntryStepDone among the outcome's entries.
func (s *Service) FinishAction(ctx context.Context, o Origin, n uint64, stepID string, r ActionResult) (Outcome, error) {
	summary := Truncate(strings.TrimSpace(r.Summary), MaxTextLen)
	data := map[string]string{"phase": "finished", "kind": r.Kind, "ok": strconv.FormatBool(r.OK)}
	if r.Output != "" {
		data["output"] = Truncate(r.Output, MaxTextLen)
	}
	return s.apply(ctx, o, n, "finish action", func(c *change) error {
		inc := c.inc
		st := inc.Step(stepID)
		if st == nil {
			return Refuse(ErrNoSuchStep, TextNoAction, stepID, n)
		}
		if err := c.add(Entry{Kind: EntryAction, Step: stepID, Text: Truncate(st.Title+": "+summary, MaxTextLen), Data: data}); err != nil {
			return err
		}
		if st.Status.Finished() {
			return nil // done or skipped by hand while it ran
		}
		if (r.OK || r.Finishes) && inc.Status.Open() {
			return c.finishStep(stepID, StepDone, summary)
		}
		st.Status, st.By, st.At = StepPending, Actor{}, time.Time{}
		return nil
	})
}

// InterruptAction ends a run that will never finish — Firebreak stopped
// or lost its leadership while the action ran (see package automation) —
// so the step is pending again and its Run button works. since is the
// run's start (the step's At when it was found running): a run that ended
// or started anew meanwhile is left alone, and the outcome has no entries.
func (s *Service) InterruptAction(ctx context.Context, o Origin, n uint64, stepID string, since time.Time) (Outcome, error) {
	return s.apply(ctx, o, n, "interrupt action", func(c *change) error {
		st := c.inc.Step(stepID)
		if st == nil || st.Status != StepRunning || !st.At.Equal(since) {
			return nil
		}
		started := st.At
		st.Status, st.By, st.At = StepPending, Actor{}, time.Time{}
		return c.add(Entry{Kind: EntryAction, Step: stepID,
			Text: fmt.Sprintf("the run of step %q started at %s was interrupted by a restart; run it again", st.Title, at(started)),
			Data: map[string]string{"phase": "interrupted", "started": started.UTC().Format(time.RFC3339Nano)}})
	})
}

// RunningStep is a step found running by RunningSteps.
type RunningStep struct {
	Incident *Incident
	Step     StepState
}

// RunningSteps lists the steps of open incidents whose action is running
// according to the store, for automation to find runs a crash or a
// failover cut short.
func (s *Service) RunningSteps(ctx context.Context) ([]RunningStep, error) {
	open, err := s.List(ctx, ListQuery{OpenOnly: true})
	if err != nil {
		return nil, err
	}
	var running []RunningStep
	for _, inc := range open {
		for _, st := range inc.Steps {
			if st.Status == StepRunning {
				running = append(running, RunningStep{Incident: inc, Step: st})
			}
		}
	}
	return running, nil
}

// MoveHome gives incident n a home of its own — the dedicated channel or
// thread a chat adapter created for it — and keeps the previous home as
// Mirror. Moving to the home it already has changes nothing.
func (s *Service) MoveHome(ctx context.Context, o Origin, n uint64, home Home, name string) (Outcome, error) {
	if home.IsZero() {
		return Outcome{}, fmt.Errorf("incident #%d: the new home names no channel: %w", n, ErrEmpty)
	}
	return s.apply(ctx, o, n, "move home", func(c *change) error {
		inc := c.inc
		if inc.Home == home {
			return nil
		}
		if inc.Mirror.IsZero() {
			inc.Mirror = inc.Home
		}
		inc.Home = home
		if name == "" {
			name = home.Channel
		}
		return c.add(Entry{Kind: EntryChannel, Text: fmt.Sprintf("incident channel %s opened on %s", name, home.Platform),
			Data: map[string]string{"platform": home.Platform, "channel": home.Channel, "thread": home.Thread, "name": name}})
	})
}
