package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTuneGCKeepsTheOperatorsSettings(t *testing.T) {
	// The collector's settings are the process's: restore them afterwards.
	gcPercent := debug.SetGCPercent(100)
	memLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(gcPercent)
		debug.SetMemoryLimit(memLimit)
	})
	tests := []struct {
		name          string
		env           map[string]string
		wantGCPercent int
		wantLimit     int64
	}{
		{"defaults", nil, defaultGCPercent, defaultMemoryLimit},
		{"GOGC set", map[string]string{"GOGC": "100"}, 100, defaultMemoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, defaultGCPercent, math.MaxInt64},
		{"both set", map[string]string{"GOGC": "off", "GOMEMLIMIT": "off"}, 100, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What the runtime read from the variables at start-up is
			// stood in for by resetting to Go's defaults first.
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			tuneGC(func(k string) string { return tt.env[k] })
			assert.Equal(t, tt.wantGCPercent, debug.SetGCPercent(100))
			assert.Equal(t, tt.wantLimit, debug.SetMemoryLimit(math.MaxInt64))
		})
	}
}
