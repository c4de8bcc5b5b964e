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

	"github.com/firebreak/firebreak/automation"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/playbooks"
)

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
	auto := automation.New(svc, automation.Config{Logger: log, Now: clock.Now, Pages: nt != nil})
	runAutomation(t, auto)
	r := NewRouter(svc, RouterConfig{Logger: log, Now: clock.Now, Automation: auto})
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
