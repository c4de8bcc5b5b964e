package incidents_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

const escalationConfig = `alert_channels: ["#alerts"]
incidents:
  update_interval: 30m
escalation:
  levels:
    - after: 5m
      notify: ["@oncall"]
    - after: 15m
      notify: ["<@U0LEAD>"]
  repeat: 1
permissions:
  resolve: [role:commander]
  severity: [alice]
playbooks:
  - id: outage
    default: true
    steps:
      - {id: validate, title: Validate, timeout: 10m}
      - {id: rollback, title: Roll back}
`

func escalationFixture(t *testing.T, store incidents.Store, clock *incidentstest.Clock) *incidents.Service {
	t.Helper()
	cfg, err := playbooks.Parse("esc.yaml", []byte(escalationConfig))
	require.NoError(t, err)
	return incidents.NewService(store, cfg, incidents.WithClock(clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler)))
}

func fire(t *testing.T, svc *incidents.Service) []string {
	t.Helper()
	fired, err := svc.FireDue(context.Background(), 0)
	require.NoError(t, err)
	var out []string
	for _, f := range fired {
		out = append(out, f.Timer.Key)
		assert.Equal(t, incidents.EntryEscalation, f.Entry.Kind)
		assert.NotZero(t, f.Entry.Seq, "recorded on the timeline")
	}
	return out
}

func TestEscalationUntilAcknowledged(t *testing.T) {
	ctx := context.Background()
	clock := incidentstest.NewClock(t0)
	svc := escalationFixture(t, incidentstest.NewMemStore(), clock)
	_, err := svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)

	assert.Empty(t, fire(t, svc), "nothing due yet")
	clock.Advance(5 * time.Minute)
	got, err := svc.FireDue(ctx, 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "escalate/0/0", got[0].Timer.Key)
	require.NotNil(t, got[0].Level)
	assert.Equal(t, []string{"@oncall"}, got[0].Level.Notify)
	assert.Contains(t, got[0].Entry.Text, "escalated to level 1 (@oncall)")

	clock.Advance(5 * time.Minute)
	assert.Equal(t, []string{"remind/step/validate"}, fire(t, svc), "the step timeout reminds")
	clock.Advance(5 * time.Minute)
	assert.Equal(t, []string{"escalate/0/1"}, fire(t, svc), "level 2 at 15m")
	assert.Empty(t, fire(t, svc), "each timer fires once")

	_, err = svc.Acknowledge(ctx, by(alice), 1)
	require.NoError(t, err)
	clock.Advance(time.Hour)
	assert.Empty(t, fire(t, svc), "acknowledging stops escalation")
}

func TestEscalationRepeatsTheRound(t *testing.T) {
	ctx := context.Background()
	clock := incidentstest.NewClock(t0)
	svc := escalationFixture(t, incidentstest.NewMemStore(), clock)
	_, err := svc.Declare(ctx, by(alice), "declared incidents do not escalate", 0)
	require.NoError(t, err)
	_, err = svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	clock.Advance(45 * time.Minute)
	got := fire(t, svc)
	assert.ElementsMatch(t, []string{"escalate/0/0", "escalate/0/1", "escalate/1/0", "escalate/1/1", "remind/step/validate", "remind/step/validate"}, got)
}

func TestUpdateReminder(t *testing.T) {
	ctx := context.Background()
	clock := incidentstest.NewClock(t0)
	svc := escalationFixture(t, incidentstest.NewMemStore(), clock)
	_, err := svc.Declare(ctx, by(alice), "Payments slow", 0)
	require.NoError(t, err)
	_, err = svc.StepDone(ctx, by(alice), 1, "", "")
	require.NoError(t, err)
	_, err = svc.PostUpdate(ctx, by(alice), 1, "investigating")
	require.NoError(t, err)
	clock.Advance(29 * time.Minute)
	assert.Empty(t, fire(t, svc))
	clock.Advance(time.Minute)
	assert.Equal(t, []string{"remind/update"}, fire(t, svc))
	clock.Advance(30 * time.Minute)
	assert.Equal(t, []string{"remind/update"}, fire(t, svc), "it keeps reminding while nobody posts")
	_, err = svc.Resolve(ctx, by(alice), 1, "")
	require.NoError(t, err)
	clock.Advance(time.Hour)
	assert.Empty(t, fire(t, svc))
}

