// Package incidents is Firebreak's domain: what an incident is, how its state
// may change, and the durable timeline every change leaves behind.
//
// Service is the only place incident state changes. Each user intent
// (acknowledge, step done, resolve, …) is one method that validates the
// request, appends its timeline entries and commits both in one storage
// transaction, so a crash either keeps the whole intent or none of it.
// Nothing in this package knows about Slack, Discord or the console: adapters
// in bot/… translate at the edge.
package incidents

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Severity ranks an incident's impact. SEV1 is the worst; zero means unknown.
type Severity int

// Severities, worst first. The numbering follows the convention most
// on-call teams already use, so "SEV2" means the same here as in a pager.
const (
	SevUnknown Severity = 0
	SEV1       Severity = 1
	SEV2       Severity = 2
	SEV3       Severity = 3
	SEV4       Severity = 4
)

// String renders the severity as "SEV1"…"SEV4", or "SEV?" when unknown.
func (s Severity) String() string {
	if s < SEV1 || s > SEV4 {
		return "SEV?"
	}
	// Constants, not built: every alert's timeline entry names one.
	return [...]string{"SEV1", "SEV2", "SEV3", "SEV4"}[s-SEV1]
}

// MarshalText stores severities by name so the database and the YAML read the same.
func (s Severity) MarshalText() ([]byte, error) {
	if s == SevUnknown {
		return []byte(""), nil
	}
	return []byte(s.String()), nil
}

// UnmarshalText accepts anything ParseSeverity accepts, and the empty string.
func (s *Severity) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = SevUnknown
		return nil
	}
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ErrBadSeverity is returned (wrapped) by ParseSeverity.
var ErrBadSeverity = errors.New("unknown severity")

// ParseSeverity reads "SEV1"…"SEV4" (any case, "sev-2" too), a bare digit
// 1–4, or the severity words monitoring systems put in alert labels:
// critical/page/emergency → SEV1, high/error/major → SEV2,
// warning/warn/medium/minor → SEV3, info/low/notice → SEV4.
func ParseSeverity(s string) (Severity, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(strings.TrimPrefix(t, "sev"), "-")
	switch t {
	case "1", "critical", "crit", "page", "emergency", "disaster", "p1":
		return SEV1, nil
	case "2", "high", "error", "err", "major", "p2":
		return SEV2, nil
	case "3", "warning", "warn", "medium", "minor", "average", "p3":
		return SEV3, nil
	case "4", "info", "informational", "low", "notice", "p4", "p5":
		return SEV4, nil
	}
	return SevUnknown, Refuse(ErrBadSeverity, TextNotASeverity, strings.TrimSpace(s))
}

// Status is where an incident is in its lifecycle.
//
// The lifecycle only moves forward: triggered → acknowledged → mitigated →
// resolved. Steps may be skipped (resolving a triggered incident is allowed),
// but a resolved incident is final; a flapping alert reopens an incident
// only while it is mitigated.
type Status string

// Lifecycle states.
const (
	StatusTriggered    Status = "triggered"
	StatusAcknowledged Status = "acknowledged"
	StatusMitigated    Status = "mitigated"
	StatusResolved     Status = "resolved"
)

// Open reports whether the incident still needs people (anything but resolved).
func (s Status) Open() bool { return s != StatusResolved }

// Actor is a person (or Firebreak itself) as the platform knows them.
type Actor struct {
	// Platform is "slack", "discord", "console", or "firebreak" for the bot.
	Platform string `json:"platform,omitempty"`
	// ID is the platform's stable user id (Slack U…, Discord snowflake).
	ID string `json:"id,omitempty"`
	// Name is the display name at the time of the event, for postmortems.
	Name string `json:"name,omitempty"`
}

// Bot is the actor recorded for what Firebreak does by itself.
var Bot = Actor{Platform: "firebreak", ID: "firebreak", Name: "Firebreak"}

// String prefers the display name, so postmortems read as people, not ids.
func (a Actor) String() string {
	switch {
	case a.Name != "":
		return a.Name
	case a.ID != "":
		return a.ID
	}
	return "someone"
}

// Home is where an incident lives in chat: escalations, reminders and
// mirrored updates are posted there.
type Home struct {
	Platform string `json:"platform,omitempty"`
	Channel  string `json:"channel,omitempty"`
	Thread   string `json:"thread,omitempty"`
}

// IsZero reports whether no home is set (incidents from webhooks start so).
func (h Home) IsZero() bool { return h.Platform == "" && h.Channel == "" }

// AlertStatus is what the monitoring system says about an alert.
type AlertStatus string

