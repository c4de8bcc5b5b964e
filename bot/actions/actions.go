// Package actions runs what a playbook asks the bot to do by itself: call a
// URL (a deploy system's rollback endpoint), run a local command, and send
// notifications (outgoing webhooks, email) for escalations and status
// updates.
//
// Everything here talks to the outside world, so every call has a timeout,
// retries with exponential backoff and jitter where a retry is safe (5xx,
// 429, timeouts — never another 4xx), honours Retry-After, and keeps
// secrets out of what it returns: values taken from the environment with
// ${NAME} are redacted from results and errors, because results go onto the
// incident timeline and into logs.
package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/firebreak/firebreak/bot/outbox/retry"
	"github.com/firebreak/firebreak/playbooks"
)

// MaxOutput bounds the response body or command output kept in a Result:
// enough to see what went wrong, small enough for a timeline entry.
const MaxOutput = 2048

// Defaults for actions whose step sets no timeout.
const (
	DefaultHTTPTimeout    = 10 * time.Second
	DefaultCommandTimeout = 60 * time.Second
)

// ErrCommandsDisabled is returned for command steps unless playbooks.yaml
// says allow_commands: true — running local programs from chat must be an
// explicit decision of whoever runs the bot.
var ErrCommandsDisabled = errors.New("command steps are disabled: set allow_commands: true in playbooks.yaml to allow them")

// Options configure a Runner. The zero value is usable.
type Options struct {
	// Client makes the HTTP calls (default: a client with no overall
	// timeout; every attempt gets the action's own timeout).
	Client *http.Client
	// Getenv resolves ${NAME} references (default os.Getenv).
	Getenv func(string) string
	// AllowCommands mirrors playbooks.yaml allow_commands.
	AllowCommands bool
	// Backoff is the retry policy for HTTP actions and webhook notifiers.
	Backoff Backoff
	// Sleep waits between retries (default: a context-aware timer); tests
	// replace it to run retries without waiting.
	Sleep func(context.Context, time.Duration) error
	// Now is the clock for Retry-After dates (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Runner runs actions. It is safe for concurrent use.
type Runner struct {
	client *http.Client
	getenv func(string) string
	allow  bool
	bo     Backoff
	sleep  func(context.Context, time.Duration) error
	now    func() time.Time
	log    *slog.Logger
}

// New returns a Runner.
func New(opts Options) *Runner {
	r := &Runner{
		client: opts.Client,
		getenv: opts.Getenv,
		allow:  opts.AllowCommands,
		bo:     opts.Backoff.withDefaults(),
		sleep:  opts.Sleep,
		now:    opts.Now,
		log:    opts.Logger,
	}
	if r.client == nil {
		r.client = &http.Client{}
	}
	if r.getenv == nil {
		r.getenv = os.Getenv
	}
	if r.sleep == nil {
		r.sleep = retry.Wall{}.Sleep
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// Result is what an action did, safe to put on the timeline.
type Result struct {
	OK bool
	// Status is the final HTTP status (0 for commands and network errors).
	Status int
	// ExitCode is the command's exit status (-1 when it did not run or was killed).
	ExitCode int
	// Output is the response body or command output, truncated to
	// MaxOutput and with secrets redacted.
	Output string
	// Err says why it failed, redacted.
	Err      string
	Attempts int
	Duration time.Duration
}

// Summary is one line for chat and the timeline.
func (r Result) Summary() string {
	mark := "✅"
	if !r.OK {
		mark = "❌"
	}
	var b strings.Builder
	b.WriteString(mark)
	switch {
	case r.Status != 0:
		fmt.Fprintf(&b, " HTTP %d %s", r.Status, http.StatusText(r.Status))
	case r.ExitCode >= 0 && r.Err == "":
		fmt.Fprintf(&b, " exit %d", r.ExitCode)
	}
	if r.Err != "" {
		fmt.Fprintf(&b, " %s", r.Err)
	}
	fmt.Fprintf(&b, " in %s", r.Duration.Round(time.Millisecond))
	if r.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", r.Attempts)
	}
	return b.String()
}

// secrets collects the environment values expanded into one action, so
// they can be scrubbed from everything the action returns.
type secrets []string

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${NAME} with the environment value and remembers it.
func (r *Runner) expand(s string, sec *secrets) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		v := r.getenv(m[2 : len(m)-1])
		if len(v) >= 4 { // shorter values would redact ordinary words
			*sec = append(*sec, v)
		}
		return v
	})
}

func (s secrets) redact(text string) string {
	for _, v := range s {
		text = strings.ReplaceAll(text, v, "[redacted]")
	}
	return text
}

// render executes a step template over data (the incident's fields).
func render(name, text string, data any) (string, error) {
	t, err := template.New(name).Funcs(Funcs()).Option("missingkey=zero").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}

