package incidents_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

const testConfig = `alert_channels: ["#alerts"]
grouping:
  group_by: [alertname, service]
  group_window: 5m
  flap_window: 15m
match:
  - playbook: http-5xx
    alertname: HighErrorRate
playbooks:
  - id: outage
    default: true
    steps:
      - {id: validate, title: Validate the outage}
      - {id: communicate, title: Communicate}
      - {id: rollback, title: Roll back}
  - id: http-5xx
    severity: SEV2
    steps:
      - {id: read-codes, title: Read the status codes}
      - {id: verify, title: Verify recovery}
`

var (
	t0    = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	alice = incidents.Actor{Platform: "console", ID: "alice", Name: "alice"}
	bob   = incidents.Actor{Platform: "slack", ID: "U2", Name: "bob"}
	home  = incidents.Home{Platform: "console", Channel: "#alerts"}
)

type fixture struct {
	svc   *incidents.Service
	store incidents.Store
	clock *incidentstest.Clock
}

func newFixture(t testing.TB, store incidents.Store) *fixture {
	t.Helper()
	cfg, err := playbooks.Parse("test.yaml", []byte(testConfig))
	require.NoError(t, err)
	if store == nil {
		store = incidentstest.NewMemStore()
	}
	clock := incidentstest.NewClock(t0)
	return &fixture{svc: incidents.NewService(store, cfg, incidents.WithClock(clock.Now), incidents.WithLogger(slog.New(slog.DiscardHandler))), store: store, clock: clock}
}

func by(a incidents.Actor) incidents.Origin { return incidents.Origin{Actor: a, Home: home} }

func errorAlert() incidents.Alert {
	return incidents.Alert{Source: "chat", Status: incidents.AlertFiring, Name: "HighErrorRate", Title: "HighErrorRate api-gateway",
		Text: "5xx rate 17%", Service: "api-gateway", Severity: incidents.SEV1, Labels: map[string]string{"env": "prod"}}
}

func kinds(t testing.TB, svc *incidents.Service, n uint64) []incidents.EntryKind {
	t.Helper()
	var out []incidents.EntryKind
	var prev uint64
	require.NoError(t, svc.Timeline(context.Background(), n, func(e incidents.Entry) error {
		require.Equal(t, prev+1, e.Seq, "timeline order")
		prev = e.Seq
		out = append(out, e.Kind)
		return nil
	}))
	return out
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	out, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	require.True(t, out.Created)
	assert.True(t, out.StepChanged)
	inc := out.Incident
	assert.Equal(t, uint64(1), inc.Number)
	assert.Equal(t, "HighErrorRate api-gateway", inc.Title)
	assert.Equal(t, incidents.SEV1, inc.Severity)
	assert.Equal(t, "api-gateway", inc.Service)
	assert.Equal(t, "http-5xx", inc.Playbook)
	assert.Equal(t, "read-codes", inc.CurrentStep().ID)
	assert.Equal(t, incidents.StatusTriggered, inc.Status)

	f.clock.Advance(2 * time.Minute)
	out, err = f.svc.Acknowledge(ctx, by(alice), 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusAcknowledged, out.Incident.Status)
	require.NotNil(t, out.Incident.Commander)
	assert.Equal(t, "alice", out.Incident.Commander.Name)
	assert.Equal(t, 2*time.Minute, out.Incident.TimeToAcknowledge())

	out, err = f.svc.StepDone(ctx, by(alice), 1, "", "502s from the LB")
	require.NoError(t, err)
	assert.True(t, out.StepChanged)
	assert.Equal(t, "verify", out.Incident.CurrentStep().ID)

	_, err = f.svc.AddNote(ctx, by(bob), 1, "deploy 2026.11.25-1 went out at 13:58")
	require.NoError(t, err)
	out, err = f.svc.AssignRole(ctx, by(alice), 1, incidents.RoleComms, bob)
	require.NoError(t, err)
	require.NotNil(t, out.Incident.Comms)
	assert.Equal(t, "bob", out.Incident.Comms.Name)
	out, err = f.svc.SetSeverity(ctx, by(alice), 1, incidents.SEV2)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"old": "SEV1", "new": "SEV2"}, out.Entries[0].Data)
	out, err = f.svc.PostUpdate(ctx, by(bob), 1, "Checkout errors; rolling back")
	require.NoError(t, err)
	assert.Equal(t, "Checkout errors; rolling back", out.Incident.LastUpdate)
	out, err = f.svc.StepSkip(ctx, by(alice), 1, "", "recovery obvious")
	require.NoError(t, err)
	assert.Nil(t, out.Incident.CurrentStep())

	f.clock.Advance(8 * time.Minute)
	out, err = f.svc.Mitigate(ctx, by(alice), 1)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, out.Incident.TimeToMitigate())
	f.clock.Advance(5 * time.Minute)
	out, err = f.svc.Resolve(ctx, by(alice), 1, "rolled back")
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusResolved, out.Incident.Status)
	assert.Equal(t, "rolled back", out.Incident.Summary)
	assert.Equal(t, 15*time.Minute, out.Incident.TimeToResolve())
	assert.Len(t, out.Incident.Participants, 2)

	assert.Equal(t, []incidents.EntryKind{
		incidents.EntryAlert, incidents.EntryAcknowledged, incidents.EntryStepDone, incidents.EntryNote,
		incidents.EntryRole, incidents.EntrySeverity, incidents.EntryStatusUpdate, incidents.EntryStepSkipped,
		incidents.EntryMitigated, incidents.EntryResolved,
	}, kinds(t, f.svc, 1))

	// Notes after resolution are welcome: the postmortem work goes on.
	_, err = f.svc.AddNote(ctx, by(bob), 1, "root cause: connection pool size")
	assert.NoError(t, err)
	_, err = f.svc.AddFollowUp(ctx, by(bob), 1, "alert on pool saturation")
	assert.NoError(t, err)
}

