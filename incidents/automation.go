package incidents

import (
	"context"
	"fmt"

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
// says who set a rollback off even if Firebreak dies while it runs.
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
			if st := inc.Step(stepID); st != nil && st.Status != StepPending {
				return Refuse(ErrInvalidTransition, TextStepAlready, st.ID, n, st.Status, st.By, at(st.At))
			}
			return Refuse(ErrInvalidTransition, TextNotCurrentStep, stepID, n)
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
		return c.add(Entry{Kind: EntryAction, Step: stepID, Text: text,
			Data: map[string]string{"phase": "started", "kind": ps.Kind}})
	})
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
