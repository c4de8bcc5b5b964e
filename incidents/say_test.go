package incidents_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
)

// saying is an Origin whose intents say one post per outcome: "<incident>
// <first entry kind>".
func saying(o incidents.Origin, calls *int) incidents.Origin {
	o.Effects = func(outs []incidents.Outcome) ([]incidents.Effect, error) {
		*calls++
		var effs []incidents.Effect
		for _, out := range outs {
			what := "repeat"
			if len(out.Entries) > 0 {
				what = string(out.Entries[0].Kind)
			}
			effs = append(effs, incidents.Effect{Kind: incidents.EffectPost, Incident: out.Incident.Number, Home: home,
				Message: incidents.EffectMessage{Text: fmt.Sprintf("#%d %s", out.Incident.Number, what)}})
		}
		return effs, nil
	}
	return o
}

func texts(m *incidentstest.MemStore) []string {
	var got []string
	for _, e := range m.Effects() {
		got = append(got, e.Message.Text)
	}
	return got
}

// TestIntentsRecordTheirEffects: what an intent says is recorded in its
// own transaction — for a declare, an intent on an incident, a batch of
// alerts (one outcome each) — and nothing for a redelivery or a refusal.
func TestIntentsRecordTheirEffects(t *testing.T) {
	ctx := context.Background()
	m := incidentstest.NewMemStore()
	f := newFixture(t, m)
	var calls int
	o := saying(by(alice), &calls)

	o.EventID = "console:1"
	_, err := f.svc.Declare(ctx, o, "Checkout down", incidents.SEV2)
	require.NoError(t, err)
	_, err = f.svc.Declare(ctx, o, "Checkout down", incidents.SEV2)
	require.NoError(t, err)
	assert.Equal(t, []string{"#1 declared"}, texts(m), "a redelivered declare says nothing again")
	before := m.Effects()[0]
	assert.Equal(t, uint64(1), before.Incident)
	assert.Equal(t, t0, before.CreatedAt, "stamped with the intent's time")

	o.EventID = ""
	_, err = f.svc.Acknowledge(ctx, o, 1)
	require.NoError(t, err)
	_, err = f.svc.Acknowledge(ctx, o, 1)
	require.ErrorIs(t, err, incidents.ErrInvalidTransition)
	assert.Equal(t, []string{"#1 declared", "#1 acknowledged"}, texts(m), "a refused intent records nothing")

	a, b := errorAlert(), errorAlert()
	b.Labels = map[string]string{"alertname": "Other", "service": "x"}
	b.Name = "Other"
	_, err = f.svc.ReceiveAlerts(ctx, saying(by(incidents.Bot), &calls), []incidents.Alert{a, b, a})
	require.NoError(t, err)
	assert.Equal(t, []string{"#1 declared", "#1 acknowledged", "#2 alert", "#3 alert", "#2 repeat"}, texts(m),
		"one call for the whole batch, one outcome per alert")
	assert.Equal(t, 3, calls, "not for the redelivery nor the refusal")
}

// TestEffectsFailTheIntent: an effect the store refuses fails the intent,
// and nothing of it is kept.
func TestEffectsFailTheIntent(t *testing.T) {
	ctx := context.Background()
	m := incidentstest.NewMemStore()
	f := newFixture(t, m)
	o := by(alice)
	o.Effects = func([]incidents.Outcome) ([]incidents.Effect, error) {
		return []incidents.Effect{{Kind: incidents.EffectPost}}, nil // no channel
	}
	_, err := f.svc.Declare(ctx, o, "Checkout down", incidents.SEV2)
	require.ErrorContains(t, err, "no platform or channel")
	list, err := f.svc.List(ctx, incidents.ListQuery{})
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.Empty(t, m.Effects())
}

// TestFiredTimersAreSaidInTheirTransaction and Say: a fired timer's notice
// is recorded with the firing; Say records effects of no change, for an
// existing incident only.
func TestFiredTimersAreSaidInTheirTransaction(t *testing.T) {
	ctx := context.Background()
	clock := incidentstest.NewClock(t0)
	m := incidentstest.NewMemStore()
	svc := escalationFixture(t, m, clock)
	_, err := svc.ReceiveAlert(ctx, by(incidents.Bot), errorAlert())
	require.NoError(t, err)
	clock.Advance(5 * time.Minute)
	fired, err := svc.FireDueWith(ctx, 0, func(f incidents.Fired) ([]incidents.Effect, error) {
		return []incidents.Effect{{Kind: incidents.EffectPost, Incident: f.Incident.Number, Home: f.Incident.Home,
			Message: incidents.EffectMessage{Text: "escalating: " + f.Timer.Key}}}, nil
	})
	require.NoError(t, err)
	require.Len(t, fired, 1)
	assert.Equal(t, []string{"escalating: escalate/0/0"}, texts(m))

	require.NoError(t, svc.Say(ctx, incidents.Effect{Kind: incidents.EffectPost, Incident: 1, Home: home, Message: incidents.EffectMessage{Text: "fired again ×3"}}))
	err = svc.Say(ctx, incidents.Effect{Kind: incidents.EffectPost, Incident: 9, Home: home, Message: incidents.EffectMessage{Text: "nobody"}})
	require.ErrorIs(t, err, incidents.ErrNotFound)
	assert.Equal(t, []string{"escalating: escalate/0/0", "fired again ×3"}, texts(m))
}

// TestUndeliveredGoesOnTheTimelineOnce: a give-up is a timeline entry,
// once per effect however often the outbox reports it.
func TestUndeliveredGoesOnTheTimelineOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	_, err := f.svc.Declare(ctx, by(alice), "Checkout down", incidents.SEV2)
	require.NoError(t, err)
	e := incidents.Effect{ID: 7, Kind: incidents.EffectPost, Incident: 1, Home: incidents.Home{Platform: "slack", Channel: "#alerts"}}
	for range 2 {
		_, err = f.svc.Undelivered(ctx, e, "channel_not_found")
		require.NoError(t, err)
	}
	var texts []string
	require.NoError(t, f.svc.Timeline(ctx, 1, func(en incidents.Entry) error {
		if en.Kind == incidents.EntryUndelivered {
			texts = append(texts, en.Text)
		}
		return nil
	}))
	assert.Equal(t, []string{"could not post to #alerts: channel_not_found"}, texts)
	_, err = f.svc.Undelivered(ctx, incidents.Effect{ID: 8, Kind: incidents.EffectPost}, "no incident")
	require.NoError(t, err, "an effect of no incident has no timeline to go on")
}