func TestInvalidTransitions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(f *fixture)
		do      func(f *fixture) error
		is      error
		msg     string
	}{
		{"resolve a resolved incident", func(f *fixture) { _, _ = f.svc.Resolve(ctx, by(alice), 1, "") },
			func(f *fixture) error { _, err := f.svc.Resolve(ctx, by(bob), 1, "again"); return err },
			incidents.ErrInvalidTransition, "Incident #1 is already resolved (by alice at 14:00 UTC)."},
		{"skip a step that does not exist", nil,
			func(f *fixture) error { _, err := f.svc.StepSkip(ctx, by(alice), 1, "rollbak", "n/a"); return err },
			incidents.ErrNoSuchStep, `Incident #1 has no step "rollbak"; its steps are validate, communicate, rollback.`},
		{"the same step done twice (double-clicked button)", func(f *fixture) { _, _ = f.svc.StepDone(ctx, by(alice), 1, "validate", "") },
			func(f *fixture) error { _, err := f.svc.StepDone(ctx, by(bob), 1, "validate", ""); return err },
			incidents.ErrInvalidTransition, `The step "validate" of #1 was already done by alice at 14:00 UTC.`},
		{"ack after resolve", func(f *fixture) { _, _ = f.svc.Resolve(ctx, by(alice), 1, "") },
			func(f *fixture) error { _, err := f.svc.Acknowledge(ctx, by(bob), 1); return err },
			incidents.ErrInvalidTransition, "already resolved"},
		{"ack twice", func(f *fixture) { _, _ = f.svc.Acknowledge(ctx, by(alice), 1) },
			func(f *fixture) error { _, err := f.svc.Acknowledge(ctx, by(bob), 1); return err },
			incidents.ErrInvalidTransition, "already acknowledged by alice"},
		{"skip without a reason", nil,
			func(f *fixture) error { _, err := f.svc.StepSkip(ctx, by(alice), 1, "", "  "); return err },
			incidents.ErrEmpty, ""},
		{"a note that is too long", nil,
			func(f *fixture) error {
				_, err := f.svc.AddNote(ctx, by(alice), 1, strings.Repeat("x", incidents.MaxTextLen+1))
				return err
			},
			incidents.ErrTooLong, ""},
		{"an incident that does not exist", nil,
			func(f *fixture) error { _, err := f.svc.Acknowledge(ctx, by(alice), 9); return err },
			incidents.ErrNotFound, "incident #9"},
		{"all steps finished", func(f *fixture) {
			for range 3 {
				_, _ = f.svc.StepDone(ctx, by(alice), 1, "", "")
			}
		},
			func(f *fixture) error { _, err := f.svc.StepDone(ctx, by(alice), 1, "", ""); return err },
			incidents.ErrInvalidTransition, "All steps of #1 are finished"},
		{"severity change after resolve", func(f *fixture) { _, _ = f.svc.Resolve(ctx, by(alice), 1, "") },
			func(f *fixture) error { _, err := f.svc.SetSeverity(ctx, by(alice), 1, incidents.SEV1); return err },
			incidents.ErrInvalidTransition, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			_, err := f.svc.Declare(ctx, by(alice), "Checkout is down", incidents.SEV2)
			require.NoError(t, err)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			before := kinds(t, f.svc, 1)
			err = tt.do(f)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			if tt.msg != "" {
				assert.Contains(t, err.Error(), tt.msg)
			}
			assert.Equal(t, before, kinds(t, f.svc, 1), "a refused intent writes nothing")
		})
	}
}

