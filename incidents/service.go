package incidents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/firebreak/firebreak/playbooks"
)

// Errors a user can cause. Service wraps them with the incident and step in
// question, so adapters can show err.Error() as is and tests can errors.Is.
var (
	ErrInvalidTransition = errors.New("not allowed in this state")
	ErrNoSuchStep        = errors.New("no such step")
	ErrNoIncident        = errors.New("no incident here")
	ErrEmpty             = errors.New("text is required")
	ErrTooLong           = errors.New("text is too long")
)

// MaxTextLen bounds any free text a user or alert puts on the timeline.
const MaxTextLen = 4000

// Origin says who asked for an intent, from where, and under which platform
// event id. A non-empty EventID is recorded in the same transaction as the
// change, so a redelivered event changes nothing and reports Duplicate.
type Origin struct {
	Actor Actor
	Home  Home
	// EventID is namespaced once, by whoever made it: "slack:msg:C1:1700.1",
	// "discord:int:42", "console:3", "webhook:alertmanager:key:k",
	// "probe:api:firing:1700…".
	EventID string
	// FormerEventID is the same event's id as Firebreak before issue 14
	// recorded it (namespaced twice: "slack:slack:msg:…",
	// "alertmanager:webhook:alertmanager:…"). An event whose former id was
	// seen is a redelivery too, so an upgrade does not apply an event twice
	// within the seen window. It only matters for DefaultSeenTTL (7 days)
	// after the upgrade; remove it one release later (docs/storage.md).
	FormerEventID string
	// Effects, when set, says what the intent's outcome makes Firebreak say
	// or do outside (see EffectsFunc): it is called inside the intent's
	// transaction, after the change, and what it returns is recorded there
	// with Tx.Enqueue, so the change and its posts commit together or not
	// at all. It is not called for a redelivered event (Duplicate) or a
	// refusal. outs holds one outcome, or one per alert for ReceiveAlerts.
	Effects EffectsFunc
}

