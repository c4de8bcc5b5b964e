package incidents

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/playbooks"
)

// Timer key prefixes. Keys are stored, so never change one.
const (
	// TimerEscalate + "<round>/<level>": page the next escalation level
	// while the incident is still unacknowledged.
	TimerEscalate = "escalate/"
	// TimerStepReminder + step id: the step has been open for its timeout.
	TimerStepReminder = "remind/step/"
	// TimerUpdateReminder: the next status update is due.
	TimerUpdateReminder = "remind/update"
)

// Fired is a timer that came due and was recorded on the timeline; the bot
// turns it into a chat message (and notifications) in the incident's home.
type Fired struct {
	Timer    Timer
	Incident *Incident
	Entry    Entry
	// Level is the escalation level being paged (escalations only).
	Level *playbooks.EscalationLevel
}

// Escalation reports whether the timer was an escalation.
func (f Fired) Escalation() bool { return strings.HasPrefix(f.Timer.Key, TimerEscalate) }

// scheduleEscalation puts the timers of the incident's escalation policy,
// relative to from: each level at from+After, the whole policy Repeat more
// times, each round starting when the previous one's last level fired.
func (s *Service) scheduleEscalation(tx Tx, inc *Incident, from time.Time) error {
	if s.books == nil {
		return nil
	}
	pol := s.books.EscalationFor(s.books.Playbook(inc.Playbook), inc.Severity.String())
	if pol == nil || len(pol.Levels) == 0 {
		return nil
	}
	round := pol.Levels[len(pol.Levels)-1].After.D()
	for r := 0; r <= pol.Repeat; r++ {
		for i, l := range pol.Levels {
			t := Timer{
				Due:      from.Add(time.Duration(r)*round + l.After.D()),
				Incident: inc.Number,
				Key:      fmt.Sprintf("%s%d/%d", TimerEscalate, r, i),
				Data:     map[string]string{"level": strconv.Itoa(i + 1), "round": strconv.Itoa(r + 1)},
			}
			if err := tx.PutTimer(t); err != nil {
				return fmt.Errorf("schedule escalation of incident #%d: %w", inc.Number, err)
			}
		}
	}
	return nil
}

// scheduleStepReminder puts a reminder for the current step when its
// playbook step has a timeout and a human is meant to do it.
func (s *Service) scheduleStepReminder(tx Tx, inc *Incident, now time.Time) error {
	cur := inc.CurrentStep()
	if cur == nil || s.books == nil {
		return nil
	}
	pb := s.books.Playbook(inc.Playbook)
	if pb == nil {
		return nil
	}
	i := pb.StepIndex(cur.ID)
	if i < 0 {
		return nil
	}
	st := pb.Steps[i]
	if st.Timeout <= 0 || (st.Kind != playbooks.KindManual && st.Kind != playbooks.KindChecklist && st.Kind != playbooks.KindStatusUpdate) {
		return nil
	}
	t := Timer{Due: now.Add(st.Timeout.D()), Incident: inc.Number, Key: TimerStepReminder + cur.ID,
		Data: map[string]string{"step": cur.ID, "title": cur.Title, "after": st.Timeout.D().String()}}
	if err := tx.PutTimer(t); err != nil {
		return fmt.Errorf("schedule a reminder for step %s of incident #%d: %w", cur.ID, inc.Number, err)
	}
	return nil
}

// scheduleUpdateReminder replaces the incident's "next status update due"
// reminder.
func (s *Service) scheduleUpdateReminder(tx Tx, inc *Incident, now time.Time) error {
	if s.books == nil || s.books.Incidents.UpdateInterval <= 0 {
		return nil
	}
	if err := tx.DeleteTimers(inc.Number, TimerUpdateReminder); err != nil {
		return fmt.Errorf("reschedule the update reminder of incident #%d: %w", inc.Number, err)
	}
	every := s.books.Incidents.UpdateInterval.D()
	t := Timer{Due: now.Add(every), Incident: inc.Number, Key: TimerUpdateReminder, Data: map[string]string{"every": every.String()}}
	if err := tx.PutTimer(t); err != nil {
		return fmt.Errorf("schedule the update reminder of incident #%d: %w", inc.Number, err)
	}
	return nil
}

// NextDue is when the earliest stored timer is due; ok is false when none is.
func (s *Service) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due time.Time
	var ok bool
	errFound := errors.New("found")
	err := s.store.View(ctx, func(tx ReadTx) error {
		err := tx.DueTimers(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), func(t Timer) error {
			due, ok = t.Due, true
			return errFound
		})
		if errors.Is(err, errFound) {
			return nil
		}
		return err
	})
	return due, ok, err
}

