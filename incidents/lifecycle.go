package incidents

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/firebreak/firebreak/playbooks"
)

// Declare opens an incident by hand. sev may be SevUnknown (the playbook's
// default, else SEV3).
//
// The declarer becomes the commander until they hand over, and the playbook
// is chosen by the match rules as if the title were an alert's text.
func (s *Service) Declare(ctx context.Context, o Origin, title string, sev Severity) (Outcome, error) {
	title = strings.TrimSpace(title)
	switch l := utf8.RuneCountInString(title); {
	case l == 0:
		return Outcome{}, Refuse(ErrEmpty, TextNeedsTitle)
	case l > MaxTitleLen:
		return Outcome{}, Refuse(ErrTooLong, TextTitleTooLong, l, MaxTitleLen)
	case strings.ContainsAny(title, "\r\n"):
		title = strings.Join(strings.Fields(title), " ")
	}
	if sev != SevUnknown && sevName(sev) == "" {
		return Outcome{}, Refuse(ErrBadSeverity, TextNotASeverity, strconv.Itoa(int(sev)))
	}
	pb := s.match(matchInput("", title, "", sev, nil))
	now := s.now()
	var out Outcome
	err := s.store.Update(ctx, func(tx Tx) error {
		out = Outcome{}
		dup, err := markSeen(tx, o, now)
		if err != nil || dup {
			out.Duplicate = dup
			return err
		}
		inc := s.newIncident(pb, now, o.Home, title, sev)
		inc.DeclaredBy = o.Actor
		if !o.Actor.IsZero() {
			commander := o.Actor
			inc.Commander = &commander
		}
		addParticipant(inc, o.Actor)
		if err := tx.CreateIncident(inc); err != nil {
			return fmt.Errorf("declare %q: %w", title, err)
		}
		// A declared incident has its commander already, so it does not
		// escalate; its steps still remind.
		if err := s.scheduleStepReminder(tx, inc, now); err != nil {
			return err
		}
		c := &change{s: s, tx: tx, inc: inc, now: now, actor: o.Actor, out: &out}
		data := map[string]string{"severity": inc.Severity.String()}
		if inc.Playbook != "" {
			data["playbook"] = inc.Playbook
		}
		if err := c.add(Entry{Kind: EntryDeclared, Text: title, Data: data}); err != nil {
			return err
		}
		if err := tx.PutIncident(inc); err != nil {
			return fmt.Errorf("save incident #%d: %w", inc.Number, err)
		}
		out.Incident = inc
		out.Created = true
		out.StepChanged = len(inc.Steps) > 0
		return recordEffects(tx, o, []Outcome{out}, now)
	})
	if err != nil {
		return Outcome{}, err
	}
	s.logOutcome(ctx, "declare", o, out)
	return out, nil
}

// Acknowledge moves a triggered incident to acknowledged and adds the actor
// as a responder (commander too, if none yet).
//
// An incident Firebreak mitigated by itself (every alert resolved) before
// anyone acknowledged it may still be acknowledged; it stays mitigated.
func (s *Service) Acknowledge(ctx context.Context, o Origin, n uint64) (Outcome, error) {
	return s.apply(ctx, o, n, "acknowledge", func(c *change) error {
		inc := c.inc
		switch {
		case inc.Status == StatusResolved:
			return errResolved(inc)
		case inc.Status != StatusTriggered && !inc.AcknowledgedAt.IsZero():
			if inc.AcknowledgedBy.Same(c.actor) {
				return Refuse(ErrInvalidTransition, TextYouAlreadyAcked, n, at(inc.AcknowledgedAt))
			}
			return Refuse(ErrInvalidTransition, TextAlreadyAcked, n, inc.AcknowledgedBy, at(inc.AcknowledgedAt))
		}
		if inc.Status == StatusTriggered {
			inc.Status = StatusAcknowledged
		}
		text := "acknowledged"
		if c.acknowledge() {
			text = "acknowledged and took command"
		}
		if err := c.stopEscalation(); err != nil {
			return err
		}
		return c.add(Entry{Kind: EntryAcknowledged, Text: text})
	})
}

