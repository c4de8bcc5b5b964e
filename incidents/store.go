package incidents

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) when an incident does not exist.
var ErrNotFound = errors.New("no such incident")

// Store is the durable state Service needs. The storage package implements
// it on bbolt; tests may use anything that keeps the same guarantees.
//
// Guarantees an implementation must give:
//   - Update runs fn in one write transaction and has committed it durably
//     (fsync) before it returns nil. If fn returns an error, nothing fn wrote
//     is kept.
//   - fn may be called more than once (group commit may retry it alone), so
//     it must not have effects outside the transaction.
//   - Values handed to fn's callbacks are copies the caller may keep.
type Store interface {
	View(ctx context.Context, fn func(ReadTx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
}

// ReadTx is a consistent read-only view of the store.
type ReadTx interface {
	// Incident loads one incident; errors.Is(err, ErrNotFound) when absent.
	Incident(number uint64) (*Incident, error)
	// OpenByFingerprint finds the open incident an alert fingerprint is grouped into.
	OpenByFingerprint(fp string) (number uint64, ok bool, err error)
	// LatestInHome is the most recently opened incident whose home is
	// exactly h (platform, channel and thread), open or resolved: the
	// incident of a thread or of a channel of its own.
	LatestInHome(h Home) (number uint64, ok bool, err error)
	// InChannel streams the incidents homed in a channel or in any thread
	// of it, newest (highest number) first; with openOnly, only open ones.
	// Returning an error from fn stops it. Together with LatestInHome it is
	// how a bare command finds its incident (see Service.Implied).
	InChannel(platform, channel string, openOnly bool, fn func(number uint64) error) error
	// Entries streams the timeline of an incident in Seq order, starting
	// after Seq `after` (0 for the beginning). It holds no more than one
	// entry in memory at a time; returning an error from fn stops it.
	Entries(number uint64, after uint64, fn func(Entry) error) error
	// Incidents streams incidents newest first (highest number first),
	// stopping after limit (0 = no limit) or when fn returns an error.
	// With openOnly, resolved incidents are skipped.
	Incidents(openOnly bool, limit int, fn func(*Incident) error) error
	// DueTimers streams timers due at or before t, earliest first.
	DueTimers(t time.Time, fn func(Timer) error) error
	// Alert loads the state of one distinct alert of an incident; ok is
	// false when the incident holds no alert with that fingerprint.
	Alert(number uint64, fp string) (a AlertState, ok bool, err error)
	// Alerts streams every distinct alert of an incident, in fingerprint
	// order, holding no more than one in memory at a time; returning an
	// error from fn stops it. An incident without alerts streams nothing.
	Alerts(number uint64, fn func(AlertState) error) error
}

// Tx is a write transaction. Everything written through one Tx commits
// together or not at all.
type Tx interface {
	ReadTx
	// CreateIncident assigns the next incident number to inc and stores it.
	CreateIncident(inc *Incident) error
	// PutIncident overwrites a stored incident (and keeps the home index current).
	PutIncident(inc *Incident) error
	// AppendEntry assigns e.Seq (next in e.Incident's timeline) and stores e.
	AppendEntry(e *Entry) error
	// PutAlert stores the state of one distinct alert of incident number,
	// replacing the one with the same fingerprint. Its cost does not depend
	// on how many alerts the incident holds.
	PutAlert(number uint64, a AlertState) error
	// SetOpenFingerprint groups fingerprint fp into incident number.
	SetOpenFingerprint(fp string, number uint64) error
	// ClearOpenFingerprint ungroups fp (when its incident resolves).
	ClearOpenFingerprint(fp string) error
	// MarkSeen records a platform event id and reports whether it had
	// already been recorded, so redelivered events change nothing.
	MarkSeen(eventID string, at time.Time) (alreadySeen bool, err error)
	// PutTimer stores a timer; one with the same Due, Incident and Key replaces it.
	PutTimer(t Timer) error
	// DeleteTimer removes a timer; absent timers are not an error.
	DeleteTimer(t Timer) error
	// DeleteTimers removes every timer of an incident whose Key has the prefix.
	DeleteTimers(incident uint64, keyPrefix string) error
	// Enqueue records an effect (a post, card update, upload, page) in this
	// transaction, so it commits with the change that causes it or not at
	// all; it assigns e.ID, increasing in commit order. After the commit
	// the outbox worker is woken to deliver it.
	Enqueue(e *Effect) error
}

// Timer is work due later (escalations, reminders). Timers live in the
// store so that one due while Firebreak was down fires once at start-up.
type Timer struct {
	Due      time.Time `json:"due"`
	Incident uint64    `json:"incident"`
	// Key names the timer within the incident, e.g. "escalate/1" or
	// "remind/step/validate"; Kind-specific details go in Data.
	Key  string            `json:"key"`
	Data map[string]string `json:"data,omitempty"`
}
