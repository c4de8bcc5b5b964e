package trackers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
)

// Name is the tracker's name in the effects that file follow-ups
// (Options.Name, "tracker" when unset): the Router records
// incidents.FileFollowUp effects with it, and the outbox routes them to
// the sender registered as "tracker/<Name>", this Worker.
func (w *Worker) Name() string {
	if w.opts.Name == "" {
		return "tracker"
	}
	return w.opts.Name
}

// Send delivers a tracker effect (incidents.FileFollowUp) for the outbox:
// it files the follow-up the effect names — unless its issue is already
// recorded — searching the tracker for the item's marker before creating,
// and records the issue on the timeline together with a "Filed as <key>
// <url>" post where the follow-up was added (the effect's Home). So a
// worker that crashed after the tracker's 201, or after recording the link
// but before settling the effect, files nothing twice and says the link
// once.
//
// A refusal of the tracker (ErrPermanent: bad credentials, no access, a
// refused field) is final; other failures are retried by the outbox, after
// the tracker's Retry-After when it sent one. The tracker client retries
// within each attempt too (HTTP), inside the outbox's attempt timeout.
func (w *Worker) Send(ctx context.Context, e incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	seq, ok := e.FollowUp()
	if !ok {
		return incidents.EffectRef{}, false, 0, fmt.Errorf("tracker effect %d of incident #%d names no follow-up to file", e.ID, e.Incident)
	}
	err := w.fileOne(ctx, e.Incident, seq, e.Home)
	if err == nil {
		return incidents.EffectRef{}, false, 0, nil
	}
	if errors.Is(err, ErrPermanent) || errors.Is(err, incidents.ErrNotFound) {
		return incidents.EffectRef{}, false, 0, err
	}
	var ra *backoff.RetryAfterError
	if errors.As(err, &ra) {
		return incidents.EffectRef{}, true, ra.Duration, err
	}
	return incidents.EffectRef{}, true, 0, err
}

// errNoSuchFollowUp: the effect names a follow-up the timeline does not
// hold (it cannot happen for effects the follow-up intent recorded).
var errNoSuchFollowUp = fmt.Errorf("no such follow-up: %w", incidents.ErrNotFound)

// fileOne files follow-up seq of incident n when no issue is recorded for
// it; the link is said in home when home names a channel.
func (w *Worker) fileOne(ctx context.Context, n, seq uint64, home incidents.Home) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	inc, err := w.svc.Get(ctx, n)
	if err != nil {
		return err
	}
	items, err := w.svc.ActionItems(ctx, n)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Seq != seq {
			continue
		}
		if it.Filed() {
			return nil // filed by a postmortem refresh, or before a crash
		}
		if err := w.file(ctx, inc, it, filedAs(n, home)); err != nil {
			return fmt.Errorf("follow-up %d of incident #%d: %w", seq, n, err)
		}
		return nil
	}
	return fmt.Errorf("follow-up %d of incident #%d: %w", seq, n, errNoSuchFollowUp)
}

// filedAs builds the "Filed as <key> <url>" post in home, recorded with
// the link; none when home names no channel.
func filedAs(n uint64, home incidents.Home) func(Filed) incidents.EffectsFunc {
	if home.Platform == "" || home.Channel == "" {
		return nil
	}
	return func(f Filed) incidents.EffectsFunc {
		text := "Filed as " + f.URL
		if f.Key != "" {
			text = "Filed as " + f.Key + " " + f.URL
		}
		return func([]incidents.Outcome) ([]incidents.Effect, error) {
			return []incidents.Effect{{Kind: incidents.EffectPost, Incident: n, Home: home, Message: incidents.EffectMessage{Text: text}}}, nil
		}
	}
}

// GaveUp says, where the follow-up was added, that the outbox gave up
// filing it (the tracker refused, or stayed unreachable through every
// retry), with the reason: the item is kept and the next `/incident
// postmortem` files it. It is the outbox's GaveUp hook for tracker
// effects (serve calls it after putting the give-up on the timeline);
// other effects are left alone.
func (w *Worker) GaveUp(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error {
	if _, ok := e.FollowUp(); !ok || e.Home.Platform == "" || e.Home.Channel == "" {
		return nil
	}
	text := "⚠️ Filing it in the tracker failed (it is kept and filed with the next `/incident #" +
		strconv.FormatUint(e.Incident, 10) + " postmortem`): " + bot.Escape(r.Reason)
	return w.svc.Say(ctx, incidents.Effect{Kind: incidents.EffectPost, Incident: e.Incident, Home: e.Home, Message: incidents.EffectMessage{Text: text}})
}
