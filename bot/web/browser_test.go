package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// chromiumPath is Debian's chromium, installed by .ci/install-chromium.
const chromiumPath = "/usr/bin/chromium"

// browserContext starts headless chromium with a fresh, empty profile.
// With CI=true a missing chromium fails the test; elsewhere it skips.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if p := os.Getenv("FIREBREAK_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s (CI=true: run .ci/install-chromium): %v", path, err)
		}
		t.Skipf("chromium not found at %s; install it (apt-get install chromium) to run the browser test", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(ctx)
	t.Cleanup(cancelCtx)
	return ctx
}

// screenshotDir is where the browser test saves its screenshots:
// $FIREBREAK_SCREENSHOTS, else a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("FIREBREAK_SCREENSHOTS"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// longIncident stores an acknowledged, mitigated and resolved incident
// with n timeline entries: notes, a status update every 500 entries and a
// step every 1,000.
func longIncident(t testing.TB, db incidents.Store, n int) (uint64, int) {
	t.Helper()
	opened := now.Add(-5 * time.Hour)
	var entries []incidents.Entry
	updates := 0
	for i := range n {
		e := incidents.Entry{At: opened.Add(time.Duration(i) * time.Second), Kind: incidents.EntryNote, Actor: ana, Text: "checked shard " + strconv.Itoa(i)}
		switch {
		case i%500 == 250:
			e.Kind, e.Text = incidents.EntryStatusUpdate, "still draining the queue ("+strconv.Itoa(i)+" left)"
			updates++
		case i%1000 == 100:
			e.Kind, e.Actor, e.Text = incidents.EntryStepDone, bo, "Drain the queue"
		case i%3 == 0:
			e.Kind, e.Actor, e.Text = incidents.EntryAlertRepeat, incidents.Bot, "QueueBacklog again"
		}
		entries = append(entries, e)
	}
	entries = append(entries, incidents.Entry{At: opened.Add(time.Duration(n) * time.Second), Kind: incidents.EntryFollowUp, Actor: bo, Text: "alert on queue age, not length"})
	num := create(t, db, &incidents.Incident{
		Title: "QueueBacklog orders-worker", Severity: incidents.SEV2, Status: incidents.StatusResolved, Service: "orders",
		Playbook: "default", Commander: &ana, AlertCount: n / 3,
		Trigger: incidents.Alert{Source: "alertmanager", Title: "QueueBacklog orders-worker", Text: "orders queue older than 10m",
			Annotations: map[string]string{"runbook_url": "https://runbooks.example.com/queue-backlog"}, URL: "https://prometheus.example.com/alerts"},
		Alerts:     queueAlerts(opened, n/3),
		Steps:      []incidents.StepState{{ID: "drain", Title: "Drain the queue", Status: incidents.StepDone, By: bo, At: opened.Add(20 * time.Minute)}, {ID: "scale", Title: "Scale the workers", Status: incidents.StepDone, By: ana, At: opened.Add(40 * time.Minute)}},
		Current:    2,
		DetectedAt: opened.Add(-4 * time.Minute), OpenedAt: opened,
		AcknowledgedAt: opened.Add(3 * time.Minute), AcknowledgedBy: ana,
		MitigatedAt: opened.Add(70 * time.Minute), MitigatedBy: incidents.Bot,
		ResolvedAt: opened.Add(time.Duration(n)*time.Second + time.Minute), ResolvedBy: ana,
		Summary: "scaled the orders workers and drained the backlog",
	}, entries...)
	return num, updates
}

// queueAlerts are the long incident's distinct alerts: one per worker, the
// first repeating count times, each with its runbook and source links.
func queueAlerts(opened time.Time, count int) []incidents.AlertState {
	var out []incidents.AlertState
	for i := range 3 {
		w := "orders-worker-" + strconv.Itoa(i+1)
		out = append(out, incidents.AlertState{Fingerprint: "q" + strconv.Itoa(i+1), Name: "QueueBacklog", Instance: w,
			Count: max(1, count/(i*50+1)), Firing: false, FirstSeen: opened.Add(time.Duration(i) * time.Minute), LastSeen: opened.Add(time.Hour),
			URL:         "https://prometheus.example.com/alerts?instance=" + w,
			Annotations: map[string]string{"runbook_url": "https://runbooks.example.com/queue-backlog"}})
	}
	return out
}

