// Package metrics declares what Firebreak exposes on /metrics: alerts taken
// in by source and outcome, incidents opened, open incidents, and how long
// incidents take to be acknowledged and resolved.
//
// Metrics are registered on the prometheus.Registerer the caller passes in,
// never on the global default registry, so tests and embedded uses get a
// fresh set each time. Every method is safe on a nil *Metrics, so code paths
// that count can run in tests without a registry.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/firebreak/firebreak/incidents"
)

// Namespace prefixes every Firebreak metric name.
const Namespace = "firebreak"

// Outcomes of one received alert, the values of the "outcome" label of
// firebreak_alerts_received_total.
const (
	// OutcomeOpened: the alert opened a new incident.
	OutcomeOpened = "opened"
	// OutcomeGrouped: a new alert joined an open incident (same group).
	OutcomeGrouped = "grouped"
	// OutcomeRepeat: the same alert again while its incident is open.
	OutcomeRepeat = "repeat"
	// OutcomeResolved: monitoring reported the alert resolved.
	OutcomeResolved = "resolved"
	// OutcomeDuplicate: a redelivered payload (seen event id); nothing changed.
	OutcomeDuplicate = "duplicate"
	// OutcomeRejected: a request refused before any alert could be recorded
	// (authentication, size, malformed body). Counted once per request,
	// because an unreadable body has no countable alerts.
	OutcomeRejected = "rejected"
)

// Sources of alerts, the values of the "source" label.
const (
	SourceAlertmanager = "alertmanager"
	SourceGrafana      = "grafana"
	SourceGeneric      = "generic"
	SourceProbe        = "probe"
	SourceChat         = "chat"
)

// sources and outcomes are listed once so that every combination starts at
// zero: a dashboard then shows a flat line instead of "no data".
func sources() []string {
	return []string{SourceAlertmanager, SourceGrafana, SourceGeneric, SourceProbe, SourceChat}
}

func outcomes() []string {
	return []string{OutcomeOpened, OutcomeGrouped, OutcomeRepeat, OutcomeResolved, OutcomeDuplicate, OutcomeRejected}
}

// Metrics holds Firebreak's collectors. Create it with New.
type Metrics struct {
	alerts      *prometheus.CounterVec
	opened      *prometheus.CounterVec
	requests    *prometheus.CounterVec
	ack         prometheus.Histogram
	resolve     prometheus.Histogram
	openCounter atomic.Pointer[func() float64]
}

// New creates the collectors and registers them on reg. It panics if reg
// already holds collectors with the same names, as MustRegister does: that
// is a wiring mistake found at start-up, not a runtime condition.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "alerts_received_total",
			Help:      "Alerts received, by source (alertmanager, grafana, generic, probe, chat) and outcome (opened, grouped, repeat, resolved, duplicate, rejected).",
		}, []string{"source", "outcome"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "incidents_opened_total",
			Help:      "Incidents opened by an alert, by the alert's source.",
		}, []string{"source"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "webhook_requests_total",
			Help:      "Alert webhook requests answered, by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "time_to_acknowledge_seconds",
			Help:      "Time from an incident opening to its first acknowledgement.",
			Buckets:   []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400},
		}),
		resolve: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "time_to_resolve_seconds",
			Help:      "Time from an incident opening to its resolution.",
			Buckets:   []float64{300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 604800},
		}),
	}
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "open_incidents",
		Help:      "Incidents not yet resolved.",
	}, m.openIncidents)
	reg.MustRegister(m.alerts, m.opened, m.requests, m.ack, m.resolve, open)

	for _, s := range sources() {
		m.opened.WithLabelValues(s)
		for _, o := range outcomes() {
			m.alerts.WithLabelValues(s, o)
		}
	}
	for _, s := range []string{SourceAlertmanager, SourceGrafana, SourceGeneric} {
		for _, code := range []string{"200", "400", "401", "413", "503"} {
			m.requests.WithLabelValues(s, code)
		}
	}
	return m
}

// SetOpenIncidents supplies the open-incident count, read at every scrape.
// The gauge reads 0 until it is set. fn must be cheap and safe for
// concurrent use (a counter kept by storage, not a scan).
func (m *Metrics) SetOpenIncidents(fn func() float64) {
	if m == nil || fn == nil {
		return
	}
	m.openCounter.Store(&fn)
}

func (m *Metrics) openIncidents() float64 {
	fn := m.openCounter.Load()
	if fn == nil {
		return 0
	}
	return (*fn)()
}

// AlertsReceived adds n alerts with the given source and outcome (one of
// the Outcome constants).
func (m *Metrics) AlertsReceived(source, outcome string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.alerts.WithLabelValues(source, outcome).Add(float64(n))
}

// Rejected counts one refused request from source.
func (m *Metrics) Rejected(source string) { m.AlertsReceived(source, OutcomeRejected, 1) }

// CountOutcomes counts a batch the service recorded: one outcome per alert
// (outs[i] belongs to alerts[i]) and one opened incident per outcome that
// created one. Each source should count its own alerts exactly once, where
// it hands them to the service.
func (m *Metrics) CountOutcomes(source string, alerts []incidents.Alert, outs []incidents.Outcome) {
	if m == nil {
		return
	}
	for i := range outs {
		var a incidents.Alert
		if i < len(alerts) {
			a = alerts[i]
		}
		o := Classify(a, outs[i])
		m.alerts.WithLabelValues(source, o).Inc()
		if o == OutcomeOpened {
			m.opened.WithLabelValues(source).Inc()
		}
	}
}

// Classify names what recording alert a did, as one of the Outcome constants.
func Classify(a incidents.Alert, o incidents.Outcome) string {
	switch {
	case o.Duplicate:
		return OutcomeDuplicate
	case a.Status == incidents.AlertResolved:
		return OutcomeResolved
	case o.Created:
		return OutcomeOpened
	}
	// A distinct alert joining an open incident leaves an alert entry on
	// its timeline; a repeat is only counted on its alert's record.
	for _, e := range o.Entries {
		if e.Kind == incidents.EntryAlert {
			return OutcomeGrouped
		}
	}
	return OutcomeRepeat
}

// WebhookRequest counts one answered webhook request.
func (m *Metrics) WebhookRequest(endpoint string, code int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
}

// ObserveAcknowledged records one incident's time to acknowledge.
func (m *Metrics) ObserveAcknowledged(d time.Duration) {
	if m == nil || d <= 0 {
		return
	}
	m.ack.Observe(d.Seconds())
}

// ObserveResolved records one incident's time to resolve.
func (m *Metrics) ObserveResolved(d time.Duration) {
	if m == nil || d <= 0 {
		return
	}
	m.resolve.Observe(d.Seconds())
}

// Handler serves what reg gathers in the Prometheus text format (or
// OpenMetrics when the scraper asks for it).
func Handler(reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}
