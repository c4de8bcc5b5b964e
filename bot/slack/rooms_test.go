package slack_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/routertest"
	"github.com/firebreak/firebreak/bot/internal/slacktest"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	fbslack "github.com/firebreak/firebreak/bot/slack"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

const roomsYAML = `alert_channels: ["alerts"]
incidents:
  channel_per_incident: true
escalation:
  levels:
    - {after: 10m, notify: ["<@` + bob + `>"]}
playbooks:
  - id: outage
    steps: [{id: look, title: Look at the dashboards}, {id: fix, title: Fix it}]
`

// roomWorld is the Router, intake and Slack adapter over a fake Slack,
// with no outbox worker running until the test starts one: what a process
// that crashed after committing an alert leaves behind.
type roomWorld struct {
	fake   *slacktest.Server
	ad     *fbslack.Adapter
	store  *incidentstest.MemStore
	svc    *incidents.Service
	router *bot.Router
	in     *intake.Intake
}

func newRoomWorld(t *testing.T) *roomWorld {
	t.Helper()
	books, err := playbooks.Parse("rooms.yaml", []byte(roomsYAML))
	require.NoError(t, err)
	fake := slacktest.New(t)
	fake.AddUser(slacktest.User{ID: ana, Name: "ana", RealName: "Ana Lima"})
	fake.AddUser(slacktest.User{ID: bob, Name: "bob", RealName: "Bob Stone"})
	w := &roomWorld{fake: fake, store: incidentstest.NewMemStore()}
	w.svc = incidents.NewService(w.store, books, incidents.WithLogger(quiet()))
	w.router, w.in = routertest.New(t, w.svc, bot.RouterConfig{Logger: quiet(), PostmortemDir: t.TempDir()}, intake.Config{})
	w.ad, err = fbslack.New(fbslack.Config{BotToken: slacktest.BotToken, APIURL: fake.URL(), SigningSecret: slacktest.SigningSecret, Logger: quiet()}, w.router)
	require.NoError(t, err)
	w.router.AddChat("slack", w.ad)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, w.router.Run(ctx)) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return w
}

// alert records a webhook alert, as Alertmanager's POST does: the
// incident, its card in #alerts and the opening of its room, committed.
func (w *roomWorld) alert(t *testing.T) {
	t.Helper()
	outs, err := w.in.IngestAlerts(context.Background(), "alertmanager", "webhook:alertmanager:1", []incidents.Alert{{
		Source: "alertmanager", Status: incidents.AlertFiring, Name: "HighErrorRate", Title: "HighErrorRate api-gateway", Severity: incidents.SEV1}})
	require.NoError(t, err)
	require.True(t, outs[0].Created)
}

func (w *roomWorld) effects(kind incidents.EffectKind) []incidents.Effect {
	var effs []incidents.Effect
	for _, e := range w.store.Effects() {
		if e.Kind == kind {
			effs = append(effs, e)
		}
	}
	return effs
}

func (w *roomWorld) channelsNamed(prefix string) []slacktest.Channel {
	var chs []slacktest.Channel
	for _, c := range w.fake.Channels() {
		if strings.HasPrefix(c.Name, prefix) {
			chs = append(chs, c)
		}
	}
	return chs
}

// TestRoomOpensAfterACrash: an alert committed with its room, and no
// worker ran before the process died. The next process's worker posts the
// card, then opens the room once, from the card, and the incident's cards
// land there.
func TestRoomOpensAfterACrash(t *testing.T) {
	w := newRoomWorld(t)
	w.alert(t)
	require.Len(t, w.effects(incidents.EffectRoom), 1, "the room's opening is committed with the alert")
	assert.Empty(t, w.fake.Messages(slacktest.AlertsChannel), "nothing is posted before a worker runs")
	assert.Empty(t, w.channelsNamed("inc-"))

	outboxtest.StartWithRooms(t, w.store, map[string]bot.Chat{"slack": w.ad}, w.router.RoomSender(w.store)).Wait()

	rooms := w.channelsNamed("inc-")
	require.Len(t, rooms, 1, "one room")
	room := rooms[0]
	assert.Equal(t, "inc-1-higherrorrate-api-gateway", room.Name)
	assert.Contains(t, room.Members, bob, "the first escalation level is invited")
	assert.Len(t, room.Pins, 1, "the link to the announcement is pinned")
	msgs := w.fake.Messages(room.ID)
	require.Len(t, msgs, 3, "the link, the card and the first step")
	assert.Contains(t, msgs[0].Text, slacktest.Permalink(slacktest.AlertsChannel, w.fake.Messages(slacktest.AlertsChannel)[0].TS), "the room starts from the card")
	assert.Contains(t, msgs[2].Text, "Look at the dashboards")
	card := w.fake.Messages(slacktest.AlertsChannel)[0]
	assert.Contains(t, card.Text, "continues in", "the announced card points to the room")
	inc, err := w.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, room.ID, inc.Home.Channel)
}

