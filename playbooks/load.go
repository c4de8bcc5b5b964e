package playbooks

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds playbooks.yaml; a bigger file is almost certainly not
// a playbooks file, and reading it must not exhaust memory.
const MaxFileSize = 1 << 20

// Problem is one thing wrong with a playbooks file.
type Problem struct {
	File  string
	Line  int
	Field string // path like "playbooks[1].steps[3].kind"
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError holds every problem found in a file, so one run of
// `firebreak check` shows them all instead of one per edit.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultFile is the name error messages use for the built-in playbooks.
const DefaultFile = "(built-in playbooks.yaml)"

// Default returns the built-in configuration, a copy of the shipped
// playbooks.yaml, used when no file exists.
func Default() *Config {
	c, err := Parse(DefaultFile, defaultYAML)
	if err != nil {
		// The embedded file is checked by tests; reaching this is a build defect.
		panic(fmt.Sprintf("built-in playbooks.yaml is invalid: %v", err))
	}
	c.Path = ""
	return c
}

// DefaultYAML returns the built-in playbooks.yaml, for users who want to
// start their own file from it.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Load reads and validates a playbooks file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading playbooks: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading playbooks %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a playbooks file's content. path is used in
// error messages and to find a custom postmortem template. Errors are a
// *ValidationError listing every problem with its line and field.
func Parse(path string, data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, &ValidationError{Problems: []Problem{{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ValidationError{Problems: []Problem{syntaxProblem(path, err, data)}}
	}
	d := &decoder{file: path, lines: map[string]int{}, src: strings.Split(string(data), "\n")}
	cfg := &Config{Path: path}
	if len(root.Content) > 0 {
		d.decode(root.Content[0], reflect.ValueOf(cfg).Elem(), "")
	}
	// Validate even after decoding problems, so one run shows everything;
	// fields that failed to decode keep their zero values.
	v := validator{decoder: d, cfg: cfg}
	v.run()
	if len(d.probs) > 0 {
		slices.SortStableFunc(d.probs, func(a, b Problem) int { return a.Line - b.Line })
		return nil, &ValidationError{Problems: d.probs}
	}
	return cfg, nil
}

// commentedValue finds a value that YAML reads as a comment because it
// starts with "#": "alert_channels: #alerts", "- #alerts", "[#alerts]".
// A comment proper has a space after its "#".
var commentedValue = regexp.MustCompile(`(?:^\s*-|:|\[|,)\s+#[^\s#]|\[#[^\s#]`)

// commentHint explains the most common YAML surprise in playbooks files.
const commentHint = `; "#" starts a comment in YAML, so write channel names in quotes: "#alerts"`

// syntaxProblem turns yaml.v3's "yaml: line 5: …" into a Problem, with a
// hint when a nearby line starts a value with "#".
func syntaxProblem(path string, err error, data []byte) Problem {
	p := syntaxProblemOf(path, err)
	lines := strings.Split(string(data), "\n")
	for l := p.Line - 2; l <= p.Line; l++ { // the line reported, and the one or two before
		if l >= 0 && l < len(lines) && commentedValue.MatchString(lines[l]) {
			if p.Line == 0 || l+1 < p.Line {
				p.Line = l + 1
			}
			p.Msg += commentHint
			break
		}
	}
	return p
}

func syntaxProblemOf(path string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ":"); ok {
			if _, scanErr := fmt.Sscanf(num, "%d", &line); scanErr == nil {
				msg = strings.TrimSpace(tail)
			}
		}
	}
	return Problem{File: path, Line: line, Msg: "invalid YAML: " + msg}
}
