package incidents_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

// podAlert is one pod of a service failing: the same alertname and
// service, a different instance, so every pod is a distinct alert of one
// group.
func podAlert(i int, status incidents.AlertStatus) incidents.Alert {
	pod := fmt.Sprintf("checkout-%05d", i)
	return incidents.Alert{Source: "alertmanager", Status: status, Name: "PodCrashLooping", Title: "PodCrashLooping",
		Service: "checkout", Severity: incidents.SEV2,
		Labels: map[string]string{"alertname": "PodCrashLooping", "service": "checkout", "pod": pod}}
}

// storm sends n distinct alerts of one group in batches of 500, one
// transaction each, as an Alertmanager would.
func storm(t testing.TB, svc *incidents.Service, n int, status incidents.AlertStatus) {
	t.Helper()
	for i := 0; i < n; i += 500 {
		batch := make([]incidents.Alert, 0, 500)
		for j := i; j < min(i+500, n); j++ {
			batch = append(batch, podAlert(j, status))
		}
		_, err := svc.ReceiveAlerts(context.Background(), incidents.Origin{Actor: incidents.Bot, Home: home, EventID: fmt.Sprintf("%s-%d", status, i)}, batch)
		require.NoError(t, err)
	}
}

func groupedConfig(t testing.TB) *playbooks.Config {
	t.Helper()
	c := playbooks.Default()
	c.Grouping.GroupBy = []string{"alertname", "service"}
	return c
}

