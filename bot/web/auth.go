package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sessionCookie names the login cookie.
const sessionCookie = "firebreak_session"

// sessions signs and checks login cookies: the expiry time and an
// HMAC-SHA256 over it with a key that never leaves the process. Nothing
// is stored server-side; a new key (a restart, or a new password) ends
// every session.
type sessions struct {
	key    []byte
	ttl    time.Duration
	secure bool
}

func (s sessions) mac(expiry []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("firebreak web session v1|"))
	m.Write(expiry)
	return m.Sum(nil)
}

// issue returns a cookie valid until now+ttl.
func (s sessions) issue(now time.Time) *http.Cookie {
	exp := make([]byte, 8)
	binary.BigEndian.PutUint64(exp, uint64(now.Add(s.ttl).Unix()))
	v := base64.RawURLEncoding.EncodeToString(exp) + "." + base64.RawURLEncoding.EncodeToString(s.mac(exp))
	return &http.Cookie{
		Name: sessionCookie, Value: v, Path: Prefix + "/",
		Expires: now.Add(s.ttl), MaxAge: int(s.ttl.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	}
}

// clear returns a cookie that removes the session.
func (s sessions) clear() *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: "", Path: Prefix + "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode}
}

// valid checks the request's cookie: well formed, signed with our key
// (compared in constant time) and not expired.
func (s sessions) valid(r *http.Request, now time.Time) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	expB64, sigB64, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	// Strict: the unused low bits of the last character must be zero, so
	// exactly one spelling of a signed cookie is accepted.
	strict := base64.RawURLEncoding.Strict()
	exp, err1 := strict.DecodeString(expB64)
	sig, err2 := strict.DecodeString(sigB64)
	if err1 != nil || err2 != nil || len(exp) != 8 {
		return false
	}
	if !hmac.Equal(sig, s.mac(exp)) {
		return false
	}
	at := binary.BigEndian.Uint64(exp)
	return at <= math.MaxInt64 && now.Unix() < int64(at)
}

// passwordOK compares in constant time: both sides are hashed first so
// the comparison takes as long whatever the lengths.
func passwordOK(given, want string) bool {
	a := sha256.Sum256([]byte(given))
	b := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && want != ""
}

// limiter counts failed logins per client address in a sliding window:
// after max failures within window the address gets 429 until the oldest
// failure leaves the window.
type limiter struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	fails map[string][]time.Time
}

// maxTracked bounds the limiter's memory under a spray of addresses.
const maxTracked = 10000

// blocked reports whether addr must wait, and for how long.
func (l *limiter) blocked(addr string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.prune(addr, now)
	if len(recent) < l.max {
		return 0, false
	}
	return recent[0].Add(l.window).Sub(now), true
}

// fail records a failed login from addr.
func (l *limiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = map[string][]time.Time{}
	}
	if len(l.fails) >= maxTracked {
		for k := range l.fails {
			if len(l.prune(k, now)) == 0 {
				delete(l.fails, k)
			}
		}
		if len(l.fails) >= maxTracked {
			clear(l.fails)
		}
	}
	l.fails[addr] = append(l.prune(addr, now), now)
}

func (l *limiter) prune(addr string, now time.Time) []time.Time {
	ts := l.fails[addr]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, addr)
		return nil
	}
	l.fails[addr] = ts
	return ts
}

// clientAddr is the peer's IP address. Forwarded headers are ignored:
// they are the client's to forge.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// retryAfter renders a wait as whole seconds, at least one.
func retryAfter(d time.Duration) string {
	s := int(math.Ceil(d.Seconds()))
	return strconv.Itoa(max(s, 1))
}

// safeNext keeps a post-login redirect inside the web view, so the login
// page cannot be used to send people elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix + "/"
	}
	return next
}
