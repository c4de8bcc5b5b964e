package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// roomName is the dedicated channel name of an incident (cards.RoomName).
func roomName(prefix string, inc *incidents.Incident) string { return cards.RoomName(prefix, inc) }

// PostedRefs finds where a recorded post with a Key landed once the outbox
// delivered it (the outbox's store: storage.Outbox, etcdstore.Outbox).
type PostedRefs interface {
	Ref(ctx context.Context, key string) (ref incidents.EffectRef, ok bool, err error)
}

// RoomSender opens incident rooms for the outbox worker: it delivers
// incidents.EffectRoom effects, which intake and /incident declare record
// with the change that creates an incident, right after its card. It is
// registered in the worker's senders under the kind "room", and its
// GaveUp with the worker's, so that an incident whose room cannot be
// opened is worked where it was announced.
//
// Delivering one effect twice (redelivered after a crash between opening
// the room and settling the effect) opens one room and moves the incident
// once: the adapters find a room they opened before (Slack: the channel of
// that name; Discord: the thread already started on the message), and the
// move is recorded under an event id derived from the effect's id.
type RoomSender struct {
	r    *Router
	refs PostedRefs
}

// RoomSender is the sender of room effects over the Router's chats; refs
// finds where each incident's card was posted, the message its room
// starts from.
func (r *Router) RoomSender(refs PostedRefs) *RoomSender { return &RoomSender{r: r, refs: refs} }

// roomEventID makes the records a room effect causes happen once per
// effect, however often it is delivered.
func roomEventID(what string, e incidents.Effect) string {
	return fmt.Sprintf("outbox:room:%s:%d", what, e.ID)
}

// Send implements the outbox's Sender: it opens the room of incident
// e.Incident on e.Home's platform, moves the incident there with its
// cards and the edit that turns the announced card into a pointer (one
// transaction), and starts its automated first step. The Ref it returns
// is the room. Errors say whether to retry as the adapters' errors do
// (RateLimitedError, FinalError, StatusError).
func (s *RoomSender) Send(ctx context.Context, e incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	r := s.r
	if e.Kind != incidents.EffectRoom {
		return incidents.EffectRef{}, false, 0, fmt.Errorf("the room sender cannot deliver a %q effect", e.Kind)
	}
	inc, err := r.svc.Get(ctx, e.Incident)
	if errors.Is(err, incidents.ErrNotFound) {
		return incidents.EffectRef{}, false, 0, fmt.Errorf("open the room of incident #%d: %w", e.Incident, err)
	} else if err != nil {
		return incidents.EffectRef{}, true, 0, fmt.Errorf("open the room of incident #%d: %w", e.Incident, err)
	}
	if !inc.Mirror.IsZero() {
		// Moved already: a redelivery after the move committed. Its first
		// step was handed to automation then; handing it again could run
		// a step a crash cut short twice, so its Run button is left to
		// people.
		return homeRef(inc.Home), false, 0, nil
	}
	platform := e.Home.Platform
	creator, ok := r.chat(platform).(ChannelCreator)
	if !ok {
		return incidents.EffectRef{}, false, 0, fmt.Errorf("%s cannot open incident rooms (no such chat connected, or it has no channels of its own)", platform)
	}
	from, ok := cards.RoomFrom(e)
	if !ok {
		card, posted, err := s.refs.Ref(ctx, cards.CardKey(inc.Number))
		if err != nil {
			return incidents.EffectRef{}, true, 0, fmt.Errorf("find the card of incident #%d: %w", inc.Number, err)
		}
		if from = card; !posted {
			from = incidents.EffectRef{Channel: e.Home.Channel, Thread: e.Home.Thread}
		}
	}
	name := e.Data[cards.RoomDataName]
	home, err := creator.CreateIncidentChannel(ctx, name, MessageRef{Channel: from.Channel, ID: from.ID, Thread: from.Thread}, cards.RoomInvitees(e))
	if err != nil {
		retry, after := Classify(err)
		return incidents.EffectRef{}, retry, after, fmt.Errorf("open room %s for incident #%d: %w", name, inc.Number, err)
	}
	announced, rd := inc.Home, r.renderer(platform)
	o := incidents.Origin{Actor: incidents.Bot, EventID: roomEventID("move", e), Effects: cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
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
	out, err := r.svc.MoveHome(ctx, o, inc.Number, home, name)
	if err != nil {
		return incidents.EffectRef{}, true, 0, fmt.Errorf("record the room of incident #%d: %w", inc.Number, err)
	}
	if out.Incident != nil && !out.Duplicate {
		r.autoStart(out.Incident)
	}
	return homeRef(home), false, 0, nil
}

// GaveUp works incident e.Incident where it was announced when its room
// could not be opened (the outbox gave up on room effect e, for reason):
// its step card is recorded there (or, without steps, its card gets its
// buttons), once per effect however often the outbox reports the give-up,
// and its automated first step starts. Other effects are none of its
// business. Its signature is the outbox's Config.GaveUp.
func (s *RoomSender) GaveUp(ctx context.Context, e incidents.Effect, _ incidents.EffectResult) error {
	if e.Kind != incidents.EffectRoom {
		return nil
	}
	r := s.r
	inc, err := r.svc.Get(ctx, e.Incident)
	if err != nil {
		return fmt.Errorf("work incident #%d where it was announced: %w", e.Incident, err)
	}
	if !inc.Mirror.IsZero() {
		return nil // the room opened after all
	}
	r.log.WarnContext(ctx, "opening the incident's room failed; the incident stays where it was announced", "incident", inc.Number, "platform", e.Home.Platform, "name", e.Data[cards.RoomDataName])
	rd := r.renderer(e.Home.Platform)
	fallback := cards.EditKeyed(inc.Number, inc.Home, cards.CardKey(inc.Number), rd.Card(inc, true))
	if len(inc.Steps) > 0 {
		fallback = cards.PostHome(inc, rd.Step(inc))
	}
	said, err := r.svc.SayOnce(ctx, roomEventID("fallback", e), fallback)
	if err != nil {
		return fmt.Errorf("work incident #%d where it was announced: %w", inc.Number, err)
	}
	if said {
		r.autoStart(inc)
	}
	return nil
}

func homeRef(h incidents.Home) incidents.EffectRef {
	return incidents.EffectRef{Channel: h.Channel, Thread: h.Thread}
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
// (intake.Rooms): the platforms registered with AddChat and whether an
// incident announced on one gets a room (opened by RoomSender, for the
// outbox).
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