// Alert statuses.
const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// Alert is one alert from any source, after parsing. Every source
// (chat text, Alertmanager, Grafana, generic JSON, probes) produces this.
type Alert struct {
	Source      string            `json:"source,omitempty"` // "chat", "alertmanager", "grafana", "generic", "probe"
	Status      AlertStatus       `json:"status,omitempty"`
	Name        string            `json:"name,omitempty"`    // alertname
	Title       string            `json:"title,omitempty"`   // one line for humans
	Text        string            `json:"text,omitempty"`    // the rest, as received
	Service     string            `json:"service,omitempty"` // affected service, if known
	Severity    Severity          `json:"severity,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Fingerprint identifies "the same alert" across repeats. Sources that
	// have one (Alertmanager) set it; otherwise Service computes it with
	// Fingerprint.
	Fingerprint string    `json:"fingerprint,omitempty"`
	StartsAt    time.Time `json:"starts_at,omitzero"`
	EndsAt      time.Time `json:"ends_at,omitzero"`
	URL         string    `json:"url,omitempty"`
}

// StepStatus is the state of one playbook step within an incident.
type StepStatus string

// Step states.
const (
	StepPending StepStatus = "pending"
	// StepRunning is an automated step whose action is running: By
	// started it at At. The store, not a process, says so, so a second
	// Run press on any replica is refused while it runs, and a run cut
	// short by a crash or a failover is found and reported (see package
	// automation). Records written before it existed never hold it.
	StepRunning StepStatus = "running"
	StepDone    StepStatus = "done"
	StepSkipped StepStatus = "skipped"
)

// Finished reports whether a step is behind the incident: done or
// skipped. A running step is not finished: it stays the current step.
func (s StepStatus) Finished() bool { return s == StepDone || s == StepSkipped }

// StepState records one playbook step as the incident walked it.
type StepState struct {
	ID     string     `json:"id"`
	Title  string     `json:"title"`
	Status StepStatus `json:"status"`
	By     Actor      `json:"by,omitzero"`
	At     time.Time  `json:"at,omitzero"`
	// Note is the done note, or the reason a step was skipped.
	Note string `json:"note,omitempty"`
}

// AlertState is one distinct alert (one fingerprint) of an incident: what
// monitoring said about it and how often. Storage keeps one record per
// (incident, fingerprint), so a repeat rewrites one small record whatever
// the incident holds (see Tx.PutAlert); the incident record only counts them.
type AlertState struct {
	Fingerprint string `json:"fingerprint"`
	// Name is the alertname label (empty when the source has none, and for
	// alerts recorded before schema 3, which kept only Title).
	Name string `json:"name,omitempty"`
	// Title is the one line for humans, as the incident's title would be.
	Title string `json:"title,omitempty"`
	// Instance is what tells alerts of one group apart: the instance, pod
	// or host label, empty when there is none.
	Instance    string            `json:"instance,omitempty"`
	Source      string            `json:"source,omitempty"`
	URL         string            `json:"url,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Text is the latest text monitoring sent (bounded by MaxTextLen).
	Text string `json:"text,omitempty"`
	// StartsAt is when monitoring says this alert started (zero if unknown).
	StartsAt time.Time `json:"starts_at,omitzero"`
	Firing   bool      `json:"firing"`
	// Count is every time the alert was received, repeats included.
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// ResolvedAt is when monitoring last said it resolved (zero while firing).
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// Label returns "name / instance" (or the title), the way aggregate views
// name one alert of a group.
func (a AlertState) Label() string {
	name := a.Name
	if name == "" {
		name = a.Title
	}
	if name == "" {
		name = a.Fingerprint
	}
	if a.Instance != "" && !strings.Contains(name, a.Instance) {
		return name + " / " + a.Instance
	}
	return name
}

// cardView is a copy small enough to keep on the incident record.
func (a AlertState) cardView() AlertState {
	a.Labels, a.Annotations, a.Text = nil, nil, ""
	return a
}

// MaxCardAlerts is how many alerts the incident record keeps (in
// Incident.Alerts) for cards; the rest live only in per-alert records.
const MaxCardAlerts = 5

// Role is an incident role that can be assigned to a person.
type Role string

// Roles.
const (
	RoleCommander Role = "commander"
	RoleComms     Role = "comms"
	RoleResponder Role = "responder"
)

// ParseRole accepts the role names users type ("ic" and "lead" for commander).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "commander", "ic", "incident-commander", "lead":
		return RoleCommander, nil
	case "comms", "communications", "communication", "scribe":
		return RoleComms, nil
	case "responder", "responders":
		return RoleResponder, nil
	}
	return "", fmt.Errorf("unknown role %q (want commander, comms or responder)", s)
}

