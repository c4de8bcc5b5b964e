package incidents

import (
	"time"

	"github.com/firebreak/firebreak/playbooks"
)

// Defaults for grouping settings left at zero in playbooks.yaml.
const (
	DefaultGroupWindow = 5 * time.Minute
	DefaultFlapWindow  = 15 * time.Minute
)

// grouping is the alert grouping configuration with defaults applied.
type grouping struct {
	by     []string
	window time.Duration
	flap   time.Duration
}

func (s *Service) grouping() grouping {
	g := grouping{window: DefaultGroupWindow, flap: DefaultFlapWindow}
	if s.books == nil {
		return g
	}
	c := s.books.Grouping
	g.by = c.GroupBy
	if c.GroupWindow > 0 {
		g.window = c.GroupWindow.D()
	}
	if c.FlapWindow > 0 {
		g.flap = c.FlapWindow.D()
	}
	return g
}

// match picks the playbook for an alert or a declared incident; nil when no
// configuration or no default playbook exists.
func (s *Service) match(in playbooks.MatchInput) *playbooks.Playbook {
	if s.books == nil {
		return nil
	}
	return s.books.Match(in)
}

// severityFor settles an incident's severity: what the alert or the
// declarer said, else the playbook's, else the configured default, else SEV3.
func (s *Service) severityFor(given Severity, pb *playbooks.Playbook) Severity {
	if given >= SEV1 && given <= SEV4 {
		return given
	}
	// Unset settings are skipped, not parsed: a failed parse builds an
	// error for a user, and this runs for every alert that opens an
	// incident.
	if pb != nil && pb.Severity != "" {
		if sev, err := ParseSeverity(pb.Severity); err == nil {
			return sev
		}
	}
	if s.books != nil && s.books.Incidents.DefaultSeverity != "" {
		if sev, err := ParseSeverity(s.books.Incidents.DefaultSeverity); err == nil {
			return sev
		}
	}
	return SEV3
}

// sevName is the severity as match rules see it: "" when unknown.
func sevName(sev Severity) string {
	if sev < SEV1 || sev > SEV4 {
		return ""
	}
	return sev.String()
}

// newIncident starts an incident on playbook pb (which may be nil).
func (s *Service) newIncident(pb *playbooks.Playbook, now time.Time, home Home, title string, sev Severity) *Incident {
	inc := new(Incident)
	s.startIncident(inc, pb, now, home, title, sev)
	return inc
}

// startIncident is newIncident in an Incident the caller allocated (an
// alert that opens one allocates it with what the batch keeps of it).
// inc must be zero.
func (s *Service) startIncident(inc *Incident, pb *playbooks.Playbook, now time.Time, home Home, title string, sev Severity) {
	inc.Title = title
	inc.Severity = s.severityFor(sev, pb)
	inc.Status = StatusTriggered
	inc.Home = home
	inc.OpenedAt, inc.UpdatedAt = now, now
	if pb != nil {
		inc.Playbook = pb.ID
		inc.Steps = make([]StepState, 0, len(pb.Steps))
		for _, st := range pb.Steps {
			title := st.Title
			if title == "" {
				title = st.ID
			}
			inc.Steps = append(inc.Steps, StepState{ID: st.ID, Title: title, Status: StepPending})
		}
	}
}