func TestOutOfOrderSteps(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	_, err := f.svc.Declare(ctx, by(alice), "Checkout is down", 0)
	require.NoError(t, err)
	out, err := f.svc.StepDone(ctx, by(alice), 1, "rollback", "rolled back first")
	require.NoError(t, err)
	assert.False(t, out.StepChanged, "the current step is still validate")
	out, err = f.svc.StepDone(ctx, by(alice), 1, "", "")
	require.NoError(t, err)
	assert.Equal(t, "communicate", out.Incident.CurrentStep().ID)
	out, err = f.svc.StepDone(ctx, by(alice), 1, "", "")
	require.NoError(t, err)
	assert.Nil(t, out.Incident.CurrentStep(), "rollback was done already: nothing is left")
}

func TestDedupAndRepeats(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	first, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	again, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	assert.False(t, again.Created)
	assert.True(t, again.Repeat)
	assert.Equal(t, first.Incident.Number, again.Incident.Number)
	assert.Equal(t, 2, again.Incident.AlertCount)
	assert.Empty(t, again.Entries, "a repeat is counted on its alert's record, not on the timeline")
	assert.Equal(t, 1, again.Incident.DistinctAlerts)
	require.NoError(t, f.store.View(ctx, func(tx incidents.ReadTx) error {
		a, ok, err := tx.Alert(first.Incident.Number, first.Incident.Fingerprint)
		require.True(t, ok)
		assert.Equal(t, 2, a.Count)
		assert.Equal(t, f.clock.Now(), a.LastSeen)
		return err
	}))
	list, err := f.svc.List(ctx, incidents.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestGroupingByLabelsWithinTheWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a := errorAlert()
	_, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), a)
	require.NoError(t, err)

	// Another instance of the same alertname+service: a different
	// fingerprint, the same group.
	b := errorAlert()
	b.Labels = map[string]string{"env": "prod", "instance": "10.0.0.7"}
	f.clock.Advance(2 * time.Minute)
	out, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), b)
	require.NoError(t, err)
	assert.False(t, out.Created)
	assert.Equal(t, uint64(1), out.Incident.Number)
	assert.Len(t, out.Incident.Alerts, 2)

	// After the group window a new instance opens its own incident.
	c := errorAlert()
	c.Labels = map[string]string{"env": "prod", "instance": "10.0.0.8"}
	f.clock.Advance(10 * time.Minute)
	out, err = f.svc.ReceiveAlert(ctx, by(incidents.Bot), c)
	require.NoError(t, err)
	assert.True(t, out.Created)
	assert.Equal(t, uint64(2), out.Incident.Number)

	// A different service is another group.
	d := errorAlert()
	d.Service = "billing"
	out, err = f.svc.ReceiveAlert(ctx, by(incidents.Bot), d)
	require.NoError(t, err)
	assert.True(t, out.Created)
}

