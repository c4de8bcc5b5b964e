package slack_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/slacktest"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// TestBareCommandsInASharedChannel types the README's bare commands in
// #alerts the way Slack delivers them — slash commands without a thread —
// while one incident there is resolved and two are open, each homed in its
// alert's thread. Every command reaches the incident meant, or asks.
func TestBareCommandsInASharedChannel(t *testing.T) {
	e := start(t, true, true)
	fake := e.fake
	ctx := context.Background()
	cmd := func(user, text string) {
		t.Helper()
		fake.WaitAck(t, fake.PushCommand(t, fake.Command(user, slacktest.AlertsChannel, text)))
	}
	status := func(n uint64) *incidents.Incident {
		t.Helper()
		inc, err := e.svc.Get(ctx, n)
		require.NoError(t, err)
		return inc
	}
	botSaid := func(what, thread string) slacktest.Message {
		t.Helper()
		var got slacktest.Message
		require.Eventuallyf(t, func() bool {
			for _, m := range fake.Messages(slacktest.AlertsChannel) {
				if m.User == slacktest.BotUserID && strings.Contains(m.Text, what) && m.ThreadTS == thread {
					got = m
					return true
				}
			}
			return false
		}, slacktest.WaitTimeout, 10*time.Millisecond, "Firebreak did not say %q in thread %q", what, thread)
		return got
	}
	alert := func(title string) slacktest.Message {
		t.Helper()
		m := alertmanager()
		m.Attachments[0].Title = title
		fake.WaitAck(t, fake.PushEvent(t, fake.MessageEvent(m)))
		msgs := fake.Messages(slacktest.AlertsChannel)
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].BotID == m.BotID && msgs[i].Attachments[0].Title == title {
				return msgs[i]
			}
		}
		t.Fatalf("alert %q not stored", title)
		return slacktest.Message{}
	}

	// #1 is declared and resolved in the channel.
	cmd(ana, "declare Old outage SEV3")
	botSaid("#1 Old outage", "")
	cmd(ana, "resolve it is over")
	require.Eventually(t, func() bool { return status(1).Status == incidents.StatusResolved }, slacktest.WaitTimeout, 10*time.Millisecond)

	// #2 comes from Alertmanager: it lives in the alert's thread, where its
	// card and steps are posted.
	api := alert("[FIRING:1] HighErrorRate api-gateway (severity=critical)")
	botSaid("#2 HighErrorRate", api.TS)
	assert.Equal(t, incidents.Home{Platform: "slack", Channel: slacktest.AlertsChannel, Thread: api.TS}, status(2).Home)

	// A bare command typed in the channel finds the one open incident
	// (never the resolved #1) and answers in its thread.
	cmd(bob, "ack")
	botSaid("acknowledged *#2*", api.TS)
	assert.Equal(t, incidents.StatusAcknowledged, status(2).Status)
	assert.Equal(t, incidents.StatusResolved, status(1).Status)

	// #3 opens in its own alert's thread; now two are open in #alerts.
	disk := alert("[FIRING:1] DiskFull db-1 (severity=warning)")
	botSaid("#3 DiskFull", disk.TS)

	// A bare note asks Ana privately which one, with a button per incident.
	cmd(ana, "note checking the disks")
	var ask slacktest.Ephemeral
	require.Eventually(t, func() bool {
		for _, m := range fake.Ephemerals() {
			if m.User == ana && strings.Contains(m.Text, "Several incidents are open") {
				ask = m
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "no question for ana")
	assert.Contains(t, ask.Text, "#3")
	assert.Contains(t, ask.Text, "#2")
	assert.Contains(t, string(ask.Blocks), bot.ActionPick+"3")
	assert.Contains(t, string(ask.Blocks), bot.ActionPick+"2")
	assert.Never(t, func() bool {
		for _, m := range fake.Messages(slacktest.AlertsChannel) {
			if strings.Contains(m.Text, "checking the disks") {
				return true
			}
		}
		return false
	}, 200*time.Millisecond, 20*time.Millisecond, "nothing is noted before Ana picks")

	// Pressing #3 runs the note on #3, answered in #3's thread.
	fake.WaitAck(t, fake.PushInteraction(t, fake.EphemeralAction(t, ana, ask, bot.ActionPick+"3")))
	botSaid("added a note to *#3*: checking the disks", disk.TS)

	// The question is answered once: it is replaced (through the press's
	// response_url, as an ephemeral message must be) without buttons, and
	// a stale button still on Ana's screen is refused, not run again.
	require.Eventually(t, func() bool {
		for _, m := range fake.Ephemerals() {
			if m.TS == ask.TS {
				return m.Replaced == 1 && strings.Contains(m.Text, "You picked *#3*") && !strings.Contains(string(m.Blocks), bot.ActionPick)
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "the answered question keeps its buttons: %+v", fake.Ephemerals())
	fake.WaitAck(t, fake.PushInteraction(t, fake.EphemeralAction(t, ana, ask, bot.ActionPick+"2")))
	require.Eventually(t, func() bool {
		for _, m := range fake.Ephemerals() {
			if m.User == ana && strings.Contains(m.Text, "This question was already answered with #3") {
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "a second press is not refused")
	for n, want := range map[uint64]int{2: 0, 3: 1} {
		got := 0
		require.NoError(t, e.svc.Timeline(ctx, n, func(en incidents.Entry) error {
			if en.Kind == incidents.EntryNote {
				got++
			}
			return nil
		}))
		assert.Equal(t, want, got, "notes on #%d: a stale button runs nothing", n)
	}

	// A pin on the DiskFull alert message follows its incident.
	fake.WaitAck(t, fake.PushEvent(t, fake.ReactionAddedEvent(bob, "pushpin", slacktest.AlertsChannel, disk.TS)))
	botSaid("Pinned to the timeline of *#3*", disk.TS)

	// Named, #2 resolves; then bare commands mean #3, the one still open.
	cmd(bob, "#2 resolve rolled back")
	botSaid("resolved *#2*", api.TS)
	cmd(ana, "severity SEV2")
	botSaid("set *#3* to SEV2", disk.TS)
	assert.Equal(t, incidents.SEV2, status(3).Severity)
	assert.Equal(t, incidents.SEV1, status(2).Severity, "the resolved incident is untouched")

	// Resolve on #3's step card does not close it with one click: it asks
	// for the command with a summary.
	card := botSaid("#3 · Step 1/", disk.TS)
	require.Contains(t, card.Buttons(), bot.ActionResolve)
	fake.WaitAck(t, fake.PushInteraction(t, fake.BlockAction(t, bob, slacktest.AlertsChannel, card.TS, bot.ActionResolve)))
	require.Eventually(t, func() bool {
		for _, m := range fake.Ephemerals() {
			if m.User == bob && strings.Contains(m.Text, "/incident #3 resolve <summary>") {
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "no prompt for a summary")
	assert.True(t, status(3).Status.Open(), "one click closes nothing")

	// The postmortem is attached in the incident's thread too.
	cmd(ana, "postmortem")
	require.Eventually(t, func() bool {
		for _, f := range fake.Files() {
			if f.Completed && strings.Contains(f.Name, "incident-3-") && f.ThreadTS == disk.TS {
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "no postmortem of #3 in its thread: %+v", fake.Files())
}

// TestBareCommandsInIncidentChannels: with channel_per_incident every
// incident works in a channel of its own. A bare command typed in such a
// channel means its incident — also once it is resolved — while in #alerts,
// where the alerts of two open incidents and a resolved one were posted,
// a bare command asks which one.
func TestBareCommandsInIncidentChannels(t *testing.T) {
	books, err := playbooks.Parse("rooms.yaml", []byte(`alert_channels: ["alerts"]
incidents:
  channel_per_incident: true
playbooks:
  - id: outage
    steps: [{id: look, title: Look at the dashboards}, {id: fix, title: Fix it}]
`))
	require.NoError(t, err)
	e := startWith(t, true, books, quiet())
	fake := e.fake
	ctx := context.Background()
	get := func(n uint64) *incidents.Incident {
		t.Helper()
		inc, err := e.svc.Get(ctx, n)
		require.NoError(t, err)
		return inc
	}
	// alert posts an Alertmanager message and returns the channel of the
	// incident it opens once Firebreak has moved it there.
	alert := func(n uint64, title string) string {
		t.Helper()
		m := alertmanager()
		m.Attachments[0].Title = title
		fake.WaitAck(t, fake.PushEvent(t, fake.MessageEvent(m)))
		var room string
		require.Eventually(t, func() bool {
			inc, err := e.svc.Get(ctx, n)
			if err != nil || inc.Home.Channel == slacktest.AlertsChannel {
				return false
			}
			room = inc.Home.Channel
			return true
		}, slacktest.WaitTimeout, 10*time.Millisecond, "#%d got no channel of its own", n)
		return room
	}
	cmd := func(channel, text string) {
		t.Helper()
		fake.WaitAck(t, fake.PushCommand(t, fake.Command(ana, channel, text)))
	}
	saidIn := func(channel, what string) {
		t.Helper()
		require.Eventuallyf(t, func() bool {
			for _, m := range fake.Messages(channel) {
				if m.User == slacktest.BotUserID && strings.Contains(m.Text, what) {
					return true
				}
			}
			for _, m := range fake.Ephemerals() {
				if m.Channel == channel && strings.Contains(m.Text, what) {
					return true
				}
			}
			return false
		}, slacktest.WaitTimeout, 10*time.Millisecond, "Firebreak did not say %q in %s: %+v", what, channel, fake.Ephemerals())
	}

	room1 := alert(1, "[FIRING:1] HighErrorRate api-gateway (severity=critical)")
	cmd(room1, "resolve rolled back")
	require.Eventually(t, func() bool { return get(1).Status == incidents.StatusResolved }, slacktest.WaitTimeout, 10*time.Millisecond)
	room2 := alert(2, "[FIRING:1] DiskFull db-1 (severity=warning)")
	room3 := alert(3, "[FIRING:1] CertExpiring shop (severity=warning)")

	cmd(room2, "ack")
	saidIn(room2, "acknowledged *#2*")
	assert.Equal(t, incidents.StatusAcknowledged, get(2).Status)
	assert.Equal(t, incidents.StatusTriggered, get(3).Status)

	cmd(room3, "note renewing the certificate")
	saidIn(room3, "added a note to *#3*")

	cmd(room1, "status")
	saidIn(room1, "#1 HighErrorRate")

	cmd(slacktest.AlertsChannel, "severity SEV2")
	saidIn(slacktest.AlertsChannel, "Several incidents are open")
	assert.NotEqual(t, incidents.SEV2, get(2).Severity, "nothing changes before Ana picks")
	assert.NotEqual(t, incidents.SEV2, get(3).Severity, "nothing changes before Ana picks")

	cmd(room2, "resolve disk freed")
	require.Eventually(t, func() bool { return get(2).Status == incidents.StatusResolved }, slacktest.WaitTimeout, 10*time.Millisecond)
	cmd(slacktest.AlertsChannel, "severity SEV2")
	require.Eventually(t, func() bool { return get(3).Severity == incidents.SEV2 }, slacktest.WaitTimeout, 10*time.Millisecond,
		"in #alerts a bare command means the one incident still open")
	assert.Equal(t, incidents.StatusResolved, get(1).Status)
	assert.NotEqual(t, incidents.SEV2, get(1).Severity, "the resolved incidents are untouched")
}

// TestDocumentedBareCommandsInSlack types every bare example of
// docs/commands.md as a Slack slash command (no thread) in #alerts while #1
// is resolved and #2 and #3 are open in their alerts' threads: each one asks
// Ana privately and changes nothing. Once #2 is resolved, each reaches #3,
// and the resolved incidents get no timeline entry more.
func TestDocumentedBareCommandsInSlack(t *testing.T) {
	e := start(t, true, true)
	fake := e.fake
	ctx := context.Background()
	entries := func() []int {
		t.Helper()
		var out []int
		for n := uint64(1); n <= 3; n++ {
			c := 0
			require.NoError(t, e.svc.Timeline(ctx, n, func(incidents.Entry) error { c++; return nil }))
			out = append(out, c)
		}
		return out
	}
	// said waits until Firebreak has said something new (in the channel,
	// any thread, or to Ana alone) containing what, and returns all new.
	seenMsgs, seenEph := 0, 0
	said := func(cmd, what string) string {
		t.Helper()
		var fresh string
		var msgs []slacktest.Message
		var eph []slacktest.Ephemeral
		require.Eventuallyf(t, func() bool {
			msgs, eph = fake.Messages(slacktest.AlertsChannel), fake.Ephemerals()
			var b strings.Builder
			for _, m := range msgs[min(seenMsgs, len(msgs)):] {
				if m.User == slacktest.BotUserID {
					b.WriteString(m.Text + "\n")
				}
			}
			for _, m := range eph[min(seenEph, len(eph)):] {
				b.WriteString(m.Text + "\n")
			}
			fresh = b.String()
			return strings.Contains(fresh, what)
		}, slacktest.WaitTimeout, 10*time.Millisecond, "%s: Firebreak did not say %q", cmd, what)
		seenMsgs, seenEph = len(msgs), len(eph)
		return fresh
	}
	cmd := func(text, what string) string {
		t.Helper()
		fake.WaitAck(t, fake.PushCommand(t, fake.Command(ana, slacktest.AlertsChannel, strings.TrimPrefix(text, "/incident "))))
		return said(text, what)
	}
	alert := func(title string) {
		t.Helper()
		m := alertmanager()
		m.Attachments[0].Title = title
		fake.WaitAck(t, fake.PushEvent(t, fake.MessageEvent(m)))
	}

	cmd("/incident declare Old outage SEV3", "#1 Old outage")
	cmd("/incident resolve it is over", "resolved *#1*")
	alert("[FIRING:1] HighErrorRate api-gateway (severity=critical)")
	said("alert 2", "#2 · Step 1/")
	alert("[FIRING:1] DiskFull db-1 (severity=warning)")
	said("alert 3", "#3 · Step 1/")

	cmds := documentedBareCommands(t)
	for _, c := range cmds {
		was := entries()
		cmd(c, "Several incidents are open in this channel")
		assert.Equal(t, was, entries(), "%s changed something before anyone picked", c)
	}

	cmd("/incident #2 resolve rolled back", "resolved *#2*")
	was := entries()
	for _, c := range cmds {
		fresh := cmd(c, "#3")
		assert.NotContains(t, fresh, "Several incidents are open", c)
		assert.NotRegexp(t, `#[12]\b`, fresh, "%s: a resolved incident is never meant", c)
	}
	now := entries()
	assert.Equal(t, was[:2], now[:2], "the resolved incidents are untouched")
	inc, err := e.svc.Get(ctx, 3)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusResolved, inc.Status, "the table's resolve example closed #3")
}

// documentedBareCommands are the examples of docs/commands.md's command
// table that name no incident and act on one, as a user copies them, and
// status and postmortem as the README types them.
func documentedBareCommands(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/commands.md")
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile("(?m)^\\| `[^`]+` .*\\| `(/incident [^`]+)` \\|$").FindAllStringSubmatch(string(doc), -1) {
		cmd := m[1]
		name := strings.Fields(cmd)[1]
		if strings.Contains(cmd, "#") || name == "declare" || name == "list" || name == "help" {
			continue
		}
		out = append(out, cmd)
	}
	require.GreaterOrEqual(t, len(out), 10, "the command table of docs/commands.md has its examples")
	return append(out, "/incident status", "/incident postmortem")
}
