package incidents_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// hostileTitles are texts that break a naive Mermaid gantt: its separators
// (':' '#' ';' line breaks), comments and directives ('%%'), entities
// ('#quot;'), keywords at the start of a line, Markdown, HTML, front
// matter, scripts and sizes no chart was made for.
var hostileTitles = []string{
	"Database: down",
	"a: b: c :: d:",
	`He said "hi" and 'bye'`,
	"#1 #quot; #35; &amp; &#58;",
	"a;b;c ; ;;",
	"line1\nline2\r\nline3\rline4",
	"**bold** _it_ [link](http://x) `code` ```fence```",
	"<script>alert(1)</script> <b>bold</b> <br/> <img src=x onerror=alert(1)>",
	"%% comment",
	"x %% inline comment %%",
	"%%{init: {'theme':'dark'}}%%",
	"section Evil",
	`click e1 href "javascript:alert(1)"`,
	"call alert(1)",
	"title Replaced",
	"dateFormat X",
	"axisFormat %Y",
	"gantt",
	"excludes weekends",
	"todayMarker off",
	"accTitle: stolen",
	"accDescr { multi\nline }",
	"2026-11-25 looks like a date",
	"milestone, done, crit, e1, 2026-01-01, 1d",
	"---\ntitle: front matter\n---",
	"--> arrow --- line",
	"{ braces } [brackets] (parens)",
	`back\slash \\ \n \t`,
	"\ttabs\tand  spaces  ",
	"",
	"   ",
	"🔥🔥 emoji only 🔥",
	"خطأ في الخادم",
	"数据库宕机",
	"zero\u200bwidth\u200d joiner \ufeff bom",
	"e\u0301 combining",
	"@everyone <!channel> <@U123>",
	"ﬂ°°35¶ß entity placeholders",
	strings.Repeat("very long title ", 400),
	strings.Repeat("x", 5000),
}

// corpusIncident is a resolved incident in which one hostile text is the
// title, every person's name, every step title and the severity, with each
// kind of key event the diagram marks.
func corpusIncident(i int, text string) (*incidents.Incident, []incidents.Entry) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	who := incidents.Actor{Platform: "slack", ID: "U1", Name: text}
	inc := &incidents.Incident{
		Number: uint64(i + 1), Title: text, Status: incidents.StatusResolved,
		OpenedAt: at(0), AcknowledgedAt: at(2), MitigatedAt: at(30), ResolvedAt: at(45),
		Trigger: incidents.Alert{Source: "alertmanager", Title: text, StartsAt: at(-4)},
	}
	kinds := []incidents.EntryKind{
		incidents.EntryAcknowledged, incidents.EntryStepDone, incidents.EntrySeverity, incidents.EntryStatusUpdate,
		incidents.EntryStepSkipped, incidents.EntryEscalation, incidents.EntryMitigated, incidents.EntryReopened,
		incidents.EntryMitigated, incidents.EntryResolved, incidents.EntryKind(text),
	}
	var events []incidents.Entry
	for k, kind := range kinds {
		events = append(events, incidents.Entry{
			Incident: inc.Number, Seq: uint64(k + 1), At: at(2 + 4*k), Kind: kind, Actor: who, Text: text,
			Data: map[string]string{"title": text, "new": text},
		})
	}
	return inc, events
}

// corpus is every diagram the hostile texts give, plus the edge cases of
// an incident's shape: still open, declared with nothing done, days long.
func corpus() []string {
	var out []string
	for i, text := range hostileTitles {
		inc, events := corpusIncident(i, text)
		out = append(out, incidents.Gantt(inc, events, t0.Add(time.Hour)))
	}
	open := &incidents.Incident{Number: 100, Title: "still open: #1", Status: incidents.StatusAcknowledged, OpenedAt: t0, AcknowledgedAt: t0.Add(time.Minute)}
	out = append(out, incidents.Gantt(open, nil, t0.Add(10*time.Minute)))
	declared := &incidents.Incident{Number: 101, Title: "declared", Status: incidents.StatusTriggered, OpenedAt: t0}
	out = append(out, incidents.Gantt(declared, nil, t0))
	long := &incidents.Incident{Number: 102, Title: "three days", Status: incidents.StatusResolved, OpenedAt: t0,
		MitigatedAt: t0.Add(50 * time.Hour), ResolvedAt: t0.Add(72 * time.Hour)}
	out = append(out, incidents.Gantt(long, nil, t0.Add(80*time.Hour)))
	return out
}

// ganttLine is what every line the generator writes must look like, in
// the terms of Mermaid's gantt.jison: keywords Firebreak wrote itself,
// sections it named, and tasks whose name holds none of ':', '#', ';',
// '%' and whose data follows the one ':'.
var ganttLine = regexp.MustCompile(`^(gantt|    title Incident \d+ [^:#;%\n]*|    dateFormat YYYY-MM-DD HH:mm:ss|    axisFormat %(H:%M|m-%d %H:%M)|    section (Phases|Key events)|    (Detect|Acknowledge|Mitigate|Recover|Acknowledged|Step|Severity|Status|Mitigated|Reopened|Resolved|Escalated|Event)[^:#;%\n]* :(done|active|milestone|crit, milestone), [pe]\d+, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|0s))$`)

