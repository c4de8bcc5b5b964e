package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/trackers"
	"github.com/firebreak/firebreak/bot/trackers/github"
	"github.com/firebreak/firebreak/bot/trackers/jira"
	"github.com/firebreak/firebreak/bot/web"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// newTracker builds the follow-up filer postmortem.tracker asks for, with
// credentials from the environment; nil (no error) when none is configured.
// The outbox worker delivers its tracker effects (newWorker); the
// postmortem command refreshes through it directly.
func newTracker(cfg *playbooks.Config, svc *incidents.Service, getenv func(string) string, log *slog.Logger) (*trackers.Worker, error) {
	t := cfg.Postmortem.Tracker
	if t == nil {
		return nil, nil
	}
	h := trackers.HTTP{Timeout: t.Timeout.D(), Client: &http.Client{Timeout: t.Timeout.D()}}
	var filer trackers.Filer
	var err error
	switch t.Kind {
	case playbooks.TrackerGitHub:
		filer, err = github.New(github.Config{API: t.URL, Repository: t.Repository, Token: getenv("FIREBREAK_GITHUB_TOKEN"), HTTP: h})
	case playbooks.TrackerJira:
		filer, err = jira.New(jira.Config{Site: t.URL, Project: t.Project, IssueType: t.IssueType, Components: t.Components,
			Email: getenv("FIREBREAK_JIRA_EMAIL"), Token: getenv("FIREBREAK_JIRA_TOKEN"), HTTP: h})
	default:
		err = fmt.Errorf("unknown tracker kind %q", t.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("postmortem.tracker in %s: %w", cfg.Path, err)
	}
	return trackers.NewWorker(svc, filer, trackers.Options{Name: string(t.Kind), Labels: t.Labels, IncidentURL: trackerIncidentURL(t, getenv), Logger: log}), nil
}

// trackerIncidentURL is where a filed issue links back to: incident_url
// when set, else the incident's web view page under FIREBREAK_PUBLIC_URL
// (the page chat cards link), else "" (the issue names the incident only).
func trackerIncidentURL(t *playbooks.Tracker, getenv func(string) string) string {
	if t.IncidentURL != "" {
		return t.IncidentURL
	}
	pub := getenv("FIREBREAK_PUBLIC_URL")
	if pub == "" {
		return ""
	}
	if _, err := web.ParsePublicURL(pub); err != nil {
		return "" // serve refuses to start with it anyway
	}
	return strings.TrimRight(pub, "/") + web.Prefix + "/incidents/{number}"
}

// filerFor keeps a nil *Worker from becoming a non-nil interface.
func filerFor(w *trackers.Worker) bot.ActionItemFiler {
	if w == nil {
		return nil
	}
	return w
}
