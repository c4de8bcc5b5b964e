package cards_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
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
	m := cards.Renderer{Platform: "console", Now: opened.Add(90 * time.Second)}.Card(inc, true)
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
	m = cards.Renderer{Platform: "console", Now: opened}.Card(inc, true)
	assert.Contains(t, m.Text, "The service is overloaded or in maintenance.")

	// Links that could break out of the markup are not shown as links.
	inc.Trigger = incidents.Alert{URL: "javascript:alert(1)", Annotations: map[string]string{"runbook_url": "https://x.example/a>b|c"}}
	m = cards.Renderer{Platform: "console", Now: opened}.Card(inc, true)
	for _, f := range m.Fields {
		assert.NotContains(t, []string{"Runbook", "Source"}, f.Label)
	}

	// Declared incidents have no trigger: nothing quoted, no links.
	inc.Trigger = incidents.Alert{}
	m = cards.Renderer{Platform: "console", Now: opened.Add(1642881 * time.Nanosecond)}.Card(inc, true)
	assert.NotContains(t, m.Text, "\n>")
	assert.Contains(t, m.Fields[len(m.Fields)-1].Value, "open <1s", "never 1.642881ms")
}

// TestTimelineLabelsEntryKinds: each /incident timeline line names its kind.
func TestTimelineLabelsEntryKinds(t *testing.T) {
	at := time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)
	rd := cards.Renderer{Platform: "console"}
	line := rd.TimelineLine(incidents.Entry{At: at, Kind: incidents.EntryAlert, Actor: incidents.Bot, Text: "HighErrorRate",
		Data: map[string]string{"url": "http://prom/graph", incidents.AnnotationPrefix + "runbook_url": "https://wiki/rb"}})
	assert.Equal(t, "`2026-12-04 14:00:00Z` [alert] Firebreak — HighErrorRate · https://wiki/rb · http://prom/graph", line)
	line = rd.TimelineLine(incidents.Entry{At: at, Kind: incidents.EntryStepSkipped, Actor: incidents.Actor{Name: "ana"}, Text: "skipped"})
	assert.True(t, strings.HasPrefix(line, "`2026-12-04 14:00:00Z` [step skipped] ana"), line)
}
