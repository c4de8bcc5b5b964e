package cards

import (
	"fmt"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Opening is how a new incident is announced: its card, then its first
// step. The card carries the lifecycle buttons only when no step card
// follows.
func (r Renderer) Opening(inc *incidents.Incident) []Message {
	if len(inc.Steps) == 0 {
		return []Message{r.Card(inc, true)}
	}
	return []Message{r.Card(inc, false), r.Step(inc)}
}

// OpeningEffects announce a new incident in home: its card (keyed
// CardKey, so that a room of its own can turn it into a pointer) and its
// first step; when the incident is to get a room, only the card and then
// the room's opening (RoomEffect, in the same channel so it follows the
// card), where its steps go. An alert's intake and /incident declare
// record them with the change that opened the incident.
func (r Renderer) OpeningEffects(inc *incidents.Incident, home incidents.Home, rooms bool) []incidents.Effect {
	msgs := r.Opening(inc)
	if rooms {
		msgs = []Message{r.Card(inc, false)}
	}
	effs := make([]incidents.Effect, 0, len(msgs))
	for _, m := range msgs {
		effs = append(effs, PostIn(inc.Number, home, m))
	}
	effs[0].Key = CardKey(inc.Number)
	if rooms {
		effs = append(effs, r.RoomEffect(inc, home))
	}
	return effs
}

// AlertNews is what an alert's timeline entries (reopened, mitigated) are
// worth saying about inc.
func AlertNews(inc *incidents.Incident, entries []incidents.Entry) []Message {
	var msgs []Message
	for _, e := range entries {
		switch e.Kind {
		case incidents.EntryReopened:
			msgs = append(msgs, Message{Text: fmt.Sprintf("♻️ **#%d reopened** — %s", inc.Number, Escape(e.Text)), Actions: LifecycleButtons(inc)})
		case incidents.EntryMitigated:
			msgs = append(msgs, Message{Text: fmt.Sprintf("🟢 **#%d mitigated** — every alert in it has resolved. `/incident #%d resolve <summary>` when it is over.", inc.Number, inc.Number)})
		}
	}
	return msgs
}

// Repeats is the one line that stands for an incident's repeated alerts
// over an interval: "🔁 #4 5xx rate 31% fired again (×5 in the last 1m,
// 12 in total)". title is the latest alert's, what monitoring says now.
func Repeats(n uint64, title string, pending int, interval time.Duration, total int) Message {
	return Message{Text: fmt.Sprintf("🔁 #%d %s fired again (×%d in the last %s, %d in total)",
		n, Escape(title), pending, Human(interval), total)}
}
