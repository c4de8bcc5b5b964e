// Package playbooks is the schema of playbooks.yaml: which channels carry
// alerts, which playbook an alert gets, the steps of each playbook, probes,
// grouping and escalation. Load reads and validates the file and reports
// every problem with file:line and the field's path, so a typo fails at
// start-up (or in `firebreak check`), never at 3 a.m.
//
// This package knows nothing about incidents or chat: the incidents package
// asks it "which playbook for this alert?" and "what is step N?".
package playbooks

import "time"

// Config is a whole playbooks.yaml.
type Config struct {
	// Path is the file it was loaded from ("" for built-in defaults); error
	// messages and relative template paths use it.
	Path string `yaml:"-"`

	// AlertChannels are the chat channels whose messages are read as alerts
	// (names like "#alerts" or platform ids like "C0123ABC"/"1234567890").
	AlertChannels []string `yaml:"alert_channels"`

	Incidents  IncidentSettings   `yaml:"incidents"`
	Postmortem PostmortemSettings `yaml:"postmortem"`
	Grouping   Grouping           `yaml:"grouping"`
	// Escalation is the default policy for playbooks that name none.
	Escalation *Escalation `yaml:"escalation"`
	// EscalationBySeverity overrides Escalation for incidents of one
	// severity ("SEV1": page sooner); a playbook's own policy still wins.
	EscalationBySeverity map[string]*Escalation `yaml:"escalation_by_severity"`
	// Permissions say who may do the sensitive things; empty lists mean anyone.
	Permissions Permissions `yaml:"permissions"`
	// Match rules are tried in order; the first that matches picks the
	// playbook. When none match, the playbook marked default is used.
	Rules     []Rule     `yaml:"match"`
	Playbooks []Playbook `yaml:"playbooks"`
	Probes    []Probe    `yaml:"probes"`
	// Notifiers are outgoing webhooks/email used by escalation and status
	// updates, referenced by name.
	Notifiers []Notifier `yaml:"notifiers"`
	// AllowCommands must be true for steps of kind command to run.
	AllowCommands bool `yaml:"allow_commands"`
}

// IncidentSettings are chat behaviours for every incident.
type IncidentSettings struct {
	// ChannelPerIncident creates a dedicated channel (Slack) or thread
	// (Discord) for each incident.
	ChannelPerIncident bool `yaml:"channel_per_incident"`
	// ChannelPrefix prefixes dedicated channel names (default "inc").
	ChannelPrefix string `yaml:"channel_prefix"`
	// PinEmoji is the reaction that adds a message to the timeline
	// (default "pushpin").
	PinEmoji string `yaml:"pin_emoji"`
	// Announce names, per platform ("slack", "discord", "console"), the
	// channel where incidents opened by webhooks and probes are posted.
	// Default: that platform's first alert channel.
	Announce map[string]string `yaml:"announce"`
	// StakeholderChannels receive status updates.
	StakeholderChannels []string `yaml:"stakeholder_channels"`
	// UpdateNotifiers (names from notifiers) also receive every status
	// update, e.g. a status page's webhook.
	UpdateNotifiers []string `yaml:"update_notifiers"`
	// UpdateTemplate renders status updates for stakeholder channels
	// (text/template over the incident, with .LastUpdate the update and
	// .NextUpdate when the next one is due); empty means the built-in one.
	UpdateTemplate string `yaml:"update_template"`
	// UpdateInterval is when the next status update is due after one is
	// posted (default 30m); a reminder fires then.
	UpdateInterval Duration `yaml:"update_interval"`
	// DefaultSeverity for declared incidents and alerts without one (default SEV3).
	DefaultSeverity string `yaml:"default_severity"`
}

// PostmortemSettings control the exported postmortem.
type PostmortemSettings struct {
	// Template is a text/template file, relative to the playbooks file; empty
	// means the embedded default.
	Template string `yaml:"template"`
	// Directory is where postmortem files are written (default "postmortems").
	Directory string `yaml:"directory"`
	// Tracker is where follow-ups are filed as issues; nil keeps them in
	// the postmortem only (see tracker.go).
	Tracker *Tracker `yaml:"tracker"`
}

// Grouping decides which alerts share an incident, like Alertmanager's group_by.
type Grouping struct {
	// GroupBy label names; alerts with equal values share an incident while
	// it is open. Empty: group by fingerprint only.
	GroupBy []string `yaml:"group_by"`
	// GroupWindow is how long after an incident opens new alerts of the same
	// group join it instead of opening another (default 5m).
	GroupWindow Duration `yaml:"group_window"`
	// RepeatInterval bounds chat posts about repeats: at most one summary per
	// incident per interval (default 1m).
	RepeatInterval Duration `yaml:"repeat_interval"`
	// FlapWindow: an alert firing again within this long after its incident
	// was mitigated reopens that incident (default 15m).
	FlapWindow Duration `yaml:"flap_window"`
}

// Permissions list who may do what. Entries are user ids, names, or role
// names prefixed with "role:" ("role:commander"). Empty means anyone.
type Permissions struct {
	Resolve        []string `yaml:"resolve"`
	Severity       []string `yaml:"severity"`
	ConfirmActions []string `yaml:"confirm_actions"`
}

