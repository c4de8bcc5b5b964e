package bot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/probe"
	"github.com/firebreak/firebreak/bot/webhook"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// TestCardShowsWhatTheAlertSaid reproduces issue 12 item 6: the
// description, runbook and source links and the probe's explanation were
// stored but shown nowhere. The first card shows them.
func TestCardShowsWhatTheAlertSaid(t *testing.T) {
	opened := time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)
	inc := &incidents.Incident{
		Number: 1, Title: "Checkout error rate above 1%", Severity: incidents.SEV1, Status: incidents.StatusTriggered,
		OpenedAt: opened,
		Trigger: incidents.Alert{
			Source: "alertmanager", Title: "Checkout error rate above 1%",
			URL: "http://prometheus:9090/graph?g0.expr=rate_5xx",
			Annotations: map[string]string{
				"description": "5.2% of checkout requests failed over the last 5 minutes (threshold 1%).",
				"runbook_url": "https://runbooks.example.com/checkout/high_error_rate",
				"dashboard":   "https://grafana.example.com/d/checkout",
			},
		},
	}
	m := renderer{platform: "console", now: opened.Add(90 * time.Second)}.card(inc, true)
	assert.Contains(t, m.Text, "\n> 5.2% of checkout requests failed over the last 5 minutes (threshold 1%).")
	fields := map[string]string{}
	for _, f := range m.Fields {
		fields[f.Label] = f.Value
	}
	assert.Equal(t, "https://runbooks.example.com/checkout/high_error_rate", fields["Runbook"], "URLs are not escaped")
	assert.Equal(t, "http://prometheus:9090/graph?g0.expr=rate_5xx", fields["Source"])
	assert.Equal(t, "https://grafana.example.com/d/checkout", fields["Dashboard"])
	assert.Contains(t, fields["Opened"], "open 1m30s", "durations as people read them")

	// A probe's explanation is its description.
	inc.Trigger = incidents.Alert{Source: "probe", Title: "Probe checkout failing: 503 Service Unavailable",
		URL:         "https://shop.example.com/healthz",
		Annotations: map[string]string{"description": "GET https://shop.example.com/healthz failed 3 checks in a row: 503 Service Unavailable. The service is overloaded or in maintenance."}}
	m = renderer{platform: "console", now: opened}.card(inc, true)
	assert.Contains(t, m.Text, "The service is overloaded or in maintenance.")

	// Links that could break out of the markup are not shown as links.
	inc.Trigger = incidents.Alert{URL: "javascript:alert(1)", Annotations: map[string]string{"runbook_url": "https://x.example/a>b|c"}}
	m = renderer{platform: "console", now: opened}.card(inc, true)
	for _, f := range m.Fields {
		assert.NotContains(t, []string{"Runbook", "Source"}, f.Label)
	}

	// Declared incidents have no trigger: nothing quoted, no links.
	inc.Trigger = incidents.Alert{}
	m = renderer{platform: "console", now: opened.Add(1642881 * time.Nanosecond)}.card(inc, true)
	assert.NotContains(t, m.Text, "\n>")
	assert.Contains(t, m.Fields[len(m.Fields)-1].Value, "open <1s", "never 1.642881ms")
}

// TestTimelineLabelsEntryKinds: each /incident timeline line names its kind.
func TestTimelineLabelsEntryKinds(t *testing.T) {
	at := time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)
	rd := renderer{platform: "console"}
	line := rd.timelineLine(incidents.Entry{At: at, Kind: incidents.EntryAlert, Actor: incidents.Bot, Text: "HighErrorRate",
		Data: map[string]string{"url": "http://prom/graph", incidents.AnnotationPrefix + "runbook_url": "https://wiki/rb"}})
	assert.Equal(t, "`2026-12-04 14:00:00Z` [alert] Firebreak — HighErrorRate · https://wiki/rb · http://prom/graph", line)
	line = rd.timelineLine(incidents.Entry{At: at, Kind: incidents.EntryStepSkipped, Actor: incidents.Actor{Name: "ana"}, Text: "skipped"})
	assert.True(t, strings.HasPrefix(line, "`2026-12-04 14:00:00Z` [step skipped] ana"), line)
}

// TestWebhookAlertCardShowsRunbook follows issue 12 item 6 from the wire:
// Alertmanager's sample payload, parsed as the webhook does, ingested by
// the Router; the card posted to chat quotes the description and links the
// runbook and the source.
func TestWebhookAlertCardShowsRunbook(t *testing.T) {
	body, err := os.ReadFile("webhook/testdata/alertmanager_firing.json")
	require.NoError(t, err)
	alerts, err := webhook.ParseAlertmanager(body)
	require.NoError(t, err)
	f := newFixture(t, time.Minute)
	_, err = f.router.IngestAlerts(context.Background(), "alertmanager", "am-card", alerts[:1])
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(f.chat.postsCopy()) >= 1 }, 5*time.Second, 10*time.Millisecond)
	card := f.chat.postsCopy()[0].Message
	assert.Contains(t, card.Text, "> 5.2% of checkout requests failed over the last 5 minutes (threshold 1%).")
	fields := map[string]string{}
	for _, fl := range card.Fields {
		fields[fl.Label] = fl.Value
	}
	assert.Equal(t, "https://runbooks.example.com/checkout/high-error-rate", fields["Runbook"])
	assert.Contains(t, fields["Source"], "http://prometheus.example.com:9090/graph?")

	inc, err := f.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, "https://runbooks.example.com/checkout/high-error-rate", inc.Trigger.Annotations["runbook_url"])
	assert.Equal(t, alerts[0].StartsAt, inc.Trigger.StartsAt)
}

// TestProbeIncidentDetectedAtFirstFailure follows issue 12 items 6 and 9
// through the Router: a probe's incident starts at the first failed check
// (time to detect is the checks' time, not ~0), its first card quotes the
// probe's explanation, and the alert is counted.
func TestProbeIncidentDetectedAtFirstFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := newFixture(t, time.Minute)
	start := f.clock.Now()
	runner := probe.New([]playbooks.Probe{{Name: "checkout", URL: srv.URL, Method: "GET", Timeout: playbooks.Duration(time.Second),
		FailureThreshold: 3, SuccessThreshold: 1}}, f.router, probe.Options{Now: f.clock.Now, Metrics: f.obs})
	for i := range 3 {
		if i > 0 {
			f.clock.Advance(30 * time.Second)
		}
		require.NoError(t, runner.Tick(context.Background(), "checkout"))
	}
	inc, err := f.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, start, inc.DetectedAt.UTC())
	assert.Equal(t, time.Minute, inc.TimeToDetect())
	assert.Equal(t, start, inc.Trigger.StartsAt.UTC())
	assert.Equal(t, "probe", inc.Trigger.Source)

	require.Eventually(t, func() bool { return len(f.chat.postsCopy()) >= 1 }, 5*time.Second, 10*time.Millisecond)
	card := f.chat.postsCopy()[0].Message
	assert.Contains(t, card.Text, "failed 3 checks in a row: 503 Service Unavailable.")
	assert.Contains(t, card.Text, "overloaded or in maintenance")
	f.obs.mu.Lock()
	defer f.obs.mu.Unlock()
	assert.Equal(t, []string{"probe/opened"}, f.obs.counted)
}
