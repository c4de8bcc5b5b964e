package discord

import (
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/discordtest"
	"github.com/firebreak/firebreak/incidents"
)

// TestE2EBareCommandsInASharedChannel types the README's bare commands in
// #alerts while one incident there is resolved and two are open: each
// command reaches the incident meant, or asks the user privately with a
// button per incident.
func TestE2EBareCommandsInASharedChannel(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	alerts := f.srv.ChannelID("alerts")
	ann := f.srv.AddUser("ann", "")
	bob := f.srv.AddUser("bob", "")
	run := func(user *discordgo.User, sub string, opts ...*discordtest.Option) discordtest.Followup {
		t.Helper()
		in := f.srv.PushCommand(alerts, user, "incident", discordtest.Subcommand(sub, opts...))
		return in.WaitSaid(1, wait)[0]
	}
	said := func(fu discordtest.Followup) string { return fu.Message.Content + embedText(fu.Message) }

	// #1 is declared and resolved in #alerts.
	run(ann, "declare", discordtest.StringOption("title", "Old outage"))
	run(ann, "resolve", discordtest.StringOption("summary", "it is over"))
	require.Equal(t, incidents.StatusResolved, f.incident(t, 1).Status)

	// #2 from an alert: a bare ack means it, never the resolved #1.
	f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	require.Eventually(t, func() bool { return len(f.incidents(t)) == 2 }, wait, 10*time.Millisecond)
	fu := run(bob, "ack")
	assert.False(t, fu.Ephemeral)
	assert.Contains(t, said(fu), "acknowledged **#2**")
	assert.Equal(t, incidents.StatusAcknowledged, f.incident(t, 2).Status)

	// #3 from another alert: now two are open and a bare note asks.
	f.pushAlert("[FIRING:1] DiskFull db-1 (warning)")
	require.Eventually(t, func() bool { return len(f.incidents(t)) == 3 }, wait, 10*time.Millisecond)
	asked := f.srv.PushCommand(alerts, ann, "incident", discordtest.Subcommand("note", discordtest.StringOption("text", "checking the disks")))
	fu = asked.WaitSaid(1, wait)[0]
	onScreen := *fu.Message // what Ann's client shows, before any edit
	assert.True(t, fu.Ephemeral, "the question goes to Ann only")
	assert.Contains(t, said(fu), "Several incidents are open")
	var labels []string
	for _, b := range discordtest.Buttons(fu.Message) {
		labels = append(labels, b.Label)
	}
	require.Len(t, labels, 2, "a button per open incident")
	assert.True(t, strings.HasPrefix(labels[0], "#3 "), labels[0])
	assert.True(t, strings.HasPrefix(labels[1], "#2 "), labels[1])
	for _, n := range []uint64{2, 3} {
		assert.Zero(t, notes(t, f, n), "nothing noted before Ann picks (#%d)", n)
	}

	// Pressing #3 runs the note on #3.
	in := f.srv.PushComponent(fu.Message, ann, bot.ActionPick+"3|3:note checking the disks")
	in.WaitCallback(wait)
	require.Eventually(t, func() bool { return notes(t, f, 3) == 1 }, wait, 10*time.Millisecond)
	assert.Zero(t, notes(t, f, 2))

	// The question is answered once: it loses its buttons (edited through
	// the interaction, as an ephemeral message must be), and a stale
	// button still on Ann's screen is refused, not run again.
	question := fu.Message.ID
	require.Eventually(t, func() bool {
		for _, qf := range asked.Followups() {
			if qf.Message.ID == question && strings.Contains(qf.Message.Content, "You picked **#3**") && len(discordtest.Buttons(qf.Message)) == 0 {
				return true
			}
		}
		return false
	}, wait, 10*time.Millisecond, "the answered question keeps its buttons")
	again := f.srv.PushComponent(&onScreen, ann, bot.ActionPick+"2|2:note checking the disks")
	again.WaitCallback(wait)
	refused := again.WaitSaid(1, wait)[0]
	assert.True(t, refused.Ephemeral)
	assert.Contains(t, said(refused), "This question was already answered with #3")
	assert.Equal(t, 1, notes(t, f, 3))
	assert.Zero(t, notes(t, f, 2), "a stale button runs nothing")

	// Resolve on a step card does not close with one click: it asks.
	card := f.srv.WaitMessage(alerts, wait, func(m *discordgo.Message) bool {
		return strings.Contains(m.Content+embedText(m), "#3 · Step 1/") && len(discordtest.Buttons(m)) > 0
	})
	in = f.srv.PressButton(card, bob, "Resolve")
	in.WaitCallback(wait)
	prompt := in.WaitSaid(1, wait)[0]
	assert.True(t, prompt.Ephemeral)
	assert.Contains(t, said(prompt), "/incident #3 resolve <summary>")
	assert.True(t, f.incident(t, 3).Status.Open(), "one click closes nothing")

	// A 📌 in #alerts with two open pins nothing and says why.
	chat := f.srv.PushMessage(discordtest.Post{ChannelID: alerts, Author: bob, Content: "df shows /var full"})
	f.srv.PushReaction(alerts, chat.ID, ann, "📌")
	f.srv.WaitMessage(alerts, wait, func(m *discordgo.Message) bool {
		return strings.Contains(m.Content, "Not pinned: several incidents are open")
	})

	// Named, #2 resolves; then bare commands mean #3, the one left open.
	run(bob, "resolve", discordtest.IntegerOption("incident", 2), discordtest.StringOption("summary", "rolled back"))
	require.Equal(t, incidents.StatusResolved, f.incident(t, 2).Status)
	f.srv.PushReaction(alerts, chat.ID, bob, "📌") // Ann's 📌 is on it already
	f.srv.WaitMessage(alerts, wait, func(m *discordgo.Message) bool {
		return strings.Contains(m.Content, "Pinned to the timeline of **#3**")
	})
	fu = run(ann, "severity", discordtest.StringOption("level", "SEV2"))
	assert.Contains(t, said(fu), "set **#3** to SEV2")
	assert.Equal(t, incidents.SEV1, f.incident(t, 2).Severity, "the resolved incident is untouched")

	// Reading right after resolving means the incident just resolved when
	// nothing else is open.
	run(ann, "resolve", discordtest.StringOption("summary", "disk freed"))
	require.Equal(t, incidents.StatusResolved, f.incident(t, 3).Status)
	fu = run(ann, "timeline")
	assert.Contains(t, said(fu), "Timeline of #3")
}

