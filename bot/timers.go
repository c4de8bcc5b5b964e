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

// announceTimeout bounds announcing one batch of fired timers once the
// timer loop was told to stop.
const announceTimeout = 30 * time.Second

// runTimers fires due escalations and reminders until ctx is done, unless
// RouterConfig.TimersElsewhere hands them to RunTimers.
func (r *Router) runTimers(ctx context.Context) {
	if r.cfg.TimersElsewhere {
		<-ctx.Done()
		return
	}
	r.RunTimers(ctx, r.svc)
}

// RunTimers fires due escalations and reminders through svc until ctx is
// done; messages and notifications go out through the router. Timers live
// in the store, so one that came due while no replica fired them fires on
// the first tick after start. serve runs it for each term of the elected
// leader with a Service whose writes are fenced by that term, so a deposed
// leader's FireDue is refused by the store and announces nothing.
func (r *Router) RunTimers(ctx context.Context, svc *incidents.Service) {
	every := r.cfg.TimerInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.fireTimers(ctx, svc)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Router) fireTimers(ctx context.Context, svc *incidents.Service) {
	for range 10 { // at most 1,000 timers per tick
		fired, err := svc.FireDueWith(ctx, 100, r.timerEffects)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("firing timers", "err", err)
			}
			return
		}
		// The timers are out of the store now and their notices are in
		// the outbox; page the escalations' notifiers even if leadership
		// or the process ends meanwhile (bounded), or they would never be.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
		for _, f := range fired {
			if f.Escalation() && f.Level != nil {
				r.notifyEscalation(actx, f)
			}
		}
		cancel()
		if len(fired) < 100 {
			return
		}
	}
}

// timerEffects is the notice of a fired timer in the incident's home
// channel, recorded in the transaction that fires it.
func (r *Router) timerEffects(f incidents.Fired) ([]incidents.Effect, error) {
	inc := f.Incident
	var m Message
	switch {
	case f.Escalation() && f.Level != nil:
		m = Message{Text: fmt.Sprintf("🔔 **#%d %s** is not acknowledged — escalating to level %s: %s",
			inc.Number, Escape(inc.Title), f.Entry.Data["level"], strings.Join(f.Level.Notify, " ")),
			Actions: []Action{{ID: ActionAck, Label: "Acknowledge", Style: StylePrimary, Value: fmt.Sprint(inc.Number)}}}
	case f.Entry.Data["reminder"] == "step":
		m = Message{Text: fmt.Sprintf("⏰ **#%d**: %s. Done? `/incident step done`", inc.Number, Escape(f.Entry.Text))}
	default:
		m = Message{Text: fmt.Sprintf("📝 **#%d**: a status update is due — `/incident update <what changed, impact, next update>`", inc.Number)}
	}
	if inc.Home.Channel == "" {
		return nil, nil // nowhere to say it; the timeline has it
	}
	return []incidents.Effect{postHome(inc, m)}, nil
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

// updateEffects are what a status update says: text where the event's
// news goes and in the incident's former home, the update as
// stakeholders read it in the stakeholder channels (on the platform it was
// posted from), and steps (the finished step, the next one).
func (h *handling) updateEffects(out incidents.Outcome, text string, steps []Message) []incidents.Effect {
	inc := out.Incident
	m := Message{Text: text}
	effs := append(h.replies(inc, m), mirrorOf(inc, m)...)
	effs = append(effs, h.replies(inc, steps...)...)
	shared := Message{Text: h.updateText(inc)}
	for _, sc := range h.svc.Playbooks().Incidents.StakeholderChannels {
		if strings.EqualFold(strings.TrimPrefix(sc, "#"), strings.TrimPrefix(h.ev.Channel, "#")) {
			continue
		}
		effs = append(effs, postIn(inc.Number, incidents.Home{Platform: h.ev.Platform, Channel: sc}, shared))
	}
	return effs
}

// notifyUpdate sends a status update to the update notifiers, in the
// background: the poster's reply does not wait for them.
func (r *Router) notifyUpdate(inc *incidents.Incident) {
	cfg := r.svc.Playbooks()
	if r.cfg.Notifier == nil {
		return
	}
	for _, name := range cfg.Incidents.UpdateNotifiers {
		nf := cfg.Notifier(name)
		if nf == nil {
			continue
		}
		n := actions.Notification{Kind: "status_update", Incident: inc.Number, Title: inc.Title, Severity: inc.Severity.String(),
			Status: string(inc.Status), Text: inc.LastUpdate, At: r.cfg.Now()}
		key := fmt.Sprintf("firebreak-%d-update-%d", inc.Number, inc.Entries)
		r.goBackground(func(ctx context.Context) {
			if err := r.cfg.Notifier.Notify(ctx, *nf, n, key); err != nil {
				r.log.Warn("status update notifier failed", "incident", inc.Number, "notifier", nf.Name, "err", err)
			}
		})
	}
}

// updateText is a status update as stakeholders read it: from
// incidents.update_template when playbooks.yaml has one, else the
// headline, the update and when the next one is due.
func (r *Router) updateText(inc *incidents.Incident) string {
	cfg := r.svc.Playbooks()
	now := r.cfg.Now()
	var next time.Time
	if cfg.Incidents.UpdateInterval > 0 {
		next = now.Add(cfg.Incidents.UpdateInterval.D())
	}
	if src := cfg.Incidents.UpdateTemplate; src != "" {
		data := stepData(inc, "", now)
		data.NextUpdate = next
		// The text is the operator's template filled with outside text
		// (titles, updates), so mentions are defused like any other.
		text, err := renderText("update_template", src, data)
		if err == nil {
			return incidents.DefuseMentions(text)
		}
		r.log.Warn("incidents.update_template failed; using the built-in update", "incident", inc.Number, "err", err)
	}
	text := fmt.Sprintf("📣 **Status update — #%d %s** (%s, %s)\n%s", inc.Number, Escape(inc.Title), inc.Severity, inc.Status, Escape(inc.LastUpdate))
	if !next.IsZero() {
		text += fmt.Sprintf("\n_Next update by %s._", Clock(next))
	}
	return text
}
