package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
	"github.com/slack-go/slack"
)

// Post sends m to channel with chat.postMessage and returns its ts.
func (a *Adapter) Post(ctx context.Context, channel string, m bot.Message) (bot.MessageRef, error) {
	opts := msgOptions(m)
	if m.Thread != "" {
		opts = append(opts, slack.MsgOptionTS(m.Thread))
	}
	ch, ts, err := a.out.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return bot.MessageRef{}, fmt.Errorf("slack: chat.postMessage to %s: %w", channel, classified(err))
	}
	return bot.MessageRef{Channel: ch, ID: ts, Thread: m.Thread}, nil
}

// Update replaces a posted message with chat.update; buttons left out of
// m disappear, so nobody presses a stale one.
func (a *Adapter) Update(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	opts := msgOptions(m)
	if len(m.Actions) == 0 && m.Text == "" && len(m.Fields) == 0 {
		opts = append(opts, slack.MsgOptionBlocks())
	}
	if _, _, _, err := a.out.UpdateMessageContext(ctx, ref.Channel, ref.ID, opts...); err != nil {
		return fmt.Errorf("slack: chat.update %s in %s: %w", ref.ID, ref.Channel, classified(err))
	}
	return nil
}

// Upload attaches f to channel (in thread when set) with Slack's two-step
// upload: files.getUploadURLExternal, the upload, then
// files.completeUploadExternal.
func (a *Adapter) Upload(ctx context.Context, channel, thread string, f bot.File, comment string) error {
	title := f.Title
	if title == "" {
		title = f.Name
	}
	_, err := a.out.UploadFileContext(ctx, slack.UploadFileParameters{
		Reader:          bytes.NewReader(f.Content),
		FileSize:        len(f.Content),
		Filename:        f.Name,
		Title:           title,
		InitialComment:  mrkdwn(comment),
		Channel:         channel,
		ThreadTimestamp: thread,
	})
	if err != nil {
		return fmt.Errorf("slack: upload %s to %s: %w", f.Name, channel, classified(err))
	}
	return nil
}

// CreateIncidentChannel opens a public channel for an incident, invites the
// responders, and links it from the alert thread (pinning the link in the
// new channel), so people find their way from the alert to the work.
//
// It may be called again for the same incident (the outbox redelivers a
// room whose opening a crash interrupted): when conversations.create
// answers name_taken, the public channel of that name that Firebreak is
// in is the incident's, its people are invited again (harmless) and the
// links are not posted again. A taken name Firebreak cannot use (an
// archived or private channel, one it is not in) is a final error.
func (a *Adapter) CreateIncidentChannel(ctx context.Context, name string, from bot.MessageRef, invite []string) (incidents.Home, error) {
	name = channelSlug(name)
	ch, err := a.api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name})
	reused := false
	if serr, ok := errors.AsType[slack.SlackErrorResponse](err); ok && serr.Err == "name_taken" {
		ch, err = a.channelNamed(ctx, name)
		reused = true
	}
	if err != nil {
		return incidents.Home{}, fmt.Errorf("slack: conversations.create %q: %w", name, classified(err))
	}
	home := incidents.Home{Platform: Platform, Channel: ch.ID}
	a.channels.put(ch.ID, ch.Name)

	if err := a.InviteToIncidentChannel(ctx, home, invite); err != nil {
		// The channel exists and works without them; say so and go on.
		a.log.Warn("slack: inviting responders failed", "channel", ch.ID, "users", invite, "err", err)
	}
	if reused || from.Channel == "" || from.ID == "" {
		return home, nil
	}
	link := ""
	if pl, err := a.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: from.Channel, Ts: from.ID}); err == nil {
		link = pl
	}
	text := fmt.Sprintf("Incident channel for the alert: %s", orText(link, "<#"+from.Channel+">"))
	_, ts, err := a.api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(text, false))
	if err != nil {
		return home, fmt.Errorf("slack: link new channel %s to the alert: %w", ch.ID, err)
	}
	if err := a.api.AddPinContext(ctx, ch.ID, slack.NewRefToMessage(ch.ID, ts)); err != nil {
		a.log.Warn("slack: pins.add failed", "channel", ch.ID, "err", err)
	}
	thread := from.Thread
	if thread == "" {
		thread = from.ID
	}
	if _, _, err := a.api.PostMessageContext(ctx, from.Channel, slack.MsgOptionTS(thread),
		slack.MsgOptionText("Work on this incident continues in <#"+ch.ID+">.", false)); err != nil {
		a.log.Warn("slack: linking the incident channel from the alert thread failed", "channel", from.Channel, "err", err)
	}
	return home, nil
}

