package incidents

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EffectKind says what delivering an Effect does to the outside world.
type EffectKind string

// Effect kinds. They are stored, so never rename one.
const (
	// EffectPost posts Message in Home's channel (in Home.Thread when set).
	// When Key is set, the delivered message's Ref is remembered under it
	// so that later EffectUpdate effects can edit it.
	EffectPost EffectKind = "post"
	// EffectUpdate replaces the message an earlier EffectPost with Key ==
	// Target posted (a card whose buttons or status changed).
	EffectUpdate EffectKind = "update"
	// EffectUpload attaches Message.File to Home's channel (and thread),
	// with Message.Text as its comment.
	EffectUpload EffectKind = "upload"
	// EffectNotify pages or notifies someone outside chat (pager, email,
	// webhook); Notifier names which and Message says what.
	EffectNotify EffectKind = "notify"
	// EffectTracker files or updates an issue in a tracker; Notifier names
	// the tracker.
	EffectTracker EffectKind = "tracker"
	// EffectRoom opens the incident's room — a Slack channel, a Discord
	// thread of its own (incidents.channel_per_incident) — and moves the
	// incident there. It is recorded with the change that created the
	// incident, right after its card and in the card's channel (Home), so
	// the outbox delivers it once the card is posted (the card's Ref is
	// then known, under cards.CardKey). Data carries what opening needs:
	// "name" (the room's name), "invite" (platform user ids,
	// comma-separated) and, when the room starts from the alert message
	// rather than the card, "from_channel", "from_id" and "from_thread".
	// Its sender (bot.RoomSender) finds a room it opened before a crash
	// instead of opening a second one.
	EffectRoom EffectKind = "room"
)

// Valid reports whether k is one of the kinds above.
func (k EffectKind) Valid() bool {
	switch k {
	case EffectPost, EffectUpdate, EffectUpload, EffectNotify, EffectTracker, EffectRoom:
		return true
	}
	return false
}

// EffectStatus is where an Effect is in its delivery.
type EffectStatus string

// Effect statuses. They are stored, so never rename one.
const (
	// EffectPending effects wait for the outbox worker, also across restarts.
	EffectPending EffectStatus = ""
	// EffectDelivered effects reached the platform; Ref says where. They
	// are never sent again.
	EffectDelivered EffectStatus = "delivered"
	// EffectCoalesced effects were skipped because a newer pending effect
	// with the same CoalesceKey says the same thing more recently.
	EffectCoalesced EffectStatus = "coalesced"
	// EffectGaveUp effects failed for good (a refusal such as an unknown
	// channel, or too many attempts); Reason says why.
	EffectGaveUp EffectStatus = "gave_up"
)

// Effect is something Firebreak must say or do outside itself because of a
// change to an incident: a chat post, an edit of an earlier card, a file,
// a page, a tracker issue. An intent records its effects in the same
// storage transaction as the change that causes them, so a crash keeps both
// or neither; the outbox worker (bot/outbox) delivers them afterwards, in
// ID order per channel, and records the delivery here.
//
// The payload is chat-neutral data (EffectMessage), not an encoded
// bot.Message: incidents must not import bot, intents in this package must
// be able to build effects, and a stored record must stay readable after
// bot.Message changes shape. The outbox turns it into a bot.Message.
type Effect struct {
	// ID orders effects; storage assigns it when the effect is recorded,
	// increasing in commit order.
	ID uint64 `json:"id"`
	// Incident is the incident whose change caused the effect (0 for none),
	// so a give-up can be put on its timeline.
	Incident uint64     `json:"incident,omitempty"`
	Kind     EffectKind `json:"kind"`
	// Home is where a chat effect lands: platform, channel, and thread for
	// a reply in a thread.
	Home Home `json:"home"`
	// Notifier names the pager, email route, webhook or tracker of an
	// EffectNotify or EffectTracker effect.
	Notifier string `json:"notifier,omitempty"`
	// Message is what to say.
	Message EffectMessage `json:"message"`
	// Data is what a notify or tracker sender needs beyond Message.Text:
	// for a page, the notification's kind, the incident's title, severity
	// and status, when it happened, and the idempotency key the receiver
	// dedupes on.
	Data map[string]string `json:"data,omitempty"`
	// Key names the message an EffectPost creates ("card/42"), so later
	// updates can find it; the latest delivered effect with a Key wins.
	Key string `json:"key,omitempty"`
	// Target is the Key of the message an EffectUpdate edits.
	Target string `json:"target,omitempty"`
	// On is the message an EffectUpdate edits when the intent knows where
	// it is already (the message whose button was pressed); Target is then
	// empty.
	On EffectRef `json:"on,omitzero"`
	// CoalesceKey groups effects of which only the latest pending one
	// matters (repeated "still firing" notes, successive card updates):
	// older pending effects with the same key are skipped. Empty: never
	// coalesced.
	CoalesceKey string `json:"coalesce_key,omitempty"`
	// CreatedAt is when the intent recorded the effect.
	CreatedAt time.Time `json:"created_at"`

	// The fields below are written by the outbox as it delivers.

	Status EffectStatus `json:"status,omitempty"`
	// Attempts counts delivery attempts made before the effect settled.
	Attempts int `json:"attempts,omitempty"`
	// SettledAt is when the effect was delivered, coalesced or given up.
	SettledAt time.Time `json:"settled_at,omitzero"`
	// Ref is where a delivered chat message landed, for later updates.
	Ref EffectRef `json:"ref,omitzero"`
	// Reason explains a give-up or a coalescing, in words for the timeline.
	Reason string `json:"reason,omitempty"`
}

