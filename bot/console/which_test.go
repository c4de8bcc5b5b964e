package console

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
)

// TestButtonNumbersAreStable is issue 12's item 4: pressing 3
// (Acknowledge) and then 3 again used to resolve the incident, because the
// redrawn card renumbered Resolve to 3. Numbers now stay with their
// button, and Resolve asks for a summary instead of closing.
func TestButtonNumbersAreStable(t *testing.T) {
	tr, w := run(t, strings.Join([]string{alertLine, "3", "3", "4"}, "\n"), Options{})
	assert.Contains(t, tr, "    [1] Done [2] Skip [3] Acknowledge [4] Resolve\n")
	assert.Contains(t, tr, "    [1] Done [2] Skip [4] Resolve\n", "the updated card keeps the numbers")
	assert.Contains(t, tr, "no button [3]")
	assert.Contains(t, tr, "Firebreak (only you): To resolve #1, type `/incident #1 resolve <summary>`")
	inc, err := w.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusAcknowledged, inc.Status, "no keystroke closed the incident")
}

// TestConsoleBareCommandsInASharedChannel types the README's bare commands
// in #alerts while one incident there is resolved and two are open: each
// reaches the incident meant, or asks with numbered choices.
func TestConsoleBareCommandsInASharedChannel(t *testing.T) {
	script := strings.Join([]string{
		"/incident declare Old outage SEV3",
		"/incident resolve it is over",
		alertLine,
		"/incident ack",
		"[FIRING:1] DiskFull db-1 (severity=warning) disk 95%",
		"/incident note checking the disks",
		"1",
		"/incident #2 resolve rolled back",
		"/incident severity SEV2",
		"/incident update db-1 cleanup under way",
		"/react pushpin",
	}, "\n")
	tr, w := run(t, script, Options{})
	assert.Contains(t, tr, "@ana acknowledged #2", "the one open incident, not the resolved #1")
	assert.Contains(t, tr, "Firebreak (only you): 🤔 Several incidents are open in this channel. Which one did you mean?\n• #3 DiskFull db-1")
	assert.Contains(t, tr, "    [1] #3 DiskFull db-1 disk 95% [2] #2 HighErrorRate api-gateway 5xx rate 17%\n")
	assert.Contains(t, tr, "@ana added a note to #3: checking the disks", "pressing 1 picks #3")
	assert.Contains(t, tr, "@ana resolved #2")
	assert.Contains(t, tr, "@ana set #3 to SEV2")
	assert.Contains(t, tr, "Status update on #3")
	assert.Contains(t, tr, "Pinned to the timeline of #3")
	assert.NotContains(t, tr, "already resolved")
	for n, want := range map[uint64]incidents.Status{1: incidents.StatusResolved, 2: incidents.StatusResolved, 3: incidents.StatusTriggered} {
		inc, err := w.svc.Get(context.Background(), n)
		require.NoError(t, err)
		assert.Equal(t, want, inc.Status, "#%d", n)
	}
}

func TestNumbersAreNeverReusedOnAMessage(t *testing.T) {
	a := func(id, v string) bot.Action { return bot.Action{ID: id, Value: v, Label: id} }
	first := number(numbering{}, []bot.Action{a("done", "1:x"), a("ack", "1"), a("resolve", "1")})
	nums := func(n numbering) []int {
		var out []int
		for _, b := range n.buttons {
			out = append(out, b.n)
		}
		return out
	}
	assert.Equal(t, []int{1, 2, 3}, nums(first))
	second := number(first, []bot.Action{a("done", "1:x"), a("ack", "1")})
	assert.Equal(t, []int{1, 2}, nums(second))
	third := number(second, []bot.Action{a("done", "1:x"), a("mitigate", "1")})
	assert.Equal(t, []int{1, 4}, nums(third), "3 was Resolve on this message; it is never reused")
}

// TestConsolePickIsSingleUse: a "which incident?" question is answered
// once. Pressing its number again used to run the command again (a second
// note); now the question loses its buttons when answered, so the number
// presses nothing.
func TestConsolePickIsSingleUse(t *testing.T) {
	script := strings.Join([]string{
		alertLine,
		"[FIRING:1] DiskFull db-1 (severity=warning) disk 95%",
		"/incident note checking the disks",
		"1",
		"1",
		"2",
	}, "\n")
	tr, w := run(t, script, Options{})
	assert.Equal(t, 1, strings.Count(tr, "added a note"), tr)
	assert.Contains(t, tr, "(updated) Firebreak (only you): 👉 You picked #2: `/incident #2 note checking the disks`\n", "the question shows the choice, without buttons, still only to you")
	assert.Equal(t, 2, strings.Count(tr, "no button ["), "neither number presses anything once answered")
	for n, want := range map[uint64]int{1: 0, 2: 1} {
		got := 0
		require.NoError(t, w.svc.Timeline(context.Background(), n, func(e incidents.Entry) error {
			if e.Kind == incidents.EntryNote {
				got++
			}
			return nil
		}))
		assert.Equal(t, want, got, "notes on #%d", n)
	}
}