// acknowledge records who is on the incident; it reports whether the actor
// also became commander because there was none.
func (c *change) acknowledge() bool {
	inc := c.inc
	inc.AcknowledgedAt = c.now
	inc.AcknowledgedBy = c.actor
	if c.actor.IsZero() {
		return false
	}
	addResponder(inc, c.actor)
	if inc.Commander == nil {
		commander := c.actor
		inc.Commander = &commander
		return true
	}
	return false
}

// stopEscalation drops pending escalation timers: someone is on it.
func (c *change) stopEscalation() error {
	if err := c.tx.DeleteTimers(c.inc.Number, "escalate/"); err != nil {
		return fmt.Errorf("cancel the escalation of incident #%d: %w", c.inc.Number, err)
	}
	return nil
}

func addResponder(inc *Incident, a Actor) bool {
	for _, r := range inc.Responders {
		if r.Same(a) {
			return false
		}
	}
	inc.Responders = append(inc.Responders, a)
	return true
}

func errResolved(inc *Incident) error {
	return Refuse(ErrInvalidTransition, TextAlreadyResolved, inc.Number, inc.ResolvedBy, at(inc.ResolvedAt))
}

// StepDone marks a step done. stepID "" means the current step; a button
// passes the id it was drawn for, so a second press of the same button is an
// ErrInvalidTransition instead of finishing the next step too.
func (s *Service) StepDone(ctx context.Context, o Origin, n uint64, stepID, note string) (Outcome, error) {
	note, err := cleanText(n, "the note", note, false, MaxTextLen)
	if err != nil {
		return Outcome{}, err
	}
	return s.apply(ctx, o, n, "step done", func(c *change) error {
		return c.finishStep(strings.TrimSpace(stepID), StepDone, note)
	})
}

// StepSkip skips a step with a reason (required). stepID as in StepDone.
func (s *Service) StepSkip(ctx context.Context, o Origin, n uint64, stepID, reason string) (Outcome, error) {
	reason, err := cleanText(n, "the reason for skipping a step", reason, true, MaxTextLen)
	if err != nil {
		return Outcome{}, err
	}
	return s.apply(ctx, o, n, "step skip", func(c *change) error {
		return c.finishStep(strings.TrimSpace(stepID), StepSkipped, reason)
	})
}

// finishStep marks one step done or skipped and moves Current to the first
// step not finished, so steps finished out of order are never revisited. A
// running step may be finished by hand: its action's result, when it comes,
// is recorded without finishing it again (FinishAction).
func (c *change) finishStep(stepID string, status StepStatus, note string) error {
	inc := c.inc
	if inc.Status == StatusResolved {
		return errResolved(inc)
	}
	if len(inc.Steps) == 0 {
		return Refuse(ErrNoSuchStep, TextNoSteps, inc.Number)
	}
	var st *StepState
	if stepID == "" {
		if st = inc.CurrentStep(); st == nil {
			return Refuse(ErrInvalidTransition, TextAllStepsFinished, inc.Number)
		}
	} else {
		if st = inc.Step(stepID); st == nil {
			ids := make([]string, len(inc.Steps))
			for i, s := range inc.Steps {
				ids[i] = s.ID
			}
			return Refuse(ErrNoSuchStep, TextNoSuchStep, inc.Number, stepID, strings.Join(ids, ", "))
		}
		if st.Status.Finished() {
			return Refuse(ErrInvalidTransition, TextStepAlready, st.ID, inc.Number, st.Status, st.By, at(st.At))
		}
	}
	st.Status, st.By, st.At, st.Note = status, c.actor, c.now, note
	id, title := st.ID, st.Title // st points into Steps; keep what the entry needs

	before := inc.Current
	inc.Current = len(inc.Steps)
	for i := range inc.Steps {
		if !inc.Steps[i].Status.Finished() {
			inc.Current = i
			break
		}
	}
	c.out.StepChanged = inc.Current != before
	if err := c.tx.DeleteTimers(inc.Number, TimerStepReminder+id); err != nil {
		return fmt.Errorf("cancel the reminder for step %s of incident #%d: %w", id, inc.Number, err)
	}
	if c.out.StepChanged {
		if err := c.s.scheduleStepReminder(c.tx, inc, c.now); err != nil {
			return err
		}
	}

	e := Entry{Kind: EntryStepDone, Step: id, Data: map[string]string{"title": title}}
	text := fmt.Sprintf("step %q done", title)
	if status == StepSkipped {
		e.Kind = EntryStepSkipped
		text = fmt.Sprintf("step %q skipped", title)
		e.Data["reason"] = note
	} else if note != "" {
		e.Data["note"] = note
	}
	if note != "" {
		text += ": " + note
	}
	e.Text = text
	return c.add(e)
}

