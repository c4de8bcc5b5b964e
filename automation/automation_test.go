package automation

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

var (
	t0   = time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC)
	ana  = incidents.Actor{Platform: "slack", ID: "U1", Name: "ana"}
	home = incidents.Home{Platform: "slack", Channel: "C1"}
)

const drainYAML = `alert_channels: ["#alerts"]
escalation:
  levels:
    - {after: 5m, notify: ["@oncall"], notifiers: [pager]}
notifiers:
  - {name: pager, kind: webhook, url: "http://127.0.0.1:1/page"}
playbooks:
  - id: outage
    steps:
      - {id: drain, title: Drain the canary, kind: http, confirm: true, http: {url: "http://127.0.0.1:1/drain"}}
      - {id: watch, title: Watch}
`

// fixture is one store with the Service a process had on it; automation
// made by start is a Firebreak (re)started on that store.
type fixture struct {
	store *incidentstest.MemStore
	clock *incidentstest.Clock
	svc   *incidents.Service
	books *playbooks.Config
}

func newFixture(t *testing.T, yaml string) *fixture {
	t.Helper()
	books, err := playbooks.Parse("auto.yaml", []byte(yaml))
	require.NoError(t, err)
	f := &fixture{store: incidentstest.NewMemStore(), clock: incidentstest.NewClock(t0), books: books}
	f.svc = incidents.NewService(f.store, books, incidents.WithClock(f.clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	return f
}

func (f *fixture) start(cfg Config) *Automation {
	cfg.Logger, cfg.Now = slog.New(slog.DiscardHandler), f.clock.Now
	return New(f.svc, cfg)
}

// declare opens incident 1 in C1 with ana's run of its first step, as a
// Firebreak that then died left it.
func (f *fixture) declareRunning(t *testing.T) time.Time {
	t.Helper()
	ctx := context.Background()
	_, err := f.svc.Declare(ctx, incidents.Origin{Actor: ana, Home: home}, "Checkout down", 0)
	require.NoError(t, err)
	out, err := f.svc.StartAction(ctx, incidents.Origin{Actor: ana}, 1, "drain")
	require.NoError(t, err)
	require.Equal(t, incidents.StepRunning, out.Incident.Step("drain").Status)
	return out.Incident.Step("drain").At
}

func (f *fixture) step(t *testing.T, id string) incidents.StepState {
	t.Helper()
	inc, err := f.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	return *inc.Step(id)
}

func (f *fixture) timeline(t *testing.T) []incidents.Entry {
	t.Helper()
	var es []incidents.Entry
	require.NoError(t, f.svc.Timeline(context.Background(), 1, func(e incidents.Entry) error {
		es = append(es, e)
		return nil
	}))
	return es
}

// posts are the chat posts recorded so far, as the outbox would say them.
func (f *fixture) posts() []cards.Message {
	var ms []cards.Message
	for _, e := range f.store.Effects() {
		if e.Kind == incidents.EffectPost {
			ms = append(ms, cards.MessageOf(e))
		}
	}
	return ms
}

// TestCrashLeftRunIsRecovered: Firebreak died while a step's action ran,
// so the store still says the step is running and every Run press would
// be refused. The restarted Firebreak's leader loop ends that run on the
// timeline and offers Run again in the incident's channel; the step can
// be started again.
func TestCrashLeftRunIsRecovered(t *testing.T) {
	f := newFixture(t, drainYAML)
	started := f.declareRunning(t)
	_, err := f.svc.StartAction(context.Background(), incidents.Origin{Actor: ana}, 1, "drain")
	require.ErrorContains(t, err, "already running since 14:00 UTC", "before the restart the step cannot be run")

	f.clock.Advance(time.Minute) // the restart
	a := f.start(Config{TimerInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.RunTimers(ctx, f.svc)
	}()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool { return f.step(t, "drain").Status == incidents.StepPending }, 5*time.Second, 5*time.Millisecond)

	es := f.timeline(t)
	last := es[len(es)-1]
	assert.Equal(t, incidents.EntryAction, last.Kind)
	assert.Equal(t, "interrupted", last.Data["phase"])
	assert.Equal(t, `the run of step "Drain the canary" started at 14:00 UTC was interrupted by a restart; run it again`, last.Text)
	assert.Equal(t, started.UTC().Format(time.RFC3339Nano), last.Data["started"])

	posts := f.posts()
	require.NotEmpty(t, posts)
	said := posts[len(posts)-1]
	assert.Equal(t, "⚠️ **#1 Drain the canary** — the run started at 14:00 UTC was interrupted by a restart; run it again.", said.Text)
	require.NotEmpty(t, said.Actions)
	assert.Equal(t, cards.ActionRunStep, said.Actions[0].ID)
	assert.Equal(t, "1:drain", said.Actions[0].Value)

	_, err = f.svc.StartAction(context.Background(), incidents.Origin{Actor: ana}, 1, "drain")
	assert.NoError(t, err, "Run works again")
}

// TestWhichRunsAreOver: a run is over when it started before this process
// (alone on its store), or has run longer than any run may (on a store
// shared with other replicas, whatever its start); a run that is not over
// yet is looked at again when it would be.
func TestWhichRunsAreOver(t *testing.T) {
	tests := []struct {
		name        string
		shared      bool
		startedAgo  time.Duration // before the automation began
		laterBy     time.Duration // clock moved after the automation began
		interrupted bool
	}{
		{"alone: started before this process", false, time.Second, 0, true},
		{"alone: started by this process", false, -time.Second, 0, false},
		{"shared: maybe running on another replica", true, time.Second, 0, false},
		{"shared: longer than any run may", true, time.Second, time.Minute, true},
		{"alone: started by this process, longer than any run may", false, -time.Second, time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, drainYAML)
			var a *Automation
			cfg := Config{SharedStore: tt.shared, MaxRun: 30 * time.Second, WriteTimeout: 10 * time.Second}
			if tt.startedAgo > 0 {
				f.declareRunning(t)
				f.clock.Advance(tt.startedAgo)
				a = f.start(cfg)
			} else {
				a = f.start(cfg)
				f.clock.Advance(-tt.startedAgo)
				f.declareRunning(t)
			}
			started := f.step(t, "drain").At
			f.clock.Advance(tt.laterBy)

			next := a.recoverRuns(context.Background(), f.svc)
			st := f.step(t, "drain")
			if tt.interrupted {
				assert.Equal(t, incidents.StepPending, st.Status)
				assert.Equal(t, f.clock.Now().Add(40*time.Second), next, "looked for again one bound later")
				return
			}
			assert.Equal(t, incidents.StepRunning, st.Status)
			assert.Equal(t, started.Add(40*time.Second), next, "looked at again once it has run longer than any run may")
		})
	}
}

