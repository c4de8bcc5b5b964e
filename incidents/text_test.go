package incidents

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestHumanDuration reproduces issue 12 item 7: cards printed "open
// 1.642881ms", and chat said "1m" where the postmortem said "1m18s". One
// function serves both now.
func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1642881 * time.Nanosecond, "<1s"},
		{1095014 * time.Nanosecond, "<1s"},
		{999 * time.Millisecond, "<1s"},
		{1500 * time.Millisecond, "2s"},
		{45 * time.Second, "45s"},
		{59*time.Second + 600*time.Millisecond, "1m0s"},
		{78 * time.Second, "1m18s"},
		{4 * time.Minute, "4m0s"},
		{59*time.Minute + 59*time.Second, "59m59s"},
		{time.Hour, "1h0m"},
		{2*time.Hour + 5*time.Minute + 10*time.Second, "2h5m"},
		{47*time.Hour + 59*time.Minute + 40*time.Second, "48h0m"},
		{76 * time.Hour, "3d4h"},
		{-45 * time.Second, "45s"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, HumanDuration(tt.d))
		})
	}
}
