package storage_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

const runningYAML = `playbooks:
  - id: outage
    steps:
      - {id: drain, title: Drain the canary, kind: http, http: {url: "http://127.0.0.1:1/drain"}}
      - {id: watch, title: Watch}
`

// A running step (incidents.StepRunning, who started it, since when) is
// part of the incident record: it survives closing and reopening the
// file, so a restart finds the run it cut short, and it ends as any other
// status does.
func TestRunningStepSurvivesReopen(t *testing.T) {
	books, err := playbooks.Parse("run.yaml", []byte(runningYAML))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "firebreak.db")
	ctx := context.Background()
	svcOn := func(db incidents.Store) *incidents.Service {
		return incidents.NewService(db, books, incidents.WithClock(func() time.Time { return t0 }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	}

	db := open(t, path)
	svc := svcOn(db)
	_, err = svc.Declare(ctx, incidents.Origin{Actor: alice, Home: home}, "Checkout down", 0)
	require.NoError(t, err)
	_, err = svc.StartAction(ctx, incidents.Origin{Actor: alice}, 1, "drain")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db = open(t, path)
	defer db.Close()
	svc = svcOn(db)
	inc, err := svc.Get(ctx, 1)
	require.NoError(t, err)
	st := inc.Step("drain")
	assert.Equal(t, incidents.StepRunning, st.Status)
	assert.True(t, st.By.Same(alice))
	assert.True(t, st.At.Equal(t0))
	assert.Equal(t, incidents.StepPending, inc.Step("watch").Status, "the words of older records read as before")
	_, err = svc.StartAction(ctx, incidents.Origin{Actor: alice}, 1, "drain")
	assert.EqualError(t, err, `The step "drain" of #1 is already running since 14:00 UTC.`)

	_, err = svc.InterruptAction(ctx, incidents.Origin{Actor: incidents.Bot}, 1, "drain", st.At)
	require.NoError(t, err)
	inc, err = svc.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StepPending, inc.Step("drain").Status)
}
