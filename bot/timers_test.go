package bot

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

type notified struct{ names []string }

func (n *notified) Notify(_ context.Context, nf playbooks.Notifier, _ actions.Notification, _ string) error {
	n.names = append(n.names, nf.Name)
	return nil
}

func TestEscalationIsPostedInTheIncidentChannel(t *testing.T) {
	books, err := playbooks.Parse("esc.yaml", []byte(`alert_channels: ["#alerts"]
escalation:
  levels:
    - {after: 5m, notify: ["@oncall"], notifiers: [pager]}
notifiers:
  - {name: pager, kind: webhook, url: "http://127.0.0.1:1/page"}
playbooks:
  - id: outage
    steps: [{id: look, title: Look}]
`))
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := incidents.NewService(incidentstest.NewMemStore(), books, incidents.WithClock(clock.Now), incidents.WithLogger(log))
	nt := &notified{}
	r := NewRouter(svc, RouterConfig{Logger: log, Now: clock.Now, Notifier: nt})
	chat := newFakeChat()
	r.AddChat("slack", chat)
	ctx := context.Background()
	require.NoError(t, r.Handle(ctx, Event{ID: "E1", Platform: "slack", Kind: KindMessage, Channel: "C1", ChannelName: "alerts", Text: "ALERT: checkout is down"}, &recorder{}))

	r.fireTimers(ctx)
	assert.Empty(t, chat.postsCopy(), "nothing due yet")
	clock.Advance(6 * time.Minute)
	r.fireTimers(ctx)
	posts := chat.postsCopy()
	require.Len(t, posts, 1)
	assert.Equal(t, "C1", posts[0].Channel)
	assert.True(t, strings.Contains(posts[0].Message.Text, "escalating to level 1: @oncall"), posts[0].Message.Text)
	assert.Equal(t, ActionAck, posts[0].Message.Actions[0].ID)
	assert.Equal(t, []string{"pager"}, nt.names)
	r.fireTimers(ctx)
	assert.Len(t, chat.postsCopy(), 1, "once")
}
