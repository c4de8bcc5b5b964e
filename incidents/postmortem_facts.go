package incidents

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Impact is the window during which users felt the incident.
type Impact struct {
	// Start is when the problem started: the first alert's own start time
	// (Alertmanager's startsAt, a probe's first failed check) when monitoring
	// sent one, else when Firebreak opened the incident.
	Start time.Time
	// StartClock names the clock Start was read from: "monitoring" (the
	// alert source's clock) or "Firebreak".
	StartClock string
	// End is when the impact stopped: mitigation, else resolution; zero
	// while it goes on.
	End time.Time
	// EndEvent is "mitigated", "resolved" or "" (ongoing).
	EndEvent string
}

// Duration is End − Start, zero when either is unknown or the clocks
// disagree so much that End comes first.
func (i Impact) Duration() time.Duration { return since(i.Start, i.End) }

// MixedClocks reports whether Start and End come from different clocks,
// so the duration includes any skew between monitoring and Firebreak.
func (i Impact) MixedClocks() bool { return i.StartClock != "Firebreak" }

// Responder is someone who held a role on the incident or acted on it.
type Responder struct {
	Name string
	// Roles held at any time: "commander", "comms", "responder" (and
	// "declared" for whoever opened it by hand).
	Roles []string
	// Acted is set for people who did something themselves.
	Acted bool
}

// AlertLink is what one distinct alert linked to: its source (URL) and its
// runbook, either possibly empty, never both.
type AlertLink struct {
	// Name is the alert's "name / instance" label.
	Name    string
	URL     string
	Runbook string
}

// alertLinks lists one AlertLink per distinct alert that carried an
// http(s) link, in the order of the Alerts section's rows; other links
// (javascript:, data:) are dropped, and an alert left without any with them.
func alertLinks(sum AlertSummary) []AlertLink {
	out := make([]AlertLink, 0, len(sum.Linked))
	for _, a := range sum.Linked {
		l := AlertLink{Name: a.Label(), URL: a.URL, Runbook: a.Runbook()}
		if safeURL(l.URL) == "" {
			l.URL = ""
		}
		if safeURL(l.Runbook) == "" {
			l.Runbook = ""
		}
		if l.URL != "" || l.Runbook != "" {
			out = append(out, l)
		}
	}
	return out
}

// ProbeExplanation is what a synthetic probe said when it failed.
type ProbeExplanation struct {
	At   time.Time
	Name string
	Text string
}

// Limits of what a postmortem lists, so a storm stays one readable page.
const (
	maxProbeTexts = 10
	maxKeyEvents  = 40
)

// postmortemFacts is what one pass over the timeline learns for the
// sections that summarise it.
type postmortemFacts struct {
	first       *Entry
	actions     actionCollector
	probes      []ProbeExplanation
	key         []Entry
	moreKey     int
	roleHolders map[string][]string // name → roles ever held
	mitigation  *Entry              // the last mitigated entry
	reopened    int
}

func newPostmortemFacts(inc *Incident) *postmortemFacts {
	return &postmortemFacts{roleHolders: map[string][]string{}, actions: actionCollector{opened: inc.OpenedAt}}
}

// keyKinds are the entries the diagram marks as events.
var keyKinds = map[EntryKind]bool{
	EntryAcknowledged: true, EntrySeverity: true, EntryStatusUpdate: true, EntryMitigated: true,
	EntryReopened: true, EntryResolved: true, EntryStepDone: true, EntryStepSkipped: true, EntryEscalation: true,
}

