package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

// refusingRooms is a chat whose platform will never open an incident room
// (a workspace where apps may not create channels).
type refusingRooms struct {
	mu    sync.Mutex
	posts []bot.Message
	tries int
}

func (c *refusingRooms) Post(_ context.Context, channel string, m bot.Message) (bot.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts = append(c.posts, m)
	return bot.MessageRef{Channel: channel, ID: strings.Repeat("1", len(c.posts))}, nil
}

func (c *refusingRooms) Update(context.Context, bot.MessageRef, bot.Message) error { return nil }

func (c *refusingRooms) Upload(context.Context, string, string, bot.File, string) error { return nil }

func (c *refusingRooms) CreateIncidentChannel(context.Context, string, bot.MessageRef, []string) (incidents.Home, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tries++
	return incidents.Home{}, &bot.FinalError{Err: errors.New("restricted_action")}
}

// TestRoomGiveUpInServe: serve's worker routes room effects to the
// Router's RoomSender; a room refused for good is given up after one
// attempt, said on the incident's timeline, and the incident is worked
// where it was declared (its first step posted there).
func TestRoomGiveUpInServe(t *testing.T) {
	books, err := playbooks.Parse("playbooks.yaml", []byte(`alert_channels: ["#alerts"]
incidents:
  channel_per_incident: true
playbooks:
  - id: outage
    default: true
    steps: [{id: look, title: Look at the dashboards}]
`))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithLogger(log))
	router := bot.NewRouter(svc, bot.RouterConfig{Logger: log})
	chat := &refusingRooms{}
	router.AddChat("slack", chat)
	w, err := newWorker(store, map[string]bot.Chat{"slack": chat}, nil, nil, router.RoomSender(store), svc, prometheus.NewRegistry(),
		environ{getenv: func(string) string { return "" }}, log)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	home := incidents.Home{Platform: "slack", Channel: "#alerts"}
	rd := cards.Renderer{Platform: "slack", Books: books, Now: time.Now()}
	_, err = svc.Declare(ctx, incidents.Origin{Actor: incidents.Actor{Platform: "slack", ID: "U1", Name: "ana"}, Home: home,
		Effects: cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
			return rd.OpeningEffects(outs[0].Incident, home, true)
		})},
		"Checkout is down", incidents.SEV2)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		chat.mu.Lock()
		defer chat.mu.Unlock()
		return len(chat.posts) == 2
	}, 5*time.Second, 5*time.Millisecond, "the card, then the first step where it was declared")
	chat.mu.Lock()
	assert.Contains(t, chat.posts[1].Text, "Look at the dashboards")
	assert.Equal(t, 1, chat.tries, "a final refusal is tried once")
	chat.mu.Unlock()
	var undelivered []string
	require.Eventually(t, func() bool {
		undelivered = nil
		_ = svc.Timeline(ctx, 1, func(e incidents.Entry) error {
			if e.Kind == incidents.EntryUndelivered {
				undelivered = append(undelivered, e.Text)
			}
			return nil
		})
		return len(undelivered) == 1
	}, 5*time.Second, 5*time.Millisecond, "the give-up is on the timeline")
	assert.Contains(t, undelivered[0], "could not open the incident's room from #alerts")
	assert.Contains(t, undelivered[0], "restricted_action")
}
