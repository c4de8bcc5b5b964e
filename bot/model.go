package bot

import (
	"context"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// EventKind says what happened in chat.
type EventKind int

// Event kinds.
const (
	// KindMessage is a message posted in a channel (alert channels are read for alerts).
	KindMessage EventKind = iota + 1
	// KindCommand is "/incident …"; Text holds what follows "/incident".
	KindCommand
	// KindAction is a button press; ActionID and Value say which.
	KindAction
	// KindReaction is an emoji reaction added to a message; Emoji names it
	// and Target is the message reacted to.
	KindReaction
)

// Event is one thing that happened in chat, already translated from the
// platform's shape.
type Event struct {
	// ID is unique per platform event (Slack event_id / envelope id /
	// trigger id, Discord message or interaction id), namespaced by the
	// adapter with its platform name ("slack:msg:C1:1700.1",
	// "discord:int:42", "console:3") so platforms never collide. The
	// Router passes it as is to incidents.Service, which refuses to apply
	// the same id twice, so redeliveries and double-clicks are harmless.
	// Empty: no deduplication.
	ID       string
	Platform string
	Kind     EventKind
	Channel  string
	// ChannelName is the human name ("alerts") when the platform knows it,
	// so playbooks.yaml may list channels by name or by id.
	ChannelName string
	Thread      string
	User        incidents.Actor
	// FromBot is set for messages posted by apps, bots and webhooks
	// (Alertmanager, Grafana…). They are still read as alerts.
	FromBot bool
	// Text is the message text (with attachment/embed text appended by the
	// adapter) or the command arguments.
	Text string
	// ActionID and Value identify the pressed button (see Action).
	ActionID string
	Value    string
	// Target is the message a button sat on or a reaction was added to.
	Target MessageRef
	// Emoji is the reaction name without colons ("pushpin").
	Emoji string
	// Permalink links to Target when the platform has one.
	Permalink string
	// TargetAuthor and TargetText describe the reacted-to message.
	TargetAuthor incidents.Actor
	TargetText   string
}

// The chat-neutral message types live in package cards, which intake and
// automation share with the Router; these names keep adapters reading
// bot.Message.
type (
	// ActionStyle hints how a button is drawn.
	ActionStyle = cards.ActionStyle
	// Action is a button (see cards.Action).
	Action = cards.Action
	// Field is a labelled value shown beside the text.
	Field = cards.Field
	// File is an attachment, such as the exported postmortem.
	File = cards.File
	// Message is what Firebreak says (see cards.Message).
	Message = cards.Message
)

// Button styles.
const (
	StyleDefault = cards.StyleDefault
	StylePrimary = cards.StylePrimary
	StyleDanger  = cards.StyleDanger
)

// Button action ids (see cards).
const (
	ActionStepDone   = cards.ActionStepDone
	ActionStepSkip   = cards.ActionStepSkip
	ActionAck        = cards.ActionAck
	ActionMitigate   = cards.ActionMitigate
	ActionResolve    = cards.ActionResolve
	ActionRunStep    = cards.ActionRunStep
	ActionPostUpdate = cards.ActionPostUpdate
)

// MessageRef identifies a posted message so it can be updated later.
type MessageRef struct {
	Channel string
	ID      string // Slack ts, Discord message id, console sequence
	Thread  string
}

// Chat is how Firebreak speaks on one platform. Adapters implement it; only
// the outbox worker calls Post, Update and Upload (TestOnlyTheOutboxPosts),
// for effects recorded by intents. Implementations return an error when the
// message could not be delivered, in a form bot.Classify reads
// (Retry-After, HTTP status, final or not).
type Chat interface {
	// Post sends m to channel and returns where it landed.
	Post(ctx context.Context, channel string, m Message) (MessageRef, error)
	// Update replaces a posted message (to remove stale buttons).
	Update(ctx context.Context, ref MessageRef, m Message) error
	// Upload attaches a file to channel (thread optional) with a comment.
	Upload(ctx context.Context, channel, thread string, f File, comment string) error
}

// ChannelCreator is implemented by adapters that can open a dedicated
// channel (Slack) or thread (Discord) per incident. from is the alert
// message to start a thread from, when the platform does threads.
type ChannelCreator interface {
	CreateIncidentChannel(ctx context.Context, name string, from MessageRef, invite []string) (incidents.Home, error)
}

// RoomInviter is implemented by adapters that can add people to an
// incident's channel or thread after it was created, so whoever
// acknowledges or takes a role from the alert thread joins the room.
type RoomInviter interface {
	InviteToIncidentChannel(ctx context.Context, home incidents.Home, users []string) error
}

// Replier answers the event being handled, in its own context: the same
// channel and thread, or the interaction's response for slash commands and
// buttons. Ephemeral messages are shown to the event's user only.
type Replier interface {
	Reply(ctx context.Context, m Message) (MessageRef, error)
}

// PressedUpdater is implemented by Repliers that can redraw the message
// whose button was pressed even when it was shown to one user only (Slack's
// response_url with replace_original, Discord's interaction response),
// where Chat.Update cannot reach it. ref is the pressed message.
type PressedUpdater interface {
	UpdatePressed(ctx context.Context, ref MessageRef, m Message) error
}

// Handler takes events from an adapter. The Router implements it.
// Adapters call Handle after acknowledging the platform (within its
// 3-second window), one goroutine per event; Handle is safe for concurrent use.
type Handler interface {
	Handle(ctx context.Context, ev Event, reply Replier) error
}