func (f *postmortemFacts) add(e Entry) {
	if f.first == nil {
		first := e
		f.first = &first
	}
	f.actions.add(e)
	switch e.Kind {
	case EntryAlert:
		if e.Data["source"] == "probe" && len(f.probes) < maxProbeTexts {
			text := e.Data["text"]
			if text == "" {
				text = e.Text
			}
			f.probes = append(f.probes, ProbeExplanation{At: e.At, Name: e.Text, Text: text})
		}
	case EntryRole:
		if name := e.Data["new"]; name != "" {
			f.addRole(name, e.Data["role"])
		}
	case EntryMitigated:
		m := e
		f.mitigation = &m
	case EntryReopened:
		f.reopened++
	}
	if keyKinds[e.Kind] {
		if len(f.key) < maxKeyEvents {
			f.key = append(f.key, e)
		} else {
			f.moreKey++
		}
	}
}

func (f *postmortemFacts) addRole(name, role string) {
	if role == "" || slices.Contains(f.roleHolders[name], role) {
		return
	}
	f.roleHolders[name] = append(f.roleHolders[name], role)
}

// responders lists role holders (now and earlier) and everyone who acted,
// commander first, then comms, then in the order they acted.
func (f *postmortemFacts) responders(inc *Incident) []Responder {
	var list []Responder
	index := map[string]int{}
	add := func(name, role string, acted bool) {
		if name == "" {
			return
		}
		i, ok := index[name]
		if !ok {
			i = len(list)
			index[name] = i
			list = append(list, Responder{Name: name})
		}
		r := &list[i]
		if role != "" && !slices.Contains(r.Roles, role) {
			r.Roles = append(r.Roles, role)
		}
		r.Acted = r.Acted || acted
	}
	if inc.Commander != nil {
		add(inc.Commander.String(), string(RoleCommander), false)
	}
	if inc.Comms != nil {
		add(inc.Comms.String(), string(RoleComms), false)
	}
	for _, name := range slices.Sorted(maps.Keys(f.roleHolders)) {
		for _, role := range f.roleHolders[name] {
			add(name, role, false)
		}
	}
	for _, r := range inc.Responders {
		add(r.String(), string(RoleResponder), false)
	}
	if !inc.DeclaredBy.IsZero() {
		add(inc.DeclaredBy.String(), "declared", true)
	}
	for _, p := range inc.Participants {
		add(p.String(), "", true)
	}
	return list
}

// impactOf reads the impact window from the incident's own record.
func impactOf(inc *Incident) Impact {
	im := Impact{Start: inc.OpenedAt, StartClock: "Firebreak"}
	switch {
	case !inc.Trigger.StartsAt.IsZero():
		im.Start, im.StartClock = inc.Trigger.StartsAt, "monitoring"
	case !inc.DetectedAt.IsZero():
		im.Start, im.StartClock = inc.DetectedAt, "monitoring"
	}
	switch {
	case !inc.MitigatedAt.IsZero():
		im.End, im.EndEvent = inc.MitigatedAt, "mitigated"
	case !inc.ResolvedAt.IsZero():
		im.End, im.EndEvent = inc.ResolvedAt, "resolved"
	}
	return im
}

// ReviewBy is five business days (Monday to Friday) after t, the latest
// day for the postmortem review meeting.
func ReviewBy(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	d := t.UTC()
	for n := 0; n < 5; {
		d = d.AddDate(0, 0, 1)
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return d
}

// mitigationStep is the playbook step finished last at or before the
// incident was mitigated: usually the one that stopped the impact.
func mitigationStep(inc *Incident) *StepState {
	if inc.MitigatedAt.IsZero() {
		return nil
	}
	var best *StepState
	for i := range inc.Steps {
		st := &inc.Steps[i]
		if st.Status != StepDone || st.At.After(inc.MitigatedAt) {
			continue
		}
		if best == nil || !st.At.Before(best.At) {
			best = st
		}
	}
	return best
}

// sortedLabels renders labels as "name=value", sorted by name.
func sortedLabels(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

// safeURL returns u when it is an http(s) URL that cannot break out of a
// Markdown link, else "".
func safeURL(u string) string {
	u = strings.TrimSpace(u)
	lower := strings.ToLower(u)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return ""
	}
	if strings.ContainsAny(u, " \t\r\n<>\"`") {
		return ""
	}
	return linkEscaper.Replace(u)
}
