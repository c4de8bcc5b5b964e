package bot

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// notified records the notifiers it was asked to page.
type notified struct{ names []string }

func (n *notified) Notify(_ context.Context, nf playbooks.Notifier, _ actions.Notification, _ string) error {
	n.names = append(n.names, nf.Name)
	return nil
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
