package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
)

var (
	_ Sender = (*ChatSender)(nil)
	_ Sender = Senders(nil)
)

// RefLookup finds where an earlier post landed; Store has it.
type RefLookup interface {
	Ref(ctx context.Context, key string) (ref incidents.EffectRef, ok bool, err error)
}

// ChatSender delivers chat effects (post, update, upload) through the
// bot.Chat of the effect's platform. It is the one caller of bot.Chat's
// posting methods outside the adapters (see TestOnlyTheOutboxPosts).
type ChatSender struct {
	// Chats maps a platform ("slack", "discord", "console") to its adapter.
	Chats map[string]bot.Chat
	// Refs finds the message an update edits.
	Refs RefLookup
}

// errNoTarget is returned when an update's message was never posted.
var errNoTarget = errors.New("the message to update was never posted")

// Send implements Sender.
func (s *ChatSender) Send(ctx context.Context, e incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	chat, ok := s.Chats[e.Home.Platform]
	if !ok {
		return incidents.EffectRef{}, false, 0, fmt.Errorf("no chat platform %q is connected", e.Home.Platform)
	}
	m := Message(e)
	switch e.Kind {
	case incidents.EffectPost:
		ref, err := chat.Post(ctx, e.Home.Channel, m)
		if err != nil {
			retry, after := Classify(err)
			return incidents.EffectRef{}, retry, after, fmt.Errorf("post to %s %s: %w", e.Home.Platform, e.Home.Channel, err)
		}
		return incidents.EffectRef{Channel: ref.Channel, ID: ref.ID, Thread: ref.Thread}, false, 0, nil
	case incidents.EffectUpdate:
		target, ok := e.On, e.On.ID != ""
		if !ok {
			var err error
			target, ok, err = s.Refs.Ref(ctx, e.Target)
			if err != nil {
				return incidents.EffectRef{}, true, 0, fmt.Errorf("find message %q to update: %w", e.Target, err)
			}
		}
		if !ok {
			return incidents.EffectRef{}, false, 0, fmt.Errorf("update %q: %w", e.Target, errNoTarget)
		}
		if err := chat.Update(ctx, bot.MessageRef{Channel: target.Channel, ID: target.ID, Thread: target.Thread}, m); err != nil {
			retry, after := Classify(err)
			return incidents.EffectRef{}, retry, after, fmt.Errorf("update message %q in %s %s: %w", e.Target, e.Home.Platform, target.Channel, err)
		}
		return target, false, 0, nil
	case incidents.EffectUpload:
		f := e.Message.File
		if f == nil {
			return incidents.EffectRef{}, false, 0, errors.New("upload effect carries no file")
		}
		err := chat.Upload(ctx, e.Home.Channel, e.Home.Thread, bot.File{Name: f.Name, Title: f.Title, Content: f.Content}, e.Message.Text)
		if err != nil {
			retry, after := Classify(err)
			return incidents.EffectRef{}, retry, after, fmt.Errorf("upload %s to %s %s: %w", f.Name, e.Home.Platform, e.Home.Channel, err)
		}
		return incidents.EffectRef{}, false, 0, nil
	}
	return incidents.EffectRef{}, false, 0, fmt.Errorf("chat cannot deliver a %q effect", e.Kind)
}

// Message turns an effect's chat-neutral payload into the bot.Message an
// adapter renders.
func Message(e incidents.Effect) bot.Message { return bot.MessageOf(e) }

// Senders routes an effect to the sender of its kind: chat kinds to one
// ChatSender, notifications and trackers to the sender named by the
// effect's Notifier ("notify/pager", "tracker/github"), the opening of
// incident rooms to "room".
type Senders map[string]Sender

// Send implements Sender. An effect nobody can deliver is refused for
// good: retrying will not configure the missing notifier.
func (s Senders) Send(ctx context.Context, e incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	name := string(e.Kind)
	switch e.Kind {
	case incidents.EffectNotify, incidents.EffectTracker:
		name += "/" + e.Notifier
	case incidents.EffectRoom: // "room": bot.RoomSender
	default:
		name = "chat"
	}
	sender, ok := s[name]
	if !ok {
		return incidents.EffectRef{}, false, 0, fmt.Errorf("no sender for %s effects is configured", name)
	}
	return sender.Send(ctx, e)
}

// Classify says whether a failed chat call is worth retrying and after how
// long (see bot.Classify, which defines what adapters' errors answer).
func Classify(err error) (retry bool, after time.Duration) { return bot.Classify(err) }
