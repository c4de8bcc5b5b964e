package trackers_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/trackers"
	"github.com/firebreak/firebreak/bot/trackers/github"
	"github.com/firebreak/firebreak/bot/trackers/internal/trackertest"
	"github.com/firebreak/firebreak/bot/trackers/jira"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

var _ bot.ActionItemFiler = (*trackers.Worker)(nil)

var (
	ana   = incidents.Actor{Platform: "slack", ID: "U1", Name: "ana"}
	quiet = slog.New(slog.DiscardHandler)
)

// fastHTTP retries quickly so error tests stay short; waits are recorded.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) http() trackers.HTTP {
	return trackers.HTTP{Timeout: 5 * time.Second, MaxElapsed: 10 * time.Second, OnRetry: func(_ error, d time.Duration) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.d = append(w.d, d)
	}}
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// tracker is one fake tracker and a filer for it.
type tracker struct {
	name   string
	filer  func(t *testing.T, h trackers.HTTP, wrongAuth bool) trackers.Filer
	fake   interface{ Fail(...trackertest.Fault) }
	issues func() []trackertest.Issue
	state  func(i int, s string)
	closed string
}

func githubTracker(t *testing.T) tracker {
	g := trackertest.NewGitHub(t, "acme/ops", "ghp_test")
	return tracker{name: "github", fake: g, issues: g.Issues, state: g.SetState, closed: "closed",
		filer: func(t *testing.T, h trackers.HTTP, wrong bool) trackers.Filer {
			token := "ghp_test"
			if wrong {
				token = "ghp_wrong"
			}
			c, err := github.New(github.Config{API: g.Server.URL, Repository: "acme/ops", Token: token, HTTP: h})
			require.NoError(t, err)
			return c
		}}
}

func jiraTracker(t *testing.T) tracker {
	j := trackertest.NewJira(t, "OPS", "bot@acme.example", "jira_test")
	return tracker{name: "jira", fake: j, issues: j.Issues, state: j.SetState, closed: "Done",
		filer: func(t *testing.T, h trackers.HTTP, wrong bool) trackers.Filer {
			token := "jira_test"
			if wrong {
				token = "jira_wrong"
			}
			c, err := jira.New(jira.Config{Site: j.Server.URL, Project: "OPS", Components: []string{"SRE"}, Email: "bot@acme.example", Token: token, HTTP: h})
			require.NoError(t, err)
			return c
		}}
}

func newService(t *testing.T, store incidents.Store) *incidents.Service {
	t.Helper()
	if store == nil {
		store = incidentstest.NewMemStore()
	}
	return incidents.NewService(store, playbooks.Default(), incidents.WithLogger(quiet))
}

// withFollowUps declares incident #1 and adds the given action items.
func withFollowUps(t *testing.T, svc *incidents.Service, texts ...string) {
	t.Helper()
	ctx := context.Background()
	_, err := svc.Declare(ctx, incidents.Origin{Actor: ana}, "Checkout down", incidents.SEV1)
	require.NoError(t, err)
	for _, text := range texts {
		_, err := svc.AddActionItem(ctx, incidents.Origin{Actor: ana}, 1, incidents.FollowUp{Text: text, Owner: ana, Type: "prevent"})
		require.NoError(t, err)
	}
}

