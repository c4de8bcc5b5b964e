package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak/firebreak/cards"
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

// moveToRoom gives a new incident a channel (Slack) or thread (Discord)
// of its own, when playbooks.yaml asks for it and platform can. The move
// records, in its own transaction, the incident's card and current step in
// the room and the edit that turns the card announced in the first home
// (keyed cardKey) into a pointer to the room. When no room could be
// opened the steps are worked where the incident was announced: its step
// card is recorded there (or, without steps, its card gets its buttons).
// It returns the incident as it is now. from is the alert message (or
// only the channel, for /incident declare and webhook alerts).
func (r *Router) moveToRoom(ctx context.Context, inc *incidents.Incident, platform string, from MessageRef) *incidents.Incident {
	if moved := r.openRoom(ctx, inc, platform, from); moved != nil {
		return moved
	}
	rd := r.renderer(platform)
	if len(inc.Steps) > 0 {
		r.record(ctx, cards.PostHome(inc, rd.Step(inc)))
	} else {
		r.record(ctx, cards.EditKeyed(inc.Number, inc.Home, cards.CardKey(inc.Number), rd.Card(inc, true)))
	}
	return inc
}

// openRoom opens the room and moves the incident there (see moveToRoom);
// nil when no room was opened.
func (r *Router) openRoom(ctx context.Context, inc *incidents.Incident, platform string, from MessageRef) *incidents.Incident {
	books := r.svc.Playbooks()
	if books == nil || !books.Incidents.ChannelPerIncident {
		return nil
	}
	creator, ok := r.chat(platform).(ChannelCreator)
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
	announced, rd := inc.Home, r.renderer(platform)
	o := incidents.Origin{Actor: incidents.Bot, Effects: cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		moved := outs[0].Incident
		if len(outs[0].Entries) == 0 {
			return nil // it was there already
		}
		var effs []incidents.Effect
		for _, m := range rd.Opening(moved) {
			effs = append(effs, cards.PostHome(moved, m))
		}
		return append(effs, cards.EditKeyed(moved.Number, announced, cards.CardKey(moved.Number), r.roomPointer(platform, moved)))
	})}
	out, err := r.svc.MoveHome(cctx, o, inc.Number, home, name)
	if err != nil {
		r.log.Warn("recording the incident channel", "incident", inc.Number, "platform", platform, "err", err)
		return nil
	}
	return out.Incident
}

// roomPointer is what the alert channel's card of an incident becomes
// when the incident moved to a room of its own: the card without buttons,
// and where the work goes on.
func (r *Router) roomPointer(platform string, inc *incidents.Incident) Message {
	m := r.renderer(platform).Card(inc, false)
	m.Text += "\nWork on it continues in **" + Escape(roomName(r.svc.Playbooks().Incidents.ChannelPrefix, inc)) + "**."
	return m
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

// RoomOpener is the Router's rooms as alert intake sees them
// (intake.Rooms): the platforms registered with AddChat, whether an
// incident announced on one gets a room, and opening it.
type RoomOpener struct{ r *Router }

// Rooms is what alert intake needs of the Router's chats (see RoomOpener).
func (r *Router) Rooms() RoomOpener { return RoomOpener{r} }

// Platforms lists the registered platforms, in no particular order.
func (o RoomOpener) Platforms() []string {
	o.r.mu.Lock()
	defer o.r.mu.Unlock()
	ps := make([]string, 0, len(o.r.chats))
	for p := range o.r.chats {
		ps = append(ps, p)
	}
	return ps
}

// On reports whether incidents announced on platform get a room: when
// playbooks.yaml asks for rooms and the platform's Chat can open them.
func (o RoomOpener) On(platform string) bool { return o.r.roomsOn(platform) }

// Open moves the new incident inc to a room of its own on platform,
// starting from the message at from (see moveToRoom), and returns it as
// it is now.
func (o RoomOpener) Open(ctx context.Context, inc *incidents.Incident, platform string, from incidents.EffectRef) *incidents.Incident {
	return o.r.moveToRoom(ctx, inc, platform, MessageRef{Channel: from.Channel, ID: from.ID, Thread: from.Thread})
}
