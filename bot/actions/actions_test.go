package actions

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/playbooks"
)

// recordedSleeps replaces the retry wait so retries run instantly while the
// test still sees which delays the policy chose.
type recordedSleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *recordedSleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *recordedSleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newRunner(t *testing.T, env map[string]string) (*Runner, *recordedSleeps) {
	t.Helper()
	s := &recordedSleeps{}
	return New(Options{
		Getenv:  func(k string) string { return env[k] },
		Sleep:   s.sleep,
		Backoff: Backoff{Attempts: 4, Base: 100 * time.Millisecond, Max: time.Second},
	}), s
}

func TestHTTP(t *testing.T) {
	tests := []struct {
		name       string
		statuses   []int // one per request; the last repeats
		hang       bool
		retryAfter string
		expect     []int
		wantOK     bool
		wantCalls  int32
		wantStatus int
		wantErr    string
		wantSleeps int
	}{
		{name: "success", statuses: []int{200}, wantOK: true, wantCalls: 1, wantStatus: 200},
		{name: "503 then success is retried", statuses: []int{503, 503, 200}, wantOK: true, wantCalls: 3, wantStatus: 200, wantSleeps: 2},
		{name: "400 is not retried", statuses: []int{400}, wantCalls: 1, wantStatus: 400, wantErr: "unexpected status 400"},
		{name: "404 is not retried", statuses: []int{404}, wantCalls: 1, wantStatus: 404, wantErr: "unexpected status 404"},
		{name: "500 forever gives up after the attempts", statuses: []int{500}, wantCalls: 4, wantStatus: 500, wantErr: "unexpected status 500", wantSleeps: 3},
		{name: "429 honours Retry-After", statuses: []int{429, 200}, retryAfter: "7", wantOK: true, wantCalls: 2, wantStatus: 200, wantSleeps: 1},
		{name: "expected status list", statuses: []int{202}, expect: []int{202}, wantOK: true, wantCalls: 1, wantStatus: 202},
		{name: "200 not in the expected list", statuses: []int{200}, expect: []int{204}, wantCalls: 1, wantStatus: 200, wantErr: "unexpected status 200"},
		{name: "hang times out and is retried", hang: true, wantCalls: 4, wantErr: "no response within", wantSleeps: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			var keys sync.Map
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				keys.Store(r.Header.Get("Idempotency-Key"), true)
				if tt.hang {
					<-r.Context().Done()
					return
				}
				st := tt.statuses[min(n, len(tt.statuses))-1]
				if st == 429 && tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(st)
				_, _ = io.WriteString(w, "body "+http.StatusText(st))
			}))
			defer srv.Close()
			r, sleeps := newRunner(t, nil)
			// Only the hanging server needs a short timeout; a loaded CI
			// machine can take longer than that to answer the others, and a
			// timeout there would be an extra attempt the row does not expect.
			timeout := 10 * time.Second
			if tt.hang {
				timeout = 50 * time.Millisecond
			}
			res := r.HTTP(context.Background(), playbooks.HTTPAction{URL: srv.URL + "/rollback", ExpectStatus: tt.expect}, timeout, nil, "inc-1-rollback")
			assert.Equal(t, tt.wantOK, res.OK, res.Summary())
			assert.Equal(t, tt.wantCalls, calls.Load())
			assert.Equal(t, int(tt.wantCalls), res.Attempts)
			assert.Equal(t, tt.wantStatus, res.Status)
			if tt.wantErr != "" {
				assert.Contains(t, res.Err, tt.wantErr)
			} else {
				assert.Empty(t, res.Err)
			}
			assert.Len(t, sleeps.all(), tt.wantSleeps)
			if tt.retryAfter != "" {
				assert.Equal(t, []time.Duration{7 * time.Second}, sleeps.all())
			}
			n := 0
			keys.Range(func(k, _ any) bool {
				assert.Equal(t, "inc-1-rollback", k, "every attempt carries the same idempotency key")
				n++
				return true
			})
			assert.Equal(t, 1, n)
		})
	}
}

