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

const automationConfig = `alert_channels: ["#alerts"]
permissions:
  confirm_actions: [U2]
probes:
  - {name: checkout, url: "http://127.0.0.1:1/", on_demand: true}
playbooks:
  - id: outage
    steps:
      - {id: look, title: Look}
      - {id: validate, title: Validate, kind: probe, probe: checkout}
      - {id: rollback, title: Roll back, kind: http, confirm: true, http: {url: "http://127.0.0.1:1/rollback"}}
`

func TestStartAction(t *testing.T) {
	cfg, err := playbooks.Parse("auto.yaml", []byte(automationConfig))
	require.NoError(t, err)
	svc := incidents.NewService(incidentstest.NewMemStore(), cfg, incidents.WithLogger(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	_, err = svc.Declare(ctx, by(alice), "Checkout down", 0)
	require.NoError(t, err)

	_, err = svc.StartAction(ctx, by(alice), 1, "look")
	assert.ErrorIs(t, err, incidents.ErrNoSuchStep, "a manual step has no action")
	_, err = svc.StartAction(ctx, by(alice), 1, "validate")
	assert.ErrorIs(t, err, incidents.ErrInvalidTransition, "not the current step yet")

	_, err = svc.StepDone(ctx, by(alice), 1, "look", "")
	require.NoError(t, err)
	_, err = svc.StartAction(ctx, by(alice), 1, "look")
	assert.ErrorIs(t, err, incidents.ErrInvalidTransition)
	out, err := svc.StartAction(ctx, incidents.Origin{Actor: incidents.Bot}, 1, "validate")
	require.NoError(t, err)
	assert.Equal(t, "started", out.Entries[0].Data["phase"])

	_, err = svc.StepDone(ctx, incidents.Origin{Actor: incidents.Bot}, 1, "validate", "503")
	require.NoError(t, err)
	// alice commands (she declared it) but the list names only U2.
	_, err = svc.StartAction(ctx, by(alice), 1, "rollback")
	require.ErrorIs(t, err, incidents.ErrForbidden)
	out, err = svc.StartAction(ctx, by(bob), 1, "rollback")
	require.NoError(t, err)
	assert.Contains(t, out.Entries[0].Text, `confirmed http action of step "Roll back"`)

	assert.Equal(t, []incidents.EntryKind{incidents.EntryDeclared, incidents.EntryStepDone, incidents.EntryAction,
		incidents.EntryStepDone, incidents.EntryRefused, incidents.EntryAction}, kinds(t, svc, 1))
}

func TestMoveHome(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	_, err := f.svc.Declare(ctx, by(alice), "Checkout down", 0)
	require.NoError(t, err)
	room := incidents.Home{Platform: "console", Channel: "#inc-1-checkout-down"}
	out, err := f.svc.MoveHome(ctx, incidents.Origin{Actor: incidents.Bot}, 1, room, "#inc-1-checkout-down")
	require.NoError(t, err)
	assert.Equal(t, room, out.Incident.Home)
	assert.Equal(t, home, out.Incident.Mirror)

	n, err := f.svc.Implied(ctx, room)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), n, "commands typed in the incident channel mean its incident")

	out, err = f.svc.MoveHome(ctx, incidents.Origin{Actor: incidents.Bot}, 1, room, "")
	require.NoError(t, err)
	assert.Empty(t, out.Entries, "moving to the same home changes nothing")
	_, err = f.svc.MoveHome(ctx, incidents.Origin{Actor: incidents.Bot}, 1, incidents.Home{}, "")
	assert.ErrorIs(t, err, incidents.ErrEmpty)
}

