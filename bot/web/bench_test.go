package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// fillIncidents writes n incidents spread over the last 90 days, in big
// transactions, to build a benchmark database fast.
func fillIncidents(b *testing.B, db incidents.Store, n int) {
	b.Helper()
	svcs := []string{"api-gateway", "checkout", "payments-db", "search", "auth", "batch", "cdn", "mail"}
	sources := []string{"alertmanager", "grafana", "generic", "probe", ""}
	span := 90 * 24 * time.Hour
	for i := 0; i < n; i += 5000 {
		require.NoError(b, db.Update(context.Background(), func(tx incidents.Tx) error {
			for j := i; j < min(i+5000, n); j++ {
				opened := now.Add(-span + time.Duration(j)*span/time.Duration(n))
				inc := &incidents.Incident{
					Title: fmt.Sprintf("HighErrorRate %s shard %d", svcs[j%len(svcs)], j%97), Severity: incidents.Severity(1 + j%4),
					Service: svcs[j%len(svcs)], Status: incidents.StatusResolved, AlertCount: 1 + j%7,
					Trigger:  incidents.Alert{Source: sources[j%len(sources)]},
					OpenedAt: opened, AcknowledgedAt: opened.Add(time.Duration(1+j%13) * time.Minute),
					MitigatedAt: opened.Add(time.Duration(10+j%50) * time.Minute), ResolvedAt: opened.Add(time.Duration(30+j%300) * time.Minute),
				}
				if j%100 == 0 {
					inc.Status, inc.MitigatedAt, inc.ResolvedAt = incidents.StatusTriggered, time.Time{}, time.Time{}
				}
				if err := tx.CreateIncident(inc); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

// fillEntries appends n entries to a new incident and returns its number.
func fillEntries(b *testing.B, db incidents.Store, n int) uint64 {
	b.Helper()
	opened := now.Add(-48 * time.Hour)
	num := create(b, db, &incidents.Incident{Title: "long incident", Severity: incidents.SEV1, Status: incidents.StatusAcknowledged,
		OpenedAt: opened, AcknowledgedAt: opened.Add(time.Minute)})
	kinds := []incidents.EntryKind{incidents.EntryNote, incidents.EntryAlertRepeat, incidents.EntryStatusUpdate, incidents.EntryStepDone, incidents.EntryAlertRepeat}
	for i := 0; i < n; i += 5000 {
		require.NoError(b, db.Update(context.Background(), func(tx incidents.Tx) error {
			for j := i; j < min(i+5000, n); j++ {
				e := incidents.Entry{Incident: num, At: opened.Add(time.Duration(j) * time.Second), Kind: kinds[j%len(kinds)], Actor: ana, Text: fmt.Sprintf("entry %d: checked the dashboards again", j)}
				if err := tx.AppendEntry(&e); err != nil {
					return err
				}
			}
			inc, err := tx.Incident(num)
			if err != nil {
				return err
			}
			inc.Entries = uint64(min(i+5000, n))
			return tx.PutIncident(inc)
		}))
	}
	return num
}

// serveTimes runs path b.N times through the handler (no network) and
// reports server time p50 and p99 in milliseconds.
func serveTimes(b *testing.B, s *Server, path string) {
	b.Helper()
	ck := s.sessions.issue(time.Now())
	var times []time.Duration
	b.ResetTimer()
	cpu := processCPU()
	defer func() { reportCPU(b, processCPU()-cpu, len(times)) }()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(ck)
		w := httptest.NewRecorder()
		start := time.Now()
		s.ServeHTTP(w, req)
		times = append(times, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, w.Code, w.Body.String()[:min(200, w.Body.Len())])
		}
	}
	reportQuantiles(b, times)
}

// reportCPU reports the process CPU time per operation in milliseconds
// (the request and whatever the runtime did for it, such as GC).
func reportCPU(b *testing.B, cpu time.Duration, n int) {
	if n > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu-ms/op")
	}
}

// reportQuantiles reports p50 and p99 of times in milliseconds.
func reportQuantiles(b *testing.B, times []time.Duration) {
	slices.Sort(times)
	q := func(p float64) float64 {
		return float64(times[min(len(times)-1, int(p*float64(len(times))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkList100k is the list page and the overview over 100,000
// incidents, for every filter.
func BenchmarkList100k(b *testing.B) {
	db := openDB(b)
	fillIncidents(b, db, 100_000)
	s := newServer(b, db)
	s.index.every = 2 * time.Second
	start := time.Now()
	require.NoError(b, s.Warm(context.Background()))
	b.Logf("index of 100,000 incidents built in %s", time.Since(start))
	for _, path := range []string{
		"/incidents", "/incidents?page=1000", "/incidents?status=open", "/incidents?status=resolved",
		"/incidents?severity=SEV2", "/incidents?service=checkout", "/incidents?q=shard+42",
		"/incidents?q=nothing+matches+this", "/incidents?status=resolved&severity=SEV1&service=auth&q=error",
		"/overview", "/overview?days=90",
	} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) { serveTimes(b, s, Prefix+path) })
	}
	// The overview page caches per minute; this is its computation alone,
	// what the first visitor of a minute pays on top of rendering.
	snap, err := s.index.get(context.Background())
	require.NoError(b, err)
	b.Run("overview computation uncached, 90 days", func(b *testing.B) {
		var times []time.Duration
		cpu := processCPU()
		defer func() { reportCPU(b, processCPU()-cpu, len(times)) }()
		for b.Loop() {
			start := time.Now()
			buildOverview(snap.all, now, 90)
			times = append(times, time.Since(start))
		}
		reportQuantiles(b, times)
	})
}

// BenchmarkIncident100kEntries is the page of an incident with 100,000
// timeline entries: cold (first view reads the whole timeline for the
// chart's marks) and warm (marks cached; only new entries are read).
func BenchmarkIncident100kEntries(b *testing.B) {
	db := openDB(b)
	num := fillEntries(b, db, 100_000)
	path := Prefix + "/incidents/" + strconv.FormatUint(num, 10)
	b.Run("cold", func(b *testing.B) {
		s := newServer(b, db)
		b.ResetTimer()
		cpu, n := processCPU(), 0
		for b.Loop() {
			s.marks = newMarkCache(16)
			serveOnce(b, s, path)
			n++
		}
		reportCPU(b, processCPU()-cpu, n)
	})
	s := newServer(b, db)
	b.Run("warm first page", func(b *testing.B) { serveTimes(b, s, path) })
	b.Run("warm last page", func(b *testing.B) { serveTimes(b, s, path+"?after=99900") })
	b.Run("warm middle page", func(b *testing.B) { serveTimes(b, s, path+"?after=50000") })
}

func serveOnce(b *testing.B, s *Server, path string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.AddCookie(s.sessions.issue(time.Now()))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s: %d", path, w.Code)
	}
}

// BenchmarkIncident50kAlerts is the page of an incident that holds 50,000
// distinct alerts (a storm in one group): the first view streams every
// alert record twice (the Alerts section and the inline postmortem), later
// views of the unchanged incident come from the view cache.
func BenchmarkIncident50kAlerts(b *testing.B) {
	db := openDB(b)
	opened := now.Add(-time.Hour)
	num := create(b, db, &incidents.Incident{Title: "KubePodCrashLooping storm", Severity: incidents.SEV1, Status: incidents.StatusTriggered,
		OpenedAt: opened, AlertCount: 50_000, DistinctAlerts: 50_000, FiringAlerts: 50_000})
	for i := 0; i < 50_000; i += 5000 {
		require.NoError(b, db.Update(context.Background(), func(tx incidents.Tx) error {
			for j := i; j < i+5000; j++ {
				pod := fmt.Sprintf("checkout-%05d", j)
				if err := tx.PutAlert(num, incidents.AlertState{Fingerprint: fmt.Sprintf("%016x", j), Name: "KubePodCrashLooping", Title: "KubePodCrashLooping",
					Instance: pod, Source: "alertmanager", URL: "https://prometheus.example.com/graph?pod=" + pod,
					Labels:      map[string]string{"alertname": "KubePodCrashLooping", "service": "checkout", "pod": pod},
					Annotations: map[string]string{"description": "pod " + pod + " restarts", "runbook_url": "https://runbooks.example.com/crashloop"},
					Firing:      true, Count: 1, FirstSeen: opened, LastSeen: opened}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	path := Prefix + "/incidents/" + strconv.FormatUint(num, 10)
	b.Run("first view", func(b *testing.B) {
		s := newServer(b, db)
		b.ResetTimer()
		cpu, n := processCPU(), 0
		for b.Loop() {
			s.views = newViewCache(16)
			serveOnce(b, s, path)
			n++
		}
		reportCPU(b, processCPU()-cpu, n)
	})
	s := newServer(b, db)
	serveOnce(b, s, path) // fills the view cache
	b.Run("later views", func(b *testing.B) { serveTimes(b, s, path) })
}
