package incidents_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

var update = flag.Bool("update", false, "rewrite testdata/postmortem.golden.md")

// walkedIncident drives incident #1 through a whole incident.
func walkedIncident(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, nil)
	a := errorAlert()
	a.StartsAt = t0.Add(-3 * time.Minute)
	_, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), a)
	require.NoError(t, err)
	step := func(d time.Duration, fn func() (incidents.Outcome, error)) {
		f.clock.Advance(d)
		_, err := fn()
		require.NoError(t, err)
	}
	step(90*time.Second, func() (incidents.Outcome, error) { return f.svc.Acknowledge(ctx, by(alice), 1) })
	step(time.Minute, func() (incidents.Outcome, error) {
		return f.svc.StepDone(ctx, by(alice), 1, "", "mostly 502 from the load balancer")
	})
	step(time.Minute, func() (incidents.Outcome, error) {
		return f.svc.AddNote(ctx, by(bob), 1, "@everyone | # not a heading\n<!channel> see [this](http://x)")
	})
	step(time.Minute, func() (incidents.Outcome, error) {
		return f.svc.AssignRole(ctx, by(alice), 1, incidents.RoleComms, bob)
	})
	step(time.Minute, func() (incidents.Outcome, error) {
		return f.svc.PostUpdate(ctx, by(bob), 1, "Checkout errors for 5% of users; rolling back.")
	})
	step(time.Minute, func() (incidents.Outcome, error) {
		return f.svc.Pin(ctx, by(bob), 1, alice, "rollback started", "https://chat.example.com/p/1")
	})
	step(time.Minute, func() (incidents.Outcome, error) {
		return f.svc.StepSkip(ctx, by(alice), 1, "verify", "dashboards already green")
	})
	step(4*time.Minute, func() (incidents.Outcome, error) { return f.svc.Mitigate(ctx, by(alice), 1) })
	step(10*time.Minute, func() (incidents.Outcome, error) {
		return f.svc.Resolve(ctx, by(alice), 1, "Rolled back release 2026.11.25-1.")
	})
	step(time.Minute, func() (incidents.Outcome, error) {
		return f.svc.AddFollowUp(ctx, by(bob), 1, "alert on upstream restarts")
	})
	return f
}

func TestPostmortemGolden(t *testing.T) {
	f := walkedIncident(t)
	var b bytes.Buffer
	require.NoError(t, f.svc.Postmortem(context.Background(), 1, &b))
	golden := filepath.Join("testdata", "postmortem.golden.md")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./incidents -run Golden -update to create it")
	assert.Equal(t, string(want), b.String())
}

func TestPostmortemSections(t *testing.T) {
	f := walkedIncident(t)
	var b bytes.Buffer
	require.NoError(t, f.svc.Postmortem(context.Background(), 1, &b))
	doc := b.String()

	headings := []string{
		"# Postmortem: #1 — HighErrorRate api-gateway",
		"## Summary", "## Impact", "## Root causes", "## Trigger", "## Resolution", "## Detection",
		"## Action items", "## Lessons learned", "## Timeline", "## Responders", "## Supporting information",
		"### Status updates as posted", "### Playbook", "### Notes", "## Review meeting",
	}
	last := -1
	for _, h := range headings {
		i := strings.Index(doc, "\n"+h+"\n")
		if h == headings[0] {
			i = strings.Index(doc, h)
		}
		require.GreaterOrEqual(t, i, 0, "missing %q", h)
		assert.Greater(t, i, last, "%q out of order", h)
		last = i
	}
	section := func(name string) string {
		_, rest, ok := strings.Cut(doc, "\n## "+name+"\n")
		require.True(t, ok, name)
		body, _, _ := strings.Cut(rest, "\n## ")
		return body
	}
	assert.Contains(t, section("Summary"), "Rolled back release 2026.11.25-1.")
	assert.Contains(t, section("Supporting information"), "> Checkout errors for 5% of users; rolling back.")
	assert.Contains(t, section("Detection"), "time to detect 3m0s")
	metrics := section("Impact")
	assert.Contains(t, metrics, "Impact from 2026-11-25 13:57:00 UTC (monitoring clock) to 2026-11-25 14:11:30 UTC (mitigated, Firebreak's clock): **14m30s**.")
	assert.Contains(t, metrics, "| Time to detect | 3m0s |")
	assert.Contains(t, metrics, "| Time to acknowledge | 1m30s |")
	assert.Contains(t, metrics, "| Time to mitigate | 11m30s |")
	assert.Contains(t, metrics, "| Time to resolve | 21m30s |")
	timeline := section("Timeline")
	assert.Equal(t, 11, strings.Count(timeline, "\n| 2026-11-25"), "every entry, one row each")
	steps := section("Supporting information")
	assert.Contains(t, steps, "- [x] **Read the status codes** — done by alice at 2026-11-25 14:02:30 UTC: mostly 502 from the load balancer")
	assert.Contains(t, steps, "~~Verify recovery~~ — skipped by alice at 2026-11-25 14:07:30 UTC, because: dashboards already green")
	notes := section("Supporting information")
	assert.Contains(t, notes, "(pinned from alice)")
	assert.Contains(t, notes, "https://chat.example.com/p/1")
	assert.Contains(t, section("Action items"), "| 11 | alert on upstream restarts | — | — | — | open |")
	assert.Contains(t, section("Responders"), "| alice | commander, responder | yes |\n| bob | comms | yes |")
	assert.Contains(t, section("Root causes"), "5. _Why?_")
	assert.Contains(t, section("Resolution"), "Mitigated at 2026-11-25 14:11:30 UTC by alice, after the step **Read the status codes**")

	// Injected text stays inert: no mass mention, no new heading, no table break.
	assert.NotContains(t, doc, "@everyone")
	assert.NotContains(t, doc, "<!channel>")
	assert.NotContains(t, doc, "\n# not a heading")
	for _, line := range strings.Split(timeline, "\n") {
		if strings.HasPrefix(line, "| 2026") {
			assert.Equal(t, 4, strings.Count(line, "|")-strings.Count(line, `\|`), "row keeps 3 cells: %s", line)
		}
	}
}

