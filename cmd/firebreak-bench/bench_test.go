package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/webhook"
)

// Both tools get the same alerts: Firebreak's body parses as an
// Alertmanager webhook into the alerts Alertmanager's API body lists.
func TestBodiesCarryTheSameAlerts(t *testing.T) {
	for _, shape := range []string{shapeOneGroup, shapeOneGroupHashed, shapeOwnGroup, shapeRepeats, shapeLarge} {
		t.Run(shape, func(t *testing.T) {
			var am []struct {
				Labels map[string]string `json:"labels"`
			}
			require.NoError(t, json.Unmarshal(alertmanagerBody(shape, 10, 5), &am))
			fb, err := webhook.ParseAlertmanager(firebreakBody(shape, 10, 5))
			require.NoError(t, err)
			require.Len(t, am, 5)
			require.Len(t, fb, 5)
			for i := range am {
				assert.Equal(t, am[i].Labels, fb[i].Labels)
			}
			assert.Equal(t, shape != shapeRepeats, fb[0].Fingerprint != fb[1].Fingerprint, "distinct alerts")
			assert.Equal(t, shape == shapeOneGroup || shape == shapeOneGroupHashed || shape == shapeLarge, fb[0].Labels["alertname"] == fb[1].Labels["alertname"] && fb[0].Fingerprint != fb[1].Fingerprint, "one group")
		})
	}
	assert.Less(t, len(firebreakBody(shapeLarge, 0, 800)), webhook.DefaultMaxBody, "large payloads fit Firebreak's 1 MiB limit")
}

// The loader counts only accepted alerts, retries 503 after Retry-After
// with the same idempotency key, and reports first and last rates.
func TestLoaderRetriesAndCountsAccepted(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		seen[key]++
		n := seen[key]
		mu.Unlock()
		if n == 1 && key[len(key)-1] == '3' {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	res, err := drive(context.Background(), loadConfig{target: "firebreak", base: srv.URL, token: "t", shape: shapeOneGroup,
		per: 10, total: 1000, senders: 4, maxTime: 30 * time.Second, run: "r"})
	require.NoError(t, err)
	assert.EqualValues(t, 1000, res.Accepted)
	assert.EqualValues(t, 10, res.Retries, "keys r-3, r-13, … r-93 were refused once")
	assert.EqualValues(t, 110, res.Requests)
	assert.Zero(t, res.Failed)
	assert.Positive(t, res.FirstRate)
	assert.Positive(t, res.LastRate)
}
