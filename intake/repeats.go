package intake

import (
	"context"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// repeatKey is one incident as seen in one chat channel.
type repeatKey struct {
	incident uint64
	platform string
	channel  string
}

// repeatState is what a channel has not yet been told about an incident's
// repeated alerts.
type repeatState struct {
	thread  string
	title   string
	pending int
	total   int
}

// noteRepeat counts a repeat of out's incident said in home. The first
// repeat of a quiet incident starts a goroutine that posts one summary per
// RepeatInterval while repeats keep coming, and ends once an interval
// passes without any.
//
// The summary quotes the latest alert's title ("5xx rate 31%"), not the
// first one's: responders want to know what monitoring says now.
func (in *Intake) noteRepeat(out incidents.Outcome, home incidents.Home) {
	inc := out.Incident
	latest := inc.Title
	if out.AlertTitle != "" {
		latest = out.AlertTitle
	}
	key := repeatKey{incident: inc.Number, platform: home.Platform, channel: home.Channel}
	in.mu.Lock()
	st, ok := in.repeats[key]
	if ok {
		st.pending++
		st.total = inc.AlertCount
		st.title = latest
		in.mu.Unlock()
		return
	}
	if len(in.repeats) >= maxRepeatStates {
		in.mu.Unlock()
		in.log.Warn("repeat not announced: too many incidents repeating at once", "incident", inc.Number)
		return
	}
	st = &repeatState{thread: home.Thread, title: latest, pending: 1, total: inc.AlertCount}
	in.repeats[key] = st
	in.mu.Unlock()
	if !in.bg.Go(func(ctx context.Context) { in.summarise(ctx, key, st) }) {
		in.dropRepeats(key, st) // Run has ended: nothing summarises any more
	}
}

// summarise posts the coalesced repeats of one incident, at most once per
// interval, until an interval passes with nothing new or the incident is
// resolved.
func (in *Intake) summarise(ctx context.Context, key repeatKey, st *repeatState) {
	t := time.NewTicker(in.cfg.RepeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			in.dropRepeats(key, st)
			return
		case <-t.C:
		}
		in.mu.Lock()
		if in.repeats[key] != st || st.pending == 0 {
			if in.repeats[key] == st {
				delete(in.repeats, key)
			}
			in.mu.Unlock()
			return
		}
		pending, total, thread, title := st.pending, st.total, st.thread, st.title
		st.pending = 0
		in.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if inc, err := in.svc.Get(rctx, key.incident); err == nil && !inc.Status.Open() {
			// Resolved meanwhile (by a person, anywhere): its repeats
			// are history, on its timeline.
			cancel()
			in.dropRepeats(key, st)
			return
		}
		m := cards.Repeats(key.incident, title, pending, in.cfg.RepeatInterval, total)
		e := cards.PostIn(key.incident, incidents.Home{Platform: key.platform, Channel: key.channel, Thread: thread}, m)
		// A backlog of summaries (a chat outage) is worth its latest only.
		e.CoalesceKey = fmt.Sprintf("repeat/%d/%s/%s", key.incident, key.platform, key.channel)
		in.record(rctx, e)
		cancel()
	}
}

// dropRepeats forgets st unless a newer state replaced it.
func (in *Intake) dropRepeats(key repeatKey, st *repeatState) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.repeats[key] == st {
		delete(in.repeats, key)
	}
}

// forgetRepeats drops unannounced repeats of an incident that is over;
// its goroutines end at their next tick.
func (in *Intake) forgetRepeats(n uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for k := range in.repeats {
		if k.incident == n {
			delete(in.repeats, k)
		}
	}
}