func TestPostmortemOfADeclaredIncidentWithoutData(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.svc.Declare(context.Background(), by(alice), "Payments slow", incidents.SEV3)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, f.svc.Postmortem(context.Background(), 1, &b))
	assert.Contains(t, b.String(), "Declared by alice")
	assert.Contains(t, b.String(), "_What happened, in two sentences")
	assert.Contains(t, b.String(), "| Time to resolve | — |")

	err = f.svc.Postmortem(context.Background(), 7, io.Discard)
	assert.ErrorIs(t, err, incidents.ErrNotFound)
}

func TestCustomPostmortemTemplate(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pm.tmpl"),
		[]byte("# {{md .Incident.Title}} ({{.Incident.Severity}})\n{{range .Timeline}}- {{.Kind}}\n{{end}}"), 0o600))
	path := filepath.Join(dir, "playbooks.yaml")
	require.NoError(t, os.WriteFile(path, []byte(testConfig+"postmortem:\n  template: pm.tmpl\n"), 0o600))
	cfg, err := playbooks.Load(path)
	require.NoError(t, err)
	svc := incidents.NewService(incidentstest.NewMemStore(), cfg)
	_, err = svc.Declare(context.Background(), by(alice), "Payments slow", incidents.SEV3)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, svc.Postmortem(context.Background(), 1, &b))
	assert.Equal(t, "# Payments slow (SEV3)\n- declared\n", b.String())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "pm.tmpl"), []byte("{{.Nope"), 0o600))
	err = svc.Postmortem(context.Background(), 1, io.Discard)
	assert.ErrorContains(t, err, "pm.tmpl")
}

func TestEscapeMarkdown(t *testing.T) {
	tests := map[string]string{
		"plain":             "plain",
		"# heading":         `\# heading`,
		"a | b":             `a \| b`,
		"**bold** _x_":      `\*\*bold\*\* \_x\_`,
		"@here now":         "@\u200bhere now",
		"<!everyone>":       "\\<!\u200beveryone\\>",
		"<@&123> role ping": "\\<@\u200b&123\\> role ping",
	}
	for in, want := range tests {
		assert.Equal(t, want, incidents.EscapeMarkdown(in), in)
	}
}

// BenchmarkPostmortem100k renders an incident with 100,000 timeline
// entries. The template streams entries from the store, so memory per render
// stays flat (see B/op) however long the timeline.
func BenchmarkPostmortem100k(b *testing.B) {
	ctx := context.Background()
	store := incidentstest.NewMemStore()
	f := newFixture(b, store)
	_, err := f.svc.Declare(ctx, by(alice), "Long incident", incidents.SEV2)
	require.NoError(b, err)
	const n = 100_000
	for i := 0; i < n; i += 1000 {
		require.NoError(b, store.Update(ctx, func(tx incidents.Tx) error {
			for j := range 1000 {
				e := incidents.Entry{Incident: 1, At: t0.Add(time.Duration(i+j) * time.Second), Kind: incidents.EntryNote, Actor: alice, Text: fmt.Sprintf("note %d", i+j)}
				if err := tx.AppendEntry(&e); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := f.svc.Postmortem(ctx, 1, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
