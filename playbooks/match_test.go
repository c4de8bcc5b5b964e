package playbooks

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPatternAnswersAsItsRegularExpression(t *testing.T) {
	tests := []struct {
		expr      string
		words     bool // matched as words, without the regular expression
		match     []string
		different []string
	}{
		{expr: "5xx|HighErrorRate|ErrorRate", words: true,
			match:     []string{"5XX", "api highERRORrate", "x-errorrate-y", "5xx"},
			different: []string{"", "5x", "Error Rate", "HighError"}},
		{expr: "disk full", words: true, match: []string{"DISK FULL on db-1"}, different: []string{"diskfull", "disk  full"}},
		// Case folding beyond ASCII: the Kelvin sign is a K, the long s an
		// s, to the regular expression and so to the pattern.
		{expr: "kube|sso", words: true, match: []string{"\u212aube down", "\u017fso", "KUBE"}, different: []string{"kub", "ß"}},
		{expr: "a||b", words: true, match: []string{"", "zzz"}},
		{expr: `\b5\d\d\b|bad gateway`, match: []string{"HTTP 502 seen", "Bad Gateway"}, different: []string{"5021", "gateway"}},
		{expr: "^Alert1$", match: []string{"alert1"}, different: []string{"Alert10", "xAlert1"}},
		{expr: "c.ché|café", match: []string{"CAFÉ", "CACHÉ"}, different: []string{"cafe"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := compilePattern(tt.expr)
			require.NoError(t, err)
			assert.Equal(t, tt.words, p.words != nil, "matched as words")
			// Twice: the second answer may come from the pattern's memory.
			for range 2 {
				for _, s := range tt.match {
					assert.True(t, p.MatchString(s), "%q should match %q", tt.expr, s)
				}
				for _, s := range tt.different {
					assert.False(t, p.MatchString(s), "%q should not match %q", tt.expr, s)
				}
			}
		})
	}
}

func TestPatternMemoryIsBounded(t *testing.T) {
	p, err := compilePattern(`\d{3}`)
	require.NoError(t, err)
	for i := range 3 * maxRemembered {
		s := fmt.Sprintf("alert %d", i)
		assert.Equal(t, i >= 100, p.MatchString(s), s)
		assert.LessOrEqual(t, len(p.seen), maxRemembered)
	}
	long := fmt.Sprintf("%0*d", maxRememberedInput+1, 7)
	p.seen = nil
	assert.True(t, p.MatchString(long))
	assert.Empty(t, p.seen, "a long input is not remembered")
}

// FuzzPattern checks that a pattern, words or memory, answers as the
// regular expression playbooks.yaml's rule is.
func FuzzPattern(f *testing.F) {
	f.Add("5xx|HighErrorRate", "api HIGHERRORRATE")
	f.Add("kube", "\u212aUBE")
	f.Add(`\b5\d\d\b|error rate`, "Error Rate 502")
	f.Add("a||b", "")
	f.Add("ß|ss", "SS")
	f.Fuzz(func(t *testing.T, expr, s string) {
		re, err := regexp.Compile("(?i)" + expr)
		p, perr := compilePattern(expr)
		if err != nil {
			if perr == nil {
				t.Fatalf("%q: the pattern compiled, the regular expression did not: %v", expr, err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("%q: %v", expr, perr)
		}
		want := re.MatchString(s)
		for range 2 {
			if got := p.MatchString(s); got != want {
				t.Fatalf("%q on %q: pattern says %v, regular expression %v", expr, s, got, want)
			}
		}
	})
}