// Incident is the stored state of one incident. The timeline is stored
// separately (see Entry) so that an incident with 100,000 events still
// loads in one small read.
type Incident struct {
	Number   uint64   `json:"number"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	Status   Status   `json:"status"`
	Service  string   `json:"service,omitempty"`
	// Playbook is the id of the playbook chosen when the incident opened.
	Playbook string      `json:"playbook,omitempty"`
	Steps    []StepState `json:"steps,omitempty"`
	// Current is the index in Steps of the step responders are on;
	// len(Steps) once every step is done or skipped.
	Current int `json:"current"`

	Labels      map[string]string `json:"labels,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"` // of the alert that opened it
	// Trigger is the alert that opened the incident as monitoring sent it
	// (labels, annotations such as runbook_url and description, source URL,
	// its own start time), so cards and postmortems show what it said.
	// Zero for declared incidents.
	Trigger Alert `json:"trigger,omitzero"`
	// Alerts holds the first MaxCardAlerts distinct alerts (without labels,
	// annotations and text), kept current, for cards. Every distinct
	// alert has a record of its own: ReadTx.Alerts streams them and
	// SummarizeAlerts aggregates them.
	Alerts     []AlertState `json:"alerts,omitempty"`
	AlertCount int          `json:"alert_count"` // every alert received, repeats included
	// DistinctAlerts is how many distinct alerts (fingerprints) the
	// incident holds, FiringAlerts how many of them still fire.
	DistinctAlerts int `json:"distinct_alerts,omitempty"`
	FiringAlerts   int `json:"firing_alerts,omitempty"`
	// FirstAlertAt and LastAlertAt are when the first and the latest alert
	// was received (zero for incidents no alert reached).
	FirstAlertAt time.Time `json:"first_alert_at,omitzero"`
	LastAlertAt  time.Time `json:"last_alert_at,omitzero"`

	Home Home `json:"home,omitzero"`
	// Mirror is where the incident was announced before it moved to a
	// channel of its own (channel_per_incident): status updates and the
	// resolution are mirrored there, so the alert thread tells the story too.
	Mirror     Home    `json:"mirror,omitzero"`
	DeclaredBy Actor   `json:"declared_by,omitzero"`
	Commander  *Actor  `json:"commander,omitempty"`
	Comms      *Actor  `json:"comms,omitempty"`
	Responders []Actor `json:"responders,omitempty"`
	// Participants is everyone who did anything, kept here so a postmortem
	// does not have to scan the whole timeline to list them.
	Participants []Actor `json:"participants,omitempty"`

	// DetectedAt is when monitoring says the problem started (first alert's
	// startsAt), which may be before OpenedAt.
	DetectedAt     time.Time `json:"detected_at,omitzero"`
	OpenedAt       time.Time `json:"opened_at"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	MitigatedAt    time.Time `json:"mitigated_at,omitzero"`
	ResolvedAt     time.Time `json:"resolved_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at"`

	// AcknowledgedBy, MitigatedBy and ResolvedBy say who moved the incident
	// into each state, so "already acknowledged by Ana at 10:02" and the
	// postmortem need no timeline scan. Firebreak itself (Bot) mitigates
	// when every alert has resolved.
	AcknowledgedBy Actor `json:"acknowledged_by,omitzero"`
	MitigatedBy    Actor `json:"mitigated_by,omitzero"`
	ResolvedBy     Actor `json:"resolved_by,omitzero"`

	// GroupKey is the grouping key ("group:…", from the configured group_by
	// labels) this incident was opened under, empty when grouping is off.
	// It is indexed like a fingerprint while the incident is open; alerts of
	// the same group join only within the group window after OpenedAt.
	GroupKey string `json:"group_key,omitempty"`

	Summary    string `json:"summary,omitempty"`     // from resolve
	LastUpdate string `json:"last_update,omitempty"` // latest status update text
	// PostmortemStatus is where the written postmortem stands: empty until
	// `/incident postmortem` writes the first draft.
	PostmortemStatus PostmortemStatus `json:"postmortem_status,omitempty"`
	// Entries is the number of timeline entries, for "100,000 events" checks
	// without counting.
	Entries uint64 `json:"entries"`
}

// Clone returns a deep copy, so a stored incident and one being changed
// never share slices, maps or role pointers.
func (inc *Incident) Clone() *Incident {
	if inc == nil {
		return nil
	}
	c := *inc
	c.Steps = slices.Clone(inc.Steps)
	c.Labels = maps.Clone(inc.Labels)
	c.Alerts = slices.Clone(inc.Alerts) // card views: no maps to copy
	c.Trigger.Labels = maps.Clone(inc.Trigger.Labels)
	c.Trigger.Annotations = maps.Clone(inc.Trigger.Annotations)
	c.Responders = slices.Clone(inc.Responders)
	c.Participants = slices.Clone(inc.Participants)
	if inc.Commander != nil {
		a := *inc.Commander
		c.Commander = &a
	}
	if inc.Comms != nil {
		a := *inc.Comms
		c.Comms = &a
	}
	return &c
}

