package playbooks

import (
	"regexp"
	"strings"
	"sync"
)

// Limits of a pattern's memory of answers (see pattern): inputs longer
// than maxRememberedInput are never remembered, and the memory is emptied
// once it holds maxRemembered answers, so one pattern keeps at most about
// maxRemembered × maxRememberedInput bytes however many alerts it sees.
const (
	maxRemembered      = 1024
	maxRememberedInput = 256
)

// pattern is one condition of a match rule: a case-insensitive regular
// expression over one part of an alert. Matching runs inside the
// transaction that records the alert, once for every alert that opens an
// incident, so in a storm of alerts that each open one it is paid per
// alert on the store's one committer. Two things make it cheaper than
// the regular expression alone, with the same answers:
//   - an expression that is only words joined by '|' (the usual
//     "5xx|HighErrorRate|ErrorRate") is matched as words: an alert part in
//     ASCII is searched for each word without regard to case; a part with
//     other characters goes to the regular expression, whose case folding
//     also matches "K" (Kelvin) to k and "ſ" to s;
//   - any other expression remembers its answers for recent short inputs:
//     the alerts of a storm mostly share their text.
//
// It is safe for concurrent use.
type pattern struct {
	re *regexp.Regexp
	// words are the lower-cased alternatives when the expression is only
	// ASCII words joined by '|'; nil otherwise.
	words []string

	mu   sync.Mutex
	seen map[string]bool
}

// compilePattern compiles expr as playbooks.yaml means it: a regular
// expression (RE2 syntax) matched anywhere, case-insensitively.
func compilePattern(expr string) (*pattern, error) {
	re, err := regexp.Compile("(?i)" + expr)
	if err != nil {
		return nil, err
	}
	return &pattern{re: re, words: literalWords(expr)}, nil
}

// literalWords splits expr at '|' when every part is ASCII without any
// character a regular expression treats specially; nil otherwise.
func literalWords(expr string) []string {
	for i := 0; i < len(expr); i++ {
		if c := expr[i]; c >= 0x80 || (c != '|' && strings.IndexByte(`\.+*?()[]{}^$`, c) >= 0) {
			return nil
		}
	}
	words := strings.Split(expr, "|")
	for i, w := range words {
		words[i] = strings.ToLower(w)
	}
	return words
}

// MatchString reports whether s contains a match of the pattern.
func (p *pattern) MatchString(s string) bool {
	if p.words != nil && isASCII(s) {
		for _, w := range p.words {
			if containsFold(s, w) {
				return true
			}
		}
		return false
	}
	if len(s) > maxRememberedInput {
		return p.re.MatchString(s)
	}
	p.mu.Lock()
	ok, known := p.seen[s]
	p.mu.Unlock()
	if known {
		return ok
	}
	ok = p.re.MatchString(s)
	p.mu.Lock()
	if p.seen == nil || len(p.seen) >= maxRemembered {
		p.seen = make(map[string]bool)
	}
	p.seen[strings.Clone(s)] = ok
	p.mu.Unlock()
	return ok
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsFold reports whether ASCII s contains w, a lower-case ASCII
// word, in any case.
func containsFold(s, w string) bool {
	if w == "" {
		return true
	}
	for i := 0; i+len(w) <= len(s); i++ {
		if lowerASCII(s[i]) != w[0] {
			continue
		}
		j := 1
		for j < len(w) && lowerASCII(s[i+j]) == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
