package bot

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/intake"
)

// TestBareCommandsNeverGuess is issue 12's item 2 as users typed it: a
// declared incident, then an unrelated alert in the same channel. A bare
// resolve must not close the newest incident (the alert's): it asks, and
// the pressed answer resolves the one meant. Afterwards bare commands go to
// the one still open, never to the resolved one.
func TestBareCommandsNeverGuess(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	f.handle(t, f.event(KindCommand, "declare Checkout is failing SEV2"))
	rec := f.handle(t, f.event(KindCommand, "note working on checkout"))
	assert.Contains(t, rec.text(), "**#1**", "one open incident: bare commands mean it")
	f.handle(t, f.event(KindMessage, "[FIRING:1] DiskFull db-1 (severity=warning) disk 95%"))

	rec = f.handle(t, f.event(KindCommand, "resolve rolled back checkout deploy"))
	msgs := rec.all()
	require.Len(t, msgs, 1)
	ask := msgs[0]
	assert.True(t, ask.Ephemeral, "the question goes only to who asked")
	assert.Contains(t, ask.Text, "Several incidents are open")
	assert.Contains(t, ask.Text, "**#2** DiskFull db-1")
	assert.Contains(t, ask.Text, "**#1** Checkout is failing")
	for _, n := range []uint64{1, 2} {
		inc, err := f.svc.Get(ctx, n)
		require.NoError(t, err)
		assert.True(t, inc.Status.Open(), "nothing resolved while asking (#%d)", n)
	}
	require.Len(t, ask.Actions, 2, "a button per open incident")
	var pick Action
	for _, a := range ask.Actions {
		if strings.HasPrefix(a.Label, "#1 ") {
			pick = a
		}
	}
	require.NotEmpty(t, pick.ID)

	press := f.event(KindAction, "")
	press.ActionID, press.Value = pick.ID, pick.Value
	rec = f.handle(t, press)
	assert.Contains(t, rec.text(), "resolved **#1**")
	inc, err := f.svc.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusResolved, inc.Status)
	assert.Equal(t, "rolled back checkout deploy", inc.Summary)
	disk, err := f.svc.Get(ctx, 2)
	require.NoError(t, err)
	assert.True(t, disk.Status.Open())

	for _, cmd := range []string{"note disk cleanup started", "severity SEV2", "update cleaning up db-1"} {
		rec = f.handle(t, f.event(KindCommand, cmd))
		assert.Contains(t, rec.text(), "**#2**", cmd)
		assert.NotContains(t, rec.text(), "already resolved", cmd)
	}
	pin := f.event(KindReaction, "")
	pin.Emoji, pin.TargetText, pin.Target = "pushpin", "df shows /var full", MessageRef{Channel: "C1", ID: "m9"}
	rec = f.handle(t, pin)
	assert.Contains(t, rec.text(), "**#2**", "a pin follows the open incident, not the resolved one")
}

// TestThreadedIncidentReplies: an incident homed in an alert's thread (as
// Slack alerts are) is found from the channel at large, and public replies
// go into its thread so its conversation stays in one place.
func TestThreadedIncidentReplies(t *testing.T) {
	f := newFixture(t, 0)
	alert := f.event(KindMessage, firing)
	alert.Thread = "1700000000.000100"
	f.handle(t, alert)
	inc, err := f.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	require.Equal(t, alert.Thread, inc.Home.Thread)

	rec := f.handle(t, f.event(KindCommand, "ack"))
	msgs := rec.all()
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0].Text, "acknowledged **#1**")
	assert.Equal(t, alert.Thread, msgs[0].Thread, "the reply joins the incident's thread")

	rec = f.handle(t, f.event(KindCommand, "frobnicate"))
	require.Len(t, rec.all(), 1)
	assert.Empty(t, rec.all()[0].Thread, "errors stay where they were typed")
}

// TestPinWithSeveralOpenAsks: a pin in a shared channel with two open
// incidents is not put on either; the reactor is told where to pin.
func TestPinWithSeveralOpenAsks(t *testing.T) {
	f := newFixture(t, 0)
	f.handle(t, f.event(KindCommand, "declare Checkout is failing SEV2"))
	f.handle(t, f.event(KindCommand, "declare Search is slow SEV3"))
	pin := f.event(KindReaction, "")
	pin.Emoji, pin.TargetText, pin.Target = "pushpin", "p99 doubled", MessageRef{Channel: "C1", ID: "m9"}
	rec := f.handle(t, pin)
	msgs := rec.all()
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].Ephemeral)
	assert.Contains(t, msgs[0].Text, "Not pinned")
	for _, n := range []uint64{1, 2} {
		pinned := 0
		require.NoError(t, f.svc.Timeline(context.Background(), n, func(e incidents.Entry) error {
			if e.Kind == incidents.EntryPinned {
				pinned++
			}
			return nil
		}))
		assert.Zero(t, pinned, "#%d", n)
	}
}

