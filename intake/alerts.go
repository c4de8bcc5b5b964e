package intake

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// IngestAlerts records alerts that did not come from chat (webhooks,
// probes) and, in the same transaction, their announcements on every
// connected platform, for the outbox to deliver; bot/webhook and
// bot/probe call it (their Sink).
//
// The incidents' home is the primary platform's announce channel (see
// Targets). It returns once the alerts and their posts are committed,
// with the opening of a room for each new incident when playbooks.yaml
// asks for rooms (incidents.EffectRoom, after its card: the outbox opens
// it once the card is posted, and then starts the automated first step;
// without a room that step starts here). With no chat connected, alerts
// are only recorded. eventID (per payload; "" for none) makes a
// redelivered payload change nothing; the caller has namespaced it
// ("webhook:<source>:…", "probe:<name>:…") and it is recorded as is.
func (in *Intake) IngestAlerts(ctx context.Context, source, eventID string, alerts []incidents.Alert) ([]incidents.Outcome, error) {
	rooms, _ := in.chat()
	var platforms []string
	if rooms != nil {
		platforms = rooms.Platforms()
	}
	o := incidents.Origin{Actor: incidents.Actor{Platform: "webhook", ID: source, Name: source}}
	if eventID != "" {
		o.EventID = eventID
		// Before issue 14 the Router prefixed the source again.
		o.FormerEventID = source + ":" + eventID
	}
	var targets []incidents.Home
	if books := in.svc.Playbooks(); books != nil {
		targets = Targets(books.Incidents.Announce, books.AlertChannels, platforms)
	}
	withRooms := false
	if len(targets) > 0 {
		o.Home = targets[0]
		// The incidents' home is the first target's; rooms open there.
		withRooms = rooms.On(targets[0].Platform)
	}
	o.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		return in.batchEffects(outs, targets, withRooms)
	})
	outs, err := in.svc.ReceiveAlerts(ctx, o, alerts)
	if err != nil {
		return nil, fmt.Errorf("alerts from %s: %w", source, err)
	}
	// Debug, not Info: in a storm this is one line per request, thousands a
	// second; the incidents opened are logged at Info, and the
	// firebreak_alerts_received_total counter counts every alert.
	in.log.DebugContext(ctx, "alerts ingested", "source", source, "event", eventID, "alerts", len(alerts))
	var created []*incidents.Incident
	seen := map[uint64]bool{}
	for _, out := range outs {
		switch {
		case out.Incident == nil || out.Duplicate || seen[out.Incident.Number]:
		case out.Created:
			seen[out.Incident.Number] = true
			created = append(created, out.Incident)
		default:
			for _, t := range targets {
				in.afterAlert(ctx, out, t, false)
			}
		}
	}
	// A new incident with a room starts its first step there, once the
	// outbox opened it (the room effect recorded after its card).
	for _, inc := range created {
		in.afterAlert(ctx, incidents.Outcome{Incident: inc, Created: true}, o.Home, withRooms)
	}
	return outs, nil
}

// IngestChatAlert records an alert read from a chat message in an alert
// channel (o.Home is the message's platform, channel and thread; o names
// the message's event) with its posts there — the card and first step of
// a new incident, or the news of a reopen or mitigation — in one
// transaction — with the opening of a new incident's room, which starts
// from the alert message at from — then does what follows: its automated
// first step (when it gets no room; else the room's opening starts it),
// the repeat coalescer. The chat Router calls it once it has parsed the
// message.
func (in *Intake) IngestChatAlert(ctx context.Context, o incidents.Origin, alert incidents.Alert, from incidents.EffectRef) (incidents.Outcome, error) {
	rooms, _ := in.chat()
	withRooms := rooms != nil && rooms.On(o.Home.Platform)
	home := o.Home
	o.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		effs := in.alertEffects(outs[0], home, withRooms)
		cards.StartRoomFrom(effs, from)
		return effs
	})
	out, err := in.svc.ReceiveAlert(ctx, o, alert)
	if err != nil || out.Incident == nil || out.Duplicate {
		return out, err
	}
	// Repeats of an incident whose home is a thread of this channel are
	// summarised in that thread, not in the alert message's.
	if h := out.Incident.Home; !out.Created && h.Thread != "" && h.Platform == home.Platform && h.Channel == home.Channel {
		home.Thread = h.Thread
	}
	in.afterAlert(ctx, out, home, withRooms)
	return out, nil
}

// Targets are where incidents from webhooks and probes are announced, one
// channel per connected platform, primary first: the console (connected
// only when run locally), then Slack, then Discord, then any other. On
// each, the channel is announce[platform] (incidents.announce in
// playbooks.yaml), else the first alert channel; a platform with neither
// gets no announcement. The first target is the incidents' home.
func Targets(announce map[string]string, alertChannels []string, platforms []string) []incidents.Home {
	ps := slices.Clone(platforms)
	slices.SortFunc(ps, func(a, b string) int {
		return cmp.Or(platformRank(a)-platformRank(b), strings.Compare(a, b))
	})
	var targets []incidents.Home
	for _, p := range slices.Compact(ps) {
		ch := announce[p]
		if ch == "" && len(alertChannels) > 0 {
			ch = alertChannels[0]
		}
		if ch != "" {
			targets = append(targets, incidents.Home{Platform: p, Channel: ch})
		}
	}
	return targets
}

// platformRank orders platforms for announcements.
func platformRank(p string) int {
	switch p {
	case "console":
		return 0
	case "slack":
		return 1
	case "discord":
		return 2
	}
	return 3
}

// afterAlert does what an alert outcome needs beyond its recorded posts,
// in home (a channel it was announced or said in): the automated first
// step of a new incident (unless it gets a room, withRooms: the outbox
// starts it once the room is open), the repeat coalescer, forgetting
// repeats of a mitigated or reopened incident.
func (in *Intake) afterAlert(ctx context.Context, out incidents.Outcome, home incidents.Home, withRooms bool) {
	inc := out.Incident
	_, steps := in.chat()
	switch {
	case inc == nil || out.Duplicate:
		return
	case out.Created:
		if !withRooms && steps != nil {
			steps.AutoStart(inc)
		}
		return
	case out.Repeat:
		in.noteRepeat(out, home)
		return
	}
	for _, e := range out.Entries {
		// Repeats counted before the incident was mitigated or resolved
		// (a reopen follows a resolve) are old news.
		if e.Kind == incidents.EntryMitigated || e.Kind == incidents.EntryReopened {
			in.forgetRepeats(inc.Number)
		}
	}
}
