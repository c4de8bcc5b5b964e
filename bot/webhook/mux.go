package webhook

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firebreak/firebreak/bot/metrics"
)

// Mux serves everything on the FIREBREAK_LISTEN address: the alert
// endpoints under /alerts/, /metrics from reg, and /healthz, which answers
// 200 "ok" while the process is serving (a liveness check: it needs no
// token, reveals nothing, and touches no storage).
func Mux(intake http.Handler, reg prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/alerts/", intake)
	mux.Handle("GET /metrics", metrics.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