// TestPickIsSingleUse: a "which incident?" question is answered once. Its
// buttons are removed from the question, and a second press — a stale
// button still on a user's screen, the same or another incident — is
// refused instead of running the command again. A Router that forgot the
// question (a restart) still applies the change only once.
func TestPickIsSingleUse(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	f.handle(t, f.event(KindCommand, "declare Checkout is failing SEV2"))
	f.handle(t, f.event(KindMessage, "[FIRING:1] DiskFull db-1 (severity=warning) disk 95%"))
	ask := f.handle(t, f.event(KindCommand, "note checking the disks")).all()[0]
	require.Len(t, ask.Actions, 2)
	question := MessageRef{Channel: "C1", ID: "1700000000.000200"}
	press := func(r *Router, a Action) *recorder {
		t.Helper()
		ev := f.event(KindAction, "")
		ev.ActionID, ev.Value, ev.Target = a.ID, a.Value, question
		return handleIn(t, r, f.worker, f.chat, ev)
	}
	notes := func(n uint64) int {
		t.Helper()
		c := 0
		require.NoError(t, f.svc.Timeline(ctx, n, func(e incidents.Entry) error {
			if e.Kind == incidents.EntryNote {
				c++
			}
			return nil
		}))
		return c
	}

	assert.Contains(t, press(f.router, ask.Actions[0]).text(), "added a note to **#2**")
	f.chat.mu.Lock()
	retired, ok := f.chat.updates[question.ID]
	f.chat.mu.Unlock()
	require.True(t, ok, "the question is redrawn")
	assert.Empty(t, retired.Actions, "without its buttons")
	assert.Contains(t, retired.Text, "You picked **#2**")

	for _, a := range ask.Actions {
		rec := press(f.router, a)
		assert.Contains(t, rec.text(), "This question was already answered with #2", a.Label)
		assert.True(t, rec.all()[0].Ephemeral)
	}
	assert.Equal(t, 1, notes(2))
	assert.Zero(t, notes(1))

	restarted, _ := newRouterIntake(t, f.svc, RouterConfig{Logger: f.router.log, PostmortemDir: f.dir, Now: f.clock.Now}, intake.Config{})
	restarted.AddChat("slack", f.chat)
	runRouter(t, restarted)
	press(restarted, ask.Actions[0])
	assert.Equal(t, 1, notes(2), "the same question after a restart notes nothing twice")
}

// TestReadingAfterResolveMeansTheOneJustResolved: with nothing open in a
// shared channel, status, timeline and a postmortem draft mean the
// incident resolved last — not the one opened last, which used to write
// #2's postmortem right after the user resolved #1 — and moving a
// postmortem to review or final, a change, needs the number.
func TestReadingAfterResolveMeansTheOneJustResolved(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	f.handle(t, f.event(KindCommand, "declare Checkout is failing SEV2"))
	f.handle(t, f.event(KindMessage, "[FIRING:1] DiskFull db-1 (severity=warning) disk 95%"))
	f.handle(t, f.event(KindCommand, "#2 resolve freed the disk"))
	f.clock.Advance(time.Minute)
	f.handle(t, f.event(KindCommand, "resolve rolled back checkout"))

	assert.Contains(t, f.handle(t, f.event(KindCommand, "timeline")).text(), "Timeline of #1")
	f.handle(t, f.event(KindCommand, "postmortem"))
	assert.FileExists(t, filepath.Join(f.dir, "incident-1-postmortem.md"), "the postmortem of the incident just resolved")
	rec := f.handle(t, f.event(KindCommand, "postmortem final"))
	assert.Contains(t, rec.text(), "`/incident #1 postmortem final` (the last one resolved here)")
	for _, n := range []uint64{1, 2} {
		inc, err := f.svc.Get(ctx, n)
		require.NoError(t, err)
		assert.NotEqual(t, incidents.PostmortemFinal, inc.PostmortemStatus, "#%d: nothing final unless named", n)
	}
	_, err := os.Stat(filepath.Join(f.dir, "incident-2-postmortem.md"))
	assert.ErrorIs(t, err, os.ErrNotExist, "#2 was not written up")
}

// TestWebhookIncidentsAnswerBareCommands: an Alertmanager webhook's
// incident is homed in the alert channel as playbooks.yaml names it
// ("#alerts"), while a slash command typed there carries the channel's id
// (Slack "C1"). Both spellings are one channel: a bare command finds the
// webhook's incident, and with a declared incident open beside it, asks.
func TestWebhookIncidentsAnswerBareCommands(t *testing.T) {
	ctx := context.Background()
	alert := incidents.Alert{Source: "alertmanager", Status: incidents.AlertFiring, Name: "HighErrorRate", Title: "HighErrorRate checkout", Service: "checkout", Severity: incidents.SEV2}
	tests := []struct {
		name     string
		declared bool
		// configured is how playbooks.yaml spells the alert channel;
		// empty: "#alerts", as the repo's playbooks.yaml does.
		configured string
		want       string
	}{
		{name: "alone, the bare command reaches it", want: "acknowledged **#1**"},
		{name: "beside a declared incident, it asks", declared: true, want: "Several incidents are open"},
		{name: "configured without # and in capitals, it still reaches it", configured: "ALERTS", want: "acknowledged **#1**"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, time.Minute)
			home := cmp.Or(tt.configured, "#alerts")
			f.svc.Playbooks().AlertChannels = []string{home}
			if tt.declared {
				f.handle(t, f.event(KindCommand, "declare Checkout is failing SEV2"))
			}
			outs, err := f.intake.IngestAlerts(ctx, "alertmanager", "am-1", []incidents.Alert{alert})
			require.NoError(t, err)
			require.Equal(t, home, outs[0].Incident.Home.Channel, "homed as configured")
			rec := f.handle(t, f.event(KindCommand, "ack"))
			assert.Contains(t, rec.text(), tt.want)
			if tt.declared {
				assert.Contains(t, rec.text(), "HighErrorRate checkout")
				assert.Contains(t, rec.text(), "Checkout is failing")
				return
			}
			// The news goes where the card went, under the same name: one
			// outbox lane, so it is never posted before the card.
			var lanes []string
			for _, e := range f.store.Effects() {
				if e.Kind == incidents.EffectPost {
					lanes = append(lanes, e.Channel())
				}
			}
			require.NotEmpty(t, lanes)
			assert.Equal(t, []string{"slack/" + home}, slices.Compact(lanes))
		})
	}
}
