package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/probe"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

type fakeSink struct {
	mu     sync.Mutex
	alerts []incidents.Alert
	ids    []string
	err    error
}

func (s *fakeSink) IngestAlerts(_ context.Context, source, eventID string, alerts []incidents.Alert) ([]incidents.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if source != probe.Source {
		return nil, errors.New("wrong source " + source)
	}
	s.alerts = append(s.alerts, alerts...)
	s.ids = append(s.ids, eventID)
	return nil, nil
}

func (s *fakeSink) got() []incidents.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]incidents.Alert(nil), s.alerts...)
}

func statusServer(t *testing.T, code *int, mu *sync.Mutex) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		c := *code
		mu.Unlock()
		w.WriteHeader(c)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckExplainsFailures(t *testing.T) {
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(hang) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedURL := "http://" + ln.Addr().String() + "/"
	require.NoError(t, ln.Close())

	tests := []struct {
		name    string
		code    int
		url     string
		expect  []int
		ok      bool
		errText string
		explain string
	}{
		{name: "ok", code: 200, ok: true},
		{name: "500", code: 500, explain: "the service itself failed"},
		{name: "502", code: 502, explain: "got no valid answer from the upstream"},
		{name: "503", code: 503, explain: "overloaded or in maintenance"},
		{name: "504", code: 504, explain: "gave up waiting for the upstream"},
		{name: "404", code: 404, explain: "does not exist"},
		{name: "expected 204 got 200", code: 200, expect: []int{204}, explain: "expected one of [204]"},
		{name: "hang", url: hanging.URL, errText: "timeout", explain: "no response within 100ms"},
		{name: "refused", url: closedURL, errText: "connection refused", explain: "nothing is listening"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			code := tc.code
			u := tc.url
			if u == "" {
				u = statusServer(t, &code, &mu).URL
			}
			r := probe.New([]playbooks.Probe{{
				Name: "checkout", URL: u, Timeout: playbooks.Duration(100 * time.Millisecond), ExpectStatus: tc.expect,
			}}, &fakeSink{}, probe.Options{})
			res, err := r.Check(context.Background(), "checkout")
			require.NoError(t, err)
			assert.Equal(t, tc.ok, res.OK)
			assert.Equal(t, tc.code, res.Status)
			assert.Equal(t, tc.errText, res.Err)
			assert.Contains(t, res.Explanation, tc.explain)
			assert.Positive(t, res.Latency)
			if tc.ok {
				assert.Contains(t, res.Summary(), "✅ checkout: 200 OK in")
			} else {
				assert.Contains(t, res.Summary(), "❌ checkout: ")
				assert.Contains(t, res.Summary(), tc.explain)
			}
		})
	}
}

func TestCheckDNSFailure(t *testing.T) {
	r := probe.New([]playbooks.Probe{{Name: "dns", URL: "http://firebreak-probe-test.invalid/", Timeout: playbooks.Duration(2 * time.Second)}}, &fakeSink{}, probe.Options{})
	res, err := r.Check(context.Background(), "dns")
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.Equal(t, "DNS failure", res.Err)
	assert.Contains(t, res.Explanation, "could not be resolved")
}

func TestCheckTLSFailure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	r := probe.New([]playbooks.Probe{{Name: "tls", URL: srv.URL, Timeout: playbooks.Duration(2 * time.Second)}}, &fakeSink{}, probe.Options{})
	res, err := r.Check(context.Background(), "tls")
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.Equal(t, "TLS failure", res.Err)
}

func TestCheckUnknownProbe(t *testing.T) {
	r := probe.New(nil, &fakeSink{}, probe.Options{})
	_, err := r.Check(context.Background(), "nope")
	assert.ErrorIs(t, err, probe.ErrUnknownProbe)
}

func TestThresholds(t *testing.T) {
	var mu sync.Mutex
	code := 503
	srv := statusServer(t, &code, &mu)
	sink := &fakeSink{}
	r := probe.New([]playbooks.Probe{{
		Name: "checkout", URL: srv.URL, Service: "checkout", Severity: "SEV2",
		Timeout: playbooks.Duration(time.Second), FailureThreshold: 3, SuccessThreshold: 2,
	}}, sink, probe.Options{})
	ctx := context.Background()
	setCode := func(c int) { mu.Lock(); code = c; mu.Unlock() }

	for range 2 {
		require.NoError(t, r.Tick(ctx, "checkout"))
	}
	assert.Empty(t, sink.got(), "below the failure threshold nothing is raised")
	require.NoError(t, r.Tick(ctx, "checkout"))
	got := sink.got()
	require.Len(t, got, 1)
	a := got[0]
	assert.Equal(t, incidents.AlertFiring, a.Status)
	assert.Equal(t, "Probe checkout failing: 503 Service Unavailable", a.Title)
	assert.Equal(t, "probe:checkout", a.Fingerprint)
	assert.Equal(t, incidents.SEV2, a.Severity)
	assert.Equal(t, "checkout", a.Service)
	assert.Equal(t, "checkout", a.Labels["probe"])
	assert.Contains(t, a.Text, "overloaded or in maintenance")
	assert.Contains(t, a.Text, "Recent checks:")

	require.NoError(t, r.Tick(ctx, "checkout"))
	assert.Len(t, sink.got(), 1, "a firing probe is raised once")

	setCode(200)
	require.NoError(t, r.Tick(ctx, "checkout"))
	assert.Len(t, sink.got(), 1, "one success does not resolve")
	setCode(503)
	require.NoError(t, r.Tick(ctx, "checkout"))
	setCode(200)
	require.NoError(t, r.Tick(ctx, "checkout"))
	assert.Len(t, sink.got(), 1, "successes must be consecutive")
	require.NoError(t, r.Tick(ctx, "checkout"))
	got = sink.got()
	require.Len(t, got, 2)
	assert.Equal(t, incidents.AlertResolved, got[1].Status)
	assert.Equal(t, "probe:checkout", got[1].Fingerprint)
	// The event ids come namespaced once ("probe:<name>:<status>:<at>");
	// the Sink records them as is.
	sink.mu.Lock()
	ids := append([]string(nil), sink.ids...)
	sink.mu.Unlock()
	require.Len(t, ids, 2)
	assert.Regexp(t, `^probe:checkout:firing:[0-9]+$`, ids[0])
	assert.Regexp(t, `^probe:checkout:resolved:[0-9]+$`, ids[1])
}

