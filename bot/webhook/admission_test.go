package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/metrics"
	"github.com/firebreak/firebreak/bot/webhook"
	"github.com/firebreak/firebreak/incidents"
)

// gateSink holds every batch until the test opens the gate, counting the
// alerts it recorded.
type gateSink struct {
	gate     chan struct{}
	entered  chan struct{}
	recorded atomic.Int64
}

func (s *gateSink) IngestAlerts(ctx context.Context, _, _ string, alerts []incidents.Alert) ([]incidents.Outcome, error) {
	s.entered <- struct{}{}
	<-s.gate
	s.recorded.Add(int64(len(alerts)))
	outs := make([]incidents.Outcome, len(alerts))
	for i := range outs {
		outs[i].Incident = &incidents.Incident{Number: 1}
	}
	return outs, nil
}

func genericAlerts(tag string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"alerts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"title":"%s %d"}`, tag, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func postGeneric(t *testing.T, url string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/alerts/generic", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

// Beyond the bound on alerts or bytes in flight, a request is answered 503
// with Retry-After and nothing of it is recorded; once room is free the
// same request is accepted. Nothing is ever accepted and dropped.
func TestAdmissionControl(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  webhook.Config
	}{
		{"alerts in flight", webhook.Config{MaxInFlightAlerts: 5}},
		{"bytes in flight", webhook.Config{MaxInFlightBytes: 150}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &gateSink{gate: make(chan struct{}), entered: make(chan struct{}, 4)}
			cfg := tc.cfg
			cfg.Token, cfg.Logger, cfg.AdmissionWait, cfg.BusyRetryAfter = token, quietLogger(), 100*time.Millisecond, 3*time.Second
			srv := httptest.NewServer(webhook.New(cfg, sink, metrics.New(prometheus.NewRegistry())))
			defer srv.Close()

			first := make(chan int, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/alerts/generic", bytes.NewReader(genericAlerts("first", 4)))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					first <- 0
					return
				}
				_ = resp.Body.Close()
				first <- resp.StatusCode
			}()
			<-sink.entered // the first batch is being recorded

			busy := postGeneric(t, srv.URL, genericAlerts("second", 4))
			assert.Equal(t, http.StatusServiceUnavailable, busy.StatusCode)
			assert.Equal(t, "3", busy.Header.Get("Retry-After"))
			assert.Zero(t, sink.recorded.Load(), "the refused batch was not recorded")

			close(sink.gate)
			require.Equal(t, http.StatusOK, <-first)
			again := postGeneric(t, srv.URL, genericAlerts("second", 4))
			<-sink.entered
			assert.Equal(t, http.StatusOK, again.StatusCode, "with room again the retry is accepted")
			assert.EqualValues(t, 8, sink.recorded.Load())
		})
	}
}

// A lone request bigger than the whole budget is still admitted, so no
// payload is refused forever.
func TestAdmissionAdmitsALoneLargeRequest(t *testing.T) {
	sink := &gateSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	close(sink.gate)
	cfg := webhook.Config{Token: token, Logger: quietLogger(), MaxInFlightAlerts: 2, MaxInFlightBytes: 10}
	srv := httptest.NewServer(webhook.New(cfg, sink, nil))
	defer srv.Close()
	resp := postGeneric(t, srv.URL, genericAlerts("big", 50))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 50, sink.recorded.Load())
}
