package console

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/routertest"
	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

const alertLine = "[FIRING:1] HighErrorRate api-gateway (severity=critical) 5xx rate 17%"

var ana = incidents.Actor{Platform: Platform, ID: "ana", Name: "ana"}

// syncBuffer is a transcript that Router goroutines may write to as well.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type world struct {
	svc *incidents.Service
	dir string
}

// run plays script through a console wired to the real Router, Service
// and shipped playbooks, and returns the transcript.
func run(t *testing.T, script string, opts Options) (string, world) {
	t.Helper()
	books, err := playbooks.Load("../../playbooks.yaml")
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithClock(func() time.Time { return clock.Advance(time.Second) }), incidents.WithLogger(log))
	dir := filepath.Join(t.TempDir(), "postmortems")
	router, _ := routertest.New(t, svc, bot.RouterConfig{Logger: log, PostmortemDir: dir, Now: clock.Now}, intake.Config{RepeatInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = router.Run(ctx)
	}()
	defer func() {
		cancel()
		<-stopped
	}()
	out := &syncBuffer{}
	if opts.User.IsZero() {
		opts.User = ana
	}
	opts.Logger = log
	var w *outboxtest.Worker
	opts.Idle = func(ctx context.Context) error { return w.Idle(ctx) }
	c := New(strings.NewReader(script), out, router, opts)
	router.AddChat(Platform, c)
	w = outboxtest.Start(t, store, map[string]bot.Chat{Platform: c})
	runCtx, runCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer runCancel()
	require.NoError(t, c.Run(runCtx))
	return out.String(), world{svc: svc, dir: dir}
}

func TestConsoleWalkthrough(t *testing.T) {
	script := strings.Join([]string{
		alertLine,
		"1",
		"/incident ack",
		"/incident note 502s come from one pod",
		"/incident role comms @me",
		"/incident role commander @bob",
		"/incident severity SEV2",
		"/incident update Rolling back api-gateway v2.3",
		"/incident step skip handled by the rollback",
		"/incident mitigate",
		alertLine,
		"/incident resolve rolled back v2.3",
		"/incident timeline",
		"/incident list all",
		"/incident help",
		"/incident postmortem",
	}, "\n")
	tr, w := run(t, script, Options{})
	for _, want := range []string{
		"[#alerts] Firebreak: 🔴 #1 HighErrorRate api-gateway 5xx rate 17% · SEV1 · triggered",
		"#1 · Step 1/5: Read the status codes",
		"[1] Done [2] Skip [3] Acknowledge [4] Resolve",
		"(updated) Firebreak: ✅ #1 Read the status codes — done by @ana at 14:00 UTC",
		"#1 · Step 2/5: Validate the user impact",
		"@ana acknowledged #1",
		"@ana added a note to #1: 502s come from one pod",
		"@ana is now comms of #1",
		"@bob is now commander of #1",
		"set #1 to SEV2",
		"Status update on #1 from @ana: Rolling back api-gateway v2.3",
		"Validate the user impact — skipped by @ana",
		"marked #1 mitigated",
		"#1 reopened",
		"@ana resolved #1",
		"Summary: rolled back v2.3",
		"Firebreak (only you): Timeline of #1 (UTC)",
		"Incidents (newest 20)",
		"/incident declare <title> [SEV1-4]",
		"Postmortem of #1 written to",
		"📎 incident-1-postmortem.md (",
	} {
		assert.Contains(t, tr, want)
	}
	assert.NotContains(t, tr, "**")
	assert.NotContains(t, tr, "(error:")
	pm, err := os.ReadFile(filepath.Join(w.dir, "incident-1-postmortem.md"))
	require.NoError(t, err)
	assert.Contains(t, string(pm), "HighErrorRate")
	list, err := w.svc.List(context.Background(), incidents.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, list, 1, "the repeated alert joined the incident")
}

