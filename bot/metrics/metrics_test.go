package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

func TestClassify(t *testing.T) {
	firing := incidents.Alert{Status: incidents.AlertFiring}
	resolved := incidents.Alert{Status: incidents.AlertResolved}
	repeat := incidents.Outcome{Repeat: true, Entries: []incidents.Entry{{Kind: incidents.EntryAlertRepeat}}}
	grouped := incidents.Outcome{Repeat: true, Entries: []incidents.Entry{{Kind: incidents.EntryAlert}}}
	tests := []struct {
		name string
		a    incidents.Alert
		o    incidents.Outcome
		want string
	}{
		{"created", firing, incidents.Outcome{Created: true}, OutcomeOpened},
		{"duplicate wins over everything", firing, incidents.Outcome{Created: true, Duplicate: true}, OutcomeDuplicate},
		{"resolved alert", resolved, incidents.Outcome{}, OutcomeResolved},
		{"same alert again", firing, repeat, OutcomeRepeat},
		{"new alert joins open incident", firing, grouped, OutcomeGrouped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Classify(tt.a, tt.o))
		})
	}
}

func TestCountOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	alerts := []incidents.Alert{{Status: incidents.AlertFiring}, {Status: incidents.AlertFiring}, {Status: incidents.AlertResolved}}
	outs := []incidents.Outcome{
		{Created: true},
		{Repeat: true, Entries: []incidents.Entry{{Kind: incidents.EntryAlertRepeat}}},
		{},
	}
	m.CountOutcomes(SourceAlertmanager, alerts, outs)
	m.Rejected(SourceGeneric)
	m.AlertsReceived(SourceChat, OutcomeDuplicate, 4)

	tests := []struct {
		source, outcome string
		want            float64
	}{
		{SourceAlertmanager, OutcomeOpened, 1},
		{SourceAlertmanager, OutcomeRepeat, 1},
		{SourceAlertmanager, OutcomeResolved, 1},
		{SourceAlertmanager, OutcomeGrouped, 0},
		{SourceGeneric, OutcomeRejected, 1},
		{SourceChat, OutcomeDuplicate, 4},
		{SourceProbe, OutcomeOpened, 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, testutil.ToFloat64(m.alerts.WithLabelValues(tt.source, tt.outcome)), "%s/%s", tt.source, tt.outcome)
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(m.opened.WithLabelValues(SourceAlertmanager)))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.opened.WithLabelValues(SourceGrafana)))
}

func TestPreinitialisedSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	n, err := testutil.GatherAndCount(reg, "firebreak_alerts_received_total")
	require.NoError(t, err)
	assert.Equal(t, len(sources())*len(outcomes()), n, "every source×outcome starts at zero")
	n, err = testutil.GatherAndCount(reg, "firebreak_incidents_opened_total")
	require.NoError(t, err)
	assert.Equal(t, len(sources()), n)
}

func TestOpenIncidentsAndHistograms(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	n := 0.0
	m.SetOpenIncidents(func() float64 { return n })
	n = 7
	m.ObserveAcknowledged(90 * time.Second)
	m.ObserveResolved(2 * time.Hour)
	m.ObserveResolved(0) // never resolved: not an observation
	m.WebhookRequest(SourceGrafana, http.StatusRequestEntityTooLarge)

	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	text := string(body)

	for _, want := range []string{
		"firebreak_open_incidents 7",
		"firebreak_time_to_acknowledge_seconds_count 1",
		"firebreak_time_to_acknowledge_seconds_sum 90",
		`firebreak_time_to_acknowledge_seconds_bucket{le="120"} 1`,
		`firebreak_time_to_acknowledge_seconds_bucket{le="60"} 0`,
		"firebreak_time_to_resolve_seconds_count 1",
		`firebreak_webhook_requests_total{code="413",endpoint="grafana"} 1`,
		`firebreak_alerts_received_total{outcome="opened",source="probe"} 0`,
	} {
		assert.Contains(t, text, want)
	}
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"), resp.Header.Get("Content-Type"))
}

func TestNilMetricsIsSafe(t *testing.T) {
	var m *Metrics
	assert.NotPanics(t, func() {
		m.SetOpenIncidents(func() float64 { return 1 })
		m.AlertsReceived(SourceChat, OutcomeOpened, 1)
		m.Rejected(SourceGeneric)
		m.CountOutcomes(SourceProbe, nil, []incidents.Outcome{{Created: true}})
		m.WebhookRequest(SourceGeneric, 200)
		m.ObserveAcknowledged(time.Second)
		m.ObserveResolved(time.Second)
	})
}

func TestOpenIncidentsBeforeSet(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP firebreak_open_incidents Incidents not yet resolved.
# TYPE firebreak_open_incidents gauge
firebreak_open_incidents 0
`), "firebreak_open_incidents"))
}
