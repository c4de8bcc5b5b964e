package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/webhook"
)

// syncBuffer is a bytes.Buffer the logger and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsNeverLogged runs the binary headless at debug level with a
// webhook token, an HMAC secret and an action secret, drives accepted and
// refused webhooks and an automated step that sends (and gets echoed) its
// secret, and checks that no secret reaches the log or the timeline.
func TestSecretsNeverLogged(t *testing.T) {
	const (
		webhookToken = "whtok-7c1e0b5d"
		hmacSecret   = "hmac-93fa22e1"
		deployToken  = "deploy-5be0c4d1"
	)
	var calls sync.WaitGroup
	calls.Add(1)
	var once sync.Once
	deploy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// A careless API echoing its credentials, in a failure.
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, "bad request %s from %s", body, r.Header.Get("Authorization"))
		once.Do(calls.Done)
	}))
	defer deploy.Close()

	dir := t.TempDir()
	cfg := `alert_channels: ["#alerts"]
playbooks:
  - id: outage
    default: true
    steps:
      - id: flag
        title: Turn the feature flag off
        kind: http
        http:
          url: ` + deploy.URL + `/flags/{{.Service}}?token=${DEPLOY_TOKEN}
          headers: {Authorization: "Bearer ${DEPLOY_TOKEN}"}
          body: '{"incident": {{.Number}}}'
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(cfg), 0o600))
	addr := freeAddr(t)
	vars := map[string]string{
		"FIREBREAK_DB":                  filepath.Join(dir, "firebreak.db"),
		"FIREBREAK_CONFIG":              filepath.Join(dir, "playbooks.yaml"),
		"FIREBREAK_LISTEN":              addr,
		"FIREBREAK_LOG_LEVEL":           "debug",
		"FIREBREAK_WEBHOOK_TOKEN":       webhookToken,
		"FIREBREAK_WEBHOOK_HMAC_SECRET": hmacSecret,
		"DEPLOY_TOKEN":                  deployToken,
	}
	var logs syncBuffer
	no := false
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-headless"}, environ{getenv: func(k string) string { return vars[k] },
			stdin: strings.NewReader(""), stdout: io.Discard, stderr: &logs, stdinIsTerminal: &no})
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)

	post := func(token string, sign bool, body string) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/alerts/generic", strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if sign {
			now := time.Now()
			req.Header.Set(webhook.TimestampHeader, strconv.FormatInt(now.Unix(), 10))
			req.Header.Set(webhook.SignatureHeader, webhook.Sign(hmacSecret, now, []byte(body)))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	alert := `{"title": "Checkout is down", "service": "checkout", "severity": "critical"}`
	assert.Equal(t, http.StatusUnauthorized, post("", false, alert))
	assert.Equal(t, http.StatusUnauthorized, post(webhookToken+"x", true, alert), "a near-miss token")
	assert.Equal(t, http.StatusUnauthorized, post(webhookToken, false, alert), "unsigned")
	assert.Equal(t, http.StatusOK, post(webhookToken, true, alert))

	calls.Wait()
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "incident changed") && strings.Contains(logs.String(), "finish action")
	}, 10*time.Second, 20*time.Millisecond)
	cancel()
	require.Equal(t, 0, <-done, logs.String())

	// The timeline holds the (redacted) failure.
	e := &testEnv{t: t, dir: dir, env: vars}
	code, out, errOut := e.run("", "incidents", "-json")
	require.Equal(t, 0, code, errOut)
	code, pm, errOut := e.run("", "postmortem", "1")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, pm, "HTTP 400 Bad Request")

	for _, secret := range []string{webhookToken, hmacSecret, deployToken} {
		assert.NotContains(t, logs.String(), secret)
		assert.NotContains(t, out, secret)
		assert.NotContains(t, pm, secret)
	}
}
