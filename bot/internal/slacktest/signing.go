package slacktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Sign computes Slack's v0 request signature ("v0=<hex>") over
// "v0:<timestamp>:<body>" with the signing secret.
func Sign(secret string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	_, _ = mac.Write([]byte("v0:" + strconv.FormatInt(ts.Unix(), 10) + ":"))
	_, _ = mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignedRequestAt builds a POST signed with secret at ts, as Slack sends
// them in HTTP mode.
func SignedRequestAt(t testing.TB, secret string, ts time.Time, target, contentType string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("X-Slack-Signature", Sign(secret, ts, body))
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	return req
}

// SignedRequest signs with SigningSecret at the current time.
func SignedRequest(t testing.TB, target, contentType string, body []byte) *http.Request {
	t.Helper()
	return SignedRequestAt(t, SigningSecret, time.Now(), target, contentType, body)
}

// EventsRequest is a signed Events API delivery of payload to target.
func EventsRequest(t testing.TB, target string, payload json.RawMessage) *http.Request {
	t.Helper()
	return SignedRequest(t, target, "application/json", payload)
}

// CommandRequest is a signed slash command delivery to target.
func CommandRequest(t testing.TB, target string, cmd SlashCommand) *http.Request {
	t.Helper()
	return SignedRequest(t, target, "application/x-www-form-urlencoded", []byte(cmd.Form().Encode()))
}

// InteractionRequest is a signed interactivity delivery (form field
// "payload" holding the JSON) to target.
func InteractionRequest(t testing.TB, target string, payload json.RawMessage) *http.Request {
	t.Helper()
	body := url.Values{"payload": {string(payload)}}.Encode()
	return SignedRequest(t, target, "application/x-www-form-urlencoded", []byte(body))
}

// URLVerification is the challenge Slack sends when a Request URL is saved.
func URLVerification(challenge string) json.RawMessage {
	raw, _ := json.Marshal(map[string]string{"token": VerificationToken, "challenge": challenge, "type": "url_verification"})
	return raw
}
