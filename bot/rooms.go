package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// maxRoomName bounds incident channel names; Slack allows 80 characters,
// Discord thread names 100, and people read the start only.
const maxRoomName = 60

// roomName is the dedicated channel name of an incident:
// "inc-42-api-gateway-5xx" — lower case, digits and dashes, which every
// platform accepts as a channel or thread name.
func roomName(prefix string, inc *incidents.Incident) string {
	if prefix == "" {
		prefix = "inc"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s-%d", prefix, inc.Number)
	dash := true
	for _, r := range strings.ToLower(inc.Title) {
		if b.Len() >= maxRoomName {
			break
		}
		switch {
		case (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			if dash {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		default:
			dash = true
		}
	}
	return b.String()
}

// roomInvites are the people to add to a new incident channel on
// platform: the incident's commander, comms and responders from that
// platform, and user mentions (<@ID>) of the first escalation level.
func (r *Router) roomInvites(inc *incidents.Incident, platform string) []string {
	var ids []string
	add := func(id string) {
		if id != "" && !strings.ContainsAny(id, " @#&!") {
			for _, have := range ids {
				if have == id {
					return
				}
			}
			ids = append(ids, id)
		}
	}
	people := append([]incidents.Actor{}, inc.Responders...)
	for _, p := range []*incidents.Actor{inc.Commander, inc.Comms} {
		if p != nil {
			people = append(people, *p)
		}
	}
	for _, p := range people {
		if p.Platform == platform {
			add(p.ID)
		}
	}
	books := r.svc.Playbooks()
	if esc := books.EscalationFor(books.Playbook(inc.Playbook), inc.Severity.String()); esc != nil && len(esc.Levels) > 0 {
		for _, who := range esc.Levels[0].Notify {
			if id, ok := strings.CutPrefix(strings.TrimSpace(who), "<@"); ok && strings.HasSuffix(id, ">") {
				add(strings.TrimPrefix(strings.TrimSuffix(id, ">"), "!"))
			}
		}
	}
	return ids
}

// openRoom gives a new incident a channel (Slack) or thread (Discord) of
// its own when playbooks.yaml asks for it and platform can, and posts the
// incident's card and current step there. from is the alert message (or
// only the channel, for /incident declare). It returns the incident as
// moved, or nil when no room was opened — then the caller posts where it
// would have anyway.
func (r *Router) openRoom(ctx context.Context, inc *incidents.Incident, platform string, from MessageRef) *incidents.Incident {
	books := r.svc.Playbooks()
	if books == nil || !books.Incidents.ChannelPerIncident {
		return nil
	}
	chat := r.chat(platform)
	creator, ok := chat.(ChannelCreator)
	if !ok {
		return nil
	}
	name := roomName(books.Incidents.ChannelPrefix, inc)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	home, err := creator.CreateIncidentChannel(cctx, name, from, r.roomInvites(inc, platform))
	if err != nil {
		r.log.Warn("opening the incident channel failed; the incident stays in its alert channel", "incident", inc.Number, "platform", platform, "name", name, "err", err)
		return nil
	}
	out, err := r.svc.MoveHome(cctx, incidents.Origin{Actor: incidents.Bot}, inc.Number, home, name)
	if err != nil {
		r.log.Warn("recording the incident channel", "incident", inc.Number, "platform", platform, "err", err)
		return nil
	}
	moved := out.Incident
	for _, m := range r.openingMessages(r.renderer(platform), moved) {
		r.postHome(cctx, moved, m)
	}
	return moved
}

// roomPointer is what the alert channel is told when the incident moved
// to a room: its card without buttons, and where the work goes on.
func (r *Router) roomPointer(platform string, inc *incidents.Incident) Message {
	m := r.renderer(platform).card(inc, false)
	m.Text += "\nWork on it continues in **" + Escape(roomName(r.svc.Playbooks().Incidents.ChannelPrefix, inc)) + "**."
	return m
}

// mirror posts m where an incident was announced before it moved to a
// room of its own, so the alert thread follows updates and the outcome.
// It runs in the background; the caller's reply does not wait.
func (r *Router) mirror(inc *incidents.Incident, m Message) {
	if inc == nil || inc.Mirror.IsZero() || inc.Mirror == inc.Home {
		return
	}
	m.Thread, m.Actions, m.Ephemeral = inc.Mirror.Thread, nil, false
	n, to := inc.Number, inc.Mirror
	r.goBackground(func(ctx context.Context) {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r.postIn(pctx, n, to, m)
	})
}

// roomsOn reports whether incidents announced on platform get a room.
func (r *Router) roomsOn(platform string) bool {
	books := r.svc.Playbooks()
	if books == nil || !books.Incidents.ChannelPerIncident {
		return false
	}
	_, ok := r.chat(platform).(ChannelCreator)
	return ok
}

// toRoom posts what an alert did to an incident (reopened, mitigated) in
// its room too, when it has one: the alert itself lands in the alert
// channel, but the responders are in the room.
func (r *Router) toRoom(inc *incidents.Incident, msgs []Message) {
	if inc == nil || inc.Mirror.IsZero() || len(msgs) == 0 {
		return
	}
	r.goBackground(func(ctx context.Context) {
		for _, m := range msgs {
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			r.postHome(pctx, inc, m)
			cancel()
		}
	})
}

// joinRoom adds people who just joined the response (acknowledged, took a
// role) to the incident's room, when it has one on their platform. It
// runs in the background; the caller's reply does not wait.
func (r *Router) joinRoom(inc *incidents.Incident, people ...incidents.Actor) {
	if inc == nil || inc.Mirror.IsZero() {
		return
	}
	inviter, ok := r.chat(inc.Home.Platform).(RoomInviter)
	if !ok {
		return
	}
	var ids []string
	for _, p := range people {
		if p.Platform == inc.Home.Platform && p.ID != "" && !p.Same(incidents.Bot) {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	home := inc.Home
	r.goBackground(func(ctx context.Context) {
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := inviter.InviteToIncidentChannel(ictx, home, ids); err != nil {
			r.log.Warn("inviting to the incident channel", "incident", inc.Number, "platform", home.Platform, "err", err)
		}
	})
}