func TestResolvedAlertsMitigateOnceAllResolved(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a, b := errorAlert(), errorAlert()
	b.Labels = map[string]string{"instance": "b"}
	_, err := f.svc.ReceiveAlerts(ctx, by(incidents.Bot), []incidents.Alert{a, b})
	require.NoError(t, err)

	a.Status = incidents.AlertResolved
	out, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), a)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusTriggered, out.Incident.Status, "one alert still fires")

	b.Status = incidents.AlertResolved
	out, err = f.svc.ReceiveAlert(ctx, by(incidents.Bot), b)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusMitigated, out.Incident.Status)
	assert.Contains(t, kinds(t, f.svc, 1), incidents.EntryMitigated)

	// A resolved alert with no open incident records nothing.
	other := errorAlert()
	other.Service, other.Status = "nothing-open", incidents.AlertResolved
	out, err = f.svc.ReceiveAlert(ctx, by(incidents.Bot), other)
	require.NoError(t, err)
	assert.Nil(t, out.Incident)
}

func TestFlappingAlertReopens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a := errorAlert()
	_, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), a)
	require.NoError(t, err)
	a.Status = incidents.AlertResolved
	_, err = f.svc.ReceiveAlert(ctx, by(incidents.Bot), a)
	require.NoError(t, err)

	f.clock.Advance(3 * time.Minute)
	a.Status = incidents.AlertFiring
	out, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), a)
	require.NoError(t, err)
	assert.False(t, out.Created)
	assert.False(t, out.Repeat, "a reopen is announced")
	assert.Equal(t, uint64(1), out.Incident.Number)
	assert.Equal(t, incidents.StatusTriggered, out.Incident.Status)
	assert.Contains(t, kinds(t, f.svc, 1), incidents.EntryReopened)
}

func TestAfterResolveTheSameAlertOpensANewIncident(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	_, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	_, err = f.svc.Resolve(ctx, by(alice), 1, "")
	require.NoError(t, err)
	out, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	assert.True(t, out.Created)
	assert.Equal(t, uint64(2), out.Incident.Number)
}

func TestRedeliveredEventChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	o := by(alice)
	o.EventID = "slack:Ev123"
	out, err := f.svc.Declare(ctx, o, "Checkout is down", 0)
	require.NoError(t, err)
	require.True(t, out.Created)
	out, err = f.svc.Declare(ctx, o, "Checkout is down", 0)
	require.NoError(t, err)
	assert.True(t, out.Duplicate)
	list, err := f.svc.List(ctx, incidents.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, list, 1)

	o.EventID = "slack:Ev124"
	_, err = f.svc.AddNote(ctx, o, 1, "once")
	require.NoError(t, err)
	out, err = f.svc.AddNote(ctx, o, 1, "once")
	require.NoError(t, err)
	assert.True(t, out.Duplicate)
	assert.Equal(t, []incidents.EntryKind{incidents.EntryDeclared, incidents.EntryNote}, kinds(t, f.svc, 1))
}

// twiceStore runs every Update fn on a throwaway transaction first, as a
// group commit that has to retry would.
type twiceStore struct{ *incidentstest.MemStore }

var errThrowAway = errors.New("throw away")

func (s twiceStore) Update(ctx context.Context, fn func(incidents.Tx) error) error {
	err := s.MemStore.Update(ctx, func(tx incidents.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errThrowAway
	})
	if err != nil && !errors.Is(err, errThrowAway) {
		return err
	}
	return s.MemStore.Update(ctx, fn)
}

func TestRerunUpdatesGiveTheSameResult(t *testing.T) {
	ctx := context.Background()
	run := func(store incidents.Store) ([]incidents.EntryKind, *incidents.Incident) {
		f := newFixture(t, store)
		_, err := f.svc.ReceiveAlerts(ctx, by(incidents.Bot), []incidents.Alert{errorAlert(), errorAlert()})
		require.NoError(t, err)
		_, err = f.svc.Acknowledge(ctx, by(alice), 1)
		require.NoError(t, err)
		_, err = f.svc.StepDone(ctx, by(alice), 1, "", "ok")
		require.NoError(t, err)
		inc, err := f.svc.Get(ctx, 1)
		require.NoError(t, err)
		return kinds(t, f.svc, 1), inc
	}
	k1, inc1 := run(incidentstest.NewMemStore())
	k2, inc2 := run(twiceStore{incidentstest.NewMemStore()})
	assert.Equal(t, k1, k2)
	assert.Equal(t, inc1, inc2)
}

