package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/metrics"
	"github.com/firebreak/firebreak/bot/webhook"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

// firstStep is the title of the storm playbook's first step; the chat fake
// watches for it to time alert → first step posted.
const firstStep = "Validate the outage"

const stackYAML = `
alert_channels: ["#alerts"]
incidents:
  announce:
    console: "#alerts"
grouping:
  group_window: 10m
  repeat_interval: 1h
playbooks:
  - id: outage
    name: Outage
    default: true
    severity: SEV2
    steps:
      - id: validate
        title: ` + firstStep + `
      - id: mitigate
        title: Mitigate
`

// countingChat counts posts and signals each one that shows the first step.
type countingChat struct {
	posts   atomic.Int64
	updates atomic.Int64
	steps   chan time.Time
}

func (c *countingChat) Post(_ context.Context, channel string, m bot.Message) (bot.MessageRef, error) {
	n := c.posts.Add(1)
	if c.steps != nil && messageHas(m, firstStep) {
		select {
		case c.steps <- time.Now():
		default:
		}
	}
	return bot.MessageRef{Channel: channel, ID: strconv.FormatInt(n, 10)}, nil
}

func messageHas(m bot.Message, s string) bool {
	if strings.Contains(m.Text, s) {
		return true
	}
	for _, f := range m.Fields {
		if strings.Contains(f.Value, s) || strings.Contains(f.Label, s) {
			return true
		}
	}
	for _, a := range m.Actions {
		if strings.Contains(a.Label, s) {
			return true
		}
	}
	return false
}

func (c *countingChat) Update(context.Context, bot.MessageRef, bot.Message) error {
	c.updates.Add(1)
	return nil
}

func (c *countingChat) Upload(context.Context, string, string, bot.File, string) error { return nil }

type stack struct {
	url  string
	db   *storage.DB
	svc  *incidents.Service
	chat *countingChat
}

// newStack wires the real intake path: bbolt storage (fsync on) →
// incidents.Service → bot.Router → webhook handler on 127.0.0.1. It is
// torn down when the test ends.
func newStack(tb testing.TB) *stack {
	tb.Helper()
	s, stop := openStack(tb)
	tb.Cleanup(stop)
	return s
}

// openStack is newStack with the teardown handed to the caller.
func openStack(tb testing.TB) (*stack, func()) {
	tb.Helper()
	return openStackWith(tb, stackYAML)
}

// openStackWith is openStack with another playbooks.yaml.
func openStackWith(tb testing.TB, yaml string) (*stack, func()) {
	tb.Helper()
	dir := tb.TempDir()
	db, err := storage.Open(filepath.Join(dir, "firebreak.db"), storage.Options{})
	require.NoError(tb, err)
	books, err := playbooks.Parse("playbooks.yaml", []byte(yaml))
	require.NoError(tb, err)
	svc := incidents.NewService(db, books, incidents.WithLogger(quietLogger()))
	in := intake.New(svc, intake.Config{Logger: quietLogger()})
	router := bot.NewRouter(svc, bot.RouterConfig{Logger: quietLogger(), PostmortemDir: filepath.Join(dir, "pm"), Alerts: in})
	in.Attach(router.Rooms(), router)
	chat := &countingChat{steps: make(chan time.Time, 1)}
	router.AddChat("console", chat)
	ctx, cancel := context.WithCancel(context.Background())
	var done sync.WaitGroup
	done.Go(func() { _ = router.Run(ctx) })
	done.Go(func() { _ = in.Run(ctx) })
	h := webhook.New(webhook.Config{Token: token, Logger: quietLogger()}, in, metrics.New(prometheus.NewRegistry()))
	srv := httptest.NewServer(h)
	stop := func() {
		srv.Close()
		cancel()
		done.Wait()
		_ = db.Close()
	}
	return &stack{url: srv.URL, db: db, svc: svc, chat: chat}, stop
}

