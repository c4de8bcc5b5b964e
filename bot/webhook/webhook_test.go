package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/metrics"
	"github.com/firebreak/firebreak/bot/webhook"
	"github.com/firebreak/firebreak/incidents"
)

type call struct {
	source, eventID string
	alerts          []incidents.Alert
}

type fakeSink struct {
	mu    sync.Mutex
	calls []call
	err   error
	panic bool
}

func (s *fakeSink) IngestAlerts(_ context.Context, source, eventID string, alerts []incidents.Alert) ([]incidents.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.panic {
		panic("sink exploded")
	}
	if s.err != nil {
		return nil, s.err
	}
	dup := false
	for _, c := range s.calls {
		dup = dup || c.eventID == eventID
	}
	s.calls = append(s.calls, call{source, eventID, alerts})
	outs := make([]incidents.Outcome, len(alerts))
	for i := range alerts {
		outs[i] = incidents.Outcome{Incident: &incidents.Incident{Number: 7}, Created: i == 0 && !dup, Duplicate: dup}
	}
	return outs, nil
}

const token = "s3cret-token"

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := readTestdata(name)
	require.NoError(t, err)
	return b
}

func readTestdata(name string) ([]byte, error) {
	f, err := http.Dir("testdata").Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type resp struct {
	Received  int      `json:"received"`
	Incidents []uint64 `json:"incidents"`
	Duplicate bool     `json:"duplicate"`
	Error     string   `json:"error"`
}

func do(t *testing.T, h http.Handler, method, path string, body []byte, hdr map[string]string) (*httptest.ResponseRecorder, resp) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r resp
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r), rec.Body.String())
	return rec, r
}

func TestEndpointsAcceptRealPayloads(t *testing.T) {
	tests := []struct {
		path, file string
		want       int
	}{
		{"/alerts/alertmanager", "alertmanager_firing.json", -1},
		{"/alerts/grafana", "grafana_firing.json", -1},
		{"/alerts/generic", "generic_single.json", 1},
		{"/alerts/generic", "generic_batch.json", -1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			sink := &fakeSink{}
			reg := prometheus.NewRegistry()
			m := metrics.New(reg)
			h := webhook.New(webhook.Config{Token: token, Logger: quietLogger()}, sink, m)
			rec, r := do(t, h, http.MethodPost, tc.path, sample(t, tc.file), map[string]string{"Authorization": "Bearer " + token})
			require.Equal(t, http.StatusOK, rec.Code, r.Error)
			require.Len(t, sink.calls, 1)
			c := sink.calls[0]
			source := strings.TrimPrefix(tc.path, "/alerts/")
			assert.Equal(t, source, c.source)
			assert.True(t, strings.HasPrefix(c.eventID, "webhook:"+source+":"))
			assert.NotEmpty(t, c.alerts)
			if tc.want > 0 {
				assert.Len(t, c.alerts, tc.want)
			}
			assert.Equal(t, len(c.alerts), r.Received)
			assert.Equal(t, []uint64{7}, r.Incidents)
			scrape := httptest.NewRecorder()
			metrics.Handler(reg).ServeHTTP(scrape, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			assert.Contains(t, scrape.Body.String(), `firebreak_alerts_received_total{outcome="opened",source="`+source+`"} 1`)
		})
	}
}