// AddNote puts free text on the timeline. Notes are welcome after the
// incident resolved: postmortem work goes on.
func (s *Service) AddNote(ctx context.Context, o Origin, n uint64, text string) (Outcome, error) {
	text, err := cleanText(n, "the note", text, true, MaxTextLen)
	if err != nil {
		return Outcome{}, err
	}
	return s.apply(ctx, o, n, "note", func(c *change) error {
		return c.add(Entry{Kind: EntryNote, Text: text})
	})
}

// AddFollowUp records an action item for the postmortem, also after the
// incident resolved.
func (s *Service) AddFollowUp(ctx context.Context, o Origin, n uint64, text string) (Outcome, error) {
	text, err := cleanText(n, "the follow-up", text, true, MaxTextLen)
	if err != nil {
		return Outcome{}, err
	}
	return s.apply(ctx, o, n, "follow-up", func(c *change) error {
		return c.add(Entry{Kind: EntryFollowUp, Text: text})
	})
}

// AssignRole gives role to who. Commander and comms are single roles: the
// new holder replaces the old one. Responders accumulate.
func (s *Service) AssignRole(ctx context.Context, o Origin, n uint64, role Role, who Actor) (Outcome, error) {
	if who.IsZero() {
		return Outcome{}, Refuse(ErrEmpty, TextWhoGetsRole, role, n)
	}
	if role != RoleCommander && role != RoleComms && role != RoleResponder {
		return Outcome{}, fmt.Errorf("incident #%d: unknown role %q (want commander, comms or responder)", n, role)
	}
	return s.apply(ctx, o, n, "role", func(c *change) error {
		inc := c.inc
		if inc.Status == StatusResolved {
			return errResolved(inc)
		}
		data := map[string]string{"role": string(role), "new": who.String(), "new_id": who.ID}
		var text string
		if role == RoleResponder {
			if !addResponder(inc, who) {
				if who.Same(c.actor) {
					return Refuse(ErrInvalidTransition, TextYouAlreadyResponder, n)
				}
				return Refuse(ErrInvalidTransition, TextAlreadyResponder, who, n)
			}
			text = fmt.Sprintf("%s joined as responder", who)
		} else {
			holder := &inc.Commander
			if role == RoleComms {
				holder = &inc.Comms
			}
			old := *holder
			if old != nil && old.Same(who) {
				if who.Same(c.actor) {
					return Refuse(ErrInvalidTransition, TextYouAlreadyRole, role, n)
				}
				return Refuse(ErrInvalidTransition, TextAlreadyRole, who, role, n)
			}
			w := who
			*holder = &w
			text = fmt.Sprintf("%s is now %s", who, role)
			if old != nil {
				text = fmt.Sprintf("%s replaced %s as %s", who, old, role)
				data["old"], data["old_id"] = old.String(), old.ID
			}
		}
		// Whoever holds a role takes part, even before they act: the
		// postmortem's participants include the comms lead and a
		// commander named by someone else.
		addParticipant(inc, who)
		return c.add(Entry{Kind: EntryRole, Text: text, Data: data})
	})
}