// FireDue takes every timer due by now (at most limit), deletes it and
// records it on its incident's timeline, all in one transaction, and
// returns them for the bot to announce. A timer whose reason has passed —
// an escalation of an incident someone acknowledged meanwhile, a reminder
// for a step already done — is dropped without an entry. Because firing
// deletes the timer in the same transaction that records it, a timer fires
// once even across crashes and restarts; one that came due while Firebreak
// was down fires at the first call after start.
func (s *Service) FireDue(ctx context.Context, limit int) ([]Fired, error) {
	return s.FireDueWith(ctx, limit, nil)
}

// FireDueWith is FireDue that also records what each fired timer makes
// Firebreak say (the escalation notice, the reminder) in the same
// transaction that fires it, so a timer that fired is announced even if
// the process dies right after. effects runs inside the transaction, may
// run more than once and must not touch the store (see EffectsFunc).
func (s *Service) FireDueWith(ctx context.Context, limit int, effects func(Fired) ([]Effect, error)) ([]Fired, error) {
	if limit <= 0 {
		limit = 100
	}
	now := s.now()
	var fired []Fired
	err := s.store.Update(ctx, func(tx Tx) error {
		fired = fired[:0]
		var due []Timer
		errEnough := errors.New("enough")
		err := tx.DueTimers(now, func(t Timer) error {
			due = append(due, t)
			if len(due) >= limit {
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return fmt.Errorf("read due timers: %w", err)
		}
		for _, t := range due {
			if err := tx.DeleteTimer(t); err != nil {
				return fmt.Errorf("delete timer %s of incident #%d: %w", t.Key, t.Incident, err)
			}
			inc, err := tx.Incident(t.Incident)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			f, ok := s.fire(t, inc, now)
			if !ok {
				continue
			}
			c := &change{s: s, tx: tx, inc: inc, now: now, actor: Bot, out: &Outcome{}}
			if err := c.add(f.Entry); err != nil {
				return err
			}
			f.Entry = c.out.Entries[0]
			if t.Key == TimerUpdateReminder {
				// Remind again an interval later while nobody posts.
				if err := s.scheduleUpdateReminder(tx, inc, now); err != nil {
					return err
				}
			}
			inc.UpdatedAt = now
			if err := tx.PutIncident(inc); err != nil {
				return fmt.Errorf("save incident #%d: %w", inc.Number, err)
			}
			f.Incident = inc
			fired = append(fired, f)
			if effects != nil {
				say, err := effects(f)
				if err != nil {
					return fmt.Errorf("say timer %s of incident #%d: %w", t.Key, t.Incident, err)
				}
				if err := enqueue(tx, say, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range fired {
		s.log.InfoContext(ctx, "timer fired", "incident", f.Incident.Number, "timer", f.Timer.Key, "late", now.Sub(f.Timer.Due).Round(time.Second))
	}
	return fired, nil
}

// fire decides what a due timer means now; ok is false when it no longer
// applies.
func (s *Service) fire(t Timer, inc *Incident, now time.Time) (Fired, bool) {
	f := Fired{Timer: t}
	switch {
	case strings.HasPrefix(t.Key, TimerEscalate):
		if inc.Status != StatusTriggered {
			return f, false
		}
		level, _ := strconv.Atoi(t.Data["level"])
		pol := s.books.EscalationFor(s.books.Playbook(inc.Playbook), inc.Severity.String())
		if pol == nil || level < 1 || level > len(pol.Levels) {
			return f, false
		}
		l := pol.Levels[level-1]
		f.Level = &l
		who := strings.Join(append(append([]string{}, l.Notify...), l.Notifiers...), ", ")
		f.Entry = Entry{Kind: EntryEscalation,
			Text: fmt.Sprintf("not acknowledged after %s: escalated to level %d (%s)", humanDuration(now.Sub(inc.OpenedAt)), level, who),
			Data: map[string]string{"level": t.Data["level"], "round": t.Data["round"], "notify": who}}
	case strings.HasPrefix(t.Key, TimerStepReminder):
		step := inc.Step(t.Data["step"])
		if !inc.Status.Open() || step == nil || step.Status.Finished() {
			return f, false
		}
		f.Entry = Entry{Kind: EntryEscalation, Step: step.ID,
			Text: fmt.Sprintf("reminder: step %q has been open for %s", step.Title, t.Data["after"]),
			Data: map[string]string{"reminder": "step"}}
	case t.Key == TimerUpdateReminder:
		if inc.Status == StatusResolved {
			return f, false
		}
		f.Entry = Entry{Kind: EntryEscalation, Text: "reminder: a status update is due", Data: map[string]string{"reminder": "update"}}
	default:
		return f, false
	}
	return f, true
}
