package crashtest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// roomsConfig gives every incident a room of its own.
const roomsConfig = `alert_channels: ["#alerts"]
incidents:
  channel_per_incident: true
playbooks:
  - id: drill
    name: Crash drill
    default: true
    steps:
      - id: look
        title: Look around
      - id: fix
        title: Fix it
`

const roomKills = 3

// TestCrashOpensEveryRoomOnce: with a room per incident, the real binary
// is killed with SIGKILL three times while alerts arrive by webhook and
// every delivery (the opening of rooms included) waits in the outbox; then
// it runs once cleanly. Every incident committed got exactly one room — a
// Slack channel, a Discord thread on its card — its home is that room,
// it moved there once, and its first step card is in it; nothing was
// given up.
func TestCrashOpensEveryRoomOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash drill builds and kills the real binary")
	}
	bin := filepath.Join(t.TempDir(), "firebreak")
	out, err := exec.Command("go", "build", "-race", "-o", bin, "../../cmd/firebreak").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	t.Run("slack", func(t *testing.T) {
		c := newSlackChat(t, false)
		roomDrill(t, bin, c, func(inc *incidents.Incident) (string, int, []string) {
			prefix := fmt.Sprintf("inc-%d-", inc.Number)
			var id string
			n := 0
			for _, ch := range c.fake.Channels() {
				if strings.HasPrefix(ch.Name, prefix) {
					id = ch.ID
					n++
				}
			}
			var texts []string
			for _, m := range c.fake.Messages(id) {
				texts = append(texts, m.Text)
			}
			return id, n, texts
		}, func() int { return len(c.fake.Calls("conversations.create")) })
	})
	t.Run("discord", func(t *testing.T) {
		c := newDiscordChat(t)
		roomDrill(t, bin, c, func(inc *incidents.Incident) (string, int, []string) {
			prefix := fmt.Sprintf("inc-%d-", inc.Number)
			var id string
			n := 0
			for _, th := range c.fake.Threads(c.fake.ChannelID("alerts")) {
				if strings.HasPrefix(th.Name, prefix) {
					id = th.ID
					n++
				}
			}
			var texts []string
			for _, m := range c.fake.Messages(id) {
				texts = append(texts, m.Content)
			}
			return id, n, texts
		}, func() int {
			return len(c.fake.CallsTo("POST /channels/{channel}/messages/{message}/threads"))
		})
	})
}

// roomDrill runs the drill on one chat. room finds an incident's rooms on
// the fake: the id of the one whose name is the incident's, how many
// there are, and the texts posted in it; creates counts the attempts to
// create a room.
func roomDrill(t *testing.T, bin string, c chat, room func(*incidents.Incident) (string, int, []string), creates func() int) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(roomsConfig), 0o600))
	dbPath := filepath.Join(dir, "firebreak.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	var pendingAtKills []int
	var opened int
	for cycle := range roomKills {
		p := start(t, bin, dir, c, cycle+1, "FIREBREAK_DRILL_POST_DELAY="+postDelay)
		for i := range alertsPerCycle {
			require.NoError(t, postAlert(p.addr, fmt.Sprintf("room-%d-%d", cycle, i)))
			opened++
		}
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		p.kill(t)
		db, err := storage.Open(dbPath, storage.Options{})
		require.NoError(t, err)
		_, pending, err := db.Outbox().Counts(context.Background())
		require.NoError(t, err)
		require.NoError(t, db.Close())
		pendingAtKills = append(pendingAtKills, pending)
	}
	p := start(t, bin, dir, c, roomKills+1)
	p.waitIdle(t, 45*time.Second)
	p.stop(t)

	db, err := storage.Open(dbPath, storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	all, pending, err := db.Outbox().Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, pending, "effects still pending after the clean run")
	rooms := 0
	for id := uint64(1); id <= uint64(all); id++ {
		e, err := db.Outbox().Effect(ctx, id)
		require.NoError(t, err)
		assert.NotEqual(t, incidents.EffectGaveUp, e.Status, "effect %d (%s of #%d) given up: %s", id, e.Kind, e.Incident, e.Reason)
		if e.Kind == incidents.EffectRoom {
			rooms++
		}
	}
	var committed, duplicateSteps int
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			committed++
			id, n, texts := room(inc)
			assert.Equal(t, 1, n, "incident #%d has %d rooms", inc.Number, n)
			assert.False(t, inc.Mirror.IsZero(), "incident #%d never moved to its room", inc.Number)
			assert.Contains(t, []string{inc.Home.Channel, inc.Home.Thread}, id, "incident #%d's home is not its room", inc.Number)
			moves := 0
			require.NoError(t, tx.Entries(inc.Number, 0, func(e incidents.Entry) error {
				if e.Kind == incidents.EntryChannel {
					moves++
				}
				return nil
			}))
			assert.Equal(t, 1, moves, "incident #%d moved %d times", inc.Number, moves)
			steps := 0
			for _, text := range texts {
				if strings.Contains(strings.ReplaceAll(text, "*", ""), "Step 1/2: Look around") {
					steps++
				}
			}
			assert.GreaterOrEqual(t, steps, 1, "incident #%d's first step is not in its room", inc.Number)
			assert.LessOrEqual(t, steps, 1+roomKills, "incident #%d's first step posted more often than the duplicate window allows", inc.Number)
			duplicateSteps += max(steps-1, 0)
			return nil
		})
	}))
	assert.Equal(t, opened, committed, "every alert the webhook took opened an incident")
	assert.Equal(t, committed, rooms, "one room effect per incident")
	t.Logf("room drill: %d kills, effects pending at the kills %v, %d incidents, %d room creations asked of the platform for %d rooms, %d duplicate first steps",
		roomKills, pendingAtKills, committed, creates(), committed, duplicateSteps)
	for i, n := range pendingAtKills {
		assert.Positive(t, n, "kill %d fell where nothing was pending; it tested nothing", i+1)
	}
}