func genericBatch(start, n, fingerprints int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"alerts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fp := (start + i) % fingerprints
		fmt.Fprintf(&b, `{"title":"checkout errors %d","service":"svc-%d","severity":"SEV2","fingerprint":"fp-%d","text":"alert %d"}`, fp, fp, fp, start+i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func post(client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/alerts/generic", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func newClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

// storm posts total alerts over fingerprints in batches of the given
// sizes (cycled) from senders goroutines; every request body is distinct.
func storm(tb testing.TB, url string, total, fingerprints, senders int, sizes []int) (ok, failed int64) {
	tb.Helper()
	type job struct{ start, n int }
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for start, i := 0, 0; start < total; i++ {
			n := min(sizes[i%len(sizes)], total-start)
			jobs <- job{start, n}
			start += n
		}
	}()
	client := newClient()
	var wg sync.WaitGroup
	var good, bad atomic.Int64
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				code, err := post(client, url, genericBatch(j.start, j.n, fingerprints))
				if err != nil || code != http.StatusOK {
					bad.Add(int64(j.n))
					continue
				}
				good.Add(int64(j.n))
			}
		}()
	}
	wg.Wait()
	return good.Load(), bad.Load()
}

func TestStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("storm test posts 10,000 alerts")
	}
	s := newStack(t)
	const total, fingerprints = 10_000, 20
	ok, failed := storm(t, s.url, total, fingerprints, 16, []int{1, 7, 50, 3, 100, 1, 25})
	require.Zero(t, failed, "every request is answered 200")
	require.EqualValues(t, total, ok)

	list, err := s.svc.List(context.Background(), incidents.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, list, fingerprints, "one incident per fingerprint")
	sum := 0
	for _, inc := range list {
		sum += inc.AlertCount
	}
	assert.Equal(t, total, sum, "every alert counted, none lost")
	// Each incident gets its card (and its first step); repeats within the
	// hour-long repeat interval are coalesced into at most one summary each.
	assert.LessOrEqual(t, s.chat.posts.Load(), int64(3*fingerprints), "chat posts are bounded")
	t.Logf("chat posts %d, updates %d", s.chat.posts.Load(), s.chat.updates.Load())
}

// amBatch is an Alertmanager webhook (version 4) carrying alerts start…
// start+n-1 of one group: the same alertname and service, one pod each,
// "every pod of a service fails".
func amBatch(start, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"version":"4","status":"firing","receiver":"firebreak","groupKey":"{}:{alertname=\"PodCrashLooping\"}","alerts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"PodCrashLooping","service":"checkout","severity":"warning","pod":"checkout-%d"},"annotations":{"summary":"checkout pod crash-looping"},"startsAt":"2026-11-25T14:00:00Z","fingerprint":"%016x"}`, start+i, start+i)
	}
	b.WriteString(`],"commonLabels":{"alertname":"PodCrashLooping","service":"checkout"}}`)
	return b.Bytes()
}

// TestStormOfDistinctAlertsInOneGroup is the storm an incident tool exists
// for: 20,000 distinct alerts of one group, from 16 senders through the
// Alertmanager webhook. One incident holds them all, each counted once, and
// chat hears about it a bounded number of times.
func TestStormOfDistinctAlertsInOneGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("storm test posts 20,000 alerts")
	}
	s, stop := openStackWith(t, strings.Replace(stackYAML, "grouping:\n", "grouping:\n  group_by: [alertname, service]\n", 1))
	defer stop()
	const total = 20_000
	sizes := []int{1, 7, 50, 3, 100, 1, 25, 200}
	type job struct{ start, n int }
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for start, i := 0, 0; start < total; i++ {
			n := min(sizes[i%len(sizes)], total-start)
			jobs <- job{start, n}
			start += n
		}
	}()
	client := newClient()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 16 {
		wg.Go(func() {
			for j := range jobs {
				req, err := http.NewRequest(http.MethodPost, s.url+"/alerts/alertmanager", bytes.NewReader(amBatch(j.start, j.n)))
				if err != nil {
					bad.Add(int64(j.n))
					continue
				}
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(int64(j.n))
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.Add(int64(j.n))
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, bad.Load(), "every request is answered 200")

	ctx := context.Background()
	list, err := s.svc.List(ctx, incidents.ListQuery{})
	require.NoError(t, err)
	require.Len(t, list, 1, "one incident for the whole group")
	inc := list[0]
	assert.Equal(t, total, inc.AlertCount, "every alert counted once")
	assert.Equal(t, total, inc.DistinctAlerts)
	assert.Equal(t, total, inc.FiringAlerts)
	assert.LessOrEqual(t, len(inc.Alerts), incidents.MaxCardAlerts, "the incident record stays small")
	distinct := 0
	require.NoError(t, s.db.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Alerts(inc.Number, func(a incidents.AlertState) error {
			distinct++
			assert.Equal(t, 1, a.Count, "alert %s", a.Fingerprint)
			return nil
		})
	}))
	assert.Equal(t, total, distinct, "one record per distinct alert")
	entries := 0
	require.NoError(t, s.svc.Timeline(ctx, inc.Number, func(incidents.Entry) error { entries++; return nil }))
	assert.Equal(t, total, entries, "one timeline entry per distinct alert")
	// The card and its first step; the rest coalesce into at most one
	// summary per repeat interval (an hour here).
	assert.LessOrEqual(t, s.chat.posts.Load(), int64(3), "chat posts are bounded")
}

