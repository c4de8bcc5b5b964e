package playbooks

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Tracker kinds.
const (
	TrackerGitHub = "github"
	TrackerJira   = "jira"
)

// Defaults of postmortem.tracker.
const (
	DefaultGitHubAPI      = "https://api.github.com"
	DefaultJiraIssueType  = "Task"
	DefaultTrackerTimeout = 10 * time.Second
)

// Tracker is postmortem.tracker: the issue tracker where Firebreak files
// each follow-up (`/incident followup`) as an issue. Credentials never go
// here: they come from the environment (FIREBREAK_GITHUB_TOKEN;
// FIREBREAK_JIRA_EMAIL and FIREBREAK_JIRA_TOKEN).
type Tracker struct {
	// Kind is "github" (GitHub Issues) or "jira" (Jira Cloud).
	Kind string `yaml:"kind"`
	// URL is the API base: default https://api.github.com for GitHub (set
	// it for GitHub Enterprise, e.g. https://ghe.example.com/api/v3); for
	// Jira the site, e.g. https://acme.atlassian.net (required).
	URL string `yaml:"url"`
	// Repository is GitHub's "owner/name".
	Repository string `yaml:"repository"`
	// Project is Jira's project key ("OPS").
	Project string `yaml:"project"`
	// IssueType is Jira's issue type name (default "Task").
	IssueType string `yaml:"issue_type"`
	// Labels go on every issue filed (GitHub labels, Jira labels); the
	// action item's type is added as a label "followup-<type>".
	Labels []string `yaml:"labels"`
	// Components are Jira component names set on every issue.
	Components []string `yaml:"components"`
	// IncidentURL links an issue back to its incident: "{number}" is
	// replaced by the incident number (e.g. your web view's page). Without
	// it the issue names the incident by number.
	IncidentURL string `yaml:"incident_url"`
	// Timeout bounds each call to the tracker (default 10s).
	Timeout Duration `yaml:"timeout"`
}

var (
	githubRepoPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	jiraKeyPattern    = regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)
)

func (v *validator) tracker() {
	t := v.cfg.Postmortem.Tracker
	if t == nil {
		return
	}
	const f = "postmortem.tracker"
	t.Kind = strings.ToLower(strings.TrimSpace(t.Kind))
	switch t.Kind {
	case TrackerGitHub:
		if t.URL == "" {
			t.URL = DefaultGitHubAPI
		}
		switch {
		case t.Repository == "":
			v.problem(f+".repository", "a GitHub tracker needs repository: owner/name")
		case !githubRepoPattern.MatchString(t.Repository):
			v.problem(f+".repository", "%q is not owner/name", t.Repository)
		}
		if t.Project != "" || len(t.Components) > 0 || t.IssueType != "" {
			v.problem(f+".kind", "project, issue_type and components are Jira's; a GitHub tracker takes repository and labels")
		}
	case TrackerJira:
		if t.URL == "" {
			v.problem(f+".url", "a Jira tracker needs url: your site, e.g. https://acme.atlassian.net")
		}
		switch {
		case t.Project == "":
			v.problem(f+".project", "a Jira tracker needs project: the project key, e.g. OPS")
		case !jiraKeyPattern.MatchString(t.Project):
			v.problem(f+".project", "%q is not a Jira project key (upper-case letters and digits, e.g. OPS)", t.Project)
		}
		if t.IssueType == "" {
			t.IssueType = DefaultJiraIssueType
		}
		if t.Repository != "" {
			v.problem(f+".repository", "repository is GitHub's; a Jira tracker takes project")
		}
	case "":
		v.problem(f+".kind", "kind is required: github or jira")
		return
	default:
		v.problem(f+".kind", "unknown tracker kind %q (want github or jira)", t.Kind)
		return
	}
	if t.URL != "" {
		v.url(t.URL, f+".url")
	}
	if t.IncidentURL != "" {
		v.url(strings.ReplaceAll(t.IncidentURL, "{number}", "1"), f+".incident_url")
	}
	for i, l := range t.Labels {
		if strings.TrimSpace(l) == "" || (t.Kind == TrackerJira && strings.ContainsAny(l, " \t\n")) {
			v.problem(fmt.Sprintf("%s.labels[%d]", f, i), "%q is not a label (Jira labels have no spaces)", l)
		}
	}
	if i := slices.IndexFunc(t.Components, func(c string) bool { return strings.TrimSpace(c) == "" }); i >= 0 {
		v.problem(fmt.Sprintf("%s.components[%d]", f, i), "a component needs a name")
	}
	switch d := t.Timeout.D(); {
	case d == 0:
		t.Timeout = Duration(DefaultTrackerTimeout)
	case d < 0 || d > 5*time.Minute:
		v.problem(f+".timeout", "%s is out of range (1ms to 5m)", d)
	}
}