// Outcome is what an intent did, for adapters to turn into chat messages.
type Outcome struct {
	// Incident is the state after the change (nil only for a Duplicate that
	// could not be loaded).
	Incident *Incident
	// Entries are the timeline entries the intent appended, in order.
	Entries []Entry
	// Created is set when the intent opened a new incident.
	Created bool
	// Duplicate is set when the event id had been seen: nothing changed.
	Duplicate bool
	// StepChanged is set when the current step moved (or the incident was
	// created with a playbook), so the new current step should be posted.
	StepChanged bool
	// Repeat is set when an alert was recorded on an already open incident.
	Repeat bool
	// AlertTitle is the title of the alert as this delivery sent it, so a
	// repeat summary quotes what monitoring says now: repeats leave no
	// timeline entry to read it from.
	AlertTitle string
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces time.Now, for tests that drive time.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the structured logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// Service is the only place incident state changes. Every method that
// changes state is one user intent committed in one store transaction.
// It is safe for concurrent use.
type Service struct {
	store Store
	books *playbooks.Config
	now   func() time.Time
	log   *slog.Logger
	// repeats tells ReceiveAlerts which alerts are likely repeats.
	repeats *repeatHint
}

// NewService wires a Service to its store and playbooks.
func NewService(store Store, books *playbooks.Config, opts ...Option) *Service {
	s := &Service{store: store, books: books, now: time.Now, log: slog.Default(), repeats: newRepeatHint()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Playbooks returns the configuration the service was built with.
func (s *Service) Playbooks() *playbooks.Config { return s.books }

// ListQuery filters List.
type ListQuery struct {
	OpenOnly bool
	Limit    int // 0 = all
}

// Get loads one incident.
func (s *Service) Get(ctx context.Context, n uint64) (*Incident, error) {
	var inc *Incident
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		inc, err = loadIncident(tx, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// List returns incidents newest first.
func (s *Service) List(ctx context.Context, q ListQuery) ([]*Incident, error) {
	var list []*Incident
	err := s.store.View(ctx, func(tx ReadTx) error {
		return tx.Incidents(q.OpenOnly, q.Limit, func(inc *Incident) error {
			list = append(list, inc)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return list, nil
}

// Timeline streams incident n's entries in order from one read transaction.
// It stops early, with ctx's error, when ctx is cancelled.
func (s *Service) Timeline(ctx context.Context, n uint64, fn func(Entry) error) error {
	return s.store.View(ctx, func(tx ReadTx) error {
		if _, err := loadIncident(tx, n); err != nil {
			return err
		}
		var i int
		return tx.Entries(n, 0, func(e Entry) error {
			if i++; i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("timeline of incident #%d: %w", n, err)
				}
			}
			return fn(e)
		})
	})
}

// userError carries a sentence meant for chat as it is, while errors.Is
// still finds the sentinel behind it.
type userError struct {
	msg string
	err error
}

func (e userError) Error() string { return e.msg }
func (e userError) Unwrap() error { return e.err }

// loadIncident reads incident n with an error a user can act on.
func loadIncident(tx ReadTx, n uint64) (*Incident, error) {
	inc, err := tx.Incident(n)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, Refuse(ErrNotFound, TextNoSuchIncident, n)
	case err != nil:
		return nil, fmt.Errorf("load incident #%d: %w", n, err)
	}
	return inc, nil
}

// change is one intent being applied inside a store transaction. The store
// may run the transaction function more than once, so a change is built
// anew on every run and touches nothing outside the transaction.
type change struct {
	s     *Service
	tx    Tx
	inc   *Incident
	now   time.Time
	actor Actor
	out   *Outcome
	// buf, when set, backs out.Entries: add appends the entry there and
	// gives the outcome a one-entry slice of it (see intake.add).
	buf *[]Entry
	// body, when set, is e's encoding by the store's Encoder, made before
	// the transaction (see EncodedTx); encoded is the Tx that takes it.
	body    []byte
	encoded EncodedTx
}

// add appends e to the incident's timeline and to the outcome, filling in
// what every entry carries.
func (c *change) add(e Entry) error {
	e.Incident = c.inc.Number
	if e.At.IsZero() {
		e.At = c.now
	}
	if e.Actor.IsZero() {
		e.Actor = c.actor
	}
	if e.Actor.IsZero() {
		e.Actor = Bot
	}
	// The entry goes to the outcome first and the store is given the
	// outcome's copy, which it numbers: handing the store &e made every
	// entry escape to the heap (one allocation per entry of a storm).
	slot, inBuf := c.slot(e)
	var err error
	if c.body != nil && c.encoded != nil {
		err = c.encoded.AppendEncodedEntry(slot, c.body)
	} else {
		err = c.tx.AppendEntry(slot)
	}
	if err != nil {
		if inBuf {
			*c.buf, c.out.Entries = (*c.buf)[:len(*c.buf)-1], nil
		} else {
			c.out.Entries = c.out.Entries[:len(c.out.Entries)-1]
		}
		return fmt.Errorf("record %s on the timeline of incident #%d: %w", e.Kind, e.Incident, err)
	}
	c.inc.Entries = max(c.inc.Entries, slot.Seq)
	return nil
}

// slot appends e to the outcome's entries (its first to a slot of c.buf,
// when there is one) and returns where it is, and whether that is c.buf's
// last slot.
func (c *change) slot(e Entry) (*Entry, bool) {
	if c.buf != nil && c.out.Entries == nil {
		*c.buf = append(*c.buf, e)
		n := len(*c.buf)
		c.out.Entries = (*c.buf)[n-1 : n : n]
		return &c.out.Entries[0], true
	}
	c.out.Entries = append(c.out.Entries, e)
	return &c.out.Entries[len(c.out.Entries)-1], false
}

// apply runs one intent on incident n in one store transaction: event-id
// dedup, load, fn (validate, change, append entries), save. It logs only
// after the transaction committed.
func (s *Service) apply(ctx context.Context, o Origin, n uint64, intent string, fn func(c *change) error) (Outcome, error) {
	now := s.now()
	var out Outcome
	var refused error
	err := s.store.Update(ctx, func(tx Tx) error {
		out, refused = Outcome{}, nil
		dup, err := markSeen(tx, o, now)
		if err != nil {
			return err
		}
		if dup {
			out.Duplicate = true
			if inc, err := tx.Incident(n); err == nil {
				out.Incident = inc
			}
			return nil
		}
		inc, err := loadIncident(tx, n)
		if err != nil {
			return err
		}
		c := &change{s: s, tx: tx, inc: inc, now: now, actor: o.Actor, out: &out}
		if err := fn(c); err != nil {
			var r *refusal
			if !errors.As(err, &r) {
				return err
			}
			// A refusal is part of the record: commit it, then report it.
			refused = err
			out = Outcome{}
			c = &change{s: s, tx: tx, inc: inc, now: now, actor: o.Actor, out: &out}
			return c.add(Entry{Kind: EntryRefused, Text: fmt.Sprintf("refused: %s may not %s #%d", o.Actor, permVerb(r.perm), n), Data: map[string]string{"permission": string(r.perm)}})
		}
		addParticipant(inc, o.Actor)
		inc.UpdatedAt = now
		if err := tx.PutIncident(inc); err != nil {
			return fmt.Errorf("save incident #%d: %w", n, err)
		}
		out.Incident = inc
		return recordEffects(tx, o, []Outcome{out}, now)
	})
	if err != nil {
		s.log.DebugContext(ctx, "intent refused", "intent", intent, "incident", n, "actor", o.Actor.String(), "event", o.EventID, "err", err)
		return Outcome{}, err
	}
	if refused != nil {
		s.log.WarnContext(ctx, "permission refused", "intent", intent, "incident", n, "actor", o.Actor.String())
		return out, refused
	}
	s.logOutcome(ctx, intent, o, out)
	return out, nil
}

// markSeen records o.EventID in tx; true means the event was handled before.
func markSeen(tx Tx, o Origin, now time.Time) (bool, error) {
	if o.EventID == "" {
		return false, nil
	}
	seen, err := tx.MarkSeen(o.EventID, now)
	if err != nil {
		return false, fmt.Errorf("record event %s: %w", o.EventID, err)
	}
	if seen || o.FormerEventID == "" {
		return seen, nil
	}
	// MarkSeen is the only way to ask, so the former id is recorded too:
	// one more small key per new event, dropped with the new one.
	seen, err = tx.MarkSeen(o.FormerEventID, now)
	if err != nil {
		return false, fmt.Errorf("record event %s: %w", o.FormerEventID, err)
	}
	return seen, nil
}

func (s *Service) logOutcome(ctx context.Context, intent string, o Origin, out Outcome) {
	if out.Duplicate {
		s.log.DebugContext(ctx, "redelivered event ignored", "intent", intent, "event", o.EventID)
		return
	}
	attrs := []any{"intent", intent, "actor", o.Actor.String()}
	if out.Incident != nil {
		attrs = append(attrs, "incident", out.Incident.Number, "status", out.Incident.Status)
	}
	if o.EventID != "" {
		attrs = append(attrs, "event", o.EventID)
	}
	s.log.InfoContext(ctx, "incident changed", attrs...)
}

// addParticipant remembers a person who acted; Firebreak itself and
// unknown actors are not participants.
func addParticipant(inc *Incident, a Actor) {
	if a.IsZero() || a.Same(Bot) {
		return
	}
	for _, p := range inc.Participants {
		if p.Same(a) {
			return
		}
	}
	inc.Participants = append(inc.Participants, a)
}
