package incidents_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// TestAlertTriggerKeptAtIntake reproduces issue 12 item 6: runbook_url and
// the other annotations were dropped at intake, so nothing could show
// them. The alert that opens an incident is kept on it as Trigger, and
// every alert's annotations are kept on its timeline entry, bounded.
func TestAlertTriggerKeptAtIntake(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a := errorAlert()
	a.Source = "alertmanager"
	a.StartsAt = t0.Add(-3 * 60e9)
	a.URL = "http://prometheus:9090/graph?g0.expr=rate"
	a.Annotations = map[string]string{
		"summary":     "HighErrorRate api-gateway",
		"description": "5xx rate 17% for 5 minutes",
		"runbook_url": "https://wiki.example.com/runbooks/high-error-rate",
		"dashboard":   "https://grafana.example.com/d/api",
		"huge":        strings.Repeat("x", 10000),
		"empty":       " ",
	}
	out, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), a)
	require.NoError(t, err)
	require.True(t, out.Created)

	inc, err := f.svc.Get(ctx, out.Incident.Number)
	require.NoError(t, err)
	tr := inc.Trigger
	assert.Equal(t, "alertmanager", tr.Source)
	assert.Equal(t, "HighErrorRate api-gateway", tr.Title)
	assert.Equal(t, a.URL, tr.URL)
	assert.Equal(t, a.StartsAt, tr.StartsAt)
	assert.Equal(t, "https://wiki.example.com/runbooks/high-error-rate", tr.Annotations["runbook_url"])
	assert.Equal(t, "5xx rate 17% for 5 minutes", tr.Annotations["description"])
	assert.Equal(t, "prod", tr.Labels["env"])
	assert.NotContains(t, tr.Annotations, "empty")
	assert.LessOrEqual(t, len([]rune(tr.Annotations["huge"])), 2000, "annotations are bounded")

	// Many big annotations: the well-known ones are kept, the total is bounded.
	many := errorAlert()
	many.Name, many.Title, many.Service = "DiskFull", "DiskFull db-1", "db"
	many.Labels = map[string]string{"env": "staging"}
	many.Annotations = map[string]string{"runbook_url": "https://wiki.example.com/rb"}
	for i := range 40 {
		many.Annotations[fmt.Sprintf("extra_%02d", i)] = strings.Repeat("y", 1500)
	}
	out, err = f.svc.ReceiveAlert(ctx, by(incidents.Bot), many)
	require.NoError(t, err)
	require.True(t, out.Created)
	total := 0
	for k, v := range out.Incident.Trigger.Annotations {
		total += len([]rune(k)) + len([]rune(v))
	}
	assert.LessOrEqual(t, total, 8000)
	assert.Equal(t, "https://wiki.example.com/rb", out.Incident.Trigger.Annotations["runbook_url"])

	var entry incidents.Entry
	require.NoError(t, f.svc.Timeline(ctx, inc.Number, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryAlert {
			entry = e
		}
		return nil
	}))
	assert.Equal(t, "https://wiki.example.com/runbooks/high-error-rate", entry.Data[incidents.AnnotationPrefix+"runbook_url"])
	assert.Equal(t, "https://grafana.example.com/d/api", entry.Data[incidents.AnnotationPrefix+"dashboard"])
	assert.Equal(t, a.URL, entry.Data["url"])

	// Declared incidents have no trigger.
	out, err = f.svc.Declare(ctx, by(alice), "Checkout is failing", incidents.SEV2)
	require.NoError(t, err)
	assert.True(t, out.Incident.Trigger.StartsAt.IsZero())
	assert.Empty(t, out.Incident.Trigger.Source)
}

// TestRoleHoldersAreParticipants reproduces issue 12 item 11: the comms
// holder named by someone else was missing from the participants.
func TestRoleHoldersAreParticipants(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	_, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	_, err = f.svc.Acknowledge(ctx, by(alice), 1)
	require.NoError(t, err)
	carol := incidents.Actor{Platform: "slack", ID: "U3", Name: "carol"}
	_, err = f.svc.AssignRole(ctx, by(alice), 1, incidents.RoleComms, bob)
	require.NoError(t, err)
	out, err := f.svc.AssignRole(ctx, by(alice), 1, incidents.RoleResponder, carol)
	require.NoError(t, err)
	var names []string
	for _, p := range out.Incident.Participants {
		names = append(names, p.Name)
	}
	assert.ElementsMatch(t, []string{"alice", "bob", "carol"}, names)
}
