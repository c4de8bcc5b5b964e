package bot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

// roomChat is a fakeChat that can open incident channels.
type roomChat struct {
	*fakeChat
	mu      sync.Mutex
	created []createdRoom
	invited []string
	fail    bool
	err     error
}

var _ ChannelCreator = (*roomChat)(nil)

type createdRoom struct {
	name   string
	from   MessageRef
	invite []string
}

func (c *roomChat) CreateIncidentChannel(_ context.Context, name string, from MessageRef, invite []string) (incidents.Home, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return incidents.Home{}, fmt.Errorf("missing_scope")
	}
	if c.err != nil {
		return incidents.Home{}, c.err
	}
	c.created = append(c.created, createdRoom{name, from, invite})
	return incidents.Home{Platform: "slack", Channel: fmt.Sprintf("CROOM%d", len(c.created))}, nil
}

func (c *roomChat) InviteToIncidentChannel(_ context.Context, home incidents.Home, users []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invited = append(c.invited, home.Channel+":"+strings.Join(users, ","))
	return nil
}

func (c *roomChat) invitedCopy() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.invited...)
}

func (c *roomChat) rooms() []createdRoom {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]createdRoom(nil), c.created...)
}

func (c *roomChat) postsIn(channel string) []Message {
	var ms []Message
	for _, p := range c.postsCopy() {
		if p.Channel == channel {
			ms = append(ms, p.Message)
		}
	}
	return ms
}

const roomsYAML = `alert_channels: ["#alerts"]
incidents:
  channel_per_incident: true
escalation:
  levels:
    - {after: 5m, notify: ["<@U9>", "@oncall"]}
playbooks:
  - id: outage
    steps: [{id: look, title: Look}, {id: fix, title: Fix}]
`

func newRoomRouterWorker(t *testing.T) (*Router, *intake.Intake, *incidents.Service, *roomChat, *testWorker) {
	t.Helper()
	books, err := playbooks.Parse("rooms.yaml", []byte(roomsYAML))
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithClock(clock.Now), incidents.WithLogger(log))
	r, in := newRouterIntake(t, svc, RouterConfig{Logger: log, Now: clock.Now}, intake.Config{})
	chat := &roomChat{fakeChat: newFakeChat()}
	r.AddChat("slack", chat)
	w := startTestWorker(t, store, map[string]Chat{"slack": chat})
	w.roomsThrough(r.RoomSender(store))
	runRouter(t, r)
	return r, in, svc, chat, w
}

func TestRoomName(t *testing.T) {
	tests := []struct{ prefix, title, want string }{
		{"inc", "API gateway 5xx", "inc-42-api-gateway-5xx"},
		{"", "  Ünïcode & *stars*!! ", "inc-42-n-code-stars"},
		{"sev", "", "sev-42"},
		{"inc", strings.Repeat("very long title ", 10), "inc-42-very-long-title-very-long-title-very-long-title-very-l"},
	}
	for _, tt := range tests {
		got := roomName(tt.prefix, &incidents.Incident{Number: 42, Title: tt.title})
		assert.Equal(t, tt.want, got)
		assert.LessOrEqual(t, len(got), 61, "names are cut at 60 characters, mid-word")
	}
}

