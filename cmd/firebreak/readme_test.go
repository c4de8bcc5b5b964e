package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walkthroughSection is the README section whose `console` blocks are one
// console session, typed as shown.
const walkthroughSection = "## From alert to postmortem in the console"

// walkthroughStep is how far the test clock moves before each typed line.
const walkthroughStep = 15 * time.Second

// walkthroughStart is when the README's session begins.
var walkthroughStart = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

// inputLine is a typed line of a transcript: the console's prompt and
// what the user typed after it.
var inputLine = regexp.MustCompile(`^#[^ >]+> (.*)$`)

// readmeWalkthrough returns the transcript lines of the README's console
// walkthrough: every ```console block of the section, in order, without
// the opening "$ go run ./cmd/firebreak".
func readmeWalkthrough(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	text := string(raw)
	start := strings.Index(text, "\n"+walkthroughSection+"\n")
	require.GreaterOrEqual(t, start, 0, "README.md has no section %q", walkthroughSection)
	section := text[start+1:]
	if end := strings.Index(section[len(walkthroughSection):], "\n## "); end >= 0 {
		section = section[:len(walkthroughSection)+end]
	}
	var lines []string
	in := false
	for l := range strings.Lines(section) {
		l = strings.TrimSuffix(l, "\n")
		switch {
		case !in && l == "```console":
			in = true
		case in && l == "```":
			in = false
		case in:
			lines = append(lines, l)
		}
	}
	require.NotEmpty(t, lines, "no ```console block in %q", walkthroughSection)
	require.Equal(t, "$ go run ./cmd/firebreak", lines[0], "the walkthrough starts the bot")
	return lines[1:]
}

// promptedInput feeds a console one typed line at a time, each only after
// the console has printed its prompt (so it has finished the line before),
// and echoes the line after the prompt as a terminal would. The clock moves
// walkthroughStep before each line, so the transcript is the same on every
// run.
type promptedInput struct {
	lines  []string
	out    *transcript
	ticks  atomic.Int64
	prompt chan struct{}
}

func (p *promptedInput) now() time.Time {
	return walkthroughStart.Add(time.Duration(max(p.ticks.Load()-1, 0)) * walkthroughStep)
}

func (p *promptedInput) Read(b []byte) (int, error) {
	if len(p.lines) == 0 {
		return 0, io.EOF
	}
	select {
	case <-p.prompt:
	case <-time.After(20 * time.Second):
		return 0, errors.New("the console printed no prompt within 20 s")
	}
	l := p.lines[0] + "\n"
	if len(l) > len(b) {
		return 0, errors.New("a walkthrough line is longer than the console's read buffer")
	}
	p.lines = p.lines[1:]
	p.out.typed(l)
	p.ticks.Add(1) // the first line is typed at walkthroughStart
	return copy(b, l), nil
}

// transcript is the console's output with the typed lines echoed in.
type transcript struct {
	mu     sync.Mutex
	b      strings.Builder
	prompt chan struct{}
}

var promptOnly = regexp.MustCompile(`^#[^ >]+> $`)

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if promptOnly.Match(p) {
		select {
		case t.prompt <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (t *transcript) typed(l string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.WriteString(l)
}

func (t *transcript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// matchTranscript reports whether got matches want, where a want line that
// is exactly "…" stands for any number of lines (none included) and every
// other line must be equal byte for byte. On a mismatch it says which
// README line did not match.
func matchTranscript(want, got []string) (bool, string) {
	// memo[i][j]: want[i:] against got[j:] already known not to match.
	failed := map[[2]int]bool{}
	furthest := 0
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if failed[[2]int{i, j}] {
			return false
		}
		furthest = max(furthest, i)
		ok := false
		switch {
		case i == len(want):
			ok = j == len(got)
		case want[i] == "…":
			for k := j; k <= len(got) && !ok; k++ {
				ok = match(i+1, k)
			}
		case j < len(got) && want[i] == got[j]:
			ok = match(i+1, j+1)
		}
		if !ok {
			failed[[2]int{i, j}] = true
		}
		return ok
	}
	if match(0, 0) {
		return true, ""
	}
	if furthest >= len(want) {
		return false, "the README transcript ends before the session does"
	}
	return false, fmt.Sprintf("README line %d of the walkthrough does not match: %q", furthest+1, want[furthest])
}

// TestREADMEWalkthrough types the README's console walkthrough, as written,
// into the real binary on a fixed clock, and compares what it prints with
// what the README shows. It fails on any refusal, so the README can never
// teach a command that does not work.
func TestREADMEWalkthrough(t *testing.T) {
	want := readmeWalkthrough(t)
	var typed []string
	for _, l := range want {
		if m := inputLine.FindStringSubmatch(l); m != nil {
			typed = append(typed, m[1])
		}
	}
	require.NotEmpty(t, typed, "the walkthrough types nothing")

	e := newTestEnv(t)
	prompt := make(chan struct{}, 1)
	out := &transcript{prompt: prompt}
	in := &promptedInput{lines: typed, out: out, prompt: prompt}
	yes := true
	var errb strings.Builder
	env := environ{
		getenv:          func(k string) string { return e.env[k] },
		stdin:           in,
		stdout:          out,
		stderr:          &errb,
		stdinIsTerminal: &yes,
		now:             in.now,
	}
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir(e.dir))
	defer func() { require.NoError(t, os.Chdir(wd)) }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, nil, env)
	require.Equal(t, 0, code, "stderr: %s", errb.String())

	session := strings.TrimSuffix(out.String(), "#alerts> ")
	got := strings.Split(strings.TrimSuffix(session, "\n"), "\n")
	var problems []string
	for _, l := range got {
		if strings.Contains(l, "⚠️") || strings.Contains(l, "(error:") {
			problems = append(problems, "refused or failed: "+l)
		}
	}
	if ok, why := matchTranscript(want, got); !ok {
		problems = append(problems, why)
	}
	if len(problems) > 0 {
		t.Errorf("%s\n\nThe session as it ran, to paste into README.md:\n```console\n$ go run ./cmd/firebreak\n%s```",
			strings.Join(problems, "\n"), session)
	}
	assert.FileExists(t, filepath.Join(e.dir, "postmortems", "incident-1-postmortem.md"))
}

func TestMatchTranscript(t *testing.T) {
	tests := []struct {
		name      string
		want, got []string
		ok        bool
	}{
		{"equal", []string{"a", "b"}, []string{"a", "b"}, true},
		{"ellipsis stands for lines", []string{"a", "…", "d"}, []string{"a", "b", "c", "d"}, true},
		{"ellipsis stands for no line", []string{"a", "…", "b"}, []string{"a", "b"}, true},
		{"trailing ellipsis", []string{"a", "…"}, []string{"a", "b"}, true},
		{"a differing byte", []string{"a", "b"}, []string{"a", "b "}, false},
		{"a missing line", []string{"a", "b", "c"}, []string{"a", "c"}, false},
		{"an extra line", []string{"a"}, []string{"a", "b"}, false},
		{"ellipsis is a whole line only", []string{"a …"}, []string{"a b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, _ := matchTranscript(tt.want, tt.got)
			assert.Equal(t, tt.ok, ok)
		})
	}
}
