package incidents_test

import (
	"context"
	"log/slog"
	"testing"

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