// TestBrowser drives a real headless chromium through the web view: log
// in, list, filter, open a long incident, check the drawn charts, download
// the postmortem, and save screenshots.
func TestBrowser(t *testing.T) {
	ctx := browserContext(t)
	db := openDB(t)
	seed(t, db)
	long, updates := longIncident(t, db, 6000)
	weeks := 0
	for w := range 12 {
		opened := now.Add(-time.Duration(w)*7*24*time.Hour - 50*time.Hour)
		create(t, db, &incidents.Incident{Title: "DiskFull batch-" + strconv.Itoa(w), Severity: incidents.Severity(1 + w%4), Service: []string{"batch", "search", "orders"}[w%3],
			Status: incidents.StatusResolved, Trigger: incidents.Alert{Source: "grafana"}, AlertCount: 3 + w,
			OpenedAt: opened, AcknowledgedAt: opened.Add(time.Duration(w+1) * time.Minute),
			MitigatedAt: opened.Add(time.Duration(w+2) * 7 * time.Minute), ResolvedAt: opened.Add(time.Duration(12-w) * 20 * time.Minute)})
		if now.Sub(opened) <= 30*24*time.Hour {
			weeks++ // one per week: weeks of the last 30 days with a resolved incident
		}
	}
	base := startServer(t, newServer(t, db))
	shots := screenshotDir(t)
	downloads := t.TempDir()

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, steps...))
	}
	text := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		require.NoError(t, err)
		return strings.TrimSpace(v)
	}
	eval := func(js string) int {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		require.NoError(t, err)
		return v
	}
	count := func(css string) int { return eval(`document.querySelectorAll(` + strconv.Quote(css) + `).length`) }
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(shots, name), png, 0o644))
	}
	// follow runs a click that loads a page and waits for the page.
	follow := func(click chromedp.Action[chromedp.Void]) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, click)
		require.NoError(t, err)
		require.EqualValues(t, 200, resp.Status)
	}
	location := func() string {
		v, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		return v
	}

	// Not logged in: the login page, then the list.
	do(chromedp.Navigate(base+Prefix+"/incidents"), chromedp.WaitVisible(chromedp.ID("password")))
	assert.Contains(t, location(), Prefix+"/login?next=")
	do(chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("incidents")))
	assert.Contains(t, text("count"), "16 incidents")
	shot("web-list.png")

	// Filter by severity and text.
	do(chromedp.SetValue(chromedp.ID("f-severity"), "SEV2"), chromedp.SendKeys(chromedp.ID("f-q"), "queue"))
	follow(chromedp.Click(chromedp.ID("f-apply")))
	assert.Contains(t, location(), "severity=SEV2")
	assert.Contains(t, text("count"), "1 incident ")
	require.Equal(t, 1, count("#incidents tbody tr"))

	// Open the long incident from the filtered list.
	do(chromedp.Click(chromedp.CSS("#incidents tbody tr a")), chromedp.WaitVisible(chromedp.ID("phase-chart")))
	assert.Equal(t, "#"+strconv.FormatUint(long, 10)+" QueueBacklog orders-worker", text("title"))
	assert.Equal(t, 5, count("#phase-chart circle.milestone"), "started, opened, acknowledged, mitigated, resolved")
	assert.Equal(t, 4, count("#phase-chart rect.phase"), "detect, respond, mitigate, recover")
	assert.Equal(t, updates, count("#phase-chart rect.mark-update"))
	assert.Equal(t, 6, count("#phase-chart rect.mark-step"))
	notes := count("#phase-chart rect.mark-note")
	assert.Positive(t, notes)
	assert.LessOrEqual(t, notes, 830, "one mark per pixel column at most")
	assert.Equal(t, entriesPerPage, count("#timeline-table tbody tr"))
	// The chart is really drawn: the recover phase has a size on screen.
	assert.Greater(t, eval(`Math.round(document.querySelector('#phase-chart rect.phase-recover').getBoundingClientRect().width)`), 10)
	shot("web-incident.png")
	// The alert records: one row per distinct alert, each with its links.
	assert.Equal(t, 3, count("#alerts-table tbody tr"))
	assert.Equal(t, 3, count(`#alerts-table a.runbook[href="https://runbooks.example.com/queue-backlog"]`))
	assert.Equal(t, 3, count(`#alerts-table a.source[href^="https://prometheus.example.com/alerts?instance=orders-worker-"]`))
	assert.Contains(t, text("alert-summary"), "2000 received from 3 distinct alerts")
	do(chromedp.ScrollIntoView(chromedp.ID("alerts")))
	alerts, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID("alerts")))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(shots, "web-incident-alerts.png"), alerts, 0o644))

	// The last timeline page ends with the action item.
	follow(chromedp.Click(chromedp.ID("timeline-last")))
	last, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#timeline-table tbody tr:last-child")))
	require.NoError(t, err)
	assert.Contains(t, last, "alert on queue age, not length")

	// Download the postmortem's Markdown.
	dctx, cancelDL := context.WithTimeout(ctx, 30*time.Second)
	defer cancelDL()
	progress := chromedp.Events(dctx, browser.DownloadProgress)
	do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptr(true),
		})
		return err
	}), chromedp.Click(chromedp.ID("download-md")))
	var file string
	for ev, err := range progress {
		require.NoError(t, err)
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(downloads, ev.GUID)
			break
		}
	}
	require.NotEmpty(t, file, "the download completed")
	md, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(md), "QueueBacklog orders-worker")
	assert.Contains(t, string(md), "alert on queue age, not length")

	// The overview: one MTTR bar and p90 tick per week with data.
	do(chromedp.Navigate(base+Prefix+"/overview"), chromedp.WaitVisible(chromedp.ID("mttr-weekly")))
	assert.Equal(t, weeks, count("#mttr-weekly rect.median"))
	assert.Equal(t, weeks, count("#mttr-weekly line.p90"))
	assert.Equal(t, 5, count("#opened-chart rect.bar"))
	shot("web-overview.png")

	// An XSS payload stays text: the title reads literally, nothing runs.
	do(chromedp.Navigate(base+Prefix+"/incidents/2"), chromedp.WaitVisible(chromedp.ID("title")))
	assert.True(t, strings.HasSuffix(text("title"), xssTitle), text("title"))
	assert.Zero(t, eval(`document.scripts.length + document.querySelectorAll('img, a[href^="javascript"]').length`))
	t.Logf("screenshots in %s", shots)
}

func ptr[T any](v T) *T { return &v }