// TestRunEndsRunningSteps: Run owns the actions it started; when it ends,
// a running action is cancelled and its result still recorded, so the
// step is pending again — and nothing starts afterwards.
func TestRunEndsRunningSteps(t *testing.T) {
	f := newFixture(t, `probes:
  - {name: checkout, url: "http://127.0.0.1:1/healthz", on_demand: true}
playbooks:
  - id: outage
    steps:
      - {id: validate, title: Validate, kind: probe, probe: checkout}
      - {id: watch, title: Watch}
`)
	probing := make(chan struct{})
	a := f.start(Config{Probe: func(ctx context.Context, _ string) (bool, string, error) {
		close(probing)
		<-ctx.Done()
		return false, "", ctx.Err()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	out, err := f.svc.Declare(context.Background(), incidents.Origin{Actor: ana, Home: home}, "Checkout down", 0)
	require.NoError(t, err)
	a.AutoStart(out.Incident)
	<-probing
	assert.Equal(t, incidents.StepRunning, f.step(t, "validate").Status)

	cancel()
	<-done
	st := f.step(t, "validate")
	assert.Equal(t, incidents.StepPending, st.Status, "the cancelled run is over")
	es := f.timeline(t)
	assert.Equal(t, "finished", es[len(es)-1].Data["phase"])
	assert.Contains(t, es[len(es)-1].Text, "context canceled")

	// Stopped: a Run press is recorded and ended at once, never left
	// running with nothing to run it.
	_, err = a.RunStep(context.Background(), incidents.Origin{Actor: ana}, 1, "validate")
	require.NoError(t, err)
	assert.Equal(t, incidents.StepPending, f.step(t, "validate").Status)
	es = f.timeline(t)
	assert.Equal(t, "interrupted", es[len(es)-1].Data["phase"])
}

// TestEscalationNotice: a due escalation is said in the incident's home
// with an Acknowledge button and pages the level's notifiers, in the
// transaction that fires it, once.
func TestEscalationNotice(t *testing.T) {
	f := newFixture(t, strings.Replace(drainYAML, "confirm: true, ", "", 1))
	a := f.start(Config{Pages: true})
	ctx := context.Background()
	_, err := f.svc.ReceiveAlert(ctx, incidents.Origin{Actor: incidents.Actor{Platform: "slack", ID: "B1", Name: "alertbot"}, Home: home},
		incidents.Alert{Source: "slack", Title: "checkout is down", Status: incidents.AlertFiring})
	require.NoError(t, err)
	before := len(f.store.Effects())

	a.fireTimers(ctx, f.svc)
	assert.Len(t, f.store.Effects(), before, "nothing due yet")
	f.clock.Advance(6 * time.Minute)
	a.fireTimers(ctx, f.svc)
	effs := f.store.Effects()[before:]
	require.Len(t, effs, 2)
	assert.Equal(t, incidents.EffectPost, effs[0].Kind)
	assert.Equal(t, home, effs[0].Home)
	m := cards.MessageOf(effs[0])
	assert.Contains(t, m.Text, "escalating to level 1: @oncall")
	require.NotEmpty(t, m.Actions)
	assert.Equal(t, cards.ActionAck, m.Actions[0].ID)
	assert.Equal(t, incidents.EffectNotify, effs[1].Kind)
	assert.Equal(t, "pager", effs[1].Notifier)
	assert.Equal(t, "escalation", effs[1].Data["kind"])
	assert.Equal(t, "firebreak-1-escalate-0-0", effs[1].Data["key"])

	a.fireTimers(ctx, f.svc)
	assert.Len(t, f.store.Effects(), before+2, "once")
}

// TestOneRunAcrossReplicas: two Firebreaks on one store (replicas on
// etcd); while one runs a step, a Run press on the other is refused with
// when the run started — the store, not a process, knows it runs.
func TestOneRunAcrossReplicas(t *testing.T) {
	f := newFixture(t, `probes:
  - {name: checkout, url: "http://127.0.0.1:1/healthz", on_demand: true}
playbooks:
  - id: outage
    steps:
      - {id: validate, title: Validate, kind: probe, probe: checkout, confirm: true}
      - {id: watch, title: Watch}
`)
	probing, release := make(chan struct{}), make(chan struct{})
	var probes atomic.Int32
	probe := func(ctx context.Context, _ string) (bool, string, error) {
		if probes.Add(1) == 1 {
			close(probing)
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return false, "❌ checkout: 503", nil
	}
	one, other := f.start(Config{Probe: probe}), f.start(Config{Probe: probe})
	for _, a := range []*Automation{one, other} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = a.Run(ctx)
		}()
		defer func() { cancel(); <-done }()
	}
	ctx := context.Background()
	_, err := f.svc.Declare(ctx, incidents.Origin{Actor: ana, Home: home}, "Checkout down", 0)
	require.NoError(t, err)
	_, err = one.RunStep(ctx, incidents.Origin{Actor: ana}, 1, "validate")
	require.NoError(t, err)
	<-probing
	f.clock.Advance(2 * time.Minute)
	_, err = other.RunStep(ctx, incidents.Origin{Actor: ana}, 1, "validate")
	require.ErrorIs(t, err, incidents.ErrInvalidTransition)
	assert.EqualError(t, err, `The step "validate" of #1 is already running since 14:00 UTC.`)

	close(release)
	require.Eventually(t, func() bool { return f.step(t, "validate").Status == incidents.StepDone }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, int32(1), probes.Load(), "the probe ran once")
}
