package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
	"github.com/slack-go/slack"
)

// authWait bounds how long an event waits for auth.test.
const authWait = 10 * time.Second

// callback is the outer Events API envelope (event_callback).
type callback struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	EventID   string          `json:"event_id"`
	Event     json.RawMessage `json:"event"`
}

type innerHead struct {
	Type string `json:"type"`
}

type reactionAdded struct {
	User     string `json:"user"`
	Reaction string `json:"reaction"`
	Item     struct {
		Type    string `json:"type"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	} `json:"item"`
	EventTS string `json:"event_ts"`
}

// readSubtypes are the message subtypes that carry something people or
// apps said; joins, edits and deletions are not alerts.
var readSubtypes = map[string]bool{"": true, "bot_message": true, "thread_broadcast": true, "file_share": true}

// handleCallback translates one Events API delivery and hands it on. It
// runs after Slack has been acknowledged.
func (a *Adapter) handleCallback(ctx context.Context, raw []byte) error {
	var cb callback
	if err := json.Unmarshal(raw, &cb); err != nil {
		return fmt.Errorf("slack: decode event callback: %w", err)
	}
	if cb.Type != "event_callback" || len(cb.Event) == 0 {
		return nil
	}
	// Firebreak's own messages are recognised by the identity auth.test
	// reported; wait for it briefly when an event beats Run's first call.
	select {
	case <-a.authed:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(authWait):
	}
	var head innerHead
	if err := json.Unmarshal(cb.Event, &head); err != nil {
		return fmt.Errorf("slack: decode event %s: %w", cb.EventID, err)
	}
	switch head.Type {
	case "message", "app_mention":
		var m inboundMessage
		if err := json.Unmarshal(cb.Event, &m); err != nil {
			return fmt.Errorf("slack: decode message event %s: %w", cb.EventID, err)
		}
		ev, ok := a.messageEvent(ctx, m)
		if ok {
			a.dispatch(ev, replier{a: a, channel: ev.Channel, thread: ev.Thread})
		}
	case "reaction_added":
		var r reactionAdded
		if err := json.Unmarshal(cb.Event, &r); err != nil {
			return fmt.Errorf("slack: decode reaction event %s: %w", cb.EventID, err)
		}
		ev, ok, err := a.reactionEvent(ctx, cb.EventID, r)
		if err != nil {
			return err
		}
		if ok {
			a.dispatch(ev, replier{a: a, channel: ev.Channel, thread: ev.Target.Thread, user: r.User})
		}
	}
	return nil
}

// messageEvent translates a message (or app_mention) into a KindMessage
// event; ok is false for Firebreak's own messages and for edits, joins and
// other housekeeping.
func (a *Adapter) messageEvent(ctx context.Context, m inboundMessage) (bot.Event, bool) {
	if !readSubtypes[m.SubType] || m.TS == "" || m.Channel == "" {
		return bot.Event{}, false
	}
	if a.own(m.User, m.BotID) {
		return bot.Event{}, false
	}
	fromBot := m.BotID != "" || m.SubType == "bot_message"
	var user incidents.Actor
	switch {
	case m.User != "" && !fromBot:
		user = a.actor(ctx, m.User)
	default:
		name := m.Username
		if name == "" && m.BotProfile != nil {
			name = m.BotProfile.Name
		}
		id := orText(m.BotID, m.User)
		user = incidents.Actor{Platform: Platform, ID: id, Name: orText(name, id)}
	}
	thread := m.ThreadTS
	if thread == "" {
		thread = m.TS
	}
	return bot.Event{
		// message and app_mention deliveries of one message share this
		// id, so a mention in an alert channel is not read twice.
		ID:          "slack:msg:" + m.Channel + ":" + m.TS,
		Platform:    Platform,
		Kind:        bot.KindMessage,
		Channel:     m.Channel,
		ChannelName: a.channelName(ctx, m.Channel),
		Thread:      thread,
		User:        user,
		FromBot:     fromBot,
		Text:        alertText(m),
		Target:      bot.MessageRef{Channel: m.Channel, ID: m.TS, Thread: m.ThreadTS},
	}, true
}

// reactionEvent turns the pin reaction into a KindReaction event carrying
// the message reacted to, its author and permalink.
func (a *Adapter) reactionEvent(ctx context.Context, eventID string, r reactionAdded) (bot.Event, bool, error) {
	if r.Reaction != a.pin || r.Item.Type != "message" || r.Item.Channel == "" || r.Item.TS == "" {
		return bot.Event{}, false, nil
	}
	msg, err := a.fetchMessage(ctx, r.Item.Channel, r.Item.TS)
	if err != nil {
		return bot.Event{}, false, err
	}
	var author incidents.Actor
	if msg.User != "" && msg.BotID == "" {
		author = a.actor(ctx, msg.User)
	} else {
		author = incidents.Actor{Platform: Platform, ID: orText(msg.BotID, msg.User), Name: orText(msg.Username, orText(msg.BotID, msg.User))}
	}
	link, err := a.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: r.Item.Channel, Ts: r.Item.TS})
	if err != nil {
		a.log.Warn("slack: chat.getPermalink failed", "channel", r.Item.Channel, "ts", r.Item.TS, "err", err)
		link = ""
	}
	// A top-level message is the root of its own (maybe empty) thread: a
	// pin on an alert message follows the incident homed there.
	return bot.Event{
		ID:           "slack:" + orText(eventID, "react:"+r.Item.Channel+":"+r.Item.TS+":"+r.User),
		Platform:     Platform,
		Kind:         bot.KindReaction,
		Channel:      r.Item.Channel,
		ChannelName:  a.channelName(ctx, r.Item.Channel),
		Thread:       orText(msg.ThreadTS, r.Item.TS),
		User:         a.actor(ctx, r.User),
		Emoji:        r.Reaction,
		Target:       bot.MessageRef{Channel: r.Item.Channel, ID: r.Item.TS, Thread: msg.ThreadTS},
		Permalink:    link,
		TargetAuthor: author,
		TargetText:   alertText(msg),
	}, true, nil
}

// fetchMessage reads one message: conversations.history finds top-level
// messages, conversations.replies those inside a thread.
func (a *Adapter) fetchMessage(ctx context.Context, channel, ts string) (inboundMessage, error) {
	h, err := a.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
		ChannelID: channel, Latest: ts, Inclusive: true, Limit: 1,
	})
	if err != nil {
		return inboundMessage{}, fmt.Errorf("slack: conversations.history for the reacted message %s in %s: %w", ts, channel, err)
	}
	for _, m := range h.Messages {
		if m.Timestamp == ts {
			return fromMsg(m.Msg), nil
		}
	}
	msgs, _, _, err := a.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
		ChannelID: channel, Timestamp: ts, Latest: ts, Inclusive: true, Limit: 1,
	})
	if err != nil {
		return inboundMessage{}, fmt.Errorf("slack: conversations.replies for the reacted message %s in %s: %w", ts, channel, err)
	}
	for _, m := range msgs {
		if m.Timestamp == ts {
			return fromMsg(m.Msg), nil
		}
	}
	return inboundMessage{}, fmt.Errorf("slack: reacted message %s in %s not found", ts, channel)
}

// fromMsg re-reads a slack-go message through inboundMessage, so history
// entries and live events are turned into text the same way.
func fromMsg(m slack.Msg) inboundMessage {
	raw, err := json.Marshal(m)
	if err != nil {
		return inboundMessage{Text: m.Text, User: m.User, TS: m.Timestamp, ThreadTS: m.ThreadTimestamp}
	}
	var out inboundMessage
	if json.Unmarshal(raw, &out) != nil {
		return inboundMessage{Text: m.Text, User: m.User, TS: m.Timestamp, ThreadTS: m.ThreadTimestamp}
	}
	return out
}

// commandEvent translates "/incident …".
func (a *Adapter) commandEvent(ctx context.Context, c slack.SlashCommand) (bot.Event, bot.Replier) {
	ev := bot.Event{
		ID:          "slack:cmd:" + c.TriggerID,
		Platform:    Platform,
		Kind:        bot.KindCommand,
		Channel:     c.ChannelID,
		ChannelName: orText(c.ChannelName, a.channelName(ctx, c.ChannelID)),
		User:        a.actor(ctx, c.UserID),
		Text:        strings.TrimSpace(c.Text),
	}
	if c.TriggerID == "" {
		ev.ID = ""
	}
	return ev, replier{a: a, channel: c.ChannelID, user: c.UserID, responseURL: c.ResponseURL}
}

// actionEvents translates a block_actions payload: one event per button.
func (a *Adapter) actionEvents(ctx context.Context, cb slack.InteractionCallback) ([]bot.Event, bot.Replier) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return nil, nil
	}
	channel := orText(cb.Container.ChannelID, cb.Channel.ID)
	msgTS := orText(cb.Container.MessageTs, cb.Message.Timestamp)
	thread := orText(cb.Container.ThreadTs, cb.Message.ThreadTimestamp)
	user := a.actor(ctx, cb.User.ID)
	name := orText(cb.Channel.Name, a.channelName(ctx, channel))
	var evs []bot.Event
	for _, act := range cb.ActionCallback.BlockActions {
		if act == nil || act.ActionID == "" {
			continue
		}
		id := "slack:act:" + cb.TriggerID + ":" + act.ActionTs
		if cb.TriggerID == "" && act.ActionTs == "" {
			id = ""
		}
		evs = append(evs, bot.Event{
			ID:          id,
			Platform:    Platform,
			Kind:        bot.KindAction,
			Channel:     channel,
			ChannelName: name,
			Thread:      thread,
			User:        user,
			ActionID:    act.ActionID,
			Value:       act.Value,
			Target:      bot.MessageRef{Channel: channel, ID: msgTS, Thread: thread},
		})
	}
	return evs, replier{a: a, channel: channel, thread: thread, user: cb.User.ID, responseURL: cb.ResponseURL}
}