// Rule selects a playbook. Every field that is set must match; regexes are
// Go RE2 syntax, matched case-insensitively.
type Rule struct {
	Playbook  string `yaml:"playbook"`
	AlertName string `yaml:"alertname"` // regex on the alert name
	Text      string `yaml:"text"`      // regex on title + text
	Service   string `yaml:"service"`   // regex on the service
	// Labels: label name → regex on its value; a missing label never matches.
	Labels map[string]string `yaml:"labels"`
	// Severity: any of these (SEV1…SEV4).
	Severity []string `yaml:"severity"`

	alertName, text, service *pattern
	labels                   map[string]*pattern
}

// Playbook is an ordered list of steps for one kind of incident.
type Playbook struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Default marks the playbook used when no rule matches (exactly one).
	Default bool `yaml:"default"`
	// Severity when the alert carries none.
	Severity   string      `yaml:"severity"`
	Escalation *Escalation `yaml:"escalation"`
	Steps      []Step      `yaml:"steps"`
}

// Step kinds.
const (
	KindManual       = "manual"        // a human does it and presses Done
	KindChecklist    = "checklist"     // a human ticks the items and presses Done
	KindStatusUpdate = "status_update" // post a status update from Template
	KindHTTP         = "http"          // the bot calls a URL
	KindProbe        = "probe"         // the bot runs a named probe
	KindCommand      = "command"       // the bot runs a local command (allow_commands)
)

// Step is one thing to do.
type Step struct {
	ID           string   `yaml:"id"`
	Title        string   `yaml:"title"`
	Kind         string   `yaml:"kind"` // default manual
	Instructions string   `yaml:"instructions"`
	Checklist    []string `yaml:"checklist"`
	// Template is the status update text for status_update steps
	// (text/template over the incident).
	Template string `yaml:"template"`
	// Probe names the probe for probe steps.
	Probe string `yaml:"probe"`
	// HTTP is the call for http steps.
	HTTP *HTTPAction `yaml:"http"`
	// Command is argv for command steps; each element is a template.
	Command []string `yaml:"command"`
	// Confirm: the bot asks for a confirmation button before running the action.
	Confirm bool `yaml:"confirm"`
	// Timeout for the action, or for a manual step before a reminder is posted.
	Timeout Duration `yaml:"timeout"`
}

// HTTPAction is an outgoing call, e.g. a deploy system's rollback endpoint.
type HTTPAction struct {
	URL    string `yaml:"url"`
	Method string `yaml:"method"` // default POST
	// Headers values may reference environment variables as ${NAME}; they
	// are expanded at run time and never stored.
	Headers      map[string]string `yaml:"headers"`
	Body         string            `yaml:"body"` // template
	ExpectStatus []int             `yaml:"expect_status"`
	Retries      int               `yaml:"retries"`
}

// Probe is a synthetic HTTP check.
type Probe struct {
	Name         string            `yaml:"name"`
	URL          string            `yaml:"url"`
	Method       string            `yaml:"method"` // default GET
	Headers      map[string]string `yaml:"headers"`
	Interval     Duration          `yaml:"interval"`      // default 30s; 0 with on_demand
	Timeout      Duration          `yaml:"timeout"`       // default 5s
	ExpectStatus []int             `yaml:"expect_status"` // default 200-399
	// FailureThreshold consecutive failures raise an alert (default 3).
	FailureThreshold int `yaml:"failure_threshold"`
	// SuccessThreshold consecutive successes resolve it (default 2).
	SuccessThreshold int               `yaml:"success_threshold"`
	Service          string            `yaml:"service"`
	Severity         string            `yaml:"severity"`
	Labels           map[string]string `yaml:"labels"`
	// OnDemand probes only run from probe steps, never on an interval.
	OnDemand bool `yaml:"on_demand"`
}

// Escalation is who to page, and when, while an incident stays unacknowledged.
type Escalation struct {
	Levels []EscalationLevel `yaml:"levels"`
	// Repeat the whole policy this many times (default 0: once through).
	Repeat int `yaml:"repeat"`
}

// EscalationLevel fires After the incident opened if still unacknowledged.
type EscalationLevel struct {
	After Duration `yaml:"after"`
	// Notify are chat mentions: user ids, "@here", group handles.
	Notify []string `yaml:"notify"`
	// Notifiers are names from the top-level notifiers list.
	Notifiers []string `yaml:"notifiers"`
}

// Notifier is an outgoing channel besides chat.
type Notifier struct {
	Name    string            `yaml:"name"`
	Kind    string            `yaml:"kind"` // "webhook" or "email"
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	// Email over SMTP; the password comes from the environment variable
	// named by PasswordEnv, never from the file.
	SMTP        string   `yaml:"smtp"` // host:port
	From        string   `yaml:"from"`
	To          []string `yaml:"to"`
	Username    string   `yaml:"username"`
	PasswordEnv string   `yaml:"password_env"`
}

// Duration is a time.Duration written as "30s", "5m" or "1h30m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MatchInput is what a rule looks at: the parts of an alert, flattened so
// this package need not import incidents.
type MatchInput struct {
	Name     string
	Text     string // title and text
	Service  string
	Severity string // "SEV1"…"SEV4" or ""
	Labels   map[string]string
}

// Automated reports whether Firebreak runs the step itself (http, probe,
// command) rather than a person.
func (s Step) Automated() bool {
	return s.Kind == KindHTTP || s.Kind == KindProbe || s.Kind == KindCommand
}