func TestHTTPBackoffGrowsWithJitter(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 9: time.Second} {
		lo, hi := b.Delay(n, func() float64 { return 0 }), b.Delay(n, func() float64 { return 0.999999 })
		assert.Equal(t, want/2, lo, "retry %d: at least half the step", n)
		assert.InDelta(t, float64(want), float64(hi), float64(time.Microsecond), "retry %d: at most the step", n)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"12", 12 * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		d, ok := RetryAfter(h, now)
		assert.Equal(t, tt.ok, ok, tt.v)
		assert.Equal(t, tt.want, d, tt.v)
	}
}

func TestHTTPSecretsComeFromTheEnvironmentAndAreRedacted(t *testing.T) {
	const token = "s3cr3t-deploy-token"
	var gotAuth, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "bad token "+token) // a server echoing the secret back
	}))
	defer srv.Close()
	r, _ := newRunner(t, map[string]string{"DEPLOY_TOKEN": token})
	data := Data{Number: 7, Service: "api-gateway", Title: "leak ${DEPLOY_TOKEN}"}
	res := r.HTTP(context.Background(), playbooks.HTTPAction{
		URL:     srv.URL + "/rollback/{{.Service}}",
		Headers: map[string]string{"Authorization": "Bearer ${DEPLOY_TOKEN}"},
		Body:    `{"incident": {{.Number}}, "title": "{{.Title}}"}`,
	}, time.Second, data, "k")
	require.False(t, res.OK)
	assert.Equal(t, "Bearer "+token, gotAuth, "the header is expanded from the environment")
	assert.Equal(t, `{"incident": 7, "title": "leak ${DEPLOY_TOKEN}"}`, gotBody, "incident text is never expanded")
	assert.NotContains(t, res.Output, token)
	assert.Contains(t, res.Output, "[redacted]")
	assert.NotContains(t, res.Summary(), token)
}

func TestHTTPBadTemplate(t *testing.T) {
	r, _ := newRunner(t, nil)
	res := r.HTTP(context.Background(), playbooks.HTTPAction{URL: "http://127.0.0.1:1/{{.Nope"}, time.Second, Data{}, "")
	assert.False(t, res.OK)
	assert.Contains(t, res.Err, "template url")
}

func TestCommand(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	data := Data{Number: 3, Service: "checkout"}
	tests := []struct {
		name     string
		allow    bool
		argv     []string
		timeout  time.Duration
		wantOK   bool
		wantExit int
		wantOut  string
		wantErr  string
	}{
		{name: "disabled unless allowed", argv: []string{"echo", "hi"}, wantExit: -1, wantErr: "allow_commands"},
		{name: "runs with rendered arguments", allow: true, argv: []string{"echo", "rollback {{.Service}} for #{{.Number}}"}, wantOK: true, wantOut: "rollback checkout for #3\n"},
		{name: "non-zero exit", allow: true, argv: []string{"sh", "-c", "echo nope >&2; exit 3"}, wantExit: 3, wantOut: "nope\n", wantErr: "exit status 3"},
		{name: "killed at the timeout", allow: true, argv: []string{"sleep", "5"}, timeout: 100 * time.Millisecond, wantExit: -1, wantErr: "killed after 100ms"},
		{name: "secret redacted", allow: true, argv: []string{"echo", "${TOKEN}"}, wantOK: true, wantOut: "[redacted]\n"},
		{name: "no shell: alert text stays one argument", allow: true, argv: []string{"echo", "{{.Title}}"}, wantOK: true, wantOut: "; rm -rf / $(id)\n"},
		{name: "missing program", allow: true, argv: []string{"/nonexistent/firebreak-rollback"}, wantExit: -1, wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Options{AllowCommands: tt.allow, Getenv: func(string) string { return "tok-12345" }})
			d := data
			d.Title = "; rm -rf / $(id)"
			res := r.Command(context.Background(), tt.argv, tt.timeout, d)
			assert.Equal(t, tt.wantOK, res.OK, res.Summary())
			if tt.wantOK {
				assert.Equal(t, 0, res.ExitCode)
			} else {
				assert.Equal(t, tt.wantExit, res.ExitCode)
			}
			assert.Equal(t, tt.wantOut, res.Output)
			if tt.wantErr != "" {
				assert.Contains(t, res.Err, tt.wantErr)
			}
		})
	}
}

func TestCappedOutput(t *testing.T) {
	c := &capped{max: 4}
	_, _ = c.Write([]byte("abc"))
	_, _ = c.Write([]byte("defgh"))
	assert.Equal(t, "abcd… (4 more bytes)", c.String())
}

