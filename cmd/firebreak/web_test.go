package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `firebreak serve` mounts the web view on FIREBREAK_LISTEN when
// FIREBREAK_WEB_PASSWORD is set, and not otherwise.
func TestServeWebView(t *testing.T) {
	const password, token = "web password for tests", "webhook-token-for-web-test"
	tests := []struct {
		name     string
		password string
		status   int // of GET /web/incidents without a session
	}{
		{"off without a password", "", http.StatusNotFound},
		{"on with a password", password, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := freeAddr(t)
			vars := map[string]string{
				"FIREBREAK_DB":            filepath.Join(dir, "firebreak.db"),
				"FIREBREAK_LISTEN":        addr,
				"FIREBREAK_WEBHOOK_TOKEN": token,
				"FIREBREAK_WEB_PASSWORD":  tt.password,
				"FIREBREAK_PUBLIC_URL":    "http://" + addr,
			}
			var logs syncBuffer
			no := false
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"serve", "-headless"}, environ{getenv: func(k string) string { return vars[k] },
					stdin: strings.NewReader(""), stdout: io.Discard, stderr: &logs, stdinIsTerminal: &no})
			}()
			base := "http://" + addr
			require.Eventually(t, func() bool {
				resp, err := http.Get(base + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				return err == nil
			}, 10*time.Second, 20*time.Millisecond, logs.String())

			jar, err := cookiejar.New(nil)
			require.NoError(t, err)
			c := &http.Client{Jar: jar, Timeout: 5 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(base + "/web/incidents")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode)

			if tt.password != "" {
				req, err := http.NewRequest(http.MethodPost, base+"/alerts/generic", strings.NewReader(`{"title": "Checkout is down", "service": "checkout", "severity": "critical"}`))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := c.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)

				resp, err = c.PostForm(base+"/web/login", url.Values{"password": {password}})
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusSeeOther, resp.StatusCode)
				require.Eventually(t, func() bool {
					resp, err := c.Get(base + "/web/incidents?q=checkout")
					if err != nil {
						return false
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					return resp.StatusCode == http.StatusOK && strings.Contains(string(b), `href="/web/incidents/1"`)
				}, 10*time.Second, 50*time.Millisecond)
			}
			cancel()
			require.Equal(t, 0, <-done, logs.String())
			assert.NotContains(t, logs.String(), password)
		})
	}
}