// SetSeverity changes the severity (open incidents only).
func (s *Service) SetSeverity(ctx context.Context, o Origin, n uint64, sev Severity) (Outcome, error) {
	if sevName(sev) == "" {
		return Outcome{}, Refuse(ErrBadSeverity, TextNotASeverity, strconv.Itoa(int(sev)))
	}
	return s.apply(ctx, o, n, "severity", func(c *change) error {
		inc := c.inc
		if inc.Status == StatusResolved {
			return errResolved(inc)
		}
		if err := c.require(PermSeverity); err != nil {
			return err
		}
		if inc.Severity == sev {
			return Refuse(ErrInvalidTransition, TextAlreadySeverity, n, sev)
		}
		old := inc.Severity
		inc.Severity = sev
		// Nobody has answered an alert yet and the policy may differ by
		// severity: page by the new severity's policy, starting now.
		// (Declared incidents do not escalate: their declarer leads.)
		if inc.Status == StatusTriggered && inc.DeclaredBy.IsZero() {
			if err := c.tx.DeleteTimers(inc.Number, TimerEscalate); err != nil {
				return fmt.Errorf("reschedule the escalation of incident #%d: %w", n, err)
			}
			if err := s.scheduleEscalation(c.tx, inc, c.now); err != nil {
				return err
			}
		}
		return c.add(Entry{
			Kind: EntrySeverity,
			Text: fmt.Sprintf("severity %s → %s", old, sev),
			Data: map[string]string{"old": old.String(), "new": sev.String()},
		})
	})
}

// PostUpdate records a status update for stakeholders. When the current
// step is the playbook's status_update step, the update finishes it.
func (s *Service) PostUpdate(ctx context.Context, o Origin, n uint64, text string) (Outcome, error) {
	text, err := cleanText(n, "the status update", text, true, MaxTextLen)
	if err != nil {
		return Outcome{}, err
	}
	return s.apply(ctx, o, n, "status update", func(c *change) error {
		if c.inc.Status == StatusResolved {
			return errResolved(c.inc)
		}
		c.inc.LastUpdate = text
		if err := s.scheduleUpdateReminder(c.tx, c.inc, c.now); err != nil {
			return err
		}
		if err := c.add(Entry{Kind: EntryStatusUpdate, Text: text}); err != nil {
			return err
		}
		// An update is what a communicate step asks for: posting one
		// finishes it, whichever way it was posted.
		if ps := s.CurrentPlaybookStep(c.inc); ps != nil && ps.Kind == playbooks.KindStatusUpdate {
			return c.finishStep(ps.ID, StepDone, "status update posted")
		}
		return nil
	})
}

// Mitigate marks the impact as stopped (root cause may remain).
//
// Mitigating an incident nobody acknowledged acknowledges it too: whoever
// mitigated was on it.
func (s *Service) Mitigate(ctx context.Context, o Origin, n uint64) (Outcome, error) {
	return s.apply(ctx, o, n, "mitigate", func(c *change) error {
		inc := c.inc
		switch inc.Status {
		case StatusResolved:
			return errResolved(inc)
		case StatusMitigated:
			return Refuse(ErrInvalidTransition, TextAlreadyMitigated, n, inc.MitigatedBy, at(inc.MitigatedAt))
		}
		inc.Status = StatusMitigated
		inc.MitigatedAt, inc.MitigatedBy = c.now, c.actor
		e := Entry{Kind: EntryMitigated, Text: "mitigated"}
		if inc.AcknowledgedAt.IsZero() {
			c.acknowledge()
			e.Text = "mitigated (which acknowledges it too)"
			e.Data = map[string]string{"acknowledged": "true"}
		}
		if err := c.stopEscalation(); err != nil {
			return err
		}
		return c.add(e)
	})
}

