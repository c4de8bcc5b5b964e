package intake

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/probe"
	"github.com/firebreak/firebreak/bot/webhook"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

// Webhooks and probes hand their alerts to an Intake.
var (
	_ webhook.Sink = (*Intake)(nil)
	_ probe.Sink   = (*Intake)(nil)
)

// fakeRooms is the chat side as intake sees it: the connected platforms
// and which of them give incidents rooms.
type fakeRooms struct {
	platforms []string
	on        map[string]bool
}

func (f *fakeRooms) Platforms() []string     { return f.platforms }
func (f *fakeRooms) On(platform string) bool { return f.on[platform] }

// fakeSteps records the incidents whose automated step was started.
type fakeSteps struct {
	mu      sync.Mutex
	started []uint64
}

func (f *fakeSteps) AutoStart(inc *incidents.Incident) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, inc.Number)
}

func (f *fakeSteps) startedCopy() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.started)
}

const testYAML = `alert_channels: ["#alerts", "#alerts-2"]
playbooks:
  - id: outage
    steps: [{id: look, title: Look}, {id: fix, title: Fix}]
`

const announceYAML = `alert_channels: ["#alerts"]
incidents:
  announce: {slack: "#incidents", discord: "#ops"}
playbooks:
  - id: outage
    steps: [{id: look, title: Look}]
`

type fixture struct {
	store *incidentstest.MemStore
	svc   *incidents.Service
	in    *Intake
	rooms *fakeRooms
	steps *fakeSteps
	stop  func()
}

// newFixture is an Intake over yaml with platforms connected, running
// until the test ends (or stop).
func newFixture(t *testing.T, yaml string, cfg Config, platforms ...string) *fixture {
	t.Helper()
	books, err := playbooks.Parse("playbooks.yaml", []byte(yaml))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithLogger(log))
	cfg.Logger = log
	f := &fixture{store: store, svc: svc, in: New(svc, cfg), rooms: &fakeRooms{platforms: platforms, on: map[string]bool{}}, steps: &fakeSteps{}}
	f.in.Attach(f.rooms, f.steps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, f.in.Run(ctx))
	}()
	f.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	})
	t.Cleanup(f.stop)
	return f
}

// posts are the chat posts recorded so far, as "platform channel[/thread]: first line".
func (f *fixture) posts() []string {
	var ps []string
	for _, e := range f.store.Effects() {
		if e.Kind != incidents.EffectPost {
			continue
		}
		where := e.Home.Platform + " " + e.Home.Channel
		if e.Home.Thread != "" {
			where += "/" + e.Home.Thread
		}
		first, _, _ := strings.Cut(e.Message.Text, "\n")
		ps = append(ps, where+": "+first)
	}
	return ps
}

// roomEffects are the room openings recorded so far, in order, as
// "platform channel: name, after effect <id of the effect before it>,
// from <message or card>".
func (f *fixture) roomEffects() []string {
	var rs []string
	effs := f.store.Effects()
	for i, e := range effs {
		if e.Kind != incidents.EffectRoom {
			continue
		}
		after := ""
		if i > 0 {
			after = effs[i-1].Key
		}
		from := "the card"
		if ref, ok := cards.RoomFrom(e); ok {
			from = ref.Channel + "/" + ref.ID
		}
		rs = append(rs, fmt.Sprintf("%s %s: %s after %q from %s", e.Home.Platform, e.Home.Channel, e.Data[cards.RoomDataName], after, from))
	}
	return rs
}

var diskFull = incidents.Alert{Source: "alertmanager", Status: incidents.AlertFiring, Name: "DiskFull", Title: "DiskFull db-1", Service: "db", Severity: incidents.SEV2}

