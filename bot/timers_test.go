package bot

import (
	"context"
	"errors"
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
	"github.com/firebreak/firebreak/intake"
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
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithClock(clock.Now), incidents.WithLogger(log))
	nt := &notified{}
	r, _ := newRouterIntake(t, svc, RouterConfig{Logger: log, Now: clock.Now, Notifier: nt}, intake.Config{})
	chat := newFakeChat()
	r.AddChat("slack", chat)
	w := startTestWorker(t, store, map[string]Chat{"slack": chat})
	w.notifyThrough(&NotifySender{Notifier: nt, Books: books})
	ctx := context.Background()
	require.NoError(t, r.Handle(ctx, Event{ID: "E1", Platform: "slack", Kind: KindMessage, Channel: "C1", ChannelName: "alerts", Text: "ALERT: checkout is down"}, &recorder{}))
	w.idle(t)
	announced := len(chat.postsCopy())

	r.fireTimers(ctx, r.svc)
	w.idle(t)
	assert.Len(t, chat.postsCopy(), announced, "nothing due yet")
	clock.Advance(6 * time.Minute)
	r.fireTimers(ctx, r.svc)
	w.idle(t)
	posts := chat.postsCopy()[announced:]
	require.Len(t, posts, 1)
	assert.Equal(t, "C1", posts[0].Channel)
	assert.True(t, strings.Contains(posts[0].Message.Text, "escalating to level 1: @oncall"), posts[0].Message.Text)
	assert.Equal(t, ActionAck, posts[0].Message.Actions[0].ID)
	assert.Equal(t, []string{"pager"}, nt.names)
	r.fireTimers(ctx, r.svc)
	w.idle(t)
	assert.Len(t, chat.postsCopy(), announced+1, "once")
}

// shareOneUpdate runs a Router on yaml, declares an incident with title
// declare and posts update from Slack channel #alerts, and returns the one
// post the update caused elsewhere.
func shareOneUpdate(t *testing.T, yaml string, nt *notified, declare, update string) posted {
	t.Helper()
	books, err := playbooks.Parse("upd.yaml", []byte(yaml))
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithClock(clock.Now), incidents.WithLogger(log))
	cfg := RouterConfig{Logger: log, Now: clock.Now}
	if nt != nil {
		cfg.Notifier = nt
	}
	r, _ := newRouterIntake(t, svc, cfg, intake.Config{})
	chat := newFakeChat()
	r.AddChat("slack", chat)
	w := startTestWorker(t, store, map[string]Chat{"slack": chat})
	if nt != nil {
		w.notifyThrough(&NotifySender{Notifier: nt, Books: books})
	}
	stop := runRouter(t, r)
	ev := Event{Platform: "slack", Kind: KindCommand, Channel: "#alerts", User: incidents.Actor{Platform: "slack", ID: "U1", Name: "ana"}}
	ev.ID, ev.Text = "c1", "declare "+declare
	require.NoError(t, r.Handle(context.Background(), ev, &recorder{}))
	ev.ID, ev.Text = "c2", "update "+update
	require.NoError(t, r.Handle(context.Background(), ev, &recorder{}))
	elsewhere := func() []posted {
		var out []posted
		for _, p := range chat.postsCopy() {
			if p.Channel != ev.Channel {
				out = append(out, p)
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(elsewhere()) == 1 }, 5*time.Second, 10*time.Millisecond)
	w.idle(t) // the notifiers have been called once the outbox is idle
	stop()
	return elsewhere()[0]
}

func TestStatusUpdateGoesToStakeholders(t *testing.T) {
	nt := &notified{}
	p := shareOneUpdate(t, `alert_channels: ["#alerts"]
incidents:
  stakeholder_channels: ["#status", "#alerts"]
  update_notifiers: [statuspage]
notifiers:
  - {name: statuspage, kind: webhook, url: "http://127.0.0.1:1/status"}
playbooks:
  - id: outage
    steps: [{id: look, title: Look}]
`, nt, "Checkout down", "Rolling back the 14:00 deploy")
	assert.Equal(t, "#status", p.Channel, "not re-posted where it was typed")
	assert.Contains(t, p.Message.Text, "Rolling back the 14:00 deploy")
	assert.Equal(t, []string{"statuspage"}, nt.names)
}

func TestStatusUpdateTemplate(t *testing.T) {
	p := shareOneUpdate(t, `alert_channels: ["#alerts"]
incidents:
  stakeholder_channels: ["#status"]
  update_interval: 45m
  update_template: |-
    [{{.Severity}}] {{.Title}} is {{.Status}} (lead: {{default "nobody yet" .Commander}})
    {{.LastUpdate}}
    Next update: {{utc .NextUpdate}}
playbooks:
  - id: outage
    steps: [{id: look, title: Look}]
`, nil, "Checkout down --sev 2", "Payments fail for 30% of users @everyone")
	text := p.Message.Text
	assert.True(t, strings.HasPrefix(text, "[SEV2] Checkout down is triggered (lead: ana)\nPayments fail for 30% of users"), text)
	assert.NotContains(t, text, "@everyone", "mentions in the update stay inert")
	assert.True(t, strings.HasSuffix(text, "Next update: 2026-03-04 14:45 UTC"), text)
}

// failingNotifier refuses every page.
type failingNotifier struct{}

func (failingNotifier) Notify(context.Context, playbooks.Notifier, actions.Notification, string) error {
	return errors.New("SMTP 554 rejected")
}

// TestNotifySender: a page is built from the effect's data, a notifier's
// failure is final (the runner retried already) and names the notifier,
// and an unknown notifier is refused.
func TestNotifySender(t *testing.T) {
	books, err := playbooks.Parse("n.yaml", []byte(`notifiers:
  - {name: pager, kind: webhook, url: "http://127.0.0.1:1/page"}
playbooks:
  - id: outage
    steps: [{id: look, title: Look}]
`))
	require.NoError(t, err)
	ctx := context.Background()
	e := incidents.Effect{Kind: incidents.EffectNotify, Incident: 4, Notifier: "pager", Message: incidents.EffectMessage{Text: "escalated to level 1"},
		Data: map[string]string{"kind": "escalation", "title": "Checkout down", "key": "firebreak-4-escalate-0-0"}}
	nt := &notified{}
	_, retry, _, err := NotifySender{Notifier: nt, Books: books}.Send(ctx, e)
	require.NoError(t, err)
	assert.False(t, retry)
	assert.Equal(t, []string{"pager"}, nt.names)

	_, retry, _, err = NotifySender{Notifier: failingNotifier{}, Books: books}.Send(ctx, e)
	require.ErrorContains(t, err, "notifier pager: SMTP 554 rejected")
	assert.False(t, retry, "the runner retried within its own bounds")

	e.Notifier = "gone"
	_, _, _, err = NotifySender{Notifier: nt, Books: books}.Send(ctx, e)
	require.ErrorContains(t, err, `no notifier "gone"`)
}