// maxChannelPages bounds the conversations.list pages read to find a
// channel by name: 200 pages of 1,000 channels.
const maxChannelPages = 200

// channelNamed finds the public channel called name that Firebreak is a
// member of (conversations.list); a channel of that name it cannot use is
// a bot.FinalError.
func (a *Adapter) channelNamed(ctx context.Context, name string) (*slack.Channel, error) {
	params := &slack.GetConversationsParameters{ExcludeArchived: true, Limit: 1000, Types: []string{"public_channel"}}
	for range maxChannelPages {
		chs, next, err := a.api.GetConversationsContext(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("the name is taken; looking for its channel: conversations.list: %w", err)
		}
		for i := range chs {
			if chs[i].Name != name {
				continue
			}
			if !chs[i].IsMember {
				return nil, &bot.FinalError{Err: fmt.Errorf("the name is taken by channel %s, which Firebreak is not in", chs[i].ID)}
			}
			return &chs[i], nil
		}
		if next == "" {
			break
		}
		params.Cursor = next
	}
	return nil, &bot.FinalError{Err: errors.New("the name is taken by an archived or private channel")}
}

// InviteToIncidentChannel adds people (Slack user ids) to an incident's
// channel, for those who join the response after it opened.
func (a *Adapter) InviteToIncidentChannel(ctx context.Context, home incidents.Home, invite []string) error {
	var users []string
	for _, u := range invite {
		if u != "" && !a.own(u, "") {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return nil
	}
	if _, err := a.api.InviteUsersToConversationContext(ctx, home.Channel, users...); err != nil {
		var serr slack.SlackErrorResponse
		if errors.As(err, &serr) && serr.Err == "already_in_channel" {
			return nil
		}
		return fmt.Errorf("slack: conversations.invite to %s: %w", home.Channel, err)
	}
	return nil
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// channelSlug makes name acceptable to conversations.create: lower case,
// letters, digits, '-' and '_', at most 80 characters.
func channelSlug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 80 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 80 {
		s = strings.TrimRight(s[:80], "-")
	}
	if s == "" {
		s = "incident"
	}
	return s
}

// replier answers one event: in its channel and thread, or privately to
// its user for ephemeral replies.
type replier struct {
	a           *Adapter
	channel     string
	thread      string
	user        string
	responseURL string
}

// Reply implements bot.Replier.
func (r replier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	if m.Thread == "" {
		m.Thread = r.thread
	}
	if !m.Ephemeral || r.user == "" {
		return r.a.Post(ctx, r.channel, m)
	}
	opts := msgOptions(m)
	if m.Thread != "" {
		opts = append(opts, slack.MsgOptionTS(m.Thread))
	}
	_, err := r.a.api.PostEphemeralContext(ctx, r.channel, r.user, opts...)
	if err == nil {
		return bot.MessageRef{}, nil
	}
	if r.responseURL == "" {
		return bot.MessageRef{}, fmt.Errorf("slack: chat.postEphemeral to %s in %s: %w", r.user, r.channel, err)
	}
	// chat.postEphemeral fails where Firebreak is not a member (DMs,
	// private channels); the response URL always reaches the user.
	if rerr := r.a.respond(ctx, r.responseURL, m); rerr != nil {
		return bot.MessageRef{}, fmt.Errorf("slack: ephemeral reply to %s: %w", r.user, rerr)
	}
	return bot.MessageRef{}, nil
}

var _ bot.PressedUpdater = replier{}

// UpdatePressed implements bot.PressedUpdater: a message shown to one
// user only cannot be changed with chat.update, so the pressed message is
// replaced through the button's response_url (replace_original).
func (r replier) UpdatePressed(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	if r.responseURL == "" {
		return r.a.Update(ctx, ref, m)
	}
	if err := r.a.post(ctx, r.responseURL, map[string]any{
		"replace_original": true, "text": fallbackText(m), "blocks": blocks(m),
	}); err != nil {
		return fmt.Errorf("slack: replace the pressed message %s: %w", ref.ID, err)
	}
	return nil
}

// respond posts an ephemeral message to a slash command's or button's
// response_url.
func (a *Adapter) respond(ctx context.Context, url string, m bot.Message) error {
	return a.post(ctx, url, map[string]any{
		"response_type": "ephemeral", "replace_original": false,
		"text": fallbackText(m), "blocks": blocks(m),
	})
}

// post sends one JSON body to a response_url.
func (a *Adapter) post(ctx context.Context, url string, payload map[string]any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("response_url request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("post to response_url: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("post to response_url: HTTP %d", res.StatusCode)
	}
	return nil
}