func TestHomeSelection(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		platforms []string
		home      incidents.Home
		cards     []string // where the card of the new incident is posted, home first
	}{
		{name: "console only", yaml: testYAML, platforms: []string{"console"},
			home: incidents.Home{Platform: "console", Channel: "#alerts"}, cards: []string{"console #alerts"}},
		{name: "slack and discord, first alert channel", yaml: testYAML, platforms: []string{"discord", "slack"},
			home: incidents.Home{Platform: "slack", Channel: "#alerts"}, cards: []string{"slack #alerts", "discord #alerts"}},
		{name: "slack and discord, incidents.announce", yaml: announceYAML, platforms: []string{"discord", "slack"},
			home: incidents.Home{Platform: "slack", Channel: "#incidents"}, cards: []string{"slack #incidents", "discord #ops"}},
		{name: "the console first when it is connected", yaml: announceYAML, platforms: []string{"discord", "slack", "console"},
			home: incidents.Home{Platform: "console", Channel: "#alerts"}, cards: []string{"console #alerts", "slack #incidents", "discord #ops"}},
		{name: "no chat: only recorded", yaml: testYAML, cards: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.yaml, Config{}, tt.platforms...)
			outs, err := f.in.IngestAlerts(context.Background(), "alertmanager", "webhook:alertmanager:k1", []incidents.Alert{diskFull})
			require.NoError(t, err)
			require.Len(t, outs, 1)
			require.True(t, outs[0].Created)
			assert.Equal(t, tt.home, outs[0].Incident.Home)

			var cardsAt []string
			for _, e := range f.store.Effects() {
				if strings.Contains(e.Message.Text, "#1 DiskFull db-1") {
					cardsAt = append(cardsAt, e.Home.Platform+" "+e.Home.Channel)
					if len(cardsAt) == 1 {
						assert.Equal(t, "card/1", e.Key, "the home's card is keyed, for its room")
					} else {
						assert.Empty(t, e.Key, "only the home's card is keyed")
					}
				}
			}
			assert.Equal(t, tt.cards, cardsAt)
			assert.Equal(t, []uint64{1}, f.steps.startedCopy(), "the automated first step starts after the commit")
		})
	}
}

func TestTargets(t *testing.T) {
	announce := map[string]string{"discord": "#ops"}
	assert.Equal(t, []incidents.Home{{Platform: "console", Channel: "#a"}, {Platform: "slack", Channel: "#a"}, {Platform: "discord", Channel: "#ops"}, {Platform: "matrix", Channel: "#a"}},
		Targets(announce, []string{"#a", "#b"}, []string{"matrix", "discord", "slack", "console"}))
	assert.Equal(t, []incidents.Home{{Platform: "discord", Channel: "#ops"}}, Targets(announce, nil, []string{"slack", "discord"}),
		"a platform with neither an announce channel nor an alert channel is left out")
	assert.Empty(t, Targets(announce, []string{"#a"}, nil))
}

// TestRedeliveredPayloadChangesNothing: Alertmanager retries a payload
// it did not see answered; the same event id is recorded once, whether it
// was first seen under today's id or, before the upgrade, under the id
// the Router namespaced twice.
func TestRedeliveredPayloadChangesNothing(t *testing.T) {
	for _, former := range []bool{false, true} {
		name := "same id"
		if former {
			name = "seen before the upgrade"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, testYAML, Config{}, "slack")
			ctx := context.Background()
			const id = "webhook:alertmanager:key:delivery-42"
			if former {
				_, err := f.svc.ReceiveAlerts(ctx, incidents.Origin{Actor: incidents.Actor{Platform: "webhook", ID: "alertmanager"}, EventID: "alertmanager:" + id}, []incidents.Alert{diskFull})
				require.NoError(t, err)
			} else {
				outs, err := f.in.IngestAlerts(ctx, "alertmanager", id, []incidents.Alert{diskFull})
				require.NoError(t, err)
				require.True(t, outs[0].Created)
			}
			effects, updates := len(f.store.Effects()), f.store.Updates()
			for range 2 {
				outs, err := f.in.IngestAlerts(ctx, "alertmanager", id, []incidents.Alert{diskFull, diskFull})
				require.NoError(t, err)
				require.Len(t, outs, 2)
				for _, out := range outs {
					assert.True(t, out.Duplicate)
				}
			}
			assert.Len(t, f.store.Effects(), effects, "nothing more to say")
			inc, err := f.svc.Get(ctx, 1)
			require.NoError(t, err)
			assert.Equal(t, 1, inc.AlertCount, "the alert counted once")
			assert.LessOrEqual(t, f.store.Updates(), updates+2, "no change beyond looking the id up")
			list, err := f.svc.List(ctx, incidents.ListQuery{})
			require.NoError(t, err)
			assert.Len(t, list, 1)
		})
	}
}

