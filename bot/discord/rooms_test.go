package discord

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/discordtest"
	"github.com/firebreak/firebreak/bot/internal/routertest"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

const roomsPlaybooks = `
alert_channels: ["#alerts"]
incidents:
  channel_per_incident: true
playbooks:
  - id: api
    default: true
    steps:
      - id: triage
        title: Check the dashboards
      - id: rollback
        title: Roll back the last deploy
`

// roomWorld is Firebreak over a fake Discord with no outbox worker running
// until the test starts one: what a process that crashed right after
// committing an alert leaves behind.
type roomWorld struct {
	srv    *discordtest.Server
	a      *Adapter
	store  *incidentstest.MemStore
	svc    *incidents.Service
	router *bot.Router
	in     *intake.Intake
}

func newRoomWorld(t *testing.T) *roomWorld {
	t.Helper()
	books, err := playbooks.Parse("playbooks.yaml", []byte(roomsPlaybooks))
	require.NoError(t, err)
	w := &roomWorld{store: incidentstest.NewMemStore(), srv: discordtest.New(t)}
	w.svc = incidents.NewService(w.store, books)
	w.router, w.in = routertest.New(t, w.svc, bot.RouterConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PostmortemDir: t.TempDir()}, intake.Config{})
	w.a = startAdapter(t, w.srv, w.router)
	w.router.AddChat(w.a.Platform(), w.a)
	return w
}

func (w *roomWorld) worker(t *testing.T) *outboxtest.Worker {
	t.Helper()
	box := outboxtest.StartWithRooms(t, w.store, map[string]bot.Chat{w.a.Platform(): w.a}, w.router.RoomSender(w.store))
	w.srv.Settle = box.Wait
	return box
}

// alert records a webhook alert: the incident, its card in #alerts and
// the opening of its room, committed together.
func (w *roomWorld) alert(t *testing.T) {
	t.Helper()
	outs, err := w.in.IngestAlerts(context.Background(), "alertmanager", "webhook:alertmanager:1", []incidents.Alert{{
		Source: "alertmanager", Status: incidents.AlertFiring, Name: "HighErrorRate", Title: "HighErrorRate api", Severity: incidents.SEV1}})
	require.NoError(t, err)
	require.True(t, outs[0].Created)
}

func (w *roomWorld) effect(kind incidents.EffectKind) incidents.Effect {
	for _, e := range w.store.Effects() {
		if e.Kind == kind {
			return e
		}
	}
	return incidents.Effect{}
}

// TestRoomOpensAfterACrash: the alert and its room were committed, no
// worker ran; the next process's worker posts the card, then starts the
// incident's thread on it, once, and the incident's cards land there.
func TestRoomOpensAfterACrash(t *testing.T) {
	w := newRoomWorld(t)
	w.alert(t)
	alerts := w.srv.ChannelID("alerts")
	assert.Empty(t, w.srv.Threads(alerts))

	w.worker(t).Wait()

	threads := w.srv.Threads(alerts)
	require.Len(t, threads, 1, "one thread")
	card := w.srv.Messages(alerts)[0]
	assert.Equal(t, card.ID, threads[0].ID, "the thread starts on the card")
	assert.Equal(t, "inc-1-higherrorrate-api", threads[0].Name)
	in := w.srv.Messages(threads[0].ID)
	require.Len(t, in, 2, "the card and the first step in the thread")
	assert.Contains(t, in[1].Content, "Check the dashboards")
	inc, err := w.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.Home{Platform: platform, Channel: alerts, Thread: threads[0].ID}, inc.Home)
}

// TestRoomRedelivered: the room effect delivered again after a crash —
// after the thread was started and before the move was recorded, then
// after the move and before the effect was settled — is one thread and
// one move.
func TestRoomRedelivered(t *testing.T) {
	w := newRoomWorld(t)
	w.alert(t)
	ctx := context.Background()
	chat := &outbox.ChatSender{Chats: map[string]bot.Chat{platform: w.a}, Refs: w.store}
	cardEff := w.effect(incidents.EffectPost)
	require.Equal(t, cards.CardKey(1), cardEff.Key)
	ref, _, _, err := chat.Send(ctx, cardEff)
	require.NoError(t, err)
	require.NoError(t, w.store.Settle(ctx, cardEff.ID, incidents.EffectResult{Status: incidents.EffectDelivered, Attempts: 1, At: time.Now(), Ref: ref}))
	room := w.effect(incidents.EffectRoom)
	_, err = w.a.CreateIncidentChannel(ctx, room.Data[cards.RoomDataName], bot.MessageRef{Channel: ref.Channel, ID: ref.ID}, nil)
	require.NoError(t, err, "the delivery that crashed")

	sender := w.router.RoomSender(w.store)
	for range 2 {
		got, _, _, err := sender.Send(ctx, room)
		require.NoError(t, err)
		assert.Equal(t, ref.ID, got.Thread)
	}
	alerts := w.srv.ChannelID("alerts")
	require.Len(t, w.srv.Threads(alerts), 1, "one thread")
	moves := 0
	require.NoError(t, w.svc.Timeline(ctx, 1, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryChannel {
			moves++
		}
		return nil
	}))
	assert.Equal(t, 1, moves)
	inThread := 0
	for _, e := range w.store.Effects() {
		if e.Home.Thread == ref.ID {
			inThread++
		}
	}
	assert.Equal(t, 2, inThread, "the thread's card and first step recorded once")
}

// TestThreadWithoutMessageFoundAgain: a thread started in a channel (no
// message to start it on) is found again by name when opened twice.
func TestThreadWithoutMessageFoundAgain(t *testing.T) {
	w := newRoomWorld(t)
	ctx := context.Background()
	alerts := w.srv.ChannelID("alerts")
	first, err := w.a.CreateIncidentChannel(ctx, "inc-7-disk-full", bot.MessageRef{Channel: alerts}, nil)
	require.NoError(t, err)
	again, err := w.a.CreateIncidentChannel(ctx, "inc-7-disk-full", bot.MessageRef{Channel: alerts}, nil)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	other, err := w.a.CreateIncidentChannel(ctx, "inc-8-disk-full", bot.MessageRef{Channel: alerts}, nil)
	require.NoError(t, err)
	assert.NotEqual(t, first.Thread, other.Thread)
	assert.Len(t, w.srv.Threads(alerts), 2)
}

// TestRoomRefused: Discord refuses the thread for good (the bot lacks
// Create Public Threads): the outbox gives up after one attempt and the
// incident is worked in #alerts, its first step posted there once.
func TestRoomRefused(t *testing.T) {
	w := newRoomWorld(t)
	w.srv.InjectFault(discordtest.Fault{Route: discordtest.RouteMessageThread, Status: 403, Times: 10})
	w.alert(t)
	w.worker(t).Wait()

	room := w.effect(incidents.EffectRoom)
	var settled incidents.Effect
	for _, e := range w.store.Effects() {
		if e.ID == room.ID {
			settled = e
		}
	}
	assert.Equal(t, incidents.EffectGaveUp, settled.Status)
	assert.Equal(t, 1, settled.Attempts, "a 403 is not retried")
	alerts := w.srv.ChannelID("alerts")
	assert.Empty(t, w.srv.Threads(alerts))
	steps := 0
	for _, m := range w.srv.Messages(alerts) {
		if strings.Contains(m.Content, "Check the dashboards") {
			steps++
		}
	}
	assert.Equal(t, 1, steps, "the first step where the incident was announced")
	inc, err := w.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.True(t, inc.Mirror.IsZero())
}
