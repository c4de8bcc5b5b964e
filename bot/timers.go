package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// Notifier sends a notification through a notifier from playbooks.yaml;
// *actions.Runner implements it.
type Notifier interface {
	Notify(ctx context.Context, nf playbooks.Notifier, n actions.Notification, idempotencyKey string) error
}

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
// done; their notices and pages are recorded with the firing (FireDueWith)
// and delivered by the outbox. Timers live
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
	var effs []incidents.Effect
	if inc.Home.Channel != "" { // else nowhere to say it; the timeline has it
		effs = append(effs, cards.PostHome(inc, m))
	}
	if f.Escalation() && f.Level != nil {
		key := fmt.Sprintf("firebreak-%d-%s", inc.Number, strings.ReplaceAll(f.Timer.Key, "/", "-"))
		effs = append(effs, r.notifyEffects(inc, f.Level.Notifiers, "escalation", f.Entry.Text, f.Entry.At, key)...)
	}
	return effs, nil
}

// notifyEffects page the notifiers of playbooks.yaml named in names about
// inc (an escalation, a status update), recorded like any other effect so
// that a page survives a crash between its cause and its sending. key is
// the idempotency key the receiving system dedupes on. None without a
// configured Notifier.
func (r *Router) notifyEffects(inc *incidents.Incident, names []string, kind, text string, at time.Time, key string) []incidents.Effect {
	if r.cfg.Notifier == nil {
		return nil
	}
	var effs []incidents.Effect
	for _, name := range names {
		if r.svc.Playbooks().Notifier(name) == nil {
			continue
		}
		effs = append(effs, incidents.Effect{Kind: incidents.EffectNotify, Incident: inc.Number, Notifier: name,
			Message: incidents.EffectMessage{Text: text},
			Data: map[string]string{"kind": kind, "title": inc.Title, "severity": inc.Severity.String(), "status": string(inc.Status),
				"at": at.UTC().Format(time.RFC3339Nano), "key": key}})
	}
	return effs
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

// updateEffects are what a status update says: text where the event's
// news goes and in the incident's former home, the update as
// stakeholders read it in the stakeholder channels (on the platform it was
// posted from), and steps (the finished step, the next one).
func (h *handling) updateEffects(out incidents.Outcome, text string, steps []Message) []incidents.Effect {
	inc := out.Incident
	m := Message{Text: text}
	effs := append(h.replies(inc, m), cards.MirrorOf(inc, m)...)
	effs = append(effs, h.replies(inc, steps...)...)
	key := fmt.Sprintf("firebreak-%d-update-%d", inc.Number, inc.Entries)
	effs = append(effs, h.notifyEffects(inc, h.svc.Playbooks().Incidents.UpdateNotifiers, "status_update", inc.LastUpdate, h.cfg.Now(), key)...)
	shared := Message{Text: h.updateText(inc)}
	for _, sc := range h.svc.Playbooks().Incidents.StakeholderChannels {
		if strings.EqualFold(strings.TrimPrefix(sc, "#"), strings.TrimPrefix(h.ev.Channel, "#")) {
			continue
		}
		effs = append(effs, cards.PostIn(inc.Number, incidents.Home{Platform: h.ev.Platform, Channel: sc}, shared))
	}
	return effs
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
		data := cards.StepData(inc, "", now)
		data.NextUpdate = next
		// The text is the operator's template filled with outside text
		// (titles, updates), so mentions are defused like any other.
		text, err := cards.RenderText("update_template", src, data)
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