func TestAlertSummaryOfAStorm(t *testing.T) {
	ctx := context.Background()
	store := incidentstest.NewMemStore()
	clock := incidentstest.NewClock(t0)
	svc := incidents.NewService(store, groupedConfig(t), incidents.WithClock(clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	storm(t, svc, 1200, incidents.AlertFiring)
	clock.Advance(time.Minute)
	// pod 700 repeats twice, pods 0–99 resolve.
	for range 2 {
		_, err := svc.ReceiveAlert(ctx, by(incidents.Bot), podAlert(700, incidents.AlertFiring))
		require.NoError(t, err)
	}
	storm(t, svc, 100, incidents.AlertResolved)

	inc, sum, err := svc.AlertSummary(ctx, 1, 5)
	require.NoError(t, err)
	assert.Equal(t, 1202, inc.AlertCount)
	assert.Equal(t, 1200, inc.DistinctAlerts)
	assert.Equal(t, 1100, inc.FiringAlerts)
	assert.Equal(t, incidents.AlertSummary{Total: 1202, Distinct: 1200, Firing: 1100}, incidents.AlertSummary{Total: sum.Total, Distinct: sum.Distinct, Firing: sum.Firing})
	require.Len(t, sum.Top, 5)
	assert.Equal(t, "PodCrashLooping / checkout-00700", sum.Top[0].Label(), "firing, most received first")
	assert.Equal(t, 3, sum.Top[0].Count)
	for _, a := range sum.Top {
		assert.True(t, a.Firing)
	}
	assert.Equal(t, 1195, sum.More)
	assert.Equal(t, []incidents.AlertNameCount{{Name: "PodCrashLooping", Distinct: 1200, Firing: 1100, Count: 1202}}, sum.Names)
	lines := sum.Lines()
	assert.Len(t, lines, 7)
	assert.Equal(t, "and 1195 more", lines[6])

	var kinds = map[incidents.EntryKind]int{}
	require.NoError(t, svc.Timeline(ctx, 1, func(e incidents.Entry) error { kinds[e.Kind]++; return nil }))
	assert.Equal(t, 1200, kinds[incidents.EntryAlert], "one entry per distinct alert's first firing")
	assert.Equal(t, 100, kinds[incidents.EntryAlertResolved], "and one per resolution")
	assert.Zero(t, kinds[incidents.EntryAlertRepeat], "repeats are counted on the alert record")

	var pm bytes.Buffer
	require.NoError(t, svc.Postmortem(ctx, 1, &pm))
	doc := pm.String()
	assert.Contains(t, doc, "## Alerts")
	assert.Contains(t, doc, "1202 received from 1200 distinct alerts (1100 still firing)")
	assert.Contains(t, doc, "_… and 1180 more distinct alerts._")
	assert.Contains(t, doc, "×1200 alerts grouped in")
	assert.Contains(t, doc, "×100 alerts resolved")
	assert.Less(t, strings.Count(doc, "\n"), 200, "a storm reads as a short document")
}

// BenchmarkPostmortem50kAlerts renders the postmortem of an incident that
// holds 50,000 distinct alerts (one group), stored in bbolt. The target is
// under one second per render.
func BenchmarkPostmortem50kAlerts(b *testing.B) {
	db, err := storage.Open(filepath.Join(b.TempDir(), "firebreak.db"), storage.Options{NoSync: true, SeenTTL: -1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	defer db.Close()
	svc := incidents.NewService(db, groupedConfig(b), incidents.WithClock(func() time.Time { return t0 }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	storm(b, svc, 50_000, incidents.AlertFiring)
	inc, err := svc.Get(context.Background(), 1)
	require.NoError(b, err)
	require.Equal(b, 50_000, inc.DistinctAlerts)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := svc.Postmortem(context.Background(), 1, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// Resolving an incident ungroups every one of its distinct alerts (streamed
// from their records), so any of them firing later opens a new incident.
func TestResolveUngroupsEveryDistinctAlert(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(filepath.Join(t.TempDir(), "firebreak.db"), storage.Options{NoSync: true, SeenTTL: -1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	clock := incidentstest.NewClock(t0)
	svc := incidents.NewService(db, groupedConfig(t), incidents.WithClock(clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	storm(t, svc, 1500, incidents.AlertFiring)
	_, err = svc.Resolve(ctx, by(alice), 1, "fixed")
	require.NoError(t, err)
	for _, fp := range []int{0, 777, 1499} {
		a := podAlert(fp, incidents.AlertFiring)
		require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
			_, ok, err := tx.OpenByFingerprint(incidents.Fingerprint(a))
			assert.False(t, ok, "alert %d still grouped", fp)
			return err
		}))
	}
	clock.Advance(time.Minute)
	out, err := svc.ReceiveAlert(ctx, by(incidents.Bot), podAlert(777, incidents.AlertFiring))
	require.NoError(t, err)
	assert.True(t, out.Created)
	assert.Equal(t, uint64(2), out.Incident.Number)
}

// TestAlertSummaryLinks: the links list holds one row per distinct alert
// that carried a link, even when the top rows carry none, and a postmortem
// lists them from the alert records, dropping links that are not http(s).
func TestAlertSummaryLinks(t *testing.T) {
	ctx := context.Background()
	store := incidentstest.NewMemStore()
	clock := incidentstest.NewClock(t0)
	svc := incidents.NewService(store, groupedConfig(t), incidents.WithClock(clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	var batch []incidents.Alert
	for i := range 30 {
		a := podAlert(i, incidents.AlertFiring)
		switch {
		case i >= 25: // the linked ones, resolved below: never in the top rows
			a.URL = fmt.Sprintf("https://prometheus.example.com/graph?pod=%d", i)
			a.Annotations = map[string]string{"runbook_url": "https://runbooks.example.com/crashloop"}
		case i == 24:
			a.URL = "javascript:alert(1)"
			a.Annotations = map[string]string{"runbook": "javascript:alert(2)"}
		}
		batch = append(batch, a)
	}
	_, err := svc.ReceiveAlerts(ctx, by(incidents.Bot), batch)
	require.NoError(t, err)
	clock.Advance(time.Minute)
	for i := 24; i < 30; i++ {
		_, err := svc.ReceiveAlert(ctx, by(incidents.Bot), podAlert(i, incidents.AlertResolved))
		require.NoError(t, err)
	}

	_, sum, err := svc.AlertSummary(ctx, 1, 3)
	require.NoError(t, err)
	require.Len(t, sum.Top, 3)
	for _, a := range sum.Top {
		assert.Empty(t, a.URL, "the firing rows carry no link")
	}
	require.Len(t, sum.Linked, 3)
	assert.Equal(t, 3, sum.MoreLinked, "6 distinct alerts carry links")
	for _, a := range sum.Linked {
		assert.False(t, a.Firing)
		assert.NotEmpty(t, a.URL)
		assert.NotEmpty(t, a.Runbook(), "the runbook stays on the row")
		assert.Nil(t, a.Labels, "rows stay small")
	}

	var pm bytes.Buffer
	require.NoError(t, svc.Postmortem(ctx, 1, &pm))
	doc := pm.String()
	_, links, ok := strings.Cut(doc, "### Alert links\n")
	require.True(t, ok)
	links, _, _ = strings.Cut(links, "\n###")
	assert.Equal(t, 5, strings.Count("\n"+links, "\n- "), "one line per distinct alert with a safe link")
	assert.NotContains(t, links, "checkout-00024", "an alert whose only links are javascript: lists nothing")
	assert.Contains(t, links, "- PodCrashLooping / checkout-00025 — [source](https://prometheus.example.com/graph?pod=25) — [runbook](https://runbooks.example.com/crashloop)")
	assert.NotContains(t, doc, "javascript:")
	assert.NotContains(t, links, "more alerts with links", "6 alerts with links, all listed")
}
