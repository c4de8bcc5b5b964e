package bot

import (
	"context"
	"fmt"
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

// picked runs the command a "which incident?" question was asked about on
// the incident the user pressed, exactly as if it had been typed with #n.
func (h *handling) picked(ctx context.Context, n uint64, text string) error {
	if strings.TrimSpace(text) == "" {
		return h.refuse(ctx, fmt.Errorf("this button names no command: %w", ErrUsage))
	}
	h.ev.Kind = KindCommand
	h.ev.Text = fmt.Sprintf("#%d %s", n, text)
	h.ev.Target = MessageRef{}
	return h.command(ctx)
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