// EffectResult is how an effect settled, as the outbox records it.
type EffectResult struct {
	// Status is EffectDelivered, EffectCoalesced or EffectGaveUp.
	Status EffectStatus
	// Attempts is how many delivery attempts were made.
	Attempts int
	// At is when the effect settled.
	At time.Time
	// Ref is where a delivered message landed (chat effects).
	Ref EffectRef
	// Reason says why an effect was coalesced or given up.
	Reason string
}

// EffectRef is a delivered message's place on its platform: the same data
// as bot.MessageRef, kept here because incidents does not import bot.
type EffectRef struct {
	Channel string `json:"channel,omitempty"`
	// ID is the Slack ts, Discord message id or console sequence.
	ID     string `json:"id,omitempty"`
	Thread string `json:"thread,omitempty"`
}

// EffectMessage is a chat-neutral message: the data bot.Message carries,
// in Firebreak's portable markup (see package bot).
type EffectMessage struct {
	Text    string         `json:"text,omitempty"`
	Fields  []EffectField  `json:"fields,omitempty"`
	Buttons []EffectButton `json:"buttons,omitempty"`
	// File is the attachment of an EffectUpload.
	File *EffectFile `json:"file,omitempty"`
}

// EffectField is a labelled value shown beside the text.
type EffectField struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// EffectButton is a button; pressing it comes back as an action event with
// the same ID and Value.
type EffectButton struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	// Style is "", "primary" or "danger".
	Style string `json:"style,omitempty"`
	Value string `json:"value,omitempty"`
}

// EffectFile is a file to attach.
type EffectFile struct {
	Name    string `json:"name"`
	Title   string `json:"title,omitempty"`
	Content []byte `json:"content"`
}

// maxEffectKey bounds Key, Target and CoalesceKey: they become storage keys.
const maxEffectKey = 1024

// Validate reports the first thing that makes e undeliverable, so a bad
// effect fails the intent that records it instead of the outbox later.
func (e *Effect) Validate() error {
	if !e.Kind.Valid() {
		return fmt.Errorf("effect kind %q is not one of post, update, upload, notify, tracker, room", e.Kind)
	}
	switch e.Kind {
	case EffectPost, EffectUpdate, EffectUpload, EffectRoom:
		if e.Home.Platform == "" || e.Home.Channel == "" {
			return fmt.Errorf("%s effect of incident #%d has no platform or channel to go to", e.Kind, e.Incident)
		}
	case EffectNotify, EffectTracker:
		if e.Notifier == "" {
			return fmt.Errorf("%s effect of incident #%d names no notifier", e.Kind, e.Incident)
		}
	}
	if e.Kind == EffectUpdate && e.Target == "" && e.On.ID == "" {
		return errors.New("update effect names no Target or On message to edit")
	}
	if e.Kind == EffectRoom && (e.Incident == 0 || e.Data["name"] == "") {
		return fmt.Errorf("room effect of incident #%d names no incident or room", e.Incident)
	}
	if e.Kind == EffectUpload && e.Message.File == nil {
		return errors.New("upload effect carries no file")
	}
	for name, k := range map[string]string{"key": e.Key, "target": e.Target, "coalesce key": e.CoalesceKey} {
		if len(k) > maxEffectKey {
			return fmt.Errorf("effect %s is %d bytes; at most %d", name, len(k), maxEffectKey)
		}
	}
	if e.Status != EffectPending {
		return fmt.Errorf("a new effect must be pending, not %q", e.Status)
	}
	return nil
}

// DecodeEffect reads the stored record of effect id, as every store writes
// it (JSON of the Effect). The error says how the record is damaged; the
// store marks it with its own damaged-record error.
func DecodeEffect(id uint64, v []byte) (Effect, error) {
	var e Effect
	if err := json.Unmarshal(v, &e); err != nil {
		return e, fmt.Errorf("effect %d: %v", id, err)
	}
	if e.ID != id {
		return e, fmt.Errorf("effect %d is stored as %d", id, e.ID)
	}
	return e, nil
}

// Channel is the lane an effect is delivered in: effects with the same
// Channel are delivered one at a time, in ID order, and rate-limited
// together. Chat effects use their platform and channel; notifiers and
// trackers their name.
func (e *Effect) Channel() string {
	switch e.Kind {
	case EffectNotify, EffectTracker:
		return string(e.Kind) + "/" + e.Notifier
	}
	return e.Home.Platform + "/" + e.Home.Channel
}
