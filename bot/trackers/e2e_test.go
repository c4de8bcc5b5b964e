package trackers_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/console"
	"github.com/firebreak/firebreak/bot/internal/routertest"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	"github.com/firebreak/firebreak/bot/trackers"
	"github.com/firebreak/firebreak/bot/trackers/github"
	"github.com/firebreak/firebreak/bot/trackers/internal/trackertest"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
)

// syncBuffer is the console's output, read while the console writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// consoleBot wires what `firebreak` serves on the console, with a GitHub
// tracker: service, router with the follow-up filer, console adapter.
type consoleBot struct {
	in     *io.PipeWriter
	out    *syncBuffer
	router *bot.Router
	dir    string
	svc    *incidents.Service
	box    *outboxtest.Worker
}

func startConsoleBot(t *testing.T, g *trackertest.GitHub) *consoleBot {
	t.Helper()
	store := incidentstest.NewMemStore()
	svc := newService(t, store)
	c, err := github.New(github.Config{API: g.Server.URL, Repository: "acme/ops", Token: "ghp_test", HTTP: trackers.HTTP{Timeout: 5 * time.Second}})
	require.NoError(t, err)
	worker := trackers.NewWorker(svc, c, trackers.Options{Labels: []string{"incident"}, Logger: quiet})
	dir := t.TempDir()
	router, _ := routertest.New(t, svc, bot.RouterConfig{Logger: quiet, PostmortemDir: dir, Tracker: worker}, intake.Config{})
	pr, pw := io.Pipe()
	out := &syncBuffer{}
	var box *outboxtest.Worker
	con := console.New(pr, out, router, console.Options{Logger: quiet, User: ana, Idle: func(ctx context.Context) error { return box.Idle(ctx) }})
	router.AddChat("console", con)
	// serve's wiring: the outbox files follow-ups through the worker and
	// lets it say in chat when it gave up.
	box = outboxtest.StartWith(t, store, outboxtest.Options{
		Chats:   map[string]bot.Chat{console.Platform: con},
		Senders: outbox.Senders{"tracker/" + worker.Name(): worker},
		GaveUp: func(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error {
			if _, err := svc.Undelivered(ctx, e, r.Reason); err != nil {
				return err
			}
			return worker.GaveUp(ctx, e, r)
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = router.Run(ctx) }()
	go func() { defer wg.Done(); _ = con.Run(ctx) }()
	t.Cleanup(func() { _ = pw.Close(); cancel(); wg.Wait() })
	return &consoleBot{in: pw, out: out, router: router, dir: dir, svc: svc, box: box}
}

// say types a line and waits until the console printed want.
func (b *consoleBot) say(t *testing.T, line, want string) {
	t.Helper()
	_, err := fmt.Fprintln(b.in, line)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(b.out.String(), want) }, 20*time.Second, 10*time.Millisecond,
		"after %q, waiting for %q in:\n%s", line, want, b.out.String())
}

func TestConsoleFollowUpToPostmortemLink(t *testing.T) {
	g := trackertest.NewGitHub(t, "acme/ops", "ghp_test")
	b := startConsoleBot(t, g)
	b.say(t, "/incident declare Checkout down SEV1", "#1")
	b.say(t, "/incident followup type:detect Alert on checkout p99 latency @bob", "Filed as acme/ops#1")
	b.say(t, "/incident followup Write the failover runbook", "Filed as acme/ops#2")
	b.say(t, "/incident resolve failed over the DB", "resolved")
	b.say(t, "/incident postmortem", "written to")

	issues := g.Issues()
	require.Len(t, issues, 2)
	assert.Equal(t, "Alert on checkout p99 latency", issues[0].Title)
	assert.Equal(t, []string{"incident", "followup-detect"}, issues[0].Labels)
	assert.Contains(t, issues[0].Body, "owner: bob; type: detect")

	doc := readPostmortem(t, b.dir)
	link := fmt.Sprintf("[acme/ops#1](%s/acme/ops/issues/1)", g.Server.URL)
	assert.Contains(t, doc, "| Alert on checkout p99 latency | bob | detect | "+link+" | open |")
	assert.Contains(t, doc, "| Postmortem status | draft |")
	assert.Contains(t, doc, "follow-up filed as acme/ops#1", "the link is on the timeline")

	g.SetState(0, "closed")
	b.say(t, "/incident #1 postmortem review", "to in review")
	require.Eventually(t, func() bool { return strings.Count(b.out.String(), "written to") == 2 }, 20*time.Second, 10*time.Millisecond, "written again")
	doc = readPostmortem(t, b.dir)
	assert.Contains(t, doc, "| Alert on checkout p99 latency | bob | detect | "+link+" | closed |", "status refreshed")
	assert.Contains(t, doc, "| Postmortem status | in review |")
	assert.Len(t, g.Issues(), 2, "regenerating files nothing again")
}

func TestRedeliveredFollowUpFilesOnce(t *testing.T) {
	ctx := context.Background()
	g := trackertest.NewGitHub(t, "acme/ops", "ghp_test")
	b := startConsoleBot(t, g)
	b.say(t, "/incident declare Checkout down SEV1", "#1")
	ev := bot.Event{ID: "Ev42", Platform: "console", Kind: bot.KindCommand, Channel: "#alerts", User: ana,
		Text: "/incident #1 followup type:prevent Add a load test @ana"}
	for range 3 { // Slack retries an event it thinks was not acknowledged
		require.NoError(t, b.router.Handle(ctx, ev, nopReplier{}))
	}
	b.box.Wait() // the outbox files it
	assert.Len(t, g.Issues(), 1)
	items, err := b.svc.ActionItems(ctx, 1)
	require.NoError(t, err)
	require.Len(t, items, 1, "one action item")
	assert.True(t, items[0].Filed())
}

func TestTrackerDownKeepsTheFollowUp(t *testing.T) {
	g := trackertest.NewGitHub(t, "acme/ops", "ghp_test")
	b := startConsoleBot(t, g)
	b.say(t, "/incident declare Checkout down SEV1", "#1")
	g.Fail(trackertest.Fault{Status: 401, Body: `{"message":"Bad credentials"}`})
	b.say(t, "/incident followup Add a load test", "Filing it in the tracker failed")
	assert.Contains(t, b.out.String(), "Bad credentials")
	assert.Empty(t, g.Issues())
	b.say(t, "/incident postmortem", "written to")
	require.Len(t, g.Issues(), 1, "the next postmortem files what was left")
	assert.Contains(t, readPostmortem(t, b.dir), "[acme/ops#1]")
}

type nopReplier struct{}

func (nopReplier) Reply(context.Context, bot.Message) (bot.MessageRef, error) {
	return bot.MessageRef{}, nil
}

func readPostmortem(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "incident-1-postmortem.md"))
	require.NoError(t, err)
	return string(data)
}
