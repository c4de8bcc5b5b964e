package trackers

import (
	"net/http"
	"testing"
	"time"
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

// FuzzRetryAfter reads Retry-After headers as trackers send them.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "120", "99999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "soon", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{}
		h.Set("Retry-After", s)
		if d, ok := retryAfter(h, now); ok && d < 0 {
			t.Fatalf("negative wait %s for %q", d, s)
		}
	})
}
