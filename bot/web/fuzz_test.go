package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzSessionCookie: no cookie value a client sends is accepted unless we
// signed it, and none makes the check panic.
func FuzzSessionCookie(f *testing.F) {
	s := sessions{key: []byte("fuzz key, fixed for reproducible corpora"), ttl: 3600e9}
	good := s.issue(now).Value
	for _, seed := range []string{good, "", ".", "AAAAAAAAAAA.", good + "x", strings.Replace(good, "A", "B", 1), "%%.%%"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		req := httptest.NewRequest(http.MethodGet, "/web/incidents", nil)
		req.Header.Set("Cookie", sessionCookie+"="+v)
		if s.valid(req, now) && v != good {
			c, err := req.Cookie(sessionCookie)
			if err == nil && c.Value != good {
				t.Fatalf("accepted a cookie we did not sign: %q", v)
			}
		}
	})
}

// FuzzSafeLink: only absolute http(s) URLs come out, and safeNext keeps
// redirects inside the web view.
func FuzzSafeLink(f *testing.F) {
	for _, seed := range []string{"https://runbooks.example.com/x", "javascript:alert(1)", " JAVASCRIPT:x", "//evil", "/web/x", "/web//evil", "data:,x", "http://[::1]:80/"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if out := safeLink(in); out != "" {
			u, err := url.Parse(out)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Fatalf("safeLink(%q) = %q", in, out)
			}
		}
		next := safeNext(in)
		if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q", in, next)
		}
	})
}
