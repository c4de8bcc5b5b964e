package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/firebreak/firebreak/incidents"
)

// ActionPick starts the id of a button on a "which incident?" question
// ("pick_<n>": Slack wants action ids unique within a message); its Value
// is "<n>:<command text>", and pressing it runs that command on incident n.
const ActionPick = "pick_"

// maxPickValue keeps a pick button's value within every platform's limit
// (Discord's custom id holds 100 characters, the action id included).
const maxPickValue = 90

// maxPickLabel bounds the incident title shown on a pick button.
const maxPickLabel = 40

// ask answers a bare command typed where several incidents are open: it
// names them, privately, with a button per incident that runs the same
// command on it. Nothing changes until the user picks.
func (h *handling) ask(ctx context.Context, amb *incidents.AmbiguousError, text string) error {
	h.outcome = "asked"
	text = strings.TrimSpace(text)
	var b strings.Builder
	b.WriteString("🤔 Several incidents are open in this channel. Which one did you mean?")
	var actions []Action
	for _, c := range amb.Open {
		fmt.Fprintf(&b, "\n• **#%d** %s · %s · %s", c.Number, Escape(c.Title), c.Severity, c.Status)
		value := fmt.Sprintf("%d:%s", c.Number, text)
		if len(value) <= maxPickValue {
			actions = append(actions, Action{ID: fmt.Sprintf("%s%d", ActionPick, c.Number), Label: fmt.Sprintf("#%d %s", c.Number, truncate(c.Title, maxPickLabel)), Value: value})
		}
	}
	if amb.More > 0 {
		fmt.Fprintf(&b, "\n… and %d more (`/incident list`).", amb.More)
	}
	example := fmt.Sprintf("`/incident #%d %s`", amb.Open[0].Number, text)
	if len(actions) == len(amb.Open) {
		fmt.Fprintf(&b, "\nPress one, or name it: %s.", example)
	} else {
		fmt.Fprintf(&b, "\nName it: %s.", example)
	}
	return h.say(ctx, Message{Text: b.String(), Actions: actions, Ephemeral: true})
}

// maxPicks bounds how many answered "which incident?" questions the
// Router remembers; older ones are still single-use for changes, through
// the event id (see picked).
const maxPicks = 1000

// picked runs the command a "which incident?" question was asked about on
// the incident the user pressed, exactly as if it had been typed with #n.
// A question is answered once: its buttons are removed, and a second press
// (of any of them, also one that was still on screen) is refused, so
// pressing "1" twice does not add a second note.
func (h *handling) picked(ctx context.Context, n uint64, text string) error {
	if strings.TrimSpace(text) == "" {
		return h.refuse(ctx, refuseUsage(TextButtonNoCommand))
	}
	q := h.ev.Target
	if q.ID != "" {
		key := h.ev.Platform + "\x00" + q.Channel + "\x00" + q.ID
		if first, done := h.answerPick(key, n); done {
			return h.refuse(ctx, refuseUsage(TextAlreadyPicked, first, n, text))
		}
		// The same id for every press of this question: a change the
		// Router forgot about (restart, maxPicks) is still applied once.
		h.ev.ID = "pick:" + q.Channel + ":" + q.ID
		h.retirePick(ctx, q, Message{Text: fmt.Sprintf("👉 You picked **#%d**: `/incident #%d %s`", n, n, text)})
	}
	h.ev.Kind = KindCommand
	h.ev.Text = fmt.Sprintf("#%d %s", n, text)
	h.ev.Target = MessageRef{}
	return h.command(ctx)
}

// answerPick records that question key was answered with n; it returns
// the incident it was answered with before, if it was.
func (r *Router) answerPick(key string, n uint64) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first, ok := r.picks[key]; ok {
		return first, true
	}
	if len(r.pickOrder) >= maxPicks {
		delete(r.picks, r.pickOrder[0])
		r.pickOrder = r.pickOrder[1:]
	}
	r.picks[key] = n
	r.pickOrder = append(r.pickOrder, key)
	return 0, false
}

// retirePick redraws an answered question without its buttons: through
// the replier where the platform needs the interaction for it (a question
// shown to one user only), else as any posted message.
func (h *handling) retirePick(ctx context.Context, q MessageRef, m Message) {
	var err error
	if u, ok := h.reply.(PressedUpdater); ok {
		err = u.UpdatePressed(ctx, q, m)
	} else {
		err = h.sayNow(ctx, editOf(0, h.ev.Platform, q, m))
	}
	if err != nil {
		h.log.WarnContext(ctx, "remove the buttons of an answered question", "platform", h.ev.Platform, "err", err)
	}
}

// followHome sends the public replies about inc into its home thread when
// the event came from that thread's channel at large — a Slack slash
// command never carries a thread — so an incident's conversation stays in
// one place.
func (h *handling) followHome(inc *incidents.Incident) {
	if inc == nil || h.ev.Thread != "" || inc.Home.Thread == "" {
		return
	}
	if inc.Home.Platform == h.ev.Platform && inc.Home.Channel == h.ev.Channel {
		h.thread = inc.Home.Thread
	}
}

// channelAliases are the other spellings of ev's channel for the "which
// incident" rule: its name, and the channel as playbooks.yaml spells it
// ("#alerts", "alerts" or "ALERTS"), under which incidents opened by
// webhooks and probes are homed, while the command itself carries the
// platform's channel id.
func (h *handling) channelAliases() []string {
	ev := h.ev
	var out []string
	add := func(s string) {
		if s != "" && s != ev.Channel && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if name := strings.TrimPrefix(ev.ChannelName, "#"); name != "" {
		add("#" + name)
	}
	if ch, ok := h.svc.Playbooks().ChannelSpelling(ev.Platform, ev.Channel, ev.ChannelName); ok {
		add(ch)
	}
	return out
}