func TestConsoleSameAlertTwice(t *testing.T) {
	tr, w := run(t, alertLine+"\n"+alertLine+"\n", Options{})
	assert.Equal(t, 1, strings.Count(tr, "Step 1/5"))
	list, err := w.svc.List(context.Background(), incidents.ListQuery{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, 2, list[0].AlertCount)
}

func TestConsoleCommands(t *testing.T) {
	tests := []struct {
		name, script string
		want         []string
		notWant      []string
	}{
		{"help", "/help", []string{"Console commands:", "/join #channel"}, nil},
		{"join switches channel", "/join ops\n" + alertLine + "\n/incident declare DB down SEV2", []string{"(now in #ops)", "[#ops] Firebreak: 🔴 #1 DB down · SEV2"}, []string{"HighErrorRate"}},
		{"channel alias", "/channel #alerts\n/incident list", []string{"(now in #alerts)", "No open incidents"}, nil},
		{"unknown console command", "/frob", []string{"unknown console command /frob"}, nil},
		{"no buttons yet", "3", []string{"no button [3]"}, nil},
		{"button out of range", alertLine + "\n9", []string{"no button [9]"}, nil},
		{"continued line", "/incident declare Checkout \\\nis down", []string{"#1 Checkout is down"}, nil},
		{"react pushpin pins", alertLine + "\nthe pool is at 100%\n/react pushpin\n/incident timeline", []string{"Pinned to the timeline of #1", "the pool is at 100%"}, nil},
		{"react with nothing", "/react pushpin", []string{"nothing to react to"}, nil},
		{"pin", alertLine + "\n/pin checkout latency doubled\n/incident timeline", []string{"Pinned to the timeline of #1", "checkout latency doubled"}, nil},
		{"quit stops reading", "/quit\n" + alertLine, nil, []string{"HighErrorRate"}},
		{"error is only for you", "/incident ack", []string{"Firebreak (only you): ⚠️ No incident is open in this channel"}, nil},
		{"skip button asks for a reason", alertLine + "\n2", []string{"/incident #1 step skip --step read-codes <why>"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, _ := run(t, tt.script, Options{})
			for _, w := range tt.want {
				assert.Contains(t, tr, w)
			}
			for _, w := range tt.notWant {
				assert.NotContains(t, tr, w)
			}
		})
	}
}

func TestConsolePrompt(t *testing.T) {
	tr, _ := run(t, "/join ops\n", Options{Prompt: true})
	assert.Equal(t, "#alerts> (now in #ops)\n#ops> ", tr)
}

type nopHandler struct{}

func (nopHandler) Handle(context.Context, bot.Event, bot.Replier) error { return nil }

func TestConsoleStopsWithContext(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	c := New(r, io.Discard, nopHandler{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestPlain(t *testing.T) {
	c := New(strings.NewReader(""), io.Discard, nil, Options{User: ana})
	tests := []struct{ in, want string }{
		{"**#1** by <@ana>", "#1 by @ana"},
		{"<@U1|bob> and <@!42>", "@bob and @42"},
		{"@\u200beveryone", "@everyone"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, c.plain(tt.in))
	}
}

// FuzzConsoleLine feeds arbitrary input through the console and the real
// Router: nothing may panic or fail.
func FuzzConsoleLine(f *testing.F) {
	for _, s := range []string{alertLine, "1", "/incident ack", "/react", "/join", "/pin x", "a\\", "/incident #1 step done --step x"} {
		f.Add(s)
	}
	books, err := playbooks.Load("../../playbooks.yaml")
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, s string) {
		store := incidentstest.NewMemStore()
		svc := incidents.NewService(store, books, incidents.WithLogger(log))
		router, _ := routertest.New(t, svc, bot.RouterConfig{Logger: log, PostmortemDir: t.TempDir()}, intake.Config{RepeatInterval: time.Hour})
		var w *outboxtest.Worker
		c := New(strings.NewReader(alertLine+"\n"+s+"\n1\n"), io.Discard, router, Options{User: ana, Logger: log, Idle: func(ctx context.Context) error { return w.Idle(ctx) }})
		router.AddChat(Platform, c)
		w = outboxtest.Start(t, store, map[string]bot.Chat{Platform: c})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Run(ctx); err != nil && !strings.Contains(err.Error(), "token too long") {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithCancel(context.Background())
		rcancel()
		_ = router.Run(rctx)
	})
}

// idHandler keeps the ids of the events it is given.
type idHandler struct{ ids []string }

func (h *idHandler) Handle(_ context.Context, ev bot.Event, _ bot.Replier) error {
	h.ids = append(h.ids, ev.ID)
	return nil
}

// TestConsoleEventIDs: the console namespaces its event ids once
// ("console:<run>:<n>"); the Router records them as is. Two runs never
// share an id: seen ids are kept for days, and a restarted console's first
// commands must not be taken for redeliveries of the last run's.
func TestConsoleEventIDs(t *testing.T) {
	h := &idHandler{}
	c := New(strings.NewReader("/incident list\n/incident help\n"), io.Discard, h, Options{})
	require.NoError(t, c.Run(context.Background()))
	require.Len(t, h.ids, 2)
	assert.Regexp(t, `^console:[0-9a-z]+:[0-9]+$`, h.ids[0])
	assert.Regexp(t, `^console:[0-9a-z]+:[0-9]+$`, h.ids[1])
	assert.NotEqual(t, h.ids[0], h.ids[1])

	again := &idHandler{}
	c = New(strings.NewReader("/incident list\n"), io.Discard, again, Options{})
	require.NoError(t, c.Run(context.Background()))
	require.Len(t, again.ids, 1)
	assert.NotContains(t, h.ids, again.ids[0], "a restarted console reuses no event id")
}
