package discordtest

import (
	"slices"
	"time"
)

// WaitSaid waits until Firebreak has handled the interaction and said at
// least n things in answer, and returns them in the order they were said:
// its follow-ups (ephemeral answers, refusals) and its messages in the
// interaction's channel made after the interaction (public news, which
// Firebreak posts through its outbox as channel messages, not follow-ups).
// The handler is done once it answered or removed its deferral; then
// Server.Settle lets the outbox deliver what the handler recorded, so a
// message of an earlier command still on its way is not taken for this
// one's answer.
func (in *Interaction) WaitSaid(n int, timeout time.Duration) []Followup {
	in.s.t.Helper()
	deadline := time.Now().Add(timeout)
	in.s.waitUntil(timeout, func() bool {
		return in.cb != nil && (len(in.followups) > 0 || in.originalDeleted || !in.pending)
	})
	var out []Followup
	for {
		if in.s.Settle != nil {
			in.s.Settle()
		}
		in.s.mu.Lock()
		out = cloneFollowups(in.followups)
		for _, m := range in.s.msgs[in.ChannelID] {
			if m.Author != nil && m.Author.ID == in.s.BotUser.ID && compareIDs(m.ID, in.ID) > 0 && !slices.ContainsFunc(out, func(f Followup) bool { return f.Message.ID == m.ID }) {
				out = append(out, Followup{Message: cloneMessage(m)})
			}
		}
		in.s.mu.Unlock()
		slices.SortStableFunc(out, func(a, b Followup) int { return compareIDs(a.Message.ID, b.Message.ID) })
		if len(out) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(out) < n {
		in.s.t.Fatalf("discordtest: Firebreak said %d things in answer to interaction %s, not %d, after %s", len(out), in.ID, n, timeout)
	}
	return out
}
