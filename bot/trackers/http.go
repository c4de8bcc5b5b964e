package trackers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v5"

	"github.com/firebreak/firebreak/bot/actions"
)

// Defaults of HTTP.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultMaxElapsed    = 45 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
	maxResponse          = 4 << 20
)

// HTTP is the plumbing both trackers share: each call has a timeout, is
// retried with exponential backoff and jitter on connection errors, 5xx
// and rate limits, and waits what Retry-After says (up to MaxRetryAfter).
// 4xx answers other than rate limits are final and wrap ErrPermanent with
// the tracker's own message.
type HTTP struct {
	// Client sends the requests; nil means one with Timeout.
	Client *http.Client
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration
	// MaxElapsed bounds all attempts of one call (default 45s).
	MaxElapsed time.Duration
	// MaxRetryAfter is the longest Retry-After honoured; a tracker asking
	// for longer gets an error now rather than a command hanging.
	MaxRetryAfter time.Duration
	// Auth sets credentials on every request.
	Auth func(*http.Request)
	// Header is added to every request (Accept, API version…).
	Header http.Header
	// OnRetry, when set, is told of every retry and the wait before it.
	OnRetry func(err error, wait time.Duration)
}

// StatusError is a tracker's non-2xx answer.
type StatusError struct {
	Method, URL string
	Status      int
	// Message is what the tracker said, from its JSON error body.
	Message string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, msg)
}

// Do sends a JSON request (body may be nil) and decodes a 2xx answer into
// out (which may be nil). It returns the final response's status code.
func (h *HTTP) Do(ctx context.Context, method, url string, body, out any) (int, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, fmt.Errorf("encode %s %s: %w", method, url, err)
		}
	}
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: h.timeout()}
	}
	op := func() (int, error) {
		actx, cancel := context.WithTimeout(ctx, h.timeout())
		defer cancel()
		req, err := http.NewRequestWithContext(actx, method, url, bytes.NewReader(payload))
		if err != nil {
			return 0, backoff.Permanent(fmt.Errorf("%s %s: %w", method, url, err))
		}
		for k, v := range h.Header {
			req.Header[k] = v
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if h.Auth != nil {
			h.Auth(req)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", method, url, err) // network: retry
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if out != nil && len(data) > 0 {
				if err := json.Unmarshal(data, out); err != nil {
					return resp.StatusCode, backoff.Permanent(fmt.Errorf("%s %s: %w: the answer is not what the API documents: %w", method, url, ErrPermanent, err))
				}
			}
			return resp.StatusCode, nil
		}
		serr := &StatusError{Method: method, URL: url, Status: resp.StatusCode, Message: errorMessage(data)}
		return resp.StatusCode, h.classify(resp, serr)
	}
	opts := []backoff.RetryOption{backoff.WithBackOff(backoff.NewExponentialBackOff()), backoff.WithMaxElapsedTime(h.maxElapsed())}
	if h.OnRetry != nil {
		opts = append(opts, backoff.WithNotify(h.OnRetry))
	}
	return backoff.Retry(ctx, op, opts...)
}

// classify decides whether an error answer is worth retrying.
func (h *HTTP) classify(resp *http.Response, serr *StatusError) error {
	wait, hasWait := actions.RetryAfter(resp.Header, time.Now())
	limited := resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusForbidden && (hasWait || resp.Header.Get("X-Ratelimit-Remaining") == "0")
	switch {
	case limited && hasWait:
		if max := h.maxRetryAfter(); wait > max {
			return backoff.Permanent(fmt.Errorf("%w; it asks to wait %s, longer than Firebreak waits (%s)", serr, wait, max))
		}
		return &retryAfterErr{wait: wait, err: serr}
	case limited, resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout:
		return serr
	}
	return backoff.Permanent(fmt.Errorf("%w: %w", ErrPermanent, serr))
}

// retryAfterErr is backoff's RetryAfterError that keeps the answer, so the
// last error says what the tracker said.
type retryAfterErr struct {
	wait time.Duration
	err  error
}

func (e *retryAfterErr) Error() string { return e.err.Error() }
func (e *retryAfterErr) Unwrap() []error {
	return []error{e.err, &backoff.RetryAfterError{Duration: e.wait}}
}

// errorMessage pulls the human message out of GitHub's {"message": …,
// "errors": [...]} and Jira's {"errorMessages": [...], "errors": {…}}.
func errorMessage(data []byte) string {
	var e struct {
		Message       string          `json:"message"`
		ErrorMessages []string        `json:"errorMessages"`
		Errors        json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(data, &e) != nil {
		return strings.TrimSpace(truncate(string(data), 200))
	}
	parts := []string{}
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	parts = append(parts, e.ErrorMessages...)
	var fields map[string]string
	if json.Unmarshal(e.Errors, &fields) == nil {
		for k, v := range fields {
			parts = append(parts, k+": "+v)
		}
	}
	var list []struct {
		Field, Code, Message string
	}
	if json.Unmarshal(e.Errors, &list) == nil {
		for _, x := range list {
			parts = append(parts, strings.TrimSpace(x.Field+" "+x.Code+" "+x.Message))
		}
	}
	return truncate(strings.Join(parts, "; "), 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func (h *HTTP) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultTimeout
}

func (h *HTTP) maxElapsed() time.Duration {
	if h.MaxElapsed > 0 {
		return h.MaxElapsed
	}
	return DefaultMaxElapsed
}

func (h *HTTP) maxRetryAfter() time.Duration {
	if h.MaxRetryAfter > 0 {
		return h.MaxRetryAfter
	}
	return DefaultMaxRetryAfter
}

// IsPermanent reports whether err says retrying cannot help.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
