package outbox

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firebreak/firebreak/incidents"
)

// Metrics are the outbox worker's Prometheus metrics. A nil *Metrics
// counts nothing.
type Metrics struct {
	settledTotal *prometheus.CounterVec
	attempts     prometheus.Counter
	inFlight     prometheus.Gauge
	queued       *prometheus.GaugeVec
	pruned       prometheus.Counter
}

// NewMetrics declares the worker's metrics on reg:
//
//	firebreak_outbox_effects_total{status}  effects settled: delivered, coalesced, gave_up
//	firebreak_outbox_attempts_total         delivery attempts made for settled effects
//	firebreak_outbox_in_flight              effects read and not yet settled
//	firebreak_outbox_queued{channel}        effects waiting in a channel's lane
//	firebreak_outbox_pruned_total           settled effects deleted after the retention
//
// The status labels start at zero, so dashboards show zeros, not gaps.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		settledTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "firebreak_outbox_effects_total",
			Help: "Effects the outbox settled, by how: delivered, coalesced (a newer one said it) or gave_up."}, []string{"status"}),
		attempts: prometheus.NewCounter(prometheus.CounterOpts{Name: "firebreak_outbox_attempts_total",
			Help: "Delivery attempts made for the effects the outbox settled."}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "firebreak_outbox_in_flight",
			Help: "Effects the outbox worker has read and not yet settled."}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "firebreak_outbox_queued",
			Help: "Effects waiting in a channel's lane (platform/channel, or notify/<name>)."}, []string{"channel"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{Name: "firebreak_outbox_pruned_total",
			Help: "Settled effects the outbox deleted once older than its retention."}),
	}
	for _, s := range []incidents.EffectStatus{incidents.EffectDelivered, incidents.EffectCoalesced, incidents.EffectGaveUp} {
		m.settledTotal.WithLabelValues(string(s))
	}
	reg.MustRegister(m.settledTotal, m.attempts, m.inFlight, m.queued, m.pruned)
	return m
}

func (m *Metrics) settled(d *Delivery) {
	if m == nil {
		return
	}
	m.settledTotal.WithLabelValues(string(d.Result.Status)).Inc()
	m.attempts.Add(float64(d.Result.Attempts))
}

// lanes records the in-flight count and one lane's queue length.
func (m *Metrics) lanes(live int, channel string, queued int) {
	if m == nil {
		return
	}
	m.inFlight.Set(float64(live))
	if queued == 0 {
		m.queued.DeleteLabelValues(channel)
		return
	}
	m.queued.WithLabelValues(channel).Set(float64(queued))
}

func (m *Metrics) prunedEffects(n int) {
	if m == nil || n == 0 {
		return
	}
	m.pruned.Add(float64(n))
}