func TestAlertOpensARoom(t *testing.T) {
	r, _, svc, chat, w := newRoomRouterWorker(t)
	ctx := context.Background()
	alert := Event{ID: "m1", Platform: "slack", Kind: KindMessage, Channel: "C1", ChannelName: "alerts", Thread: "111.1",
		User: incidents.Actor{Platform: "slack", ID: "B1", Name: "alertmanager"}, FromBot: true,
		Text: "[FIRING:1] CheckoutDown checkout (severity=critical)", Target: MessageRef{Channel: "C1", ID: "111.1"}}
	rec := handleIn(t, r, w, chat.fakeChat, alert)

	rooms := chat.rooms()
	require.Len(t, rooms, 1)
	assert.Equal(t, "inc-1-checkoutdown-checkout", rooms[0].name)
	assert.Equal(t, MessageRef{Channel: "C1", ID: "111.1"}, rooms[0].from, "the room starts from the alert")
	assert.Equal(t, []string{"U9"}, rooms[0].invite, "the first escalation level is invited; group handles are not users")

	require.Len(t, rec.all(), 1, "the alert thread gets a pointer, not the steps")
	assert.Contains(t, rec.all()[0].Text, "continues in **inc-1-checkoutdown-checkout**")
	assert.Empty(t, rec.all()[0].Actions)
	room := chat.postsIn("CROOM1")
	require.Len(t, room, 2)
	assert.Contains(t, room[1].Text, "Step 1/2: Look")

	inc, err := svc.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.Home{Platform: "slack", Channel: "CROOM1"}, inc.Home)
	assert.Equal(t, incidents.Home{Platform: "slack", Channel: "C1", Thread: "111.1"}, inc.Mirror)

	// Commands typed in the room mean its incident; updates and the
	// outcome are mirrored to the alert thread.
	cmd := func(id, text string) *recorder {
		rec := handleIn(t, r, w, chat.fakeChat, Event{ID: id, Platform: "slack", Kind: KindCommand, Channel: "CROOM1", User: ana, Text: text})
		return rec
	}
	assert.Contains(t, cmd("c1", "ack").text(), "acknowledged **#1**")
	cmd("c1b", "role responder <@U2>")
	require.Eventually(t, func() bool { return len(chat.invitedCopy()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.ElementsMatch(t, []string{"CROOM1:U1", "CROOM1:U2"}, chat.invitedCopy(), "who acknowledges or takes a role joins the room")
	cmd("c2", "update Rolled back the 13:55 deploy")
	cmd("c3", "resolve Bad deploy rolled back")
	// The alert thread holds the card (now a pointer), the update and the outcome.
	require.Eventually(t, func() bool { return len(chat.postsIn("C1")) == 3 }, 5*time.Second, 5*time.Millisecond)
	mirrored := chat.postsCopy()
	var inAlertThread []string
	for _, p := range mirrored {
		if p.Channel == "C1" {
			assert.Equal(t, "111.1", p.Message.Thread)
			inAlertThread = append(inAlertThread, p.Message.Text)
		}
	}
	assert.Contains(t, strings.Join(inAlertThread, "\n"), "Rolled back the 13:55 deploy")
	assert.Contains(t, strings.Join(inAlertThread, "\n"), "resolved **#1**")
}

func TestWebhookIncidentGetsARoom(t *testing.T) {
	_, in, svc, chat, w := newRoomRouterWorker(t)
	ctx := context.Background()
	_, err := in.IngestAlerts(ctx, "alertmanager", "", []incidents.Alert{{Status: incidents.AlertFiring, Name: "DiskFull", Title: "DiskFull db-1"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(chat.postsIn("CROOM1")) == 2 }, 5*time.Second, 5*time.Millisecond)
	w.idle(t)
	rooms := chat.rooms()
	require.Len(t, rooms, 1)
	assert.Equal(t, MessageRef{Channel: "#alerts", ID: "p1"}, rooms[0].from, "the room starts from the announcement")
	announced := chat.postsIn("#alerts")
	require.Len(t, announced, 1, "no steps in the announce channel")
	chat.mu.Lock()
	pointer := chat.updates[rooms[0].from.ID]
	chat.mu.Unlock()
	assert.Contains(t, pointer.Text, "continues in **inc-1-diskfull-db-1**")
	inc, err := svc.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, "CROOM1", inc.Home.Channel)

	// The resolved alert mitigates: said in the announce channel and the room.
	_, err = in.IngestAlerts(ctx, "alertmanager", "", []incidents.Alert{{Status: incidents.AlertResolved, Name: "DiskFull", Title: "DiskFull db-1"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(chat.postsIn("CROOM1")) == 3 && len(chat.postsIn("#alerts")) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Contains(t, chat.postsIn("CROOM1")[2].Text, "mitigated")
}

func TestRoomFailureKeepsTheIncidentInTheAlertChannel(t *testing.T) {
	r, _, svc, chat, w := newRoomRouterWorker(t)
	chat.fail = true
	handleIn(t, r, w, chat.fakeChat, Event{ID: "c1", Platform: "slack", Kind: KindCommand, Channel: "C1", User: ana, Text: "declare Checkout is down"})
	w.idle(t)
	posts := chat.postsIn("C1")
	require.Len(t, posts, 2, "card and step where it was declared (the step once the outbox gave up on the room)")
	assert.Contains(t, posts[1].Text, "Step 1/2: Look")
	inc, err := svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, "C1", inc.Home.Channel)
	assert.True(t, inc.Mirror.IsZero())
}

// TestRoomSenderSaysWhetherToRetry: the room sender answers the outbox as
// the chat sender does — rate limits with their wait, 5xx and unknown
// failures retried, refusals final — and delivers nothing but rooms.
func TestRoomSenderSaysWhetherToRetry(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		err   error
		retry bool
		after time.Duration
	}{
		{"rate limited", &RateLimitedError{Err: fmt.Errorf("ratelimited"), After: 3 * time.Second}, true, 3 * time.Second},
		{"refused", &FinalError{Err: fmt.Errorf("restricted_action")}, false, 0},
		{"server error", &StatusError{Err: fmt.Errorf("bad gateway"), Code: 502}, true, 0},
		{"forbidden", &StatusError{Err: fmt.Errorf("Missing Permissions"), Code: 403}, false, 0},
		{"connection reset", fmt.Errorf("read: connection reset by peer"), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, in, svc, chat, w := newRoomRouterWorker(t)
			chat.err = tt.err
			w.roomsThrough(nil) // the test delivers the room itself
			_, err := in.IngestAlerts(ctx, "alertmanager", "", []incidents.Alert{{Status: incidents.AlertFiring, Name: "DiskFull", Title: "DiskFull db-1"}})
			require.NoError(t, err)
			var room incidents.Effect
			for _, e := range w.store.Effects() {
				if e.Kind == incidents.EffectRoom {
					room = e
				}
			}
			require.NotZero(t, room.ID)
			_, retry, after, err := r.RoomSender(w.store).Send(ctx, room)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.err)
			assert.Equal(t, tt.retry, retry)
			assert.Equal(t, tt.after, after)
			inc, err := svc.Get(ctx, 1)
			require.NoError(t, err)
			assert.True(t, inc.Mirror.IsZero(), "not moved")
		})
	}
	t.Run("not a room", func(t *testing.T) {
		r, _, _, _, w := newRoomRouterWorker(t)
		_, retry, _, err := r.RoomSender(w.store).Send(ctx, incidents.Effect{Kind: incidents.EffectPost, Home: incidents.Home{Platform: "slack", Channel: "C1"}})
		require.Error(t, err)
		assert.False(t, retry)
	})
}