// HTTP runs an http step: the URL, headers and body are rendered from data
// (a Data value), ${NAME} is replaced from the environment, and the call is
// retried on 5xx, 429 and network errors with the same Idempotency-Key, so
// a rollback endpoint that supports it runs once however often we retry.
func (r *Runner) HTTP(ctx context.Context, a playbooks.HTTPAction, timeout time.Duration, data any, idempotencyKey string) Result {
	start := r.now()
	res := Result{ExitCode: -1}
	var sec secrets
	fail := func(err error) Result {
		res.Err = sec.redact(err.Error())
		res.Duration = r.now().Sub(start)
		return res
	}
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	// ${NAME} is expanded in the template source, before incident data is
	// rendered in: alert text that says "${SLACK_BOT_TOKEN}" stays literal.
	url, err := render("url", r.expand(a.URL, &sec), data)
	if err != nil {
		return fail(err)
	}
	body, err := render("body", r.expand(a.Body, &sec), data)
	if err != nil {
		return fail(err)
	}
	method := a.Method
	if method == "" {
		method = http.MethodPost
	}
	headers := make(http.Header, len(a.Headers)+1)
	for k, v := range a.Headers {
		headers.Set(k, r.expand(v, &sec))
	}
	if idempotencyKey != "" && headers.Get("Idempotency-Key") == "" {
		headers.Set("Idempotency-Key", idempotencyKey)
	}
	if body != "" && headers.Get("Content-Type") == "" {
		headers.Set("Content-Type", "application/json")
	}
	attempts := r.bo.Attempts
	if a.Retries > 0 {
		attempts = a.Retries + 1
	}
	// The one retry loop Firebreak has for outside calls (the outbox's):
	// here every failed attempt counts, 429s included, and a Retry-After
	// is waited out up to 5 minutes.
	policy := retry.Policy{BackOff: r.bo.backOff(jitter), MaxAttempts: attempts, RateLimitsCount: true, MaxRetryAfter: 5 * time.Minute}
	n, err := retry.Do(ctx, policy, runnerClock{r}, func(ctx context.Context) (bool, time.Duration, error) {
		status, out, retryIn, err := r.once(ctx, method, url, headers, body, timeout)
		res.Status, res.Output = status, sec.redact(out)
		switch {
		case err == nil && expected(status, a.ExpectStatus):
			return false, 0, nil
		case err != nil:
			res.Err = sec.redact(err.Error())
		default:
			res.Err = fmt.Sprintf("unexpected status %d", status)
		}
		retryable := err != nil || status >= 500 || status == http.StatusTooManyRequests
		return retryable, retryIn, errors.New(res.Err)
	}, func(_ error, attempt int, wait time.Duration) {
		r.log.Info("action: retrying", "method", method, "attempt", attempt, "status", res.Status, "in", wait)
	})
	res.Attempts = n
	res.Duration = r.now().Sub(start)
	var gaveUp *retry.GaveUpError
	switch {
	case err == nil:
		res.OK, res.Err = true, ""
	case errors.As(err, &gaveUp):
		// res.Err already says what the last attempt got.
	default:
		res.Err = fmt.Sprintf("%s; gave up: %v", res.Err, err)
	}
	return res
}

// once makes one attempt; retryIn is the server's Retry-After, if any.
func (r *Runner) once(ctx context.Context, method, url string, h http.Header, body string, timeout time.Duration) (int, string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", 0, fmt.Errorf("building request: %w", err)
	}
	req.Header = h.Clone()
	resp, err := r.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, "", 0, fmt.Errorf("no response within %s", timeout)
		}
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, MaxOutput))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	retryIn, _ := RetryAfter(resp.Header, r.now())
	return resp.StatusCode, strings.ToValidUTF8(string(out), "?"), retryIn, nil
}

func expected(status int, want []int) bool {
	if len(want) == 0 {
		return status >= 200 && status < 300
	}
	return slices.Contains(want, status)
}

// Command runs a command step: argv elements are rendered from data, ${NAME}
// comes from the environment, no shell is involved (so alert text cannot
// inject one), and the output is captured, bounded and redacted. Commands
// are never retried: they are not known to be idempotent.
func (r *Runner) Command(ctx context.Context, argv []string, timeout time.Duration, data any) Result {
	start := r.now()
	res := Result{ExitCode: -1, Attempts: 1}
	var sec secrets
	fail := func(err error) Result {
		res.Err = sec.redact(err.Error())
		res.Duration = r.now().Sub(start)
		return res
	}
	if !r.allow {
		return fail(ErrCommandsDisabled)
	}
	if len(argv) == 0 {
		return fail(errors.New("command step has no command"))
	}
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	args := make([]string, len(argv))
	for i, a := range argv {
		s, err := render(fmt.Sprintf("command[%d]", i), r.expand(a, &sec), data)
		if err != nil {
			return fail(err)
		}
		args[i] = s
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	out := &capped{max: MaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	res.Output = sec.redact(strings.ToValidUTF8(out.String(), "?"))
	res.Duration = r.now().Sub(start)
	var exit *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.Err = fmt.Sprintf("killed after %s", timeout)
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
		res.Err = fmt.Sprintf("exit status %d", res.ExitCode)
	case err != nil:
		res.Err = sec.redact(err.Error())
	default:
		res.ExitCode = 0
		res.OK = true
	}
	return res
}

// capped keeps the first max bytes written and counts the rest, so a
// chatty command cannot fill memory.
type capped struct {
	max     int
	buf     bytes.Buffer
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	if len(p) > room {
		c.dropped += len(p) - max(room, 0)
	}
	return len(p), nil
}

func (c *capped) String() string {
	if c.dropped > 0 {
		return fmt.Sprintf("%s… (%d more bytes)", c.buf.String(), c.dropped)
	}
	return c.buf.String()
}
