package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// Notifier sends a notification through a notifier from playbooks.yaml;
// *actions.Runner implements it.
type Notifier interface {
	Notify(ctx context.Context, nf playbooks.Notifier, n actions.Notification, idempotencyKey string) error
}

// NotifySender delivers the notify effects of notifiers from playbooks.yaml
// through Notifier (*actions.Runner). It is an outbox Sender
// (bot/outbox.Senders routes "notify/<name>" to it); the runner retries
// within its own bounds, so a failure it returns is final, and the outbox
// puts it on the incident's timeline.
type NotifySender struct {
	Notifier Notifier
	Books    *playbooks.Config
}

// Send implements bot/outbox.Sender.
func (s NotifySender) Send(ctx context.Context, e incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	nf := s.Books.Notifier(e.Notifier)
	if nf == nil || s.Notifier == nil {
		return incidents.EffectRef{}, false, 0, fmt.Errorf("no notifier %q is configured", e.Notifier)
	}
	at, _ := time.Parse(time.RFC3339Nano, e.Data["at"])
	n := actions.Notification{Kind: e.Data["kind"], Incident: e.Incident, Title: e.Data["title"], Severity: e.Data["severity"],
		Status: e.Data["status"], Text: e.Message.Text, At: at}
	if err := s.Notifier.Notify(ctx, *nf, n, e.Data["key"]); err != nil {
		return incidents.EffectRef{}, false, 0, fmt.Errorf("notifier %s: %w", e.Notifier, err)
	}
	return incidents.EffectRef{}, false, 0, nil
}
