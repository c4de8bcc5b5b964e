package incidents

import (
	"context"
	"errors"
	"io"
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
	Actor   Actor
	Home    Home
	EventID string
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
}

// NewService wires a Service to its store and playbooks.
func NewService(store Store, books *playbooks.Config, opts ...Option) *Service {
	s := &Service{store: store, books: books, now: time.Now, log: slog.Default()}
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

var errTODO = errors.New("not implemented yet")

// ReceiveAlert records an alert: it opens an incident (choosing the
// playbook by the configured match rules) unless the alert's fingerprint is
// grouped into an open one, in which case the repeat is counted on that
// incident's timeline. A resolved alert marks its incident mitigated once
// every alert in it has resolved. o.Home becomes the home of a new incident.
func (s *Service) ReceiveAlert(ctx context.Context, o Origin, a Alert) (Outcome, error) {
	return Outcome{}, errTODO
}

// ReceiveAlerts records a batch of alerts (one webhook payload) in ONE
// transaction, each exactly as ReceiveAlert would, in order: later alerts see
// the incidents earlier ones opened. o.EventID dedupes the whole batch. The
// outcomes are in the order of alerts.
func (s *Service) ReceiveAlerts(ctx context.Context, o Origin, alerts []Alert) ([]Outcome, error) {
	return nil, errTODO
}

// Declare opens an incident by hand. sev may be SevUnknown (the playbook's
// default, else SEV3).
func (s *Service) Declare(ctx context.Context, o Origin, title string, sev Severity) (Outcome, error) {
	return Outcome{}, errTODO
}

// Acknowledge moves a triggered incident to acknowledged and adds the actor
// as a responder (commander too, if none yet).
func (s *Service) Acknowledge(ctx context.Context, o Origin, n uint64) (Outcome, error) {
	return Outcome{}, errTODO
}

// StepDone marks a step done. stepID "" means the current step; a button
// passes the id it was drawn for, so a second press of the same button is an
// ErrInvalidTransition instead of finishing the next step too.
func (s *Service) StepDone(ctx context.Context, o Origin, n uint64, stepID, note string) (Outcome, error) {
	return Outcome{}, errTODO
}

// StepSkip skips a step with a reason (required). stepID as in StepDone.
func (s *Service) StepSkip(ctx context.Context, o Origin, n uint64, stepID, reason string) (Outcome, error) {
	return Outcome{}, errTODO
}

// AddNote puts free text on the timeline.
func (s *Service) AddNote(ctx context.Context, o Origin, n uint64, text string) (Outcome, error) {
	return Outcome{}, errTODO
}

// AddFollowUp records an action item for the postmortem.
func (s *Service) AddFollowUp(ctx context.Context, o Origin, n uint64, text string) (Outcome, error) {
	return Outcome{}, errTODO
}

// AssignRole gives role to who.
func (s *Service) AssignRole(ctx context.Context, o Origin, n uint64, role Role, who Actor) (Outcome, error) {
	return Outcome{}, errTODO
}

// SetSeverity changes the severity (open incidents only).
func (s *Service) SetSeverity(ctx context.Context, o Origin, n uint64, sev Severity) (Outcome, error) {
	return Outcome{}, errTODO
}

// PostUpdate records a status update for stakeholders.
func (s *Service) PostUpdate(ctx context.Context, o Origin, n uint64, text string) (Outcome, error) {
	return Outcome{}, errTODO
}

// Mitigate marks the impact as stopped (root cause may remain).
func (s *Service) Mitigate(ctx context.Context, o Origin, n uint64) (Outcome, error) {
	return Outcome{}, errTODO
}

// Resolve closes the incident with an optional summary. Resolving a resolved
// incident is ErrInvalidTransition.
func (s *Service) Resolve(ctx context.Context, o Origin, n uint64, summary string) (Outcome, error) {
	return Outcome{}, errTODO
}

// Pin adds a chat message to the timeline (reaction emoji).
func (s *Service) Pin(ctx context.Context, o Origin, n uint64, author Actor, text, permalink string) (Outcome, error) {
	return Outcome{}, errTODO
}

// Record appends an entry that automation produced (action output,
// escalation, refusal), in one transaction with any timer changes.
func (s *Service) Record(ctx context.Context, o Origin, n uint64, e Entry) (Outcome, error) {
	return Outcome{}, errTODO
}

// Get loads one incident.
func (s *Service) Get(ctx context.Context, n uint64) (*Incident, error) {
	return nil, errTODO
}

// Implied resolves the incident a command means when it names none: the most
// recent incident whose home is h. ErrNoIncident when there is none.
func (s *Service) Implied(ctx context.Context, h Home) (uint64, error) {
	return 0, errTODO
}

// List returns incidents newest first.
func (s *Service) List(ctx context.Context, q ListQuery) ([]*Incident, error) {
	return nil, errTODO
}

// Timeline streams incident n's entries in order from one read transaction.
func (s *Service) Timeline(ctx context.Context, n uint64, fn func(Entry) error) error {
	return errTODO
}

// Postmortem writes the Markdown postmortem of incident n to w, streaming the
// timeline from one read transaction. The template is the embedded default
// unless the playbooks configuration names another.
func (s *Service) Postmortem(ctx context.Context, n uint64, w io.Writer) error {
	return errTODO
}
