package bot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/probe"
	"github.com/firebreak/firebreak/bot/webhook"
	"github.com/firebreak/firebreak/playbooks"
)

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
	_, err = f.intake.IngestAlerts(context.Background(), "alertmanager", "am-card", alerts[:1])
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
		FailureThreshold: 3, SuccessThreshold: 1}}, f.intake, probe.Options{Now: f.clock.Now, Metrics: f.obs})
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
