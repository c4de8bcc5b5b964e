// Package webhook receives alerts over HTTP: Prometheus Alertmanager's
// webhook, Grafana unified alerting's webhook, and Firebreak's own generic
// JSON. It authenticates the sender, parses the payload, and hands the whole
// batch to a Sink, answering 200 only once the Sink has durably recorded
// it, so a sender that retries on anything else never loses an alert and
// never records one twice.
//
// Routes (relative to wherever the handler is mounted, usually /alerts/):
//
//	POST …/alertmanager   Alertmanager webhook_configs, payload version 4
//	POST …/grafana        Grafana webhook contact point, payload version 1
//	POST …/generic        {"title": …} or {"alerts": [{"title": …}, …]}
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/bot/metrics"
	"github.com/firebreak/firebreak/incidents"
)

// Sink records a batch of alerts. intake.Intake implements it: it chooses
// the incidents' home and records their announcements with them.
//
// IngestAlerts must return nil only after the batch is durably committed
// (the 200 the sender gets promises that), and must treat a repeated
// non-empty eventID as already done, returning Duplicate outcomes.
// eventID comes namespaced ("webhook:<source>:…"): the Sink records it as
// is.
type Sink interface {
	IngestAlerts(ctx context.Context, source, eventID string, alerts []incidents.Alert) ([]incidents.Outcome, error)
}

// Defaults for Config fields left zero.
const (
	// DefaultMaxBody bounds a request body; larger ones get 413.
	DefaultMaxBody = 1 << 20
	// DefaultRetryAfter is what a sender is told to wait when the alert
	// could not be recorded (503).
	DefaultRetryAfter = 5 * time.Second
	// IdempotencyKeyHeader, when a sender sets it, names the delivery for
	// deduplication instead of the body's hash.
	IdempotencyKeyHeader = "Idempotency-Key"
)

// Config configures the receiver.
//
// Authentication is required: with neither Token nor HMACSecret set, every
// request is refused with 401 (intake is closed, not open). When both are
// set, a request must pass both checks.
type Config struct {
	// Token is the bearer token senders present as
	// "Authorization: Bearer <token>" (FIREBREAK_WEBHOOK_TOKEN).
	Token string
	// HMACSecret, when set, requires every request to carry a valid
	// X-Firebreak-Signature over its body and a fresh X-Firebreak-Timestamp
	// (FIREBREAK_WEBHOOK_HMAC_SECRET). See Sign for the scheme.
	HMACSecret string
	// MaxBody is the largest accepted body in bytes (default 1 MiB).
	MaxBody int64
	// RetryAfter is sent with 503 responses (default 5s).
	RetryAfter time.Duration
	// Logger for refused requests and failures (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock for signature timestamps (default time.Now).
	Now func() time.Time
	// MaxInFlightBytes bounds the request bodies admitted at once, counted
	// from Content-Length (MaxBody when unknown) before the body is read
	// (default DefaultMaxInFlightBytes; negative: no bound).
	MaxInFlightBytes int64
	// MaxInFlightAlerts bounds the parsed alerts admitted at once (default
	// DefaultMaxInFlightAlerts; negative: no bound).
	MaxInFlightAlerts int
	// AdmissionWait is how long a request waits for room before it is
	// answered 503 with Retry-After (default DefaultAdmissionWait).
	AdmissionWait time.Duration
	// BusyRetryAfter is the Retry-After of that 503 (default
	// DefaultBusyRetryAfter).
	BusyRetryAfter time.Duration
}

// Parser turns a request body into alerts. Its errors should be
// *ParseError; any error yields a 400 carrying its message.
type Parser func(body []byte) ([]incidents.Alert, error)

type endpoint struct {
	source string
	parse  Parser
}

type handler struct {
	cfg       Config
	tokenHash [32]byte
	sink      Sink
	m         *metrics.Metrics
	log       *slog.Logger
	routes    map[string]endpoint
	bufs      sync.Pool
	admit     *admission
}

