// Package probe runs Firebreak's synthetic HTTP checks (playbooks.yaml
// "probes:"). A Runner checks each scheduled probe on its interval, raises a
// firing alert after FailureThreshold consecutive failures and a resolved
// alert after SuccessThreshold consecutive successes; Check runs one probe
// once for a playbook step of kind "probe".
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// Defaults applied to probe fields left zero, matching the playbooks loader.
const (
	DefaultInterval         = 30 * time.Second
	DefaultTimeout          = 5 * time.Second
	DefaultFailureThreshold = 3
	DefaultSuccessThreshold = 2
	// historyLen is how many recent results an alert's text lists.
	historyLen = 5
	// Source is the alert source probes report under.
	Source = "probe"
)

// ErrUnknownProbe is returned by Check for a name not in the configuration.
var ErrUnknownProbe = errors.New("unknown probe")

// Sink records alerts; intake.Intake implements it. The eventID it gets is
// namespaced ("probe:<name>:…") and recorded as is.
type Sink interface {
	IngestAlerts(ctx context.Context, source, eventID string, alerts []incidents.Alert) ([]incidents.Outcome, error)
}

// Options tunes a Runner. Zero values get sensible defaults.
type Options struct {
	// Client sends the checks; its own Timeout is ignored in favour of each
	// probe's. Default: a client that does not follow redirects, so a 3xx is
	// judged as the probe's own answer.
	Client *http.Client
	// Logger for sink failures (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock stamped on results and alerts (default time.Now).
	Now func() time.Time
	// Metrics counts the alerts probes raise and what they did (opened an
	// incident, repeat, resolved); nil means none.
	Metrics OutcomeCounter
}

// OutcomeCounter counts recorded alerts by source; *metrics.Metrics is one.
type OutcomeCounter interface {
	CountOutcomes(source string, alerts []incidents.Alert, outs []incidents.Outcome)
}

// Result is the outcome of one check.
type Result struct {
	Probe       string
	URL         string
	OK          bool
	Status      int // 0 when no response arrived
	Latency     time.Duration
	Err         string // transport failure, empty when a response arrived
	Explanation string // what the failure usually means and where to look
	At          time.Time
}

// Summary is one line for chat and the timeline.
func (r Result) Summary() string {
	mark := "✅"
	if !r.OK {
		mark = "❌"
	}
	what := r.Err
	if r.Status != 0 {
		what = statusText(r.Status)
	}
	s := fmt.Sprintf("%s %s: %s in %s", mark, r.Probe, what, r.Latency.Round(time.Millisecond))
	if !r.OK && r.Explanation != "" {
		s += " — " + r.Explanation
	}
	return s
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("%d", code)
}

// state is the per-probe counters a scheduled probe carries between checks.
type state struct {
	failures, successes int
	firing              bool
	// firstFailure is when the current run of failed checks began: the
	// alert's start, so time to detect counts from the first failed check.
	firstFailure time.Time
	history      []Result
}

// Runner owns the configured probes.
type Runner struct {
	probes map[string]playbooks.Probe
	order  []string
	sink   Sink
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	counts OutcomeCounter

	mu    sync.Mutex
	state map[string]*state
}

// New returns a Runner for cfgs; defaults fill fields left zero.
func New(cfgs []playbooks.Probe, sink Sink, opts Options) *Runner {
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runner{
		probes: make(map[string]playbooks.Probe, len(cfgs)),
		sink:   sink,
		client: opts.Client,
		log:    opts.Logger.With("component", "probe"),
		now:    opts.Now,
		counts: opts.Metrics,
		state:  make(map[string]*state, len(cfgs)),
	}
	for _, p := range cfgs {
		p = withDefaults(p)
		r.probes[p.Name] = p
		r.order = append(r.order, p.Name)
		r.state[p.Name] = &state{}
	}
	return r
}

func withDefaults(p playbooks.Probe) playbooks.Probe {
	if p.Method == "" {
		p.Method = http.MethodGet
	}
	if p.Interval <= 0 {
		p.Interval = playbooks.Duration(DefaultInterval)
	}
	if p.Timeout <= 0 {
		p.Timeout = playbooks.Duration(DefaultTimeout)
	}
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = DefaultFailureThreshold
	}
	if p.SuccessThreshold <= 0 {
		p.SuccessThreshold = DefaultSuccessThreshold
	}
	return p
}

