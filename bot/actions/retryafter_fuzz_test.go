package actions

import (
	"net/http"
	"testing"
	"time"
)

// FuzzRetryAfter reads Retry-After headers as step endpoints and trackers
// send them: never a negative wait, whatever the header says.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "120", "99999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "soon", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{}
		h.Set("Retry-After", s)
		if d, ok := RetryAfter(h, now); ok && d < 0 {
			t.Fatalf("negative wait %s for %q", d, s)
		}
	})
}