// New returns the alert receiver. m may be nil (nothing is counted).
func New(cfg Config, sink Sink, m *metrics.Metrics) http.Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxInFlightBytes == 0 {
		cfg.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if cfg.MaxInFlightAlerts == 0 {
		cfg.MaxInFlightAlerts = DefaultMaxInFlightAlerts
	}
	if cfg.AdmissionWait <= 0 {
		cfg.AdmissionWait = DefaultAdmissionWait
	}
	if cfg.BusyRetryAfter <= 0 {
		cfg.BusyRetryAfter = DefaultBusyRetryAfter
	}
	h := &handler{
		admit:     newAdmission(cfg.MaxInFlightBytes, int64(cfg.MaxInFlightAlerts)),
		cfg:       cfg,
		tokenHash: sha256.Sum256([]byte(cfg.Token)),
		sink:      sink,
		m:         m,
		log:       cfg.Logger.With("component", "webhook"),
		routes: map[string]endpoint{
			metrics.SourceAlertmanager: {metrics.SourceAlertmanager, ParseAlertmanager},
			metrics.SourceGrafana:      {metrics.SourceGrafana, ParseGrafana},
			metrics.SourceGeneric:      {metrics.SourceGeneric, ParseGeneric},
		},
		bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	if cfg.Token == "" && cfg.HMACSecret == "" {
		h.log.Warn("alert webhooks are closed: set FIREBREAK_WEBHOOK_TOKEN (and optionally FIREBREAK_WEBHOOK_HMAC_SECRET); every request gets 401 until then")
	}
	return h
}

// response is the JSON body of every answer.
type response struct {
	Received  int      `json:"received"`
	Incidents []uint64 `json:"incidents"`
	Duplicate bool     `json:"duplicate,omitempty"`
	Error     string   `json:"error,omitempty"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path
	name = strings.TrimSuffix(name, "/")
	name = name[strings.LastIndexByte(name, '/')+1:]
	ep, ok := h.routes[name]
	if !ok {
		h.fail(w, "", http.StatusNotFound, "no such alert endpoint; use /alerts/alertmanager, /alerts/grafana or /alerts/generic")
		return
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("alert webhook panicked", "source", ep.source, "panic", v, "stack", string(debug.Stack()))
			h.fail(w, ep.source, http.StatusInternalServerError, "internal error; the alert was not recorded, retry later")
		}
	}()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, ep.source, http.StatusMethodNotAllowed, "use POST")
		return
	}
	if err := h.authenticateHeader(r); err != nil {
		h.refuse(w, r, ep.source, err)
		return
	}

	if r.ContentLength > h.cfg.MaxBody {
		h.tooLarge(w, ep.source)
		return
	}
	// Admission control: room for the body is taken before it is read,
	// room for its alerts once they are parsed; a request that finds none
	// within AdmissionWait is answered 503 + Retry-After, before anything
	// is recorded, so the sender's retry loses nothing.
	var admitBy time.Time
	size := r.ContentLength
	if size < 0 {
		size = h.cfg.MaxBody
	}
	if !h.acquire(r, &admitBy, size, 0) {
		h.busy(w, r, ep.source, "bytes")
		return
	}
	defer h.admit.release(size, 0)

	buf := h.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		// Keep pooled buffers small so one big request does not pin memory.
		if buf.Cap() <= 64<<10 {
			h.bufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.tooLarge(w, ep.source)
			return
		}
		h.fail(w, ep.source, http.StatusBadRequest, "could not read the request body: "+err.Error())
		return
	}
	body := buf.Bytes()

	if h.cfg.HMACSecret != "" {
		if err := checkSignature(h.cfg.HMACSecret, h.cfg.Now(), r, body); err != nil {
			h.refuse(w, r, ep.source, err)
			return
		}
	}

	alerts, err := ep.parse(body)
	if err != nil {
		h.m.Rejected(ep.source)
		h.log.Info("alert webhook refused: bad payload", "source", ep.source, "remote", r.RemoteAddr, "err", err)
		h.fail(w, ep.source, http.StatusBadRequest, err.Error())
		return
	}
	eventID := h.eventID(ep.source, r, body)
	if !h.acquire(r, &admitBy, 0, int64(len(alerts))) {
		h.busy(w, r, ep.source, "alerts")
		return
	}
	defer h.admit.release(0, int64(len(alerts)))

	outs, err := h.sink.IngestAlerts(r.Context(), ep.source, eventID, alerts)
	if err != nil {
		h.sinkFailed(w, r, ep.source, len(alerts), err)
		return
	}
	h.m.CountOutcomes(ep.source, alerts, outs)

	resp := response{Received: len(alerts), Incidents: make([]uint64, 0, 1), Duplicate: len(outs) > 0}
	for _, o := range outs {
		resp.Duplicate = resp.Duplicate && o.Duplicate
		if o.Incident == nil {
			continue
		}
		if n := o.Incident.Number; !containsNumber(resp.Incidents, n) {
			resp.Incidents = append(resp.Incidents, n)
		}
	}
	if h.log.Enabled(r.Context(), slog.LevelDebug) { // spares boxing the arguments in a storm
		h.log.Debug("alerts recorded", "source", ep.source, "alerts", len(alerts), "incidents", resp.Incidents, "duplicate", resp.Duplicate)
	}
	h.write(w, ep.source, http.StatusOK, resp)
}

// acquire takes room for bytes and alerts, waiting for it only when there
// is none: the deadline (*by, AdmissionWait from the request's first wait,
// shared by its two waits) and its context are made only then, so a
// request that finds room at once, the common case, allocates nothing here.
func (h *handler) acquire(r *http.Request, by *time.Time, bytes, alerts int64) bool {
	if h.admit.tryAcquire(bytes, alerts) {
		return true
	}
	if by.IsZero() {
		*by = time.Now().Add(h.cfg.AdmissionWait)
	}
	ctx, cancel := context.WithDeadline(r.Context(), *by)
	defer cancel()
	return h.admit.acquire(ctx, bytes, alerts)
}

func containsNumber(ns []uint64, n uint64) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

// authenticateHeader checks what can be checked before reading the body,
// so an unauthenticated sender cannot make Firebreak read a megabyte.
func (h *handler) authenticateHeader(r *http.Request) error {
	if h.cfg.Token == "" && h.cfg.HMACSecret == "" {
		return errNoCredentials
	}
	if h.cfg.Token != "" {
		return checkToken(h.tokenHash, r)
	}
	return nil
}

// eventID names this delivery for deduplication: the sender's
// Idempotency-Key when it sets one, else the body's hash, so a sender
// retrying the same payload after a timeout is recorded once.
func (h *handler) eventID(source string, r *http.Request, body []byte) string {
	if k := strings.TrimSpace(r.Header.Get(IdempotencyKeyHeader)); k != "" {
		if len(k) > 128 {
			sum := sha256.Sum256([]byte(k))
			k = "sha256:" + hex.EncodeToString(sum[:])
		}
		return "webhook:" + source + ":key:" + k
	}
	sum := sha256.Sum256(body)
	var buf [128]byte // one allocation for the whole name, not three
	b := append(buf[:0], "webhook:"...)
	b = append(b, source...)
	b = append(b, ':')
	return string(hex.AppendEncode(b, sum[:]))
}

func (h *handler) refuse(w http.ResponseWriter, r *http.Request, source string, err error) {
	h.m.Rejected(source)
	h.log.Warn("alert webhook refused: not authenticated", "source", source, "remote", r.RemoteAddr, "reason", err)
	w.Header().Set("WWW-Authenticate", `Bearer realm="firebreak"`)
	h.fail(w, source, http.StatusUnauthorized, err.Error())
}

func (h *handler) tooLarge(w http.ResponseWriter, source string) {
	h.m.Rejected(source)
	h.log.Warn("alert webhook refused: body too large", "source", source, "limit_bytes", h.cfg.MaxBody)
	h.fail(w, source, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("body larger than %d bytes; send fewer alerts per request (Alertmanager: max_alerts)", h.cfg.MaxBody))
}

// sinkFailed answers a batch that was not recorded. Problems the sender
// can fix are final (400); anything else is 503 with Retry-After, because
// Alertmanager and Grafana retry 5xx and the commit is all-or-nothing, so a
// retry cannot record half a batch twice.
func (h *handler) sinkFailed(w http.ResponseWriter, r *http.Request, source string, n int, err error) {
	if errors.Is(err, incidents.ErrEmpty) || errors.Is(err, incidents.ErrTooLong) || errors.Is(err, incidents.ErrBadSeverity) {
		h.m.Rejected(source)
		h.log.Info("alert webhook refused by the incident service", "source", source, "alerts", n, "err", err)
		h.fail(w, source, http.StatusBadRequest, err.Error())
		return
	}
	if r.Context().Err() != nil {
		h.log.Info("alert sender went away before the alerts were recorded", "source", source, "alerts", n, "err", err)
	} else {
		h.log.Error("alerts not recorded; the sender was asked to retry", "source", source, "alerts", n, "err", err)
	}
	secs := int((h.cfg.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	h.fail(w, source, http.StatusServiceUnavailable, "alerts not recorded, retry later: "+err.Error())
}

// busy answers a request admission control found no room for: 503 (which
// Alertmanager and Grafana retry) with Retry-After. Nothing was recorded.
func (h *handler) busy(w http.ResponseWriter, r *http.Request, source, what string) {
	if r.Context().Err() != nil {
		return // the sender is gone; nobody reads the answer
	}
	h.log.Debug("alert webhook busy: asked the sender to retry", "source", source, "limit", what)
	secs := int((h.cfg.BusyRetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	h.fail(w, source, http.StatusServiceUnavailable, "too many alerts in flight ("+what+"); nothing was recorded, retry after "+strconv.Itoa(secs)+"s")
}

func (h *handler) fail(w http.ResponseWriter, source string, code int, reason string) {
	h.write(w, source, code, response{Incidents: []uint64{}, Error: reason})
}

func (h *handler) write(w http.ResponseWriter, source string, code int, resp response) {
	if source != "" {
		h.m.WebhookRequest(source, code)
	}
	var buf [256]byte
	b := buf[:0]
	if resp.Error == "" {
		b = appendResponse(b, resp)
	} else if m, err := json.Marshal(resp); err == nil {
		b = append(m, '\n')
	} else {
		// A response of ints and strings cannot fail to marshal; keep the
		// status code meaningful anyway.
		b = append(b, `{"error":"internal error"}`+"\n"...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// appendResponse appends resp, which carries no error, as encoding/json
// writes it, and a newline. Every 200 goes through here, so it is written
// by hand: no reflection, and one small buffer for the usual few incidents.
func appendResponse(b []byte, resp response) []byte {
	b = append(b, `{"received":`...)
	b = strconv.AppendInt(b, int64(resp.Received), 10)
	b = append(b, `,"incidents":`...)
	if resp.Incidents == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, n := range resp.Incidents {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, n, 10)
		}
		b = append(b, ']')
	}
	if resp.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, "}\n"...)
}