// TestProbeAlertStartsAtFirstFailedCheck reproduces issue 12 item 9: a
// probe alert started when the threshold was crossed, so time to detect was
// always ~0. It starts at the first failed check of the run, and carries
// the explanation as its description for the first card.
func TestProbeAlertStartsAtFirstFailedCheck(t *testing.T) {
	var mu sync.Mutex
	code := 200
	srv := statusServer(t, &code, &mu)
	sink := &fakeSink{}
	clock := time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)
	r := probe.New([]playbooks.Probe{{
		Name: "checkout", URL: srv.URL, Method: "GET", Timeout: playbooks.Duration(time.Second),
		FailureThreshold: 3, SuccessThreshold: 1,
	}}, sink, probe.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	ctx := context.Background()
	tick := func(c int) {
		mu.Lock()
		code = c
		clock = clock.Add(30 * time.Second)
		mu.Unlock()
		require.NoError(t, r.Tick(ctx, "checkout"))
	}
	tick(200)
	tick(503) // 14:01:00, the first failed check
	tick(200) // a success breaks the run
	tick(503) // 14:02:00, the run that fires starts here
	tick(503)
	tick(503) // 14:03:00, threshold crossed
	got := sink.got()
	require.Len(t, got, 1)
	assert.Equal(t, time.Date(2026, 12, 4, 14, 2, 0, 0, time.UTC), got[0].StartsAt.UTC())
	assert.Contains(t, got[0].Annotations["description"], "failed 3 checks in a row: 503 Service Unavailable.")
	assert.Contains(t, got[0].Annotations["description"], "overloaded or in maintenance")
}

type countingSink struct {
	fakeSink
	counted []string
}

func (c *countingSink) IngestAlerts(ctx context.Context, source, eventID string, alerts []incidents.Alert) ([]incidents.Outcome, error) {
	if _, err := c.fakeSink.IngestAlerts(ctx, source, eventID, alerts); err != nil {
		return nil, err
	}
	return []incidents.Outcome{{Created: alerts[0].Status == incidents.AlertFiring}}, nil
}

func (c *countingSink) CountOutcomes(source string, alerts []incidents.Alert, outs []incidents.Outcome) {
	for i := range outs {
		c.counted = append(c.counted, fmt.Sprintf("%s/%s/created=%v", source, alerts[i].Status, outs[i].Created))
	}
}

// TestProbeAlertsAreCounted reproduces issue 12 item 9: incidents opened
// by probes never reached the metrics.
func TestProbeAlertsAreCounted(t *testing.T) {
	var mu sync.Mutex
	code := 503
	srv := statusServer(t, &code, &mu)
	sink := &countingSink{}
	r := probe.New([]playbooks.Probe{{Name: "checkout", URL: srv.URL, Timeout: playbooks.Duration(time.Second),
		FailureThreshold: 1, SuccessThreshold: 1}}, sink, probe.Options{Metrics: sink})
	ctx := context.Background()
	require.NoError(t, r.Tick(ctx, "checkout"))
	mu.Lock()
	code = 200
	mu.Unlock()
	require.NoError(t, r.Tick(ctx, "checkout"))
	assert.Equal(t, []string{"probe/firing/created=true", "probe/resolved/created=false"}, sink.counted)
}

func TestSinkFailureRetriesNextTick(t *testing.T) {
	var mu sync.Mutex
	code := 500
	srv := statusServer(t, &code, &mu)
	sink := &fakeSink{err: errors.New("store down")}
	r := probe.New([]playbooks.Probe{{Name: "p", URL: srv.URL, FailureThreshold: 1}}, sink, probe.Options{})
	require.Error(t, r.Tick(context.Background(), "p"))
	sink.mu.Lock()
	sink.err = nil
	sink.mu.Unlock()
	require.NoError(t, r.Tick(context.Background(), "p"))
	assert.Len(t, sink.got(), 1)
}

func TestRunSchedulesProbes(t *testing.T) {
	var mu sync.Mutex
	code := 500
	srv := statusServer(t, &code, &mu)
	sink := &fakeSink{}
	r := probe.New([]playbooks.Probe{
		{Name: "sched", URL: srv.URL, Interval: playbooks.Duration(5 * time.Millisecond), FailureThreshold: 2},
		{Name: "manual", URL: srv.URL, OnDemand: true, FailureThreshold: 1},
	}, sink, probe.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return len(sink.got()) == 1 }, 3*time.Second, 5*time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	got := sink.got()
	assert.Equal(t, "probe:sched", got[0].Fingerprint, "on-demand probes never run on a schedule")
}
