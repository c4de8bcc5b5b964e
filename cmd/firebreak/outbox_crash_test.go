package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// Console lines of what the drill checks: an incident's card and its
// escalation notice.
var (
	cardLine       = regexp.MustCompile(`^\[#alerts\] Firebreak: \S+ #(\d+) Drill \S+ · SEV4`)
	escalationLine = regexp.MustCompile(`^\[#alerts\] Firebreak: 🔔 #(\d+) Drill \S+ is not acknowledged`)
)

// TestCrashDeliversEveryEffect kills the real binary with SIGKILL while
// alerts arrive by webhook and every post waits 15 ms in the outbox
// (FIREBREAK_DRILL_POST_DELAY), so that at each kill some effects are
// committed and not yet posted. After the restarts and one clean run,
// every card and escalation notice that was committed has appeared in the
// console (the chat) at least once, the outbox holds nothing pending, and
// the repeats stay within the documented duplicate window: at most one
// per kill, since the console is one lane and a lane has one effect in
// flight.
func TestCrashDeliversEveryEffect(t *testing.T) {
	if testing.Short() {
		t.Skip("crash drill builds and kills the real binary")
	}
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))
	slow := []string{drillDelayEnv + "=15ms"}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	addr := freeAddr(t)
	var output []string
	var kills, pendingAtKills int
	for cycle := range 5 {
		b := startBotEnv(t, bin, dir, addr, slow, "-console")
		waitHealthy(t, addr)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Go(func() {
				for i := 0; i < 200 && ctx.Err() == nil; i++ {
					_, _ = postAlert(ctx, addr, fmt.Sprintf("o%d-g%d-a%d", cycle, g, i))
				}
			})
		}
		time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
		require.NoError(t, b.cmd.Process.Kill())
		_ = b.cmd.Wait()
		stop()
		wg.Wait()
		<-b.done
		kills++
		output = append(output, b.output())
		db, err := storage.Open(filepath.Join(dir, "firebreak.db"), storage.Options{})
		require.NoError(t, err)
		_, pending, err := db.Outbox().Counts(context.Background())
		require.NoError(t, err)
		pendingAtKills += pending
		require.NoError(t, db.Close())
	}

	// A clean run delivers what is left and fires the due escalations;
	// the console waits for the outbox before it stops at end of input.
	final := startBotEnv(t, bin, dir, addr, nil, "-console")
	waitHealthy(t, addr)
	time.Sleep(2500 * time.Millisecond)
	require.NoError(t, final.stdin.Close())
	require.NoError(t, final.cmd.Wait())
	<-final.done
	output = append(output, final.output())

	cards, escalations := map[uint64]int{}, map[uint64]int{}
	for _, run := range output {
		for _, l := range strings.Split(run, "\n") {
			if m := cardLine.FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseUint(m[1], 10, 64)
				cards[n]++
			}
			if m := escalationLine.FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseUint(m[1], 10, 64)
				escalations[n]++
			}
		}
	}

	db, err := storage.Open(filepath.Join(dir, "firebreak.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	all, pending, err := db.Outbox().Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, pending, "effects still pending after the clean run")
	wantCards, wantEscalations := map[uint64]bool{}, map[uint64]bool{}
	for id := uint64(1); id <= uint64(all); id++ {
		e, err := db.Outbox().Effect(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, incidents.EffectDelivered, e.Status, "effect %d (%s of #%d): %s", id, e.Kind, e.Incident, e.Reason)
		switch {
		case strings.HasPrefix(e.Key, "card/"):
			wantCards[e.Incident] = true
		case strings.Contains(e.Message.Text, "is not acknowledged"):
			wantEscalations[e.Incident] = true
		}
	}
	var incidentsCommitted int
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			incidentsCommitted++
			assert.True(t, wantCards[inc.Number], "incident #%d was committed without its card", inc.Number)
			return nil
		})
	}))

	var missing, duplicates int
	for n := range wantCards {
		if cards[n] == 0 {
			missing++
			t.Errorf("the card of incident #%d never reached the chat", n)
		}
		duplicates += max(cards[n]-1, 0)
	}
	for n := range wantEscalations {
		if escalations[n] == 0 {
			missing++
			t.Errorf("the escalation of incident #%d never reached the chat", n)
		}
		duplicates += max(escalations[n]-1, 0)
	}
	t.Logf("outbox crash drill: %d kills, %d effects pending at the kills in total, %d incidents, %d cards and %d escalations committed, %d missing, %d posted twice",
		kills, pendingAtKills, incidentsCommitted, len(wantCards), len(wantEscalations), missing, duplicates)
	assert.Positive(t, pendingAtKills, "no kill fell between a commit and its post; the drill tested nothing")
	assert.LessOrEqual(t, duplicates, kills, "more duplicates than the window allows (one per lane per kill)")
}