// TestRoomRedelivered: the room effect delivered again after a crash —
// once after the channel was created and before the move was recorded,
// once after the move and before the effect was settled — opens one
// channel and moves the incident once.
func TestRoomRedelivered(t *testing.T) {
	w := newRoomWorld(t)
	w.alert(t)
	ctx := context.Background()
	// Deliver the card as the worker would, and stop before the room.
	chat := &outbox.ChatSender{Chats: map[string]bot.Chat{"slack": w.ad}, Refs: w.store}
	cardEff := w.effects(incidents.EffectPost)[0]
	require.Equal(t, cards.CardKey(1), cardEff.Key)
	ref, _, _, err := chat.Send(ctx, cardEff)
	require.NoError(t, err)
	require.NoError(t, w.store.Settle(ctx, cardEff.ID, incidents.EffectResult{Status: incidents.EffectDelivered, Attempts: 1, At: time.Now(), Ref: ref}))
	room := w.effects(incidents.EffectRoom)[0]

	// The first delivery created the channel (and linked it), then the
	// process died.
	_, err = w.ad.CreateIncidentChannel(ctx, room.Data[cards.RoomDataName], bot.MessageRef{Channel: ref.Channel, ID: ref.ID}, nil)
	require.NoError(t, err)
	require.Len(t, w.channelsNamed("inc-"), 1)

	sender := w.router.RoomSender(w.store)
	for range 2 {
		got, retry, _, err := sender.Send(ctx, room)
		require.NoError(t, err)
		assert.False(t, retry)
		assert.Equal(t, w.channelsNamed("inc-")[0].ID, got.Channel)
	}
	chs := w.channelsNamed("inc-")
	require.Len(t, chs, 1, "one channel")
	assert.Len(t, chs[0].Pins, 1, "linked once")
	assert.Contains(t, chs[0].Members, bob, "invited when found again")
	inc, err := w.svc.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, chs[0].ID, inc.Home.Channel)
	moves := 0
	require.NoError(t, w.svc.Timeline(ctx, 1, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryChannel {
			moves++
		}
		return nil
	}))
	assert.Equal(t, 1, moves, "one move on the timeline")
	var inRoom, pointers int
	for _, e := range w.store.Effects() {
		if e.Home.Channel == chs[0].ID {
			inRoom++
		}
		if e.Kind == incidents.EffectUpdate && e.Target == cards.CardKey(1) {
			pointers++
		}
	}
	assert.Equal(t, 2, inRoom, "the card and the first step recorded for the room once")
	assert.Equal(t, 1, pointers, "one pointer edit")
}

// TestRoomRefused: Slack refuses the channel for good (a workspace where
// apps may not create channels): the outbox gives up once, and the
// incident is worked where it was announced — its step card posted there
// once — with the give-up on its timeline.
func TestRoomRefused(t *testing.T) {
	w := newRoomWorld(t)
	// The name is taken by a channel Firebreak is not in.
	w.fake.AddChannel("C0OTHER", "inc-1-higherrorrate-api-gateway")
	w.fake.SetMembers("C0OTHER", ana)
	w.alert(t)
	rooms := w.router.RoomSender(w.store)
	box := outboxtest.StartWithRooms(t, w.store, map[string]bot.Chat{"slack": w.ad}, rooms)
	box.Wait()

	room := w.effects(incidents.EffectRoom)[0]
	var settled incidents.Effect
	for _, e := range w.store.Effects() {
		if e.ID == room.ID {
			settled = e
		}
	}
	assert.Equal(t, incidents.EffectGaveUp, settled.Status)
	assert.Equal(t, 1, settled.Attempts, "a final refusal is not retried")
	assert.Contains(t, settled.Reason, "Firebreak is not in")
	var steps []slacktest.Message
	for _, m := range w.fake.Messages(slacktest.AlertsChannel) {
		if strings.Contains(m.Text, "Look at the dashboards") {
			steps = append(steps, m)
		}
	}
	require.Len(t, steps, 1, "the first step where the incident was announced")
	assert.True(t, contains(steps[0].Buttons(), bot.ActionStepDone))

	// The give-up reported again (a crash before it was recorded) posts
	// nothing more.
	require.NoError(t, rooms.GaveUp(context.Background(), settled, incidents.EffectResult{Status: incidents.EffectGaveUp, Reason: settled.Reason}))
	box.Wait()
	n := 0
	for _, m := range w.fake.Messages(slacktest.AlertsChannel) {
		if strings.Contains(m.Text, "Look at the dashboards") {
			n++
		}
	}
	assert.Equal(t, 1, n)
	inc, err := w.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.True(t, inc.Mirror.IsZero(), "no move")
}