// Run checks every scheduled (not on-demand) probe on its interval until
// ctx ends, starting each at a random offset within its first interval so
// probes do not fire in lockstep. It returns ctx's error.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, name := range r.order {
		p := r.probes[name]
		if p.OnDemand {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, p)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func (r *Runner) loop(ctx context.Context, p playbooks.Probe) {
	interval := p.Interval.D()
	t := time.NewTimer(rand.N(interval) + 1)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.Tick(ctx, p.Name); err != nil && ctx.Err() == nil {
			r.log.Warn("probe alert could not be recorded; will retry on the next check", "probe", p.Name, "err", err)
		}
		t.Reset(interval)
	}
}

// Tick runs one scheduled check of the named probe and raises or resolves
// its alert when a threshold is crossed. Run calls it on the interval;
// tests call it directly to drive the thresholds without sleeping.
func (r *Runner) Tick(ctx context.Context, name string) error {
	res, err := r.Check(ctx, name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	st := r.state[name]
	p := r.probes[name]
	st.history = append(st.history, res)
	if len(st.history) > historyLen {
		st.history = st.history[len(st.history)-historyLen:]
	}
	var alert *incidents.Alert
	if res.OK {
		st.failures = 0
		st.firstFailure = time.Time{}
		st.successes++
		if st.firing && st.successes >= p.SuccessThreshold {
			a := r.alert(p, res, st.history, incidents.AlertResolved)
			alert = &a
		}
	} else {
		st.successes = 0
		st.failures++
		if st.failures == 1 {
			st.firstFailure = res.At
		}
		if !st.firing && st.failures >= p.FailureThreshold {
			a := r.alert(p, res, st.history, incidents.AlertFiring)
			a.StartsAt = st.firstFailure
			alert = &a
		}
	}
	r.mu.Unlock()
	if alert == nil {
		return nil
	}
	eventID := fmt.Sprintf("probe:%s:%s:%d", name, alert.Status, res.At.UnixNano())
	outs, err := r.sink.IngestAlerts(ctx, Source, eventID, []incidents.Alert{*alert})
	if err != nil {
		return fmt.Errorf("record %s alert for probe %q: %w", alert.Status, name, err)
	}
	if r.counts != nil {
		r.counts.CountOutcomes(Source, []incidents.Alert{*alert}, outs)
	}
	// Only flip state once the alert is recorded, so a failed ingest is
	// retried on the next check instead of being forgotten.
	r.mu.Lock()
	st.firing = alert.Status == incidents.AlertFiring
	r.mu.Unlock()
	return nil
}

func (r *Runner) alert(p playbooks.Probe, last Result, history []Result, status incidents.AlertStatus) incidents.Alert {
	sev, _ := incidents.ParseSeverity(p.Severity) // unknown stays SevUnknown
	labels := map[string]string{"probe": p.Name}
	if u, err := url.Parse(p.URL); err == nil && u.Host != "" {
		labels["host"] = u.Host
	}
	for k, v := range p.Labels {
		labels[k] = v
	}
	what := last.Err
	if last.Status != 0 {
		what = statusText(last.Status)
	}
	var b strings.Builder
	var title string
	if status == incidents.AlertFiring {
		title = fmt.Sprintf("Probe %s failing: %s", p.Name, what)
		fmt.Fprintf(&b, "%s %s failed %d checks in a row (last took %s).\n%s\n", p.Method, p.URL, p.FailureThreshold, last.Latency.Round(time.Millisecond), last.Explanation)
	} else {
		title = fmt.Sprintf("Probe %s recovered: %s", p.Name, what)
		fmt.Fprintf(&b, "%s %s passed %d checks in a row (last took %s).\n", p.Method, p.URL, p.SuccessThreshold, last.Latency.Round(time.Millisecond))
	}
	b.WriteString("Recent checks:\n")
	for _, h := range history {
		fmt.Fprintf(&b, "- %s %s\n", h.At.UTC().Format(time.TimeOnly), h.Summary())
	}
	a := incidents.Alert{
		Source:      Source,
		Status:      status,
		Name:        "probe_" + p.Name,
		Title:       title,
		Text:        strings.TrimRight(b.String(), "\n"),
		Service:     p.Service,
		Severity:    sev,
		Labels:      labels,
		Fingerprint: "probe:" + p.Name,
		URL:         p.URL,
		StartsAt:    last.At,
	}
	if status == incidents.AlertResolved {
		a.EndsAt = last.At
	}
	// The explanation ("the service is overloaded …") is what the first
	// card quotes, as monitoring systems' descriptions are.
	if status == incidents.AlertFiring {
		desc := fmt.Sprintf("%s %s failed %d checks in a row: %s.", p.Method, p.URL, p.FailureThreshold, what)
		if e := strings.TrimSpace(last.Explanation); e != "" {
			desc += " " + e
		}
		a.Annotations = map[string]string{"description": desc}
	}
	return a
}

// Check runs the named probe once and returns what happened. It does not
// touch the alert thresholds; a failing probe is a Result with OK false,
// not an error. The error is for an unknown name or an unusable config.
func (r *Runner) Check(ctx context.Context, name string) (Result, error) {
	p, ok := r.probes[name]
	if !ok {
		return Result{}, fmt.Errorf("check probe %q: %w", name, ErrUnknownProbe)
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, nil)
	if err != nil {
		return Result{}, fmt.Errorf("check probe %q: build request for %q: %w", name, p.URL, err)
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "firebreak-probe")
	start := r.now()
	resp, err := r.client.Do(req)
	res := Result{Probe: name, URL: p.URL, At: start}
	if err != nil {
		res.Latency = r.now().Sub(start)
		res.Err, res.Explanation = explainError(err, p.Timeout.D())
		return res, nil
	}
	// Drain a little so the connection can be reused, but never read a huge body.
	buf := make([]byte, 4096)
	_, _ = resp.Body.Read(buf)
	_ = resp.Body.Close()
	res.Latency = r.now().Sub(start)
	res.Status = resp.StatusCode
	res.OK = expected(p.ExpectStatus, resp.StatusCode)
	if !res.OK {
		res.Explanation = explainStatus(resp.StatusCode, p.ExpectStatus)
	}
	return res, nil
}

func expected(want []int, code int) bool {
	if len(want) == 0 {
		return code >= 200 && code <= 399
	}
	for _, w := range want {
		if w == code {
			return true
		}
	}
	return false
}

// explainStatus says what an unexpected status usually means, so the
// responder starts in the right place.
func explainStatus(code int, want []int) string {
	switch code {
	case http.StatusInternalServerError:
		return "the service itself failed while handling the request (an unhandled error or crash). Check its logs and recent deploys."
	case http.StatusBadGateway:
		return "a proxy or load balancer got no valid answer from the upstream service — it is down, crashing or refusing connections. Check the upstream's health and the proxy's logs."
	case http.StatusServiceUnavailable:
		return "the service is overloaded or in maintenance, or has no healthy backends (load balancer/circuit breaker). Check capacity, recent scaling events and dependency health."
	case http.StatusGatewayTimeout:
		return "a proxy or load balancer gave up waiting for the upstream — it is slow or hung. Check upstream latency, saturation and slow dependencies (databases, queues)."
	}
	switch {
	case code >= 500:
		return fmt.Sprintf("the server reported an error (%s). Check the service's logs.", statusText(code))
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return "the endpoint refused the probe's credentials. Check the probe's headers, expired tokens or changed access rules."
	case code == http.StatusNotFound:
		return "the URL does not exist — a routing change, a bad deploy or a wrong probe URL."
	case code == http.StatusTooManyRequests:
		return "the service is rate limiting the probe. Check its rate limits and whether traffic spiked."
	case code >= 400:
		return fmt.Sprintf("the request was rejected (%s). Check the probe's URL, method and headers against the service.", statusText(code))
	}
	if len(want) == 0 {
		return fmt.Sprintf("unexpected status %s; expected 200–399.", statusText(code))
	}
	return fmt.Sprintf("unexpected status %s; expected one of %v.", statusText(code), want)
}

// explainError classifies a transport failure (no HTTP response at all).
func explainError(err error, timeout time.Duration) (short, explanation string) {
	var dnsErr *net.DNSError
	var certInvalid x509.CertificateInvalidError
	var unknownAuth x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var recordErr tls.RecordHeaderError
	var certVerify *tls.CertificateVerificationError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return "DNS failure", fmt.Sprintf("the name %q could not be resolved (%s). Check DNS records, the resolver and recent DNS changes.", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &certVerify), errors.As(err, &certInvalid), errors.As(err, &unknownAuth), errors.As(err, &hostname), errors.As(err, &recordErr),
		strings.Contains(err.Error(), "tls:"):
		return "TLS failure", "the TLS handshake failed — an expired or wrong certificate, an unknown issuer, or a plain-HTTP port. Check certificate expiry and the load balancer's TLS settings."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", "nothing is listening on that address — the service or its load balancer is down or the port changed. Check the process and its deploys."
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", "the connection was cut mid-request — a crashing process, a proxy restart or a firewall. Check the service's logs and restarts."
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout", fmt.Sprintf("no response within %s — the service is hung, overloaded or unreachable (network or firewall). Check its latency, saturation and network path.", timeout)
	}
	return "request failed", fmt.Sprintf("the request failed: %v.", err)
}