// CurrentStep returns the step responders are on, or nil when all are done.
func (inc *Incident) CurrentStep() *StepState {
	if inc.Current < 0 || inc.Current >= len(inc.Steps) {
		return nil
	}
	return &inc.Steps[inc.Current]
}

// Step returns the step with the given id, or nil.
func (inc *Incident) Step(id string) *StepState {
	for i := range inc.Steps {
		if inc.Steps[i].ID == id {
			return &inc.Steps[i]
		}
	}
	return nil
}

// TimeToAcknowledge is from opening to the first acknowledgement (0 if never).
func (inc *Incident) TimeToAcknowledge() time.Duration {
	return since(inc.OpenedAt, inc.AcknowledgedAt)
}

// TimeToMitigate is from opening to mitigation (0 if never).
func (inc *Incident) TimeToMitigate() time.Duration { return since(inc.OpenedAt, inc.MitigatedAt) }

// TimeToResolve is from opening to resolution (0 if never).
func (inc *Incident) TimeToResolve() time.Duration { return since(inc.OpenedAt, inc.ResolvedAt) }

// TimeToDetect is from when monitoring saw the problem start to opening
// (0 when the start is unknown).
func (inc *Incident) TimeToDetect() time.Duration { return since(inc.DetectedAt, inc.OpenedAt) }

func since(from, to time.Time) time.Duration {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return 0
	}
	return to.Sub(from)
}

// EntryKind names what a timeline entry records.
type EntryKind string

// Timeline entry kinds. They are stored, so never rename one.
const (
	EntryAlert         EntryKind = "alert"          // first alert that opened the incident, or a new alert grouped in
	EntryAlertRepeat   EntryKind = "alert_repeat"   // an alert fired again after it had resolved (schema 2 also wrote one per repeat)
	EntryAlertResolved EntryKind = "alert_resolved" // monitoring says the alert resolved
	EntryDeclared      EntryKind = "declared"       // opened by hand
	EntryAcknowledged  EntryKind = "acknowledged"
	EntryStepDone      EntryKind = "step_done"
	EntryStepSkipped   EntryKind = "step_skipped"
	EntryNote          EntryKind = "note"
	EntryFollowUp      EntryKind = "follow_up" // an action item for the postmortem
	EntryRole          EntryKind = "role"
	EntrySeverity      EntryKind = "severity"
	EntryStatusUpdate  EntryKind = "status_update"
	EntryAction        EntryKind = "action" // an automated step action ran
	EntryEscalation    EntryKind = "escalation"
	EntryMitigated     EntryKind = "mitigated"
	EntryReopened      EntryKind = "reopened"
	EntryResolved      EntryKind = "resolved"
	EntryPinned        EntryKind = "pinned"      // a chat message pinned to the timeline by reaction
	EntryRefused       EntryKind = "refused"     // a permission check said no
	EntryChannel       EntryKind = "channel"     // the incident moved to a channel or thread of its own
	EntryUndelivered   EntryKind = "undelivered" // the outbox gave up on a post, update, upload or page about the incident
)

// Entry is one event on an incident's timeline. Entries are append-only and
// ordered by Seq, which storage assigns at commit.
type Entry struct {
	Incident uint64    `json:"incident"`
	Seq      uint64    `json:"seq"`
	At       time.Time `json:"at"`
	Kind     EntryKind `json:"kind"`
	Actor    Actor     `json:"actor"`
	// Text is the human sentence for the timeline ("acknowledged", the note…).
	Text string `json:"text,omitempty"`
	// Step is the playbook step id this entry is about, if any.
	Step string `json:"step,omitempty"`
	// Data holds kind-specific details (alert fingerprint, repeat count,
	// old/new severity, permalink, action output…).
	Data map[string]string `json:"data,omitempty"`
}

// Clone returns a copy that shares no map with e.
func (e Entry) Clone() Entry {
	e.Data = maps.Clone(e.Data)
	return e
}

// Same reports whether a and b are the same person: equal platform and id,
// or equal names when neither has an id.
func (a Actor) Same(b Actor) bool {
	if a.ID != "" || b.ID != "" {
		return a.Platform == b.Platform && a.ID == b.ID
	}
	return a.Platform == b.Platform && a.Name == b.Name
}

// IsZero reports whether the actor is unknown.
func (a Actor) IsZero() bool { return a.Platform == "" && a.ID == "" && a.Name == "" }