// TestRepeatsCoalesce: repeats of an incident are summarised once per
// interval in the channel they were said in; a quiet interval ends the
// summariser and the next repeat starts another.
func TestRepeatsCoalesce(t *testing.T) {
	const interval = 300 * time.Millisecond
	f := newFixture(t, testYAML, Config{RepeatInterval: interval}, "slack")
	ctx := context.Background()
	chat := incidents.Origin{Actor: incidents.Actor{Platform: "slack", ID: "B1", Name: "alertmanager"}, Home: incidents.Home{Platform: "slack", Channel: "C1"}}
	say := func(title string) incidents.Outcome {
		a := diskFull
		a.Title = title
		out, err := f.in.IngestChatAlert(ctx, chat, a, incidents.EffectRef{Channel: "C1", ID: "m"})
		require.NoError(t, err)
		return out
	}
	require.True(t, say("DiskFull db-1 91%").Created)
	opened := len(f.posts())
	require.Equal(t, 2, opened, "card and first step")
	for _, pct := range []string{"92%", "93%", "94%", "95%", "96%"} {
		assert.True(t, say("DiskFull db-1 "+pct).Repeat)
	}
	assert.Len(t, f.posts(), opened, "repeats say nothing on their own")
	summaries := func() []string { return f.posts()[opened:] }
	require.Eventually(t, func() bool { return len(summaries()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "slack C1: 🔁 #1 DiskFull db-1 96% fired again (×5 in the last <1s, 6 in total)", summaries()[0], "one line, quoting the latest alert")
	summary := f.store.Effects()[len(f.store.Effects())-1]
	assert.Equal(t, "repeat/1/slack/C1", summary.CoalesceKey, "a backlog of summaries is worth its latest")

	require.Eventually(t, func() bool {
		f.in.mu.Lock()
		defer f.in.mu.Unlock()
		return len(f.in.repeats) == 0
	}, 5*time.Second, 5*time.Millisecond, "a quiet interval ends the summariser")
	say("DiskFull db-1 97%")
	require.Eventually(t, func() bool { return len(summaries()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Contains(t, summaries()[1], "fired again (×1 in the last <1s, 7 in total)")
	time.Sleep(3 * interval)
	assert.Len(t, summaries(), 2, "nothing more while nothing repeats")
}

// TestRepeatsOfAResolvedIncidentAreDropped: once a person resolved the
// incident, the repeats counted before are not summarised.
func TestRepeatsOfAResolvedIncidentAreDropped(t *testing.T) {
	const interval = 200 * time.Millisecond
	f := newFixture(t, testYAML, Config{RepeatInterval: interval}, "slack")
	ctx := context.Background()
	chat := incidents.Origin{Home: incidents.Home{Platform: "slack", Channel: "C1"}}
	_, err := f.in.IngestChatAlert(ctx, chat, diskFull, incidents.EffectRef{})
	require.NoError(t, err)
	out, err := f.in.IngestChatAlert(ctx, chat, diskFull, incidents.EffectRef{})
	require.NoError(t, err)
	require.True(t, out.Repeat)
	opened := len(f.posts())
	_, err = f.svc.Resolve(ctx, incidents.Origin{Actor: incidents.Actor{Platform: "slack", ID: "U1"}}, 1, "disk grown")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		f.in.mu.Lock()
		defer f.in.mu.Unlock()
		return len(f.in.repeats) == 0
	}, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, f.posts(), opened, "no summary after the resolve")
}

// TestWebhookRepeatsAreSummarisedOnEveryTarget: a webhook's repeats are
// told in every channel the incident was announced in.
func TestWebhookRepeatsAreSummarisedOnEveryTarget(t *testing.T) {
	f := newFixture(t, announceYAML, Config{RepeatInterval: 500 * time.Millisecond}, "slack", "discord")
	ctx := context.Background()
	for i, id := range []string{"d1", "d2", "d3"} {
		outs, err := f.in.IngestAlerts(ctx, "alertmanager", id, []incidents.Alert{diskFull})
		require.NoError(t, err)
		assert.Equal(t, i == 0, outs[0].Created)
	}
	var got []string
	require.Eventually(t, func() bool {
		got = nil
		for _, p := range f.posts() {
			if strings.Contains(p, "🔁") {
				got = append(got, p)
			}
		}
		return len(got) == 2
	}, 5*time.Second, 5*time.Millisecond)
	assert.ElementsMatch(t, []string{
		"slack #incidents: 🔁 #1 DiskFull db-1 fired again (×2 in the last <1s, 3 in total)",
		"discord #ops: 🔁 #1 DiskFull db-1 fired again (×2 in the last <1s, 3 in total)",
	}, got)
}

// TestRoomsAreRecordedWithTheIncident: a new incident's room is an
// effect of the transaction that creates it, right after its card and in
// its channel (so the outbox opens it once the card is posted) — a
// webhook's from its announcement, a chat alert's from the alert message.
// Its automated first step is the room's to start, not intake's.
func TestRoomsAreRecordedWithTheIncident(t *testing.T) {
	ctx := context.Background()
	t.Run("webhook", func(t *testing.T) {
		f := newFixture(t, announceYAML, Config{}, "discord", "slack")
		f.rooms.on["slack"] = true
		_, err := f.in.IngestAlerts(ctx, "alertmanager", "r1", []incidents.Alert{diskFull})
		require.NoError(t, err)
		assert.Equal(t, []string{`slack #incidents: inc-1-diskfull-db-1 after "card/1" from the card`}, f.roomEffects())
		assert.Empty(t, f.steps.startedCopy(), "the room starts the first step once it is open")
		var steps []string
		for _, p := range f.posts() {
			if strings.Contains(p, "Step 1/1") {
				steps = append(steps, p)
			}
		}
		assert.Equal(t, []string{"discord #ops: **#1 · Step 1/1: Look**"}, steps, "the home's steps go to its room; the other platform gets them")
	})
	t.Run("webhook without rooms", func(t *testing.T) {
		f := newFixture(t, testYAML, Config{}, "slack")
		_, err := f.in.IngestAlerts(ctx, "alertmanager", "r1", []incidents.Alert{diskFull})
		require.NoError(t, err)
		assert.Empty(t, f.roomEffects())
		assert.Equal(t, []uint64{1}, f.steps.startedCopy())
	})
	t.Run("chat alert", func(t *testing.T) {
		f := newFixture(t, testYAML, Config{}, "slack")
		f.rooms.on["slack"] = true
		msg := incidents.EffectRef{Channel: "C1", ID: "111.1"}
		out, err := f.in.IngestChatAlert(ctx, incidents.Origin{Home: incidents.Home{Platform: "slack", Channel: "C1", Thread: "111.1"}, EventID: "slack:msg:C1:111.1"}, diskFull, msg)
		require.NoError(t, err)
		require.True(t, out.Created)
		assert.Equal(t, []string{`slack C1: inc-1-diskfull-db-1 after "card/1" from C1/111.1`}, f.roomEffects(), "recorded before the call returns")
		assert.Empty(t, f.steps.startedCopy())
		assert.Equal(t, []string{"slack C1/111.1: 🔴 **#1 DiskFull db-1** · SEV2 · triggered"}, f.posts(), "only the card, which the room turns into a pointer")

		again, err := f.in.IngestChatAlert(ctx, incidents.Origin{Home: incidents.Home{Platform: "slack", Channel: "C1", Thread: "111.1"}, EventID: "slack:msg:C1:111.1"}, diskFull, msg)
		require.NoError(t, err)
		assert.True(t, again.Duplicate)
		assert.Len(t, f.roomEffects(), 1, "a redelivered message opens nothing")
	})
}

// TestNothingStartsAfterRun: once Run has ended, repeats are not
// summarised; the alerts are still recorded, with their rooms (which the
// outbox opens, whatever becomes of this Intake).
func TestNothingStartsAfterRun(t *testing.T) {
	f := newFixture(t, testYAML, Config{RepeatInterval: 10 * time.Millisecond}, "slack")
	f.rooms.on["slack"] = true
	f.stop()
	ctx := context.Background()
	outs, err := f.in.IngestAlerts(ctx, "alertmanager", "a1", []incidents.Alert{diskFull})
	require.NoError(t, err)
	require.True(t, outs[0].Created)
	outs, err = f.in.IngestAlerts(ctx, "alertmanager", "a2", []incidents.Alert{diskFull})
	require.NoError(t, err)
	require.True(t, outs[0].Repeat)
	f.in.mu.Lock()
	assert.Empty(t, f.in.repeats)
	f.in.mu.Unlock()
	assert.Len(t, f.roomEffects(), 1)
}
