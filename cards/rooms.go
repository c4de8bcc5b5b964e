package cards

import (
	"fmt"
	"strings"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// maxRoomName bounds incident room names; Slack allows 80 characters,
// Discord thread names 100, and people read the start only.
const maxRoomName = 60

// RoomName is the name of an incident's room (its own Slack channel or
// Discord thread): "inc-42-api-gateway-5xx" — lower case, digits and
// dashes, which every platform accepts as a channel or thread name. It is
// a function of the incident's number and title only, so a room opened
// before a crash is found again under the same name.
func RoomName(prefix string, inc *incidents.Incident) string {
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

// RoomInvites are the people to add to a new incident room on platform:
// the incident's commander, comms and responders from that platform, and
// user mentions (<@ID>) of the first escalation level.
func RoomInvites(books *playbooks.Config, inc *incidents.Incident, platform string) []string {
	var ids []string
	add := func(id string) {
		if id != "" && !strings.ContainsAny(id, " ,@#&!") {
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
	if books == nil {
		return ids
	}
	if esc := books.EscalationFor(books.Playbook(inc.Playbook), inc.Severity.String()); esc != nil && len(esc.Levels) > 0 {
		for _, who := range esc.Levels[0].Notify {
			if id, ok := strings.CutPrefix(strings.TrimSpace(who), "<@"); ok && strings.HasSuffix(id, ">") {
				add(strings.TrimPrefix(strings.TrimSuffix(id, ">"), "!"))
			}
		}
	}
	return ids
}

// The keys of an incidents.EffectRoom effect's Data.
const (
	RoomDataName        = "name"
	RoomDataInvite      = "invite"
	RoomDataFromChannel = "from_channel"
	RoomDataFromID      = "from_id"
	RoomDataFromThread  = "from_thread"
)

// RoomEffect asks the outbox to open inc's room, starting from the card
// announced in home (its Ref under CardKey, known once the card is
// posted: record this effect after the card, in the same channel).
// StartRoomFrom makes it start from another message.
func (r Renderer) RoomEffect(inc *incidents.Incident, home incidents.Home) incidents.Effect {
	prefix := ""
	if r.Books != nil {
		prefix = r.Books.Incidents.ChannelPrefix
	}
	data := map[string]string{RoomDataName: RoomName(prefix, inc)}
	if ids := RoomInvites(r.Books, inc, home.Platform); len(ids) > 0 {
		data[RoomDataInvite] = strings.Join(ids, ",")
	}
	return incidents.Effect{Incident: inc.Number, Kind: incidents.EffectRoom, Home: home, Data: data}
}

// StartRoomFrom makes the room effects among effs start from the message
// at from (the alert message read in chat) instead of the card. A from
// that names no message changes nothing: the room starts from the card,
// which a redelivered effect finds again (a Discord thread on it).
func StartRoomFrom(effs []incidents.Effect, from incidents.EffectRef) {
	if from.Channel == "" || from.ID == "" {
		return
	}
	for i := range effs {
		if effs[i].Kind != incidents.EffectRoom {
			continue
		}
		effs[i].Data[RoomDataFromChannel] = from.Channel
		effs[i].Data[RoomDataFromID] = from.ID
		effs[i].Data[RoomDataFromThread] = from.Thread
	}
}

// RoomFrom is the message a room effect starts from, when it names one.
func RoomFrom(e incidents.Effect) (incidents.EffectRef, bool) {
	ref := incidents.EffectRef{Channel: e.Data[RoomDataFromChannel], ID: e.Data[RoomDataFromID], Thread: e.Data[RoomDataFromThread]}
	return ref, ref.Channel != ""
}

// RoomInvitees are the user ids a room effect invites.
func RoomInvitees(e incidents.Effect) []string {
	if e.Data[RoomDataInvite] == "" {
		return nil
	}
	return strings.Split(e.Data[RoomDataInvite], ",")
}