// TestRunningStep: a started action makes its step StepRunning in the
// store; a second start is refused with the time it started; the result
// ends the run (done, or back to pending after a failure); a step done by
// hand meanwhile keeps its state; a run cut short is interrupted once.
func TestRunningStep(t *testing.T) {
	cfg, err := playbooks.Parse("auto.yaml", []byte(automationConfig))
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 5, 0, 0, time.UTC))
	svc := incidents.NewService(incidentstest.NewMemStore(), cfg, incidents.WithClock(clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	firebreak := incidents.Origin{Actor: incidents.Bot}
	_, err = svc.Declare(ctx, by(alice), "Checkout down", 0)
	require.NoError(t, err)
	_, err = svc.StepDone(ctx, by(alice), 1, "look", "")
	require.NoError(t, err)

	out, err := svc.StartAction(ctx, firebreak, 1, "validate")
	require.NoError(t, err)
	st := out.Incident.Step("validate")
	assert.Equal(t, incidents.StepRunning, st.Status)
	assert.False(t, st.Status.Finished())
	assert.Equal(t, "validate", out.Incident.CurrentStep().ID, "a running step stays the current step")

	clock.Advance(time.Minute)
	_, err = svc.StartAction(ctx, by(bob), 1, "validate")
	require.ErrorIs(t, err, incidents.ErrInvalidTransition)
	assert.EqualError(t, err, `The step "validate" of #1 is already running since 14:05 UTC.`)

	out, err = svc.FinishAction(ctx, firebreak, 1, "validate", incidents.ActionResult{Kind: "probe", Summary: "timeout"})
	require.NoError(t, err)
	assert.Equal(t, incidents.StepPending, out.Incident.Step("validate").Status, "a failed run leaves the step to run again")
	assert.Equal(t, map[string]string{"phase": "finished", "kind": "probe", "ok": "false"}, out.Entries[0].Data)

	_, err = svc.StartAction(ctx, by(bob), 1, "validate")
	require.NoError(t, err, "Run again works")
	out, err = svc.FinishAction(ctx, firebreak, 1, "validate", incidents.ActionResult{Kind: "probe", Summary: "503", Finishes: true})
	require.NoError(t, err)
	assert.Equal(t, incidents.StepDone, out.Incident.Step("validate").Status)
	assert.Equal(t, "503", out.Incident.Step("validate").Note)
	assert.True(t, out.StepChanged)
	require.Len(t, out.Entries, 2)
	assert.Equal(t, incidents.EntryStepDone, out.Entries[1].Kind)

	// Done by hand while it runs: the result is recorded, nothing more.
	out, err = svc.StartAction(ctx, by(bob), 1, "rollback")
	require.NoError(t, err)
	_, err = svc.StepDone(ctx, by(alice), 1, "rollback", "did it myself")
	require.NoError(t, err, "a running step can be done by hand")
	out, err = svc.FinishAction(ctx, firebreak, 1, "rollback", incidents.ActionResult{Kind: "http", OK: true, Summary: "HTTP 200"})
	require.NoError(t, err)
	require.Len(t, out.Entries, 1)
	assert.Equal(t, "did it myself", out.Incident.Step("rollback").Note)
}

func TestInterruptAction(t *testing.T) {
	cfg, err := playbooks.Parse("auto.yaml", []byte(automationConfig))
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 5, 0, 0, time.UTC))
	svc := incidents.NewService(incidentstest.NewMemStore(), cfg, incidents.WithClock(clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	firebreak := incidents.Origin{Actor: incidents.Bot}
	_, err = svc.Declare(ctx, by(alice), "Checkout down", 0)
	require.NoError(t, err)
	_, err = svc.StepDone(ctx, by(alice), 1, "look", "")
	require.NoError(t, err)
	out, err := svc.StartAction(ctx, firebreak, 1, "validate")
	require.NoError(t, err)
	since := out.Incident.Step("validate").At

	running, err := svc.RunningSteps(ctx)
	require.NoError(t, err)
	require.Len(t, running, 1)
	assert.Equal(t, "validate", running[0].Step.ID)

	out, err = svc.InterruptAction(ctx, firebreak, 1, "validate", since.Add(-time.Second))
	require.NoError(t, err)
	assert.Empty(t, out.Entries, "another run than the one found is left alone")
	out, err = svc.InterruptAction(ctx, firebreak, 1, "validate", since)
	require.NoError(t, err)
	require.Len(t, out.Entries, 1)
	assert.Equal(t, `the run of step "Validate" started at 14:05 UTC was interrupted by a restart; run it again`, out.Entries[0].Text)
	assert.Equal(t, incidents.StepPending, out.Incident.Step("validate").Status)
	out, err = svc.InterruptAction(ctx, firebreak, 1, "validate", since)
	require.NoError(t, err)
	assert.Empty(t, out.Entries, "once")
	running, err = svc.RunningSteps(ctx)
	require.NoError(t, err)
	assert.Empty(t, running)
}
