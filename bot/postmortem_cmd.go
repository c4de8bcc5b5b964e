package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// parseFollowUp reads "[type:<kind>] <text> [@owner]". The type may also
// come last (before the owner); the owner is the last word when it is a
// mention (@name, <@U123>). Action items are one line: spacing collapses.
func (c *Command) parseFollowUp(rest string) error {
	words := strings.Fields(rest)
	takeType := func(i int) {
		if i < 0 || i >= len(words) {
			return
		}
		if v, ok := strings.CutPrefix(strings.ToLower(words[i]), "type:"); ok {
			c.Type = v
			words = append(words[:i], words[i+1:]...)
		}
	}
	takeType(0)
	if n := len(words); n > 1 && (strings.HasPrefix(words[n-1], "@") || strings.HasPrefix(words[n-1], "<@")) {
		c.User = words[n-1]
		words = words[:n-1]
	}
	if c.Type == "" {
		takeType(len(words) - 1)
	}
	if c.Type != "" && !validType(c.Type) {
		return usageErr("followup", fmt.Sprintf("has an unknown type %q (want one of %s)", truncate(c.Type, 40), strings.Join(incidents.ActionTypes, ", ")))
	}
	c.Args = strings.Join(words, " ")
	if c.Args == "" {
		return usageErr("followup", "needs some text")
	}
	return nil
}

func validType(t string) bool { return slices.Contains(incidents.ActionTypes, t) }

// parsePostmortem reads the optional status after "postmortem".
func (c *Command) parsePostmortem(rest string) error {
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return nil
	}
	st, err := incidents.ParsePostmortemStatus(rest)
	if err != nil {
		return usageErr("postmortem", fmt.Sprintf("takes review or final, not %q", truncate(rest, 40)))
	}
	switch st {
	case incidents.PostmortemInReview:
		c.Sub = "review"
	case incidents.PostmortemFinal:
		c.Sub = "final"
	default:
		c.Sub = "draft"
	}
	return nil
}

// ActionItemFiler files an incident's follow-ups in the team's tracker
// (bot/trackers implements it). Filing is idempotent: an item already
// filed, even by a process that crashed before recording it, is never filed
// twice.
type ActionItemFiler interface {
	// Name is the tracker's name in the effects that file follow-ups: the
	// follow-up intent records incidents.FileFollowUp(…, Name(), …) and
	// the outbox delivers it through the sender of "tracker/<Name>".
	Name() string
	// Refresh has the outbox file the follow-ups of incident n that have
	// no tracker issue recorded yet (and waits for their links until ctx
	// ends), then records status changes of the issues already filed, so
	// the postmortem shows them as they are.
	Refresh(ctx context.Context, n uint64) error
}

// postmortemRefreshTimeout bounds filing and status reads before the
// postmortem is written: a slow tracker delays the document, never blocks it.
const postmortemRefreshTimeout = time.Minute

// followUp records an action item with owner and type, its news and, when
// a tracker is configured, the effect that files it there — all in the
// follow-up's own transaction. The outbox files it, then says "Filed as
// …" where the news went (or that filing failed: the item stays recorded
// and is filed on the next `/incident postmortem`).
func (h *handling) followUp(ctx context.Context, o incidents.Origin, n uint64, c Command) error {
	f := incidents.FollowUp{Text: c.Args, Type: c.Type}
	if c.User != "" {
		owner, err := ParseMention(c.User, h.ev.User, h.ev.Platform)
		if err != nil {
			return h.refuse(ctx, err)
		}
		f.Owner = owner
	}
	text := fmt.Sprintf("📋 %s added a follow-up to **#%d**: %s", Mention(h.ev.User, h.ev.Platform), n, Escape(c.Args))
	if !f.Owner.IsZero() {
		text += " (owner: " + Mention(f.Owner, h.ev.Platform) + ")"
	}
	if f.Type != "" {
		text += " [" + f.Type + "]"
	}
	o = h.saying(o, func(out incidents.Outcome) []incidents.Effect {
		effs := h.replies(out.Incident, Message{Text: text})
		if tr := h.cfg.Tracker; tr != nil && len(out.Entries) > 0 && out.Entries[0].Kind == incidents.EntryFollowUp {
			effs = append(effs, incidents.FileFollowUp(n, out.Entries[0].Seq, tr.Name(), h.replyHome(out.Incident), out.Entries[0].Text))
		}
		return effs
	})
	out, err := h.svc.AddActionItem(ctx, o, n, f)
	return h.finish(ctx, out, err)
}

// postmortemCommand records the postmortem's status (a draft the first
// time, review or final when asked), refreshes the tracker issues of its
// action items, and writes and attaches the document.
func (h *handling) postmortemCommand(ctx context.Context, o incidents.Origin, n uint64, sub string) error {
	var err error
	if sub != "" {
		o = h.sayingMsgs(o, func(out incidents.Outcome) []Message {
			return []Message{{Text: fmt.Sprintf("📝 %s moved the postmortem of **#%d** to %s.", Mention(h.ev.User, h.ev.Platform), n, out.Incident.PostmortemStatus)}}
		})
	}
	switch sub {
	case "review":
		_, err = h.svc.SetPostmortemStatus(ctx, o, n, incidents.PostmortemInReview)
	case "final":
		_, err = h.svc.SetPostmortemStatus(ctx, o, n, incidents.PostmortemFinal)
	default:
		_, err = h.svc.DraftPostmortem(ctx, o, n)
	}
	if err != nil {
		return h.refuse(ctx, err)
	}
	if tr := h.cfg.Tracker; tr != nil {
		rctx, cancel := context.WithTimeout(ctx, postmortemRefreshTimeout)
		rerr := tr.Refresh(rctx, n)
		cancel()
		if rerr != nil {
			h.log.WarnContext(ctx, "refreshing tracker issues failed", "incident", n, "err", rerr)
			if werr := h.whisper(ctx, "⚠️ The tracker could not be reached, so action item links and statuses may be out of date: "+Escape(rerr.Error())); werr != nil {
				return werr
			}
		}
	}
	return h.postmortem(ctx, n)
}