func TestFileFindAndRefresh(t *testing.T) {
	for _, mk := range []func(*testing.T) tracker{githubTracker, jiraTracker} {
		tr := mk(t)
		t.Run(tr.name, func(t *testing.T) {
			ctx := context.Background()
			svc := newService(t, nil)
			withFollowUps(t, svc, "Alert on checkout latency", "Add a load test")
			var w waits
			worker := trackers.NewWorker(svc, tr.filer(t, w.http(), false), trackers.Options{Labels: []string{"incident"}, IncidentURL: "https://firebreak.example.com/incidents/{number}", Logger: quiet})

			require.NoError(t, worker.File(ctx, 1))
			require.NoError(t, worker.File(ctx, 1), "filing again files nothing")
			issues := tr.issues()
			require.Len(t, issues, 2)
			assert.Equal(t, "Alert on checkout latency", issues[0].Title)
			assert.Contains(t, issues[0].Body, "Follow-up of incident #1: Checkout down (SEV1).")
			assert.Contains(t, issues[0].Body, "https://firebreak.example.com/incidents/1")
			assert.Contains(t, issues[0].Body, "owner: ana; type: prevent")
			assert.Contains(t, issues[0].Labels, "incident")
			assert.Contains(t, issues[0].Labels, "followup-prevent")

			items, err := svc.ActionItems(ctx, 1)
			require.NoError(t, err)
			require.Len(t, items, 2)
			for _, it := range items {
				assert.True(t, it.Filed(), "item %d has its link", it.Seq)
			}
			assert.Contains(t, tr.issues()[0].Body, items[0].Marker())

			tr.state(0, tr.closed)
			require.NoError(t, worker.Refresh(ctx, 1))
			items, err = svc.ActionItems(ctx, 1)
			require.NoError(t, err)
			assert.Equal(t, tr.closed, items[0].Status)
			require.NoError(t, worker.Refresh(ctx, 1))
			n := 0
			require.NoError(t, svc.Timeline(ctx, 1, func(e incidents.Entry) error {
				if e.Kind == incidents.EntryTrackerIssue {
					n++
				}
				return nil
			}))
			assert.Equal(t, 3+boolInt(tr.name == "jira"), n, "two links and one change of status (Jira also learns the new issue's status)")
			assert.Empty(t, w.all(), "no retries were needed")
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestTrackerErrors(t *testing.T) {
	for _, kind := range []string{"github", "jira"} {
		tests := []struct {
			name      string
			faults    []trackertest.Fault
			wrongAuth bool
			permanent bool
			wantWaits []time.Duration
			wantIn    string
		}{
			{name: "401 bad credentials", wrongAuth: true, permanent: true, wantIn: "401"},
			{name: "403 forbidden", faults: []trackertest.Fault{{Status: 403, Body: `{"message":"Resource not accessible by integration","errorMessages":["You do not have permission"]}`}}, permanent: true, wantIn: "403"},
			{name: "404 no such repository or project", faults: []trackertest.Fault{{Status: 404}}, permanent: true, wantIn: "404"},
			{name: "422 validation failed", faults: []trackertest.Fault{{Status: 422, Body: `{"message":"Validation Failed","errors":[{"resource":"Issue","field":"labels","code":"invalid"}]}`}}, permanent: true, wantIn: "Validation Failed"},
			{name: "400 bad field", faults: []trackertest.Fault{{Status: 400, Body: `{"errorMessages":[],"errors":{"components":"Component name 'SRE' is not valid"}}`}}, permanent: true, wantIn: "components: Component name"},
			{name: "429 with Retry-After is waited out", faults: []trackertest.Fault{{Status: 429, RetryAfter: "1"}}, wantWaits: []time.Duration{time.Second}},
			{name: "403 secondary rate limit with Retry-After", faults: []trackertest.Fault{{Status: 403, RetryAfter: "1"}}, wantWaits: []time.Duration{time.Second}},
			{name: "429 asking too long a wait gives up", faults: []trackertest.Fault{{Status: 429, RetryAfter: "3600"}}, permanent: true, wantIn: "longer than Firebreak waits"},
			{name: "502 then success", faults: []trackertest.Fault{{Status: 502, Times: 2}}},
		}
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				// A fresh tracker each time: every case files incident
				// #1's follow-up 2, and the marker would find the last one.
				tr := githubTracker(t)
				if kind == "jira" {
					tr = jiraTracker(t)
				}
				ctx := context.Background()
				svc := newService(t, nil)
				withFollowUps(t, svc, "Alert on checkout latency")
				before := len(tr.issues())
				var w waits
				worker := trackers.NewWorker(svc, tr.filer(t, w.http(), tt.wrongAuth), trackers.Options{Logger: quiet})
				tr.fake.Fail(tt.faults...)
				err := worker.File(ctx, 1)
				if tt.permanent {
					require.Error(t, err)
					assert.True(t, trackers.IsPermanent(err) || strings.Contains(err.Error(), "longer than"), "final: %v", err)
					assert.Contains(t, err.Error(), tt.wantIn)
					assert.Len(t, tr.issues(), before, "nothing filed")
					items, ierr := svc.ActionItems(ctx, 1)
					require.NoError(t, ierr)
					assert.False(t, items[0].Filed(), "the item stays to be filed later")
					return
				}
				require.NoError(t, err)
				assert.Len(t, tr.issues(), before+1, "filed exactly once")
				if tt.wantWaits != nil {
					assert.Equal(t, tt.wantWaits, w.all(), "Retry-After honoured")
				} else {
					assert.NotEmpty(t, w.all(), "retried with backoff")
				}
			})
		}
	}
}

func TestRetryAfterDate(t *testing.T) {
	ctx := context.Background()
	g := trackertest.NewGitHub(t, "acme/ops", "ghp_test")
	var w waits
	c, err := github.New(github.Config{API: g.Server.URL, Repository: "acme/ops", Token: "ghp_test", HTTP: w.http()})
	require.NoError(t, err)
	g.Fail(trackertest.Fault{Status: 429, RetryAfter: time.Now().Add(-time.Second).UTC().Format(http1123)})
	_, found, err := c.Find(ctx, "firebreak-1-followup-2-x")
	require.NoError(t, err)
	assert.False(t, found)
	assert.Equal(t, []time.Duration{0}, w.all(), "a date in the past means retry now")
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestNewNeedsCredentials(t *testing.T) {
	_, err := github.New(github.Config{Repository: "acme/ops"})
	assert.ErrorContains(t, err, "FIREBREAK_GITHUB_TOKEN")
	_, err = jira.New(jira.Config{Project: "OPS", Email: "x"})
	assert.ErrorContains(t, err, "FIREBREAK_JIRA_TOKEN")
}

func TestStatusFlipsAreAllRecorded(t *testing.T) {
	ctx := context.Background()
	tr := githubTracker(t)
	svc := newService(t, nil)
	withFollowUps(t, svc, "Alert on checkout latency")
	var w waits
	worker := trackers.NewWorker(svc, tr.filer(t, w.http(), false), trackers.Options{Logger: quiet})
	require.NoError(t, worker.File(ctx, 1))
	for _, state := range []string{"closed", "open", "closed", "open"} {
		tr.state(0, state)
		require.NoError(t, worker.Refresh(ctx, 1))
		items, err := svc.ActionItems(ctx, 1)
		require.NoError(t, err)
		assert.Equal(t, state, items[0].Status, "reopened and closed again, the table follows")
	}
}

// TestRefreshFilesThroughTheOutbox: the postmortem's refresh never creates
// an issue itself — it records a tracker effect per unfiled follow-up for
// the outbox (the one path to the tracker) and waits for the links; with
// no outbox delivering, it gives up waiting when its context ends, saying
// so, and the tracker was not asked to create anything.
func TestRefreshFilesThroughTheOutbox(t *testing.T) {
	tr := githubTracker(t)
	store := incidentstest.NewMemStore()
	svc := newService(t, store)
	withFollowUps(t, svc, "Alert on checkout latency", "Add a load test")
	var w waits
	worker := trackers.NewWorker(svc, tr.filer(t, w.http(), false), trackers.Options{Logger: quiet})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := worker.Refresh(ctx, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 follow-ups of incident #1 are not filed yet (the outbox keeps trying)")
	assert.NotContains(t, err.Error(), "action items of incident", "one sentence for people, however the deadline was met")
	assert.Empty(t, tr.issues(), "nothing filed outside the outbox")
	var seqs []uint64
	for _, e := range store.Effects() {
		if seq, ok := e.FollowUp(); ok {
			assert.Equal(t, "tracker", e.Notifier)
			seqs = append(seqs, seq)
		}
	}
	assert.Len(t, seqs, 2, "one tracker effect per unfiled follow-up")
}