func benchIngest(b *testing.B, perRequest int) {
	s := newStack(b)
	total := b.N * perRequest
	b.ResetTimer()
	start := time.Now()
	ok, failed := storm(b, s.url, total, 20, 16, []int{perRequest})
	elapsed := time.Since(start)
	b.StopTimer()
	require.Zero(b, failed)
	require.EqualValues(b, total, ok)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "alerts/s")
	// Requests per fsynced commit: how well group commit shares the disk
	// flushes between the senders.
	st := s.db.Stats()
	b.ReportMetric(float64(st.Updates)/float64(max(st.Commits, 1)), "updates/commit")
}

// BenchmarkIngest1PerRequest: 16 senders, one alert per request, every
// alert committed to bbolt (fsync on) before its 200.
func BenchmarkIngest1PerRequest(b *testing.B) { benchIngest(b, 1) }

// BenchmarkIngest100PerRequest: as above with 100 alerts per request.
func BenchmarkIngest100PerRequest(b *testing.B) { benchIngest(b, 100) }

// nullSink answers every batch at once and records nothing.
type nullSink struct{}

func (nullSink) IngestAlerts(_ context.Context, _, _ string, alerts []incidents.Alert) ([]incidents.Outcome, error) {
	outs := make([]incidents.Outcome, len(alerts))
	inc := &incidents.Incident{Number: 1}
	for i := range outs {
		outs[i].Incident = inc
	}
	return outs, nil
}

// BenchmarkIngest1PerRequestHTTPOnly is BenchmarkIngest1PerRequest with a
// sink that records nothing: the same senders, client and handler, no
// router, service or storage. It is the ceiling the HTTP exchange alone
// allows on the machine, to read the real benchmark against.
func BenchmarkIngest1PerRequestHTTPOnly(b *testing.B) {
	h := webhook.New(webhook.Config{Token: token, Logger: quietLogger()}, nullSink{}, metrics.New(prometheus.NewRegistry()))
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	b.ResetTimer()
	start := time.Now()
	ok, failed := storm(b, srv.URL, b.N, 20, 16, []int{1})
	elapsed := time.Since(start)
	b.StopTimer()
	require.Zero(b, failed)
	require.EqualValues(b, b.N, ok)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
}

// BenchmarkAlertToFirstStep times one new alert from the start of its POST
// to the chat receiving a message showing the playbook's first step.
func BenchmarkAlertToFirstStep(b *testing.B) {
	s := newStack(b)
	client := newClient()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		body := []byte(fmt.Sprintf(`{"title":"latency probe %d","fingerprint":"lat-%d"}`, i, i))
		start := time.Now()
		code, err := post(client, s.url, body)
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, code)
		select {
		case at := <-s.chat.steps:
			lat = append(lat, at.Sub(start))
		case <-time.After(5 * time.Second):
			b.Fatal("first step never posted")
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkStormRSS runs the 10,000-alert storm and reports resident
// memory right after the last one, its stack still open. Each iteration's
// stack is closed before the next starts, so the figure does not grow with
// b.N (a faster storm used to mean more stacks alive at the end).
func BenchmarkStormRSS(b *testing.B) {
	var rss float64
	for range b.N {
		s, stop := openStack(b)
		ok, failed := storm(b, s.url, 10_000, 20, 16, []int{1, 7, 50, 3, 100, 1, 25})
		require.Zero(b, failed)
		require.EqualValues(b, 10_000, ok)
		rss = vmRSSMiB(b)
		stop()
	}
	b.ReportMetric(rss, "RSS-MiB")
}

func vmRSSMiB(tb testing.TB) float64 {
	f, err := os.Open("/proc/self/status")
	require.NoError(tb, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			require.NoError(tb, err)
			return kb / 1024
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}
