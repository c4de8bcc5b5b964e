package bot

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefusalsAreSentencesForPeople reproduces issue 12 item 5: refusals
// ended in Go sentinels (": usage", ": not allowed in this state"), said
// "you is already commander" and turned code into look-alike backticks.
func TestRefusalsAreSentencesForPeople(t *testing.T) {
	f := newFixture(t, 0)
	f.open(t)
	f.handle(t, f.event(KindCommand, "ack"))
	f.handle(t, f.event(KindCommand, "severity SEV2"))
	tests := []struct{ command, want string }{
		{"ackk", "⚠️ There is no command \"ackk\" — did you mean `/incident ack`? (`/incident help` lists them all.)"},
		{"ack", "⚠️ You already acknowledged #1 at 14:00 UTC."},
		{"role commander @me", "⚠️ You are already commander of #1."},
		{"role responder @me", "⚠️ You are already a responder on #1."},
		{"severity SEV2", "⚠️ Incident #1 is already SEV2."},
		{"severity SEV9", "⚠️ \"SEV9\" is not a severity: use SEV1, SEV2, SEV3 or SEV4."},
		{"note", "⚠️ `/incident note` needs some text. Usage: `/incident note <text>`"},
		{"#9 ack", "⚠️ There is no incident #9: `/incident list all` shows them all."},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			rec := f.handle(t, f.event(KindCommand, tt.command))
			require.Len(t, rec.all(), 1)
			m := rec.all()[0]
			assert.True(t, m.Ephemeral, "refusals are shown only to whoever typed")
			assert.Equal(t, tt.want, m.Text)
			for _, leak := range []string{": usage", "not allowed in this state", "you is", "\u02cb", "text is required", "no such incident"} {
				assert.NotContains(t, m.Text, leak)
			}
		})
	}
}

// TestRefusalTextsDocumented keeps docs/commands.md's list of refusals in
// step with the Text… constants of incidents and bot: every sentence
// Firebreak can say no with is documented, and nothing else is.
func TestRefusalTextsDocumented(t *testing.T) {
	var texts []string
	for _, file := range []string{"../incidents/text.go", "text.go"} {
		texts = append(texts, textConstants(t, file)...)
	}
	require.NotEmpty(t, texts)
	doc, err := os.ReadFile("../docs/commands.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)## When Firebreak says no.*?```text\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, block, "docs/commands.md has a \"When Firebreak says no\" section with a text block")
	documented := strings.Split(strings.TrimSpace(string(block[1])), "\n")
	var want []string
	for _, tx := range texts {
		want = append(want, docForm(tx))
	}
	assert.ElementsMatch(t, want, documented)
}

// docForm writes a format as the docs show it: #N for incident numbers,
// … for anything else filled in.
func docForm(format string) string {
	r := strings.NewReplacer("#%d", "#N", "%q", `"…"`, "%s", "…", "%d", "N")
	return r.Replace(format)
}

func textConstants(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	require.NoError(t, err)
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Text") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				out = append(out, s)
			}
		}
	}
	return out
}