func TestRefusals(t *testing.T) {
	body := []byte(`{"title":"db down"}`)
	now := time.Unix(1_800_000_000, 0)
	signed := func(ts time.Time, b []byte) map[string]string {
		return map[string]string{
			"Authorization":         "Bearer " + token,
			webhook.SignatureHeader: webhook.Sign("hmac-key", ts, b),
			webhook.TimestampHeader: strconv.FormatInt(ts.Unix(), 10),
		}
	}
	tests := []struct {
		name     string
		cfg      webhook.Config
		method   string
		path     string
		body     []byte
		hdr      map[string]string
		sinkErr  error
		panic    bool
		code     int
		reason   string
		recorded bool
	}{
		{name: "no token configured", cfg: webhook.Config{}, hdr: map[string]string{"Authorization": "Bearer x"}, code: 401, reason: "intake is closed"},
		{name: "missing token", cfg: webhook.Config{Token: token}, hdr: map[string]string{}, code: 401, reason: "missing"},
		{name: "wrong token", cfg: webhook.Config{Token: token}, hdr: map[string]string{"Authorization": "Bearer nope"}, code: 401, reason: "wrong bearer token"},
		{name: "basic auth", cfg: webhook.Config{Token: token}, hdr: map[string]string{"Authorization": "Basic " + token}, code: 401, reason: "missing"},
		{name: "hmac ok", cfg: webhook.Config{Token: token, HMACSecret: "hmac-key"}, hdr: signed(now, body), code: 200, recorded: true},
		{name: "hmac only ok", cfg: webhook.Config{HMACSecret: "hmac-key"}, hdr: signed(now, body), code: 200, recorded: true},
		{name: "hmac missing", cfg: webhook.Config{Token: token, HMACSecret: "hmac-key"}, hdr: map[string]string{"Authorization": "Bearer " + token}, code: 401, reason: "missing X-Firebreak-Signature"},
		{name: "hmac wrong body", cfg: webhook.Config{Token: token, HMACSecret: "hmac-key"}, hdr: signed(now, []byte(`{"title":"other"}`)), code: 401, reason: "does not match"},
		{name: "hmac stale", cfg: webhook.Config{Token: token, HMACSecret: "hmac-key"}, hdr: signed(now.Add(-6*time.Minute), body), code: 401, reason: "more than 5 minutes"},
		{name: "hmac future", cfg: webhook.Config{Token: token, HMACSecret: "hmac-key"}, hdr: signed(now.Add(6*time.Minute), body), code: 401, reason: "more than 5 minutes"},
		{name: "oversize", cfg: webhook.Config{Token: token, MaxBody: 64}, body: []byte(`{"title":"` + strings.Repeat("x", 100) + `"}`), code: 413, reason: "larger than 64 bytes"},
		{name: "malformed json", cfg: webhook.Config{Token: token}, body: []byte(`{"title":`), code: 400, reason: "JSON"},
		{name: "missing title", cfg: webhook.Config{Token: token}, body: []byte(`{"text":"x"}`), code: 400, reason: "title"},
		{name: "wrong method", cfg: webhook.Config{Token: token}, method: http.MethodGet, code: 405, reason: "POST"},
		{name: "unknown endpoint", cfg: webhook.Config{Token: token}, path: "/alerts/nagios", code: 404, reason: "no such alert endpoint"},
		{name: "sink down", cfg: webhook.Config{Token: token}, sinkErr: errors.New("disk full"), code: 503, reason: "disk full"},
		{name: "sink rejects", cfg: webhook.Config{Token: token}, sinkErr: incidents.ErrEmpty, code: 400},
		{name: "panic", cfg: webhook.Config{Token: token}, panic: true, code: 500, reason: "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &fakeSink{err: tc.sinkErr, panic: tc.panic}
			tc.cfg.Logger = quietLogger()
			tc.cfg.Now = func() time.Time { return now }
			h := webhook.New(tc.cfg, sink, metrics.New(prometheus.NewRegistry()))
			method, path, b, hdr := tc.method, tc.path, tc.body, tc.hdr
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/alerts/generic"
			}
			if b == nil {
				b = body
			}
			if hdr == nil {
				hdr = map[string]string{"Authorization": "Bearer " + token}
			}
			rec, r := do(t, h, method, path, b, hdr)
			assert.Equal(t, tc.code, rec.Code, r.Error)
			assert.Contains(t, r.Error, tc.reason)
			assert.Equal(t, tc.recorded, len(sink.calls) == 1, "the sink sees only accepted batches")
			switch tc.code {
			case 401:
				assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
			case 503:
				assert.Equal(t, "5", rec.Header().Get("Retry-After"))
			case 405:
				assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"))
			}
		})
	}
}

func TestIdempotentRedelivery(t *testing.T) {
	sink := &fakeSink{}
	h := webhook.New(webhook.Config{Token: token, Logger: quietLogger()}, sink, nil)
	auth := map[string]string{"Authorization": "Bearer " + token}
	body := sample(t, "alertmanager_firing.json")

	_, first := do(t, h, http.MethodPost, "/alerts/alertmanager", body, auth)
	_, again := do(t, h, http.MethodPost, "/alerts/alertmanager", body, auth)
	require.Len(t, sink.calls, 2)
	assert.Equal(t, sink.calls[0].eventID, sink.calls[1].eventID, "the same body is the same delivery")
	assert.False(t, first.Duplicate)
	assert.True(t, again.Duplicate)

	keyed := map[string]string{"Authorization": "Bearer " + token, webhook.IdempotencyKeyHeader: "delivery-42"}
	do(t, h, http.MethodPost, "/alerts/generic", []byte(`{"title":"a"}`), keyed)
	do(t, h, http.MethodPost, "/alerts/generic", []byte(`{"title":"a", "text":"reformatted"}`), keyed)
	require.Len(t, sink.calls, 4)
	assert.Equal(t, "webhook:generic:key:delivery-42", sink.calls[2].eventID)
	assert.Equal(t, sink.calls[2].eventID, sink.calls[3].eventID, "the Idempotency-Key wins over the body")

	do(t, h, http.MethodPost, "/alerts/grafana", body, auth)
	assert.NotEqual(t, sink.calls[0].eventID, sink.calls[len(sink.calls)-1].eventID, "event ids are per source")
}

func TestMux(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	mux := webhook.Mux(webhook.New(webhook.Config{Token: token, Logger: quietLogger()}, &fakeSink{}, m), reg)
	tests := []struct {
		method, path string
		auth         bool
		code         int
		body         string
	}{
		{http.MethodGet, "/healthz", false, 200, "ok"},
		{http.MethodGet, "/metrics", false, 200, "firebreak_alerts_received_total"},
		{http.MethodPost, "/alerts/generic", true, 200, `"received":1`},
		{http.MethodPost, "/alerts/generic", false, 401, "missing"},
		{http.MethodGet, "/nothing", false, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(`{"title":"x"}`))
			if tc.auth {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			assert.Equal(t, tc.code, rec.Code)
			assert.Contains(t, rec.Body.String(), tc.body)
		})
	}
}
