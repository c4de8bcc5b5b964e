package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutboxRetention(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
		err   bool
	}{
		{"", 0, false}, // the worker's default, 7 days
		{"720h", 720 * time.Hour, false},
		{" 1h ", time.Hour, false},
		{"forever", -1, false},
		{"5m", 0, true},
		{"7d", 0, true},
		{"-1h", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := outboxRetention(environ{getenv: func(k string) string {
				if k == retentionEnv {
					return tt.value
				}
				return ""
			}})
			if tt.err {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "FIREBREAK_OUTBOX_RETENTION")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestServeRefusesABadRetention: a typo in the retention stops serve at
// start with the variable's name, not later.
func TestServeRefusesABadRetention(t *testing.T) {
	e := newTestEnv(t)
	e.env[retentionEnv] = "7d"
	code, _, errOut := e.run("")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, `FIREBREAK_OUTBOX_RETENTION "7d": want a duration of at least 1h`)
}
