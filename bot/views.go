package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// Commands that only read an incident or the channel's incidents
// (status, list, timeline, postmortem): they change nothing, so what they
// post is recorded on its own (incidents.Service.Say), not with a change.

func (h *handling) status(ctx context.Context, n uint64) error {
	inc, err := h.svc.Get(ctx, n)
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.outcome = "answered"
	h.followHome(inc)
	card := h.rd.Card(inc, !inc.Status.Open() || len(inc.Steps) == 0)
	if inc.DistinctAlerts > 1 {
		_, sum, err := h.svc.AlertSummary(ctx, n, incidents.DefaultAlertRows)
		if err != nil {
			return h.refuse(ctx, err)
		}
		card.Text += cards.AlertLines(sum)
	}
	if !inc.Status.Open() || len(inc.Steps) == 0 {
		return h.sayAbout(ctx, inc, card)
	}
	return h.sayAbout(ctx, inc, card, h.rd.Step(inc))
}

// sayAbout records msgs as public news about inc that no change causes
// (the answer to /incident status, say), for the outbox to post.
func (h *handling) sayAbout(ctx context.Context, inc *incidents.Incident, msgs ...Message) error {
	if err := h.sayNow(ctx, h.replies(inc, msgs...)...); err != nil {
		return fmt.Errorf("record what to say about incident #%d: %w", inc.Number, err)
	}
	return nil
}

// listLimit bounds /incident list.
const listLimit = 20

func (h *handling) list(ctx context.Context, all bool) error {
	list, err := h.svc.List(ctx, incidents.ListQuery{OpenOnly: !all, Limit: listLimit})
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.outcome = "answered"
	switch {
	case len(list) == 0 && all:
		return h.whisper(ctx, "No incidents yet.")
	case len(list) == 0:
		return h.whisper(ctx, "No open incidents. 🎉")
	}
	var b strings.Builder
	if all {
		fmt.Fprintf(&b, "**Incidents** (newest %d)", listLimit)
	} else {
		b.WriteString("**Open incidents**")
	}
	for _, inc := range list {
		b.WriteString("\n" + Headline(inc))
		if inc.Commander != nil {
			b.WriteString(" · " + Mention(*inc.Commander, h.ev.Platform))
		}
		b.WriteString(" · opened " + inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return h.whisper(ctx, b.String())
}

// timelineShown is how many of the latest entries /incident timeline shows.
const timelineShown = 50

func (h *handling) timeline(ctx context.Context, n uint64) error {
	ring := make([]incidents.Entry, 0, timelineShown)
	total := 0
	// A storm's distinct alerts firing one after another read as a few
	// rows and one "… and N more" row.
	add, flush := incidents.CondenseAlertRuns(3, func(e incidents.Entry) error {
		if len(ring) == timelineShown {
			ring = append(ring[:0], ring[1:]...)
		}
		ring = append(ring, e)
		total++
		return nil
	})
	err := h.svc.Timeline(ctx, n, add)
	if err == nil {
		err = flush()
	}
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.outcome = "answered"
	var b strings.Builder
	fmt.Fprintf(&b, "**Timeline of #%d** (UTC)", n)
	if earlier := total - len(ring); earlier > 0 {
		fmt.Fprintf(&b, " — %d earlier entries not shown; `/incident #%d postmortem` has them all", earlier, n)
	}
	for _, e := range ring {
		b.WriteString("\n" + h.rd.TimelineLine(e))
	}
	return h.whisper(ctx, b.String())
}

// limitedBuffer keeps at most limit bytes and notes when more came, so a
// huge postmortem is not held in memory for chat.
type limitedBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.over || l.Len()+len(p) > l.limit {
		l.over = true
		return len(p), nil
	}
	return l.Buffer.Write(p)
}

// PostmortemPath is where the postmortem of incident n is written.
func (r *Router) PostmortemPath(n uint64) string {
	return filepath.Join(r.cfg.PostmortemDir, fmt.Sprintf("incident-%d-postmortem.md", n))
}

func (h *handling) postmortem(ctx context.Context, n uint64) error {
	path := h.PostmortemPath(n)
	buf := &limitedBuffer{limit: MaxPostmortemSize}
	if err := h.svc.WritePostmortem(ctx, n, path, buf); err != nil {
		return h.refuse(ctx, err)
	}
	h.outcome = "written"
	comment := fmt.Sprintf("📄 Postmortem of **#%d** written to `%s`.", n, path)
	inc, err := h.svc.Get(ctx, n)
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.followHome(inc)
	if buf.over {
		return h.sayAbout(ctx, inc, Message{Text: comment + " It is over 5 MiB, so it is only in that file."})
	}
	// The file is written outside the store, so its upload is recorded on
	// its own; the outbox attaches it (or puts why it could not on the
	// incident's timeline).
	up := incidents.Effect{Kind: incidents.EffectUpload, Incident: n, Home: h.replyHome(inc),
		Message: incidents.EffectMessage{Text: comment, File: &incidents.EffectFile{Name: filepath.Base(path), Title: fmt.Sprintf("Postmortem of incident #%d", n), Content: buf.Bytes()}}}
	if err := h.sayNow(ctx, up); err != nil {
		h.outcome = "upload failed"
		werr := h.whisper(ctx, fmt.Sprintf("⚠️ The postmortem is in `%s`, but attaching it failed: %s", path, Escape(err.Error())))
		return errors.Join(fmt.Errorf("upload the postmortem of incident #%d: %w", n, err), werr)
	}
	h.outcome = "uploaded"
	return nil
}