// Resolve closes the incident with an optional summary. Resolving a resolved
// incident is ErrInvalidTransition.
//
// Resolving ungroups the incident's alert fingerprints, so the same alert
// firing later opens a new incident, and drops the incident's timers.
func (s *Service) Resolve(ctx context.Context, o Origin, n uint64, summary string) (Outcome, error) {
	summary, err := cleanText(n, "the summary", summary, false, MaxTextLen)
	if err != nil {
		return Outcome{}, err
	}
	return s.apply(ctx, o, n, "resolve", func(c *change) error {
		inc := c.inc
		if inc.Status == StatusResolved {
			return errResolved(inc)
		}
		if err := c.require(PermResolve); err != nil {
			return err
		}
		if inc.MitigatedAt.IsZero() {
			inc.MitigatedAt, inc.MitigatedBy = c.now, c.actor
		}
		inc.Status = StatusResolved
		inc.ResolvedAt, inc.ResolvedBy = c.now, c.actor
		if summary != "" {
			inc.Summary = summary
		}
		if err := ungroup(c.tx, inc); err != nil {
			return err
		}
		if err := c.tx.DeleteTimers(n, ""); err != nil {
			return fmt.Errorf("drop the timers of incident #%d: %w", n, err)
		}
		e := Entry{Kind: EntryResolved, Text: "resolved"}
		if summary != "" {
			e.Text = "resolved: " + summary
			e.Data = map[string]string{"summary": summary}
		}
		return c.add(e)
	})
}

// ungroup removes every index entry that still points at inc. Keys another
// incident has taken over since (a group key after its window) stay. It
// streams the incident's alert records, once, when the incident resolves.
func ungroup(tx Tx, inc *Incident) error {
	drop := func(k string) error {
		if k == "" {
			return nil
		}
		owner, ok, err := tx.OpenByFingerprint(k)
		if err != nil {
			return fmt.Errorf("ungroup alerts of incident #%d: %w", inc.Number, err)
		}
		if !ok || owner != inc.Number {
			return nil
		}
		if err := tx.ClearOpenFingerprint(k); err != nil {
			return fmt.Errorf("ungroup alerts of incident #%d: %w", inc.Number, err)
		}
		return nil
	}
	if err := tx.Alerts(inc.Number, func(a AlertState) error { return drop(a.Fingerprint) }); err != nil {
		return fmt.Errorf("ungroup alerts of incident #%d: %w", inc.Number, err)
	}
	for _, k := range []string{inc.Fingerprint, inc.GroupKey} {
		if err := drop(k); err != nil {
			return err
		}
	}
	return nil
}

// Pin adds a chat message to the timeline (reaction emoji). Pins are
// welcome after the incident resolved. Long messages are shortened rather
// than refused: the author did not write them for Firebreak.
func (s *Service) Pin(ctx context.Context, o Origin, n uint64, author Actor, text, permalink string) (Outcome, error) {
	text = Truncate(strings.TrimSpace(text), MaxTextLen)
	permalink = strings.TrimSpace(permalink)
	if text == "" && permalink == "" {
		return Outcome{}, Refuse(ErrEmpty, TextPinEmpty)
	}
	return s.apply(ctx, o, n, "pin", func(c *change) error {
		data := map[string]string{"author": author.String()}
		if author.ID != "" {
			data["author_id"] = author.ID
		}
		if permalink != "" {
			data["permalink"] = permalink
		}
		return c.add(Entry{Kind: EntryPinned, Text: text, Data: data})
	})
}

// Record appends an entry that automation produced (action output,
// escalation, refusal), in one transaction with any timer changes.
//
// e.Incident, e.Seq are set by Record; e.At defaults to now and e.Actor to
// Bot. Text and Data values longer than MaxTextLen are shortened, since
// automation output is not the user's to trim. Entries may be recorded on
// resolved incidents (a refused late command, say).
func (s *Service) Record(ctx context.Context, o Origin, n uint64, e Entry) (Outcome, error) {
	if strings.TrimSpace(string(e.Kind)) == "" {
		return Outcome{}, fmt.Errorf("incident #%d: a timeline entry needs a kind: %w", n, ErrEmpty)
	}
	e.Seq = 0
	e.Text = Truncate(strings.TrimSpace(e.Text), MaxTextLen)
	if e.Data != nil {
		data := make(map[string]string, len(e.Data))
		for k, v := range e.Data {
			data[k] = Truncate(v, MaxTextLen)
		}
		e.Data = data
	}
	if e.Actor.IsZero() {
		e.Actor = Bot
	}
	return s.apply(ctx, o, n, "record "+string(e.Kind), func(c *change) error {
		return c.add(e)
	})
}

// count renders n for Entry.Data.
func count(n int) string { return strconv.Itoa(n) }
