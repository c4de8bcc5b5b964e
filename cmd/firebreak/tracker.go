package main

import (
	"context"
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

// sweepIncidents is how many of the newest incidents the start-up sweep
// looks at for follow-ups a crash left unfiled.
const sweepIncidents = 200

// newTracker builds the follow-up filer postmortem.tracker asks for, with
// credentials from the environment; nil (no error) when none is configured.
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
	return trackers.NewWorker(svc, filer, trackers.Options{Labels: t.Labels, IncidentURL: trackerIncidentURL(t, getenv), Logger: log}), nil
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

// sweepFollowUps files, once at start-up, the follow-ups that a crash or an
// unreachable tracker left unfiled. Filing is idempotent, so an issue filed
// just before a crash is found by its marker and only recorded.
func sweepFollowUps(svc *incidents.Service, w *trackers.Worker, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		list, err := svc.List(ctx, incidents.ListQuery{Limit: sweepIncidents})
		if err != nil {
			log.WarnContext(ctx, "follow-up sweep: listing incidents failed", "err", err)
			return nil
		}
		for _, inc := range list {
			if err := w.File(ctx, inc.Number); err != nil {
				log.WarnContext(ctx, "follow-up sweep: filing failed; the next /incident postmortem tries again", "incident", inc.Number, "err", err)
			}
			if ctx.Err() != nil {
				return nil
			}
		}
		return nil
	}
}
