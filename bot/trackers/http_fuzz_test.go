package trackers

import (
	"testing"
	"unicode/utf8"
)

// FuzzErrorMessage feeds tracker error bodies (outside input) to the
// message extractor: it must never panic and stays short.
func FuzzErrorMessage(f *testing.F) {
	for _, s := range []string{
		`{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"}]}`,
		`{"errorMessages":["Issue does not exist"],"errors":{"summary":"required"}}`,
		`{"errors":"x"}`, `not json`, ``, `{"message":`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := errorMessage([]byte(s))
		if len(m) > 310*utf8.UTFMax {
			t.Fatalf("message of %d bytes", len(m))
		}
		if utf8.ValidString(s) && !utf8.ValidString(m) {
			t.Fatalf("errorMessage(%q) = %q cut a character in half", s, m)
		}
	})
}