func notes(t *testing.T, f *firebreak, n uint64) int {
	t.Helper()
	c := 0
	require.NoError(t, f.svc.Timeline(t.Context(), n, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryNote {
			c++
		}
		return nil
	}))
	return c
}

// TestE2EBareCommandsInIncidentThreads: with an incident thread each, a
// bare command typed in a thread (Discord sends the thread as the channel)
// means the thread's incident, resolved or not; typed in #alerts with both
// open, it asks.
func TestE2EBareCommandsInIncidentThreads(t *testing.T) {
	t.Parallel()
	f := startFirebreakWith(t, e2ePlaybooks+"incidents:\n  channel_per_incident: true\n")
	ann := f.srv.AddUser("ann", "")
	run := func(channel, sub string, opts ...*discordtest.Option) discordtest.Followup {
		t.Helper()
		return f.srv.PushCommand(channel, ann, "incident", discordtest.Subcommand(sub, opts...)).WaitSaid(1, wait)[0]
	}
	said := func(fu discordtest.Followup) string { return fu.Message.Content + embedText(fu.Message) }
	first := f.pushAlert("[FIRING:1] HighErrorRate api (critical)").ID
	require.Eventually(t, func() bool { return len(f.incidents(t)) == 1 && f.incident(t, 1).Home.Thread == first }, wait, 10*time.Millisecond)
	second := f.pushAlert("[FIRING:1] DiskFull db-1 (warning)").ID
	require.Eventually(t, func() bool { return len(f.incidents(t)) == 2 && f.incident(t, 2).Home.Thread == second }, wait, 10*time.Millisecond)

	assert.Contains(t, said(run(second, "ack")), "acknowledged **#2**")
	assert.Equal(t, incidents.StatusTriggered, f.incident(t, 1).Status)

	fu := run(f.srv.ChannelID("alerts"), "ack")
	assert.True(t, fu.Ephemeral)
	assert.Contains(t, said(fu), "Several incidents are open")

	run(first, "resolve", discordtest.StringOption("summary", "rolled back"))
	assert.Equal(t, incidents.StatusResolved, f.incident(t, 1).Status)
	assert.True(t, f.incident(t, 2).Status.Open())
	fu = run(first, "status")
	assert.Contains(t, said(fu), "#1", "the thread keeps meaning its own incident")
	assert.NotContains(t, said(fu), "#2")
	f.srv.PushCommand(f.srv.ChannelID("alerts"), ann, "incident", discordtest.Subcommand("note", discordtest.StringOption("text", "one open now")))
	// In #alerts, the one incident still open; said in its thread.
	f.srv.WaitMessage(second, wait, func(m *discordgo.Message) bool {
		return strings.Contains(m.Content+embedText(m), "added a note to **#2**")
	})
}

