package slack

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// runSocket holds the Socket Mode connection and acks every envelope
// before the work starts, so Slack's 3-second window is always met.
func (a *Adapter) runSocket(ctx context.Context) error {
	sm := socketmode.New(a.api)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			err := <-errc
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("slack: socket mode: %w", err)
			}
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack: socket mode stopped: %w", err)
		case evt := <-sm.Events:
			a.socketEvent(ctx, sm, evt)
		}
	}
}

func (a *Adapter) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.log.Info("slack: socket mode connected")
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
		a.log.Warn("slack: socket mode trouble; the client reconnects", "type", evt.Type, "data", fmt.Sprint(evt.Data))
		return
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
	default:
		return
	}
	req := evt.Request
	if req == nil {
		return
	}
	if err := sm.AckCtx(ctx, req.EnvelopeID, nil); err != nil {
		a.log.Warn("slack: ack failed", "envelope", req.EnvelopeID, "err", err)
	}
	if !a.seen.first("env:" + req.EnvelopeID) {
		return
	}
	payload := append([]byte(nil), req.Payload...)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.handlePayload(ctx, string(evt.Type), payload); err != nil {
			a.log.Warn("slack: could not handle envelope", "envelope", req.EnvelopeID, "type", evt.Type, "err", err)
		}
	}()
}

// handlePayload translates a Socket Mode envelope payload, which has the
// same shape as the body of the matching HTTP-mode request.
func (a *Adapter) handlePayload(ctx context.Context, typ string, payload []byte) error {
	switch typ {
	case string(socketmode.EventTypeEventsAPI):
		var cb callback
		if err := json.Unmarshal(payload, &cb); err != nil {
			return fmt.Errorf("slack: decode events_api payload: %w", err)
		}
		if !a.seen.first("ev:" + cb.EventID) {
			return nil
		}
		return a.handleCallback(ctx, payload)
	case string(socketmode.EventTypeSlashCommand):
		var c slack.SlashCommand
		if err := json.Unmarshal(payload, &c); err != nil {
			return fmt.Errorf("slack: decode slash command: %w", err)
		}
		a.command(ctx, c)
	case string(socketmode.EventTypeInteractive):
		var cb slack.InteractionCallback
		if err := json.Unmarshal(payload, &cb); err != nil {
			return fmt.Errorf("slack: decode interaction: %w", err)
		}
		a.interaction(ctx, cb)
	}
	return nil
}

func (a *Adapter) command(ctx context.Context, c slack.SlashCommand) {
	if c.TriggerID != "" && !a.seen.first("cmd:"+c.TriggerID) {
		return
	}
	ev, r := a.commandEvent(ctx, c)
	a.dispatch(ev, r)
}

func (a *Adapter) interaction(ctx context.Context, cb slack.InteractionCallback) {
	evs, r := a.actionEvents(ctx, cb)
	for _, ev := range evs {
		if ev.ID != "" && !a.seen.first(ev.ID) {
			continue
		}
		a.dispatch(ev, r)
	}
}