func TestNotifyWebhook(t *testing.T) {
	var got string
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		b, _ := io.ReadAll(r.Body)
		got = string(b)
	}))
	defer srv.Close()
	r, _ := newRunner(t, nil)
	err := r.Notify(context.Background(), playbooks.Notifier{Name: "pager", Kind: "webhook", URL: srv.URL},
		Notification{Kind: "escalation", Incident: 4, Title: `5xx {{.Evil}} "quoted"`, Text: "nobody acknowledged"}, "esc-4-1")
	require.NoError(t, err)
	assert.Equal(t, int32(2), calls.Load(), "a 502 is retried")
	assert.Contains(t, got, `"title":"5xx {{.Evil}} \"quoted\""`)
	assert.Contains(t, got, `"kind":"escalation"`)

	err = r.Notify(context.Background(), playbooks.Notifier{Name: "pager", Kind: "webhook", URL: "http://127.0.0.1:1/"}, Notification{}, "")
	assert.ErrorContains(t, err, "notifier pager")
}

// fakeSMTP is a minimal SMTP server on loopback that records one message.
func fakeSMTP(t *testing.T) (addr string, got <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	ch := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		rd := bufio.NewReader(c)
		say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
		say("220 firebreak-test ESMTP")
		var log strings.Builder
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			log.WriteString(strings.TrimSpace(line) + "\n")
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				say("250-firebreak-test\r\n250 AUTH PLAIN")
			case strings.HasPrefix(cmd, "AUTH"):
				say("235 ok")
			case strings.HasPrefix(cmd, "DATA"):
				say("354 go on")
				for {
					l, err := rd.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
					log.WriteString(l)
				}
				say("250 queued")
			case strings.HasPrefix(cmd, "QUIT"):
				say("221 bye")
				ch <- log.String()
				return
			default:
				say("250 ok")
			}
		}
	}()
	return ln.Addr().String(), ch
}

func TestNotifyEmail(t *testing.T) {
	addr, got := fakeSMTP(t)
	r, _ := newRunner(t, map[string]string{"SMTP_PASSWORD": "hunter22"})
	err := r.Notify(context.Background(), playbooks.Notifier{
		Name: "oncall-mail", Kind: "email", SMTP: addr, From: "firebreak@example.com",
		To: []string{"oncall@example.com"}, Username: "firebreak", PasswordEnv: "SMTP_PASSWORD",
	}, Notification{Kind: "escalation", Incident: 9, Severity: "SEV1", Status: "triggered", Title: "DB down\r\nBcc: everyone@example.com", Text: "Level 2: nobody acknowledged in 10m."}, "")
	require.NoError(t, err)
	var log string
	select {
	case log = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no mail")
	}
	assert.Contains(t, log, "AUTH PLAIN")
	assert.Contains(t, log, "MAIL FROM:<firebreak@example.com>")
	assert.Contains(t, log, "RCPT TO:<oncall@example.com>")
	assert.Contains(t, log, "Subject: [SEV1] #9 DB down  Bcc: everyone@example.com — escalation")
	assert.NotContains(t, log, "\nBcc:", "a title cannot inject a header")
	assert.Contains(t, log, "Level 2: nobody acknowledged in 10m.")
}

func TestTemplateFuncs(t *testing.T) {
	out, err := render("t", `{{upper .Service}} {{title "roll back now"}} {{default "n/a" .Commander}} {{join .List ", "}} {{utc .At}}`, map[string]any{
		"Service": "api", "Commander": "", "List": []string{"a", "b"}, "At": time.Date(2026, 11, 25, 9, 5, 0, 0, time.FixedZone("x", 3600)),
	})
	require.NoError(t, err)
	assert.Equal(t, "API Roll Back Now n/a a, b 2026-11-25 08:05 UTC", out)
}

// Templates are checked by playbooks at load time against its list of
// names; every one of them must exist when the bot renders.
func TestFuncsCoverWhatPlaybooksAllows(t *testing.T) {
	funcs := Funcs()
	for _, name := range playbooks.TemplateFuncs {
		assert.Contains(t, funcs, name)
	}
	assert.Len(t, funcs, len(playbooks.TemplateFuncs))
}