func TestConcurrentAlertsOpenOneIncident(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	list, err := f.svc.List(ctx, incidents.ListQuery{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, 50, list[0].AlertCount)
}

func TestStormOfBatches(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	const senders, perSender, batch, fingerprints = 16, 625, 25, 20
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := 0; i < perSender; i += batch {
				alerts := make([]incidents.Alert, batch)
				for j := range alerts {
					n := (s*perSender + i + j) % fingerprints
					alerts[j] = incidents.Alert{Name: fmt.Sprintf("Alert%d", n), Service: fmt.Sprintf("svc%d", n), Status: incidents.AlertFiring}
				}
				_, err := f.svc.ReceiveAlerts(ctx, by(incidents.Bot), alerts)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	list, err := f.svc.List(ctx, incidents.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, list, fingerprints)
	total := 0
	for _, inc := range list {
		total += inc.AlertCount
	}
	assert.Equal(t, senders*perSender, total, "every alert counted")
}

func TestImplied(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	_, err := f.svc.Implied(ctx, home)
	assert.ErrorIs(t, err, incidents.ErrNoIncident)
	_, err = f.svc.Declare(ctx, by(alice), "one", 0)
	require.NoError(t, err)
	n, err := f.svc.Implied(ctx, home)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), n, "the one open incident of the channel")
	_, err = f.svc.Declare(ctx, by(alice), "two", 0)
	require.NoError(t, err)
	_, err = f.svc.Implied(ctx, home)
	var amb *incidents.AmbiguousError
	require.ErrorAs(t, err, &amb, "two open incidents: ask, do not guess")
	assert.ErrorIs(t, err, incidents.ErrAmbiguous)
	assert.Equal(t, []uint64{2, 1}, []uint64{amb.Open[0].Number, amb.Open[1].Number})
	_, err = f.svc.Implied(ctx, incidents.Home{Platform: home.Platform, Channel: home.Channel, Thread: "t1"})
	assert.ErrorIs(t, err, incidents.ErrAmbiguous, "a thread that is no incident's home falls back to its channel")
}

// TestImpliedFindsIncidentsMovedToRooms: with channel_per_incident on
// Slack an incident moves from #alerts (an alert's thread) to a channel of
// its own. In #alerts it is still one of the channel's open incidents —
// as on Discord, where rooms are threads of #alerts — and in its alert's
// thread it is that thread's incident; in its room it is the room's.
func TestImpliedFindsIncidentsMovedToRooms(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	alerts := incidents.Home{Platform: "slack", Channel: "C0ALERTS"}
	for i, thread := range []string{"100.1", "100.2"} {
		o := by(alice)
		o.Home = incidents.Home{Platform: "slack", Channel: "C0ALERTS", Thread: thread}
		out, err := f.svc.Declare(ctx, o, fmt.Sprintf("incident %d", i+1), 0)
		require.NoError(t, err)
		_, err = f.svc.MoveHome(ctx, by(alice), out.Incident.Number, incidents.Home{Platform: "slack", Channel: fmt.Sprintf("C0ROOM%d", i+1)}, "")
		require.NoError(t, err)
	}
	_, err := f.svc.Implied(ctx, alerts)
	var amb *incidents.AmbiguousError
	require.ErrorAs(t, err, &amb, "two open incidents announced in #alerts: ask")
	assert.Equal(t, []uint64{2, 1}, []uint64{amb.Open[0].Number, amb.Open[1].Number})
	n, err := f.svc.Implied(ctx, incidents.Home{Platform: "slack", Channel: "C0ALERTS", Thread: "100.1"})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), n, "in the alert's thread, that alert's incident")
	n, err = f.svc.Implied(ctx, incidents.Home{Platform: "slack", Channel: "C0ROOM2"})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), n)

	_, err = f.svc.Resolve(ctx, by(alice), 2, "fixed")
	require.NoError(t, err)
	n, err = f.svc.Implied(ctx, alerts)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), n, "the one still open")
	_, err = f.svc.Implied(ctx, incidents.Home{Platform: "slack", Channel: "C0ALERTS", Thread: "100.2"})
	assert.ErrorIs(t, err, incidents.ErrNoIncident, "never a resolved incident unless named")
}
