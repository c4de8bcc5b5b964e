// Package hatest runs replicas of the real firebreak binary on an embedded
// etcd against the loopback chat fakes of bot/internal (which only
// packages under bot/ may import), to check what high availability
// promises the chat platforms. It holds tests only.
package hatest_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/internal/discordtest"
	"github.com/firebreak/firebreak/bot/internal/slacktest"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

const config = `alert_channels: ["#alerts"]
playbooks:
  - id: drill
    name: Gateway drill
    default: true
    steps:
      - id: look
        title: Look around
`

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// leads reports whether the replica at addr says firebreak_leader 1.
func leads(addr string) bool {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), "\nfirebreak_leader 1\n")
}

// TestChatGatewaysRunOnTheLeaderOnly: two replicas of the real binary,
// both configured for Slack in Socket Mode and for Discord against the
// loopback fakes. Only the leader opens a Socket Mode connection and a
// Discord gateway session, so each chat event reaches one replica (Discord
// sends every event to every session of a bot). When the leader is
// SIGKILLed, the other replica takes over, opens both, and a slash command
// sent on its connection declares an incident: the incident loop goes on
// under the new leader.
func TestChatGatewaysRunOnTheLeaderOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts an embedded etcd")
	}
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	slack := slacktest.New(t)
	discord := discordtest.New(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "firebreak")
	out, err := exec.Command("go", "build", "-race", "-o", bin, "../../cmd/firebreak").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(config), 0o600))

	start := func(name string) (*exec.Cmd, string) {
		addr := freeAddr(t)
		cmd := exec.Command(bin, "serve", "-headless")
		cmd.Dir = dir
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
			"FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml"),
			"FIREBREAK_LISTEN=" + addr,
			"FIREBREAK_WEBHOOK_TOKEN=drill-token",
			"FIREBREAK_LOG_LEVEL=info",
			"FIREBREAK_ETCD_ENDPOINTS=" + cluster.Endpoints[0],
			"FIREBREAK_ETCD_PREFIX=gateways/",
			"FIREBREAK_LEADER_TTL=2s",
			"FIREBREAK_REPLICA=" + name,
			"SLACK_BOT_TOKEN=" + slacktest.BotToken,
			"SLACK_APP_TOKEN=" + slacktest.AppToken,
			"SLACK_API_URL=" + slack.URL(),
		}
		for _, k := range []string{"DISCORD_BOT_TOKEN", "DISCORD_APP_ID", "DISCORD_GUILD_ID", "DISCORD_API_URL"} {
			cmd.Env = append(cmd.Env, k+"="+discord.Getenv(k))
		}
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "level=ERROR") {
					t.Logf("%s: %s", name, sc.Text())
				}
			}
		}()
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 30*time.Second, 20*time.Millisecond, "%s did not come up", name)
		return cmd, addr
	}

	a, addrA := start("a")
	require.Eventually(t, func() bool { return leads(addrA) }, 30*time.Second, 20*time.Millisecond, "a leads")
	slack.WaitConnected(t, 1)
	discord.WaitGateway(30*time.Second, "the leader's session", func(st discordtest.GatewayStats) bool { return st.Identifies >= 1 })
	_, addrB := start("b")
	require.False(t, leads(addrB))
	time.Sleep(3 * time.Second) // what a follower would need to connect, and more
	assert.Equal(t, 1, slack.Connects(), "only the leader opens Socket Mode")
	assert.Equal(t, 1, discord.Stats().Identifies, "only the leader opens a Discord gateway session")

	// The leader dies; the follower takes over and opens both.
	require.NoError(t, a.Process.Signal(syscall.SIGKILL))
	_ = a.Wait()
	require.Eventually(t, func() bool { return leads(addrB) }, 30*time.Second, 20*time.Millisecond, "b leads after the kill")
	slack.WaitConnected(t, 2)
	discord.WaitGateway(30*time.Second, "the new leader's session", func(st discordtest.GatewayStats) bool { return st.Identifies >= 2 })

	// The incident loop goes on under the new leader: a slash command on
	// its connection declares an incident, announced in the channel.
	env := slack.PushCommand(t, slack.Command("U0ANA", slacktest.AlertsChannel, "declare Checkout is failing SEV2"))
	slack.WaitAck(t, env)
	require.Eventually(t, func() bool {
		for _, m := range slack.Messages(slacktest.AlertsChannel) {
			if strings.Contains(m.Text, "Checkout is failing") {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "the new leader declared the incident: %v", fmt.Sprint(slack.Messages(slacktest.AlertsChannel)))
	assert.Equal(t, 2, slack.Connects(), "one connection per leadership")
	assert.Equal(t, 2, discord.Stats().Identifies)
}
