package bot

import (
	"context"
	"fmt"
	"strings"
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

// runTimers fires due escalations and reminders until ctx is done. Timers
// live in the database, so one that came due while Firebreak was down
// fires on the first tick after start.
func (r *Router) runTimers(ctx context.Context) {
	every := r.cfg.TimerInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.fireTimers(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Router) fireTimers(ctx context.Context) {
	for range 10 { // at most 1,000 timers per tick
		fired, err := r.svc.FireDue(ctx, 100)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("firing timers", "err", err)
			}
			return
		}
		for _, f := range fired {
			r.announceTimer(ctx, f)
		}
		if len(fired) < 100 {
			return
		}
	}
}

// announceTimer posts a fired timer in the incident's home channel and
// sends escalations to their notifiers.
func (r *Router) announceTimer(ctx context.Context, f incidents.Fired) {
	inc := f.Incident
	var m Message
	switch {
	case f.Escalation() && f.Level != nil:
		m = Message{Text: fmt.Sprintf("🔔 **#%d %s** is not acknowledged — escalating to level %s: %s",
			inc.Number, Escape(inc.Title), f.Entry.Data["level"], strings.Join(f.Level.Notify, " ")),
			Actions: []Action{{ID: ActionAck, Label: "Acknowledge", Style: StylePrimary, Value: fmt.Sprint(inc.Number)}}}
		r.notifyEscalation(ctx, f)
	case f.Entry.Data["reminder"] == "step":
		m = Message{Text: fmt.Sprintf("⏰ **#%d**: %s. Done? `/incident step done`", inc.Number, Escape(f.Entry.Text))}
	default:
		m = Message{Text: fmt.Sprintf("📝 **#%d**: a status update is due — `/incident update <what changed, impact, next update>`", inc.Number)}
	}
	chat := r.chat(inc.Home.Platform)
	if chat == nil || inc.Home.Channel == "" {
		return
	}
	m.Thread = inc.Home.Thread
	if _, err := chat.Post(ctx, inc.Home.Channel, m); err != nil {
		r.log.Warn("posting a timer", "incident", inc.Number, "timer", f.Timer.Key, "err", err)
	}
}

func (r *Router) notifyEscalation(ctx context.Context, f incidents.Fired) {
	if r.cfg.Notifier == nil {
		return
	}
	inc := f.Incident
	for _, name := range f.Level.Notifiers {
		nf := r.svc.Playbooks().Notifier(name)
		if nf == nil {
			continue
		}
		n := actions.Notification{Kind: "escalation", Incident: inc.Number, Title: inc.Title, Severity: inc.Severity.String(),
			Status: string(inc.Status), Text: f.Entry.Text, At: f.Entry.At}
		key := fmt.Sprintf("firebreak-%d-%s", inc.Number, strings.ReplaceAll(f.Timer.Key, "/", "-"))
		if err := r.cfg.Notifier.Notify(ctx, *nf, n, key); err != nil {
			r.log.Warn("escalation notifier failed", "incident", inc.Number, "notifier", name, "err", err)
			_, _ = r.svc.Record(ctx, incidents.Origin{Actor: incidents.Bot}, inc.Number, incidents.Entry{Kind: incidents.EntryEscalation,
				Text: fmt.Sprintf("notifier %s failed: %v", name, err), Data: map[string]string{"notifier": name, "ok": "false"}})
		}
	}
}