// TestE2EEveryBareSubcommandAsksOrReaches runs every /incident subcommand
// that acts on an incident, without its incident option, in #alerts while
// #1 is resolved and #2 and #3 are open there: each one asks the user
// privately and changes nothing. Once #2 is resolved, each reaches #3, and
// the resolved incidents get no timeline entry more.
func TestE2EEveryBareSubcommandAsksOrReaches(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	alerts := f.srv.ChannelID("alerts")
	ann, bob := f.srv.AddUser("ann", ""), f.srv.AddUser("bob", "")
	S := discordtest.StringOption
	entries := func() []uint64 {
		t.Helper()
		var out []uint64
		for n := uint64(1); n <= 3; n++ {
			out = append(out, f.incident(t, n).Entries)
		}
		return out
	}
	run := func(sub string, opts ...*discordtest.Option) discordtest.Followup {
		t.Helper()
		return f.srv.PushCommand(alerts, ann, "incident", discordtest.Subcommand(sub, opts...)).WaitSaid(1, wait)[0]
	}
	said := func(fu discordtest.Followup) string { return fu.Message.Content + embedText(fu.Message) }
	cmds := []struct {
		sub  string
		opts []*discordtest.Option
	}{
		{"ack", nil},
		{"step-done", []*discordtest.Option{S("note", "502s only from pod api-7")}},
		{"step-skip", []*discordtest.Option{S("reason", "status page is run by support")}},
		{"note", []*discordtest.Option{S("text", "pool saturation since 14:02")}},
		{"followup", []*discordtest.Option{S("text", "alert on pool saturation")}},
		{"role", []*discordtest.Option{S("role", "comms"), discordtest.UserOption("user", bob.ID)}},
		{"severity", []*discordtest.Option{S("level", "SEV2")}},
		{"update", []*discordtest.Option{S("text", "Rolling back; next update 15:00 UTC")}},
		{"mitigate", nil},
		{"status", nil},
		{"timeline", nil},
		{"resolve", []*discordtest.Option{S("summary", "rolled back v2.3.1")}},
		{"postmortem", nil},
	}

	run("declare", S("title", "Old outage"))
	run("resolve", S("summary", "it is over"))
	f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	require.Eventually(t, func() bool { return len(f.incidents(t)) == 2 }, wait, 10*time.Millisecond)
	f.pushAlert("[FIRING:1] DiskFull db-1 (warning)")
	require.Eventually(t, func() bool { return len(f.incidents(t)) == 3 }, wait, 10*time.Millisecond)

	for _, c := range cmds {
		was := entries()
		fu := run(c.sub, c.opts...)
		assert.True(t, fu.Ephemeral, c.sub)
		assert.Contains(t, said(fu), "Several incidents are open", c.sub)
		assert.Equal(t, was, entries(), "/incident %s changed something before anyone picked", c.sub)
	}

	run("resolve", discordtest.IntegerOption("incident", 2), S("summary", "rolled back"))
	require.Equal(t, incidents.StatusResolved, f.incident(t, 2).Status)
	was := entries()
	for _, c := range cmds {
		if c.sub == "postmortem" {
			// Its answer is the attached file, posted in the channel.
			f.srv.PushCommand(alerts, ann, "incident", discordtest.Subcommand(c.sub))
			f.srv.WaitMessage(alerts, wait, func(m *discordgo.Message) bool { return strings.Contains(m.Content, "Postmortem of **#3**") })
			continue
		}
		fu := run(c.sub, c.opts...)
		assert.Contains(t, said(fu), "#3", c.sub)
		assert.NotContains(t, said(fu), "Several incidents are open", c.sub)
		assert.NotRegexp(t, `#[12]\b`, said(fu), "/incident %s: a resolved incident is never meant", c.sub)
	}
	assert.Equal(t, was[:2], entries()[:2], "the resolved incidents are untouched")
	assert.Equal(t, incidents.StatusResolved, f.incident(t, 3).Status)
}
