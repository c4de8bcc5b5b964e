package bot

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// A storm of distinct alerts in one group reads as an aggregate in chat:
// the card counts them, /incident status lists the top few and "and N
// more", /incident timeline shows a few rows and one "and N more" row.
func TestStormReadsAsAnAggregate(t *testing.T) {
	f := newFixture(t, time.Minute)
	alerts := make([]incidents.Alert, 30)
	for i := range alerts {
		alerts[i] = incidents.Alert{Source: "alertmanager", Status: incidents.AlertFiring, Name: "PodCrashLooping",
			Title: "checkout pod crash-looping", Service: "checkout", Severity: incidents.SEV2,
			Labels: map[string]string{"alertname": "PodCrashLooping", "service": "checkout", "pod": fmt.Sprintf("checkout-%02d", i)}}
	}
	outs, err := f.intake.IngestAlerts(context.Background(), "alertmanager", "storm-1", alerts)
	require.NoError(t, err)
	require.Len(t, outs, 30)
	assert.Equal(t, uint64(1), outs[29].Incident.Number, "one incident for the group")

	status := f.handle(t, f.event(KindCommand, "#1 status")).text()
	assert.Contains(t, status, "30 distinct (30 firing), 30 received")
	assert.Contains(t, status, "PodCrashLooping / checkout-00 — firing, ×1")
	assert.Contains(t, status, fmt.Sprintf("and %d more", 30-incidents.DefaultAlertRows))

	timeline := f.handle(t, f.event(KindCommand, "#1 timeline")).text()
	assert.Contains(t, timeline, "… and 27 more distinct alerts fired")
	assert.Less(t, len(timeline), 2000, "a storm's timeline stays short")
}
