package etcdstore_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// A running step (incidents.StepRunning) is stored with the incident, so
// a replica that becomes leader reads the run another one left behind.
func TestRunningStepIsShared(t *testing.T) {
	books, err := playbooks.Parse("run.yaml", []byte(`playbooks:
  - id: outage
    steps:
      - {id: drain, title: Drain, kind: http, http: {url: "http://127.0.0.1:1/drain"}}
`))
	require.NoError(t, err)
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	cli := c.Client(t)
	at := time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC)
	svcOn := func() *incidents.Service {
		st := etcdstore.New(cli, etcdstore.Config{Prefix: "running/", MaxTxnOps: etcdtest.MaxTxnOps})
		return incidents.NewService(st, books, incidents.WithClock(func() time.Time { return at }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	}
	ctx := context.Background()
	ana := incidents.Actor{Platform: "slack", ID: "U1", Name: "ana"}
	one := svcOn()
	_, err = one.Declare(ctx, incidents.Origin{Actor: ana, Home: incidents.Home{Platform: "slack", Channel: "C1"}}, "Checkout down", 0)
	require.NoError(t, err)
	_, err = one.StartAction(ctx, incidents.Origin{Actor: ana}, 1, "drain")
	require.NoError(t, err)

	other := svcOn()
	running, err := other.RunningSteps(ctx)
	require.NoError(t, err)
	require.Len(t, running, 1)
	assert.Equal(t, incidents.StepRunning, running[0].Step.Status)
	assert.True(t, running[0].Step.By.Same(ana))
	assert.True(t, running[0].Step.At.Equal(at))
	_, err = other.StartAction(ctx, incidents.Origin{Actor: ana}, 1, "drain")
	assert.ErrorIs(t, err, incidents.ErrInvalidTransition)
}
