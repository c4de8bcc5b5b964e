package slack_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/firebreak/firebreak/bot/internal/slacktest"
)

// FuzzHTTPHandler sends correctly signed but arbitrary bodies to every
// HTTP-mode endpoint: whatever Slack (or someone holding the secret) sends,
// the handler answers with a status and never panics.
func FuzzHTTPHandler(f *testing.F) {
	f.Add(uint8(0), []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"message","channel":"C0ALERTS","ts":"1.2","text":"x"}}`))
	f.Add(uint8(0), []byte(`{"type":"url_verification","challenge":"abc"}`))
	f.Add(uint8(0), []byte(`{"type":"event_callback","event_id":"Ev2","event":{"type":"reaction_added","reaction":"pushpin","item":{"type":"message","channel":"C0ALERTS","ts":"9.9"}}}`))
	f.Add(uint8(1), []byte("command=%2Fincident&text=status&user_id=U1&channel_id=C0ALERTS&trigger_id=1.2.3"))
	f.Add(uint8(2), []byte(`payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22ack%22%7D%5D%7D`))
	f.Add(uint8(2), []byte("payload=%7B"))
	e := start(f, false, false)
	h := e.ad.HTTPHandler()
	paths := []string{"/events", "/commands", "/interactions"}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := paths[int(which)%len(paths)]
		ct := "application/x-www-form-urlencoded"
		if path == "/events" {
			ct = "application/json"
		}
		now := time.Now()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("X-Slack-Signature", slacktest.Sign(slacktest.SigningSecret, now, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest:
		default:
			b, _ := io.ReadAll(rec.Body)
			t.Fatalf("%s: status %d (%s)", path, rec.Code, b)
		}
	})
}