func TestGanttCorpusShape(t *testing.T) {
	for i, d := range corpus() {
		require.True(t, strings.HasSuffix(d, "\n"), "diagram %d ends its last line", i)
		for _, line := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
			assert.Regexp(t, ganttLine, line, "diagram %d", i)
			assert.LessOrEqual(t, utf8.RuneCountInString(line), 200, "diagram %d: line too long", i)
		}
		assert.NotContains(t, d, "```", "diagram %d could close its code fence", i)
	}
}

func FuzzDiagramText(f *testing.F) {
	for _, s := range hostileTitles {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := incidents.DiagramText(s)
		if strings.ContainsAny(out, ":#;%\n\r`<>&\"{}[]@!\\") {
			t.Fatalf("DiagramText(%q) = %q keeps a character Mermaid or Markdown reads", s, out)
		}
		if utf8.RuneCountInString(out) > 60 {
			t.Fatalf("DiagramText(%q) has %d characters", s, utf8.RuneCountInString(out))
		}
		if out != strings.TrimSpace(out) || strings.Contains(out, "  ") {
			t.Fatalf("DiagramText(%q) = %q has stray spaces", s, out)
		}
		line := fmt.Sprintf("    Step done %s :milestone, e1, 2026-11-25 14:00:00, 0s", out)
		if !ganttLine.MatchString(line) {
			t.Fatalf("line %q is not a gantt task", line)
		}
	})
}

// mmdcPath finds Mermaid's command-line renderer: FIREBREAK_MMDC, mmdc on
// PATH, or where .ci/install-mermaid puts it.
func mmdcPath() string {
	if p := os.Getenv("FIREBREAK_MMDC"); p != "" {
		return p
	}
	if p, err := exec.LookPath("mmdc"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "firebreak-mermaid", "node_modules", ".bin", "mmdc")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// TestGanttCorpusWithMermaid renders every corpus diagram with Mermaid
// itself (mermaid-cli driving Debian's chromium): a diagram Mermaid cannot
// parse fails the test. Without mmdc it is skipped, except in CI
// (CI=true), where .ci/install-mermaid must have installed it.
func TestGanttCorpusWithMermaid(t *testing.T) {
	mmdc := mmdcPath()
	if mmdc == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("mmdc is missing: CI must run .ci/install-mermaid (or set FIREBREAK_MMDC)")
		}
		t.Skip("mmdc not installed: run .ci/install-mermaid to check the diagrams with Mermaid")
	}
	chromium := os.Getenv("FIREBREAK_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	dir := t.TempDir()
	var md strings.Builder
	diagrams := corpus()
	// The whole postmortem of a walked incident, as users get it, too.
	f := walkedIncident(t)
	var pm strings.Builder
	require.NoError(t, f.svc.Postmortem(context.Background(), 1, &pm))
	_, rest, ok := strings.Cut(pm.String(), "```mermaid\n")
	require.True(t, ok, "the postmortem has a mermaid block")
	walked, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	diagrams = append(diagrams, walked)
	for i, d := range diagrams {
		fmt.Fprintf(&md, "## %d\n\n```mermaid\n%s```\n\n", i, d)
	}
	in := filepath.Join(dir, "corpus.md")
	require.NoError(t, os.WriteFile(in, []byte(md.String()), 0o600))
	cfg := filepath.Join(dir, "puppeteer.json")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `{"executablePath": %q, "args": ["--no-sandbox"]}`, chromium), 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := filepath.Join(dir, "out.md")
	cmd := exec.CommandContext(ctx, mmdc, "-q", "-p", cfg, "-i", in, "-o", out)
	cmd.Dir = dir
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "mmdc rejected a diagram:\n%s", output)

	svgs, err := filepath.Glob(filepath.Join(dir, "out-*.svg"))
	require.NoError(t, err)
	assert.Len(t, svgs, len(diagrams), "one picture per diagram")
	// The check can fail: a diagram that really is broken is refused.
	bad := filepath.Join(dir, "broken.md")
	require.NoError(t, os.WriteFile(bad, []byte("```mermaid\ngantt\n    dateFormat YYYY-MM-DD\n    Database: down :done, p1, 2026-11-25, 1d\n```\n"), 0o600))
	cmd = exec.CommandContext(ctx, mmdc, "-q", "-p", cfg, "-i", bad, "-o", filepath.Join(dir, "broken-out.md"))
	cmd.Dir = dir
	_, err = cmd.CombinedOutput()
	require.Error(t, err, "mmdc must refuse a task name with a colon")
	for _, p := range svgs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "Syntax error", p)
		assert.NotContains(t, string(b), "<script", p)
	}
}
