package console

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// documentedBareCommands are the examples of docs/commands.md's command
// table that name no incident and act on one, as a user copies them.
func documentedBareCommands(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/commands.md")
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile("(?m)^\\| `[^`]+` .*\\| `(/incident [^`]+)` \\|$").FindAllStringSubmatch(string(doc), -1) {
		cmd := m[1]
		name := strings.Fields(cmd)[1]
		if strings.Contains(cmd, "#") || name == "declare" || name == "list" || name == "help" {
			continue
		}
		out = append(out, cmd)
	}
	require.GreaterOrEqual(t, len(out), 10, "the command table of docs/commands.md has its examples")
	// Its examples of these two name #4; the README types them bare.
	return append(out, "/incident status", "/incident postmortem")
}

// TestDocumentedBareCommandsNeverGuess types every bare example of
// docs/commands.md in #alerts while #1 is resolved and #2 and #3 are open
// there: each one asks which incident and changes nothing. Once #2 is
// resolved too, each one reaches #3, and neither resolved incident gets
// a single timeline entry more.
func TestDocumentedBareCommandsNeverGuess(t *testing.T) {
	books, err := playbooks.Load("../../playbooks.yaml")
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithClock(func() time.Time { return clock.Advance(time.Second) }), incidents.WithLogger(log))
	router, _ := routertest.New(t, svc, bot.RouterConfig{Logger: log, PostmortemDir: filepath.Join(t.TempDir(), "pm"), Now: clock.Now}, intake.Config{RepeatInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = router.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	out := &syncBuffer{}
	c := New(strings.NewReader(""), out, router, Options{User: ana, Logger: log})
	router.AddChat(Platform, c)
	w := outboxtest.Start(t, store, map[string]bot.Chat{Platform: c})
	typed := func(line string) string {
		t.Helper()
		before := len(out.String())
		require.True(t, c.line(ctx, line))
		w.Wait()
		return out.String()[before:]
	}
	entries := func(n uint64) int {
		t.Helper()
		count := 0
		require.NoError(t, svc.Timeline(ctx, n, func(incidents.Entry) error { count++; return nil }))
		return count
	}

	typed("/incident declare Old outage SEV3")
	typed("/incident resolve it is over")
	typed(alertLine)
	typed("[FIRING:1] DiskFull db-1 (severity=warning) disk 95%")
	cmds := documentedBareCommands(t)
	t.Logf("typed bare, from docs/commands.md: %q", cmds)

	for _, cmd := range cmds {
		was := []int{entries(1), entries(2), entries(3)}
		said := typed(cmd)
		assert.Contains(t, said, "Firebreak (only you): 🤔 Several incidents are open in this channel", cmd)
		assert.Equal(t, was, []int{entries(1), entries(2), entries(3)}, "%s changed something before anyone picked", cmd)
	}

	typed("/incident #2 resolve rolled back")
	resolved := []int{entries(1), entries(2)}
	for _, cmd := range cmds {
		said := typed(cmd)
		assert.Contains(t, said, "#3", cmd)
		assert.NotContains(t, said, "Several incidents are open", cmd)
		assert.NotRegexp(t, `#[12]\b`, said, "%s: a resolved incident is never meant", cmd)
	}
	assert.Equal(t, resolved, []int{entries(1), entries(2)}, "the resolved incidents are untouched")
	inc, err := svc.Get(ctx, 3)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusResolved, inc.Status, "the table's resolve example closed #3")
}
