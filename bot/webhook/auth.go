package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signature headers. The MAC is HMAC-SHA256 keyed with the shared secret
// over the timestamp, a colon, and the raw request body:
//
//	X-Firebreak-Timestamp: 1715678493
//	X-Firebreak-Signature: sha256=hex(HMAC_SHA256(secret, "1715678493:" + body))
//
// The "sha256=" prefix is optional. This is the scheme Grafana's webhook
// contact point uses for its HMAC option, so a Grafana contact point with
// header X-Firebreak-Signature and timestamp header X-Firebreak-Timestamp
// signs exactly what Firebreak checks.
const (
	SignatureHeader = "X-Firebreak-Signature"
	TimestampHeader = "X-Firebreak-Timestamp"
	// MaxClockSkew is how far a signed timestamp may be from Firebreak's
	// clock, either way; older signatures are refused so a captured request
	// cannot be replayed later.
	MaxClockSkew = 5 * time.Minute
)

// Sign returns the X-Firebreak-Signature value for body sent at ts, for
// senders written in Go and for tests.
func Sign(secret string, ts time.Time, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{':'})
	h.Write(body)
	return h.Sum(nil)
}

// errUnauthorized reasons are returned to the sender as is: they say what
// is missing without revealing anything about the secret.
var (
	errNoCredentials  = errors.New("alert intake is closed: Firebreak has no FIREBREAK_WEBHOOK_TOKEN (or HMAC secret) configured")
	errNoToken        = errors.New(`missing "Authorization: Bearer <token>" header`)
	errBadToken       = errors.New("wrong bearer token")
	errNoSignature    = errors.New("missing " + SignatureHeader + " or " + TimestampHeader + " header")
	errBadTimestamp   = errors.New(TimestampHeader + " is not a Unix time in seconds")
	errStaleTimestamp = errors.New(TimestampHeader + " is more than 5 minutes from Firebreak's clock (replayed request, or a sender clock out of sync)")
	errBadSignature   = errors.New(SignatureHeader + " does not match the body")
)

// checkToken verifies the bearer token. Both sides are hashed first so the
// comparison takes the same time whatever the length of the guess.
func checkToken(want [32]byte, r *http.Request) error {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errNoToken
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return errBadToken
	}
	return nil
}

// checkSignature verifies the HMAC signature of body and the freshness of
// its timestamp.
func checkSignature(secret string, now time.Time, r *http.Request, body []byte) error {
	sig := strings.TrimSpace(r.Header.Get(SignatureHeader))
	ts := strings.TrimSpace(r.Header.Get(TimestampHeader))
	if sig == "" || ts == "" {
		return errNoSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > MaxClockSkew || d < -MaxClockSkew {
		return errStaleTimestamp
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if err != nil {
		return errBadSignature
	}
	if !hmac.Equal(got, mac(secret, ts, body)) {
		return errBadSignature
	}
	return nil
}