func TestPermissionsRefuseAndRecord(t *testing.T) {
	ctx := context.Background()
	clock := incidentstest.NewClock(t0)
	svc := escalationFixture(t, incidentstest.NewMemStore(), clock)
	_, err := svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	_, err = svc.Acknowledge(ctx, by(alice), 1) // alice leads
	require.NoError(t, err)

	_, err = svc.Resolve(ctx, by(bob), 1, "done")
	require.Error(t, err)
	assert.ErrorIs(t, err, incidents.ErrForbidden)
	assert.Contains(t, err.Error(), "bob may not resolve #1: `permissions.resolve` in playbooks.yaml says who may.")
	_, err = svc.SetSeverity(ctx, by(bob), 1, incidents.SEV2)
	assert.ErrorIs(t, err, incidents.ErrForbidden)

	inc, err := svc.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusAcknowledged, inc.Status)
	assert.Equal(t, []incidents.EntryKind{incidents.EntryAlert, incidents.EntryAcknowledged, incidents.EntryRefused, incidents.EntryRefused}, kinds(t, svc, 1))

	_, err = svc.SetSeverity(ctx, by(alice), 1, incidents.SEV2)
	assert.NoError(t, err)
	_, err = svc.Resolve(ctx, by(alice), 1, "done")
	assert.NoError(t, err)

	assert.True(t, svc.Permitted(inc, alice, incidents.PermConfirmActions), "the commander confirms by default")
	assert.False(t, svc.Permitted(inc, bob, incidents.PermConfirmActions))
	assert.True(t, svc.Permitted(inc, incidents.Bot, incidents.PermResolve))
}

func TestEscalationBySeverity(t *testing.T) {
	cfg, err := playbooks.Parse("sev.yaml", []byte(`alert_channels: ["#alerts"]
escalation:
  levels: [{after: 15m, notify: ["@oncall"]}]
escalation_by_severity:
  critical:
    levels: [{after: 2m, notify: ["@oncall", "<@U0LEAD>"]}]
playbooks:
  - id: outage
    default: true
    steps: [{id: look, title: Look}]
`))
	require.NoError(t, err)
	require.Contains(t, cfg.EscalationBySeverity, "SEV1", "severity names are normalised")
	ctx := context.Background()
	clock := incidentstest.NewClock(t0)
	svc := incidents.NewService(incidentstest.NewMemStore(), cfg, incidents.WithClock(clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler)))

	sev1 := errorAlert() // SEV1
	_, err = svc.ReceiveAlert(ctx, by(incidents.Bot), sev1)
	require.NoError(t, err)
	warn := errorAlert()
	warn.Name, warn.Title, warn.Severity = "DiskFilling", "DiskFilling db-1", incidents.SEV3
	_, err = svc.ReceiveAlert(ctx, by(incidents.Bot), warn)
	require.NoError(t, err)

	clock.Advance(3 * time.Minute)
	got, err := svc.FireDue(ctx, 0)
	require.NoError(t, err)
	require.Len(t, got, 1, "only the SEV1 incident pages at 2m")
	assert.Equal(t, uint64(1), got[0].Incident.Number)
	assert.Equal(t, []string{"@oncall", "<@U0LEAD>"}, got[0].Level.Notify)

	// Raising #2 to SEV1 while nobody answered pages by the SEV1 policy,
	// counted from the change; the SEV3 timer is gone.
	_, err = svc.SetSeverity(ctx, by(alice), 2, incidents.SEV1)
	require.NoError(t, err)
	clock.Advance(2 * time.Minute)
	got, err = svc.FireDue(ctx, 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, uint64(2), got[0].Incident.Number)
	assert.Contains(t, got[0].Entry.Text, "<@U0LEAD>")
	clock.Advance(time.Hour)
	assert.Empty(t, fire(t, svc), "the SEV3 policy's timer was replaced")
}

func TestEscalationBySeverityErrors(t *testing.T) {
	_, err := playbooks.Parse("sev.yaml", []byte(`alert_channels: ["#alerts"]
escalation_by_severity:
  SEV9:
    levels: [{after: 2m, notify: ["@oncall"]}]
playbooks:
  - id: outage
    default: true
    steps: [{id: look, title: Look}]
`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `sev.yaml:4: escalation_by_severity.SEV9: "SEV9" is not a severity`)
}
