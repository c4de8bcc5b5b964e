// Package crashtest drills the outbox's crash guarantee on Slack and
// Discord: the real firebreak binary, configured for the loopback chat
// fakes of bot/internal (which only packages under bot/ may import), is
// killed with SIGKILL while posts wait in its outbox, and restarted on the
// same bbolt file. It holds tests only.
package crashtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/discordtest"
	"github.com/firebreak/firebreak/bot/internal/slacktest"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// config: no grouping, so every alert opens its own incident; a two-step
// playbook, so a step press posts a notice and the next step card; an
// escalation due a second after an incident opens, so timers fire while
// the bot is killed and restarted.
const config = `alert_channels: ["#alerts"]
escalation:
  levels:
    - after: 1s
      notify: ["@oncall"]
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

const (
	kills          = 4
	alertsPerCycle = 3
	// postDelay is FIREBREAK_DRILL_POST_DELAY in the killed runs: every
	// post waits this long in the outbox, so kills find effects pending.
	postDelay = "150ms"
)

// chat is one platform's fake as the drill drives and reads it.
type chat interface {
	// env configures the binary for the fake.
	env() []string
	// connected waits until the run number run (from 1), listening on
	// addr, is connected.
	connected(t *testing.T, run int, addr string)
	// ack sends "/incident ack #n" in the alert channel.
	ack(t *testing.T, n uint64)
	// pressStep presses Done on one step card not pressed before, if the
	// chat shows one; it reports whether it did.
	pressStep(t *testing.T) bool
	// posts returns the text of every message the fake accepted from
	// Firebreak, duplicates included, in the order they were posted.
	posts() []string
}

// TestCrashDeliversEveryEffectOnChat: for Slack (Socket Mode, and signed
// HTTP requests to /slack/) and Discord (gateway), the real binary is killed with SIGKILL four times while
// alerts arrive by webhook, users acknowledge with /incident ack and press
// step buttons, escalations fall due, and every post waits in the outbox;
// then it runs once cleanly until the outbox is idle. Every card, step card
// and escalation notice that was committed appears on the fake exactly
// once, or at most once more per kill (docs/outbox.md, "The duplicate
// window"); nothing stays pending and nothing was given up.
func TestCrashDeliversEveryEffectOnChat(t *testing.T) {
	if testing.Short() {
		t.Skip("crash drill builds and kills the real binary")
	}
	bin := filepath.Join(t.TempDir(), "firebreak")
	out, err := exec.Command("go", "build", "-race", "-o", bin, "../../cmd/firebreak").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	t.Run("slack", func(t *testing.T) { drill(t, bin, newSlackChat(t, false)) })
	t.Run("slack-http", func(t *testing.T) { drill(t, bin, newSlackChat(t, true)) })
	t.Run("discord", func(t *testing.T) { drill(t, bin, newDiscordChat(t)) })
}

func drill(t *testing.T, bin string, c chat) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(config), 0o600))
	dbPath := filepath.Join(dir, "firebreak.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	began := time.Now()

	var pendingAtKills []int
	var opened uint64
	for cycle := range kills {
		p := start(t, bin, dir, c, cycle+1, "FIREBREAK_DRILL_POST_DELAY="+postDelay)
		// Users act on what earlier runs posted: a step press, an ack of an
		// older incident (before or after its escalation fell due).
		c.pressStep(t)
		if opened > 0 {
			c.ack(t, 1+rng.Uint64N(opened))
		}
		for i := range alertsPerCycle {
			require.NoError(t, postAlert(p.addr, fmt.Sprintf("crash-%d-%d", cycle, i)))
			opened++
		}
		c.ack(t, opened-uint64(rng.IntN(alertsPerCycle)))
		time.Sleep(time.Duration(200+rng.IntN(700)) * time.Millisecond)
		c.pressStep(t)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		p.kill(t)

		db, err := storage.Open(dbPath, storage.Options{})
		require.NoError(t, err)
		_, pending, err := db.Outbox().Counts(context.Background())
		require.NoError(t, err)
		require.NoError(t, db.Close())
		pendingAtKills = append(pendingAtKills, pending)
	}

	// A clean run delivers what is left (paced at a message a second per
	// channel) and fires the escalations that fell due meanwhile.
	p := start(t, bin, dir, c, kills+1)
	p.waitIdle(t, 45*time.Second)
	p.stop(t)

	db, err := storage.Open(dbPath, storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	all, pending, err := db.Outbox().Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, pending, "effects still pending after the clean run")

	// What was committed: from the outbox, the incidents' cards, their step
	// cards and their escalation notices, and the channels (lanes) they
	// were posted in.
	want := map[item]int{}
	lanes := map[string]bool{}
	for id := uint64(1); id <= uint64(all); id++ {
		e, err := db.Outbox().Effect(ctx, id)
		require.NoError(t, err)
		assert.Contains(t, []incidents.EffectStatus{incidents.EffectDelivered, incidents.EffectCoalesced}, e.Status,
			"effect %d (%s of #%d): %s", id, e.Kind, e.Incident, e.Reason)
		if e.Kind != incidents.EffectPost {
			continue
		}
		lanes[e.Channel()] = true
		it, ok := classify(e.Message.Text)
		if strings.HasPrefix(e.Key, "card/") {
			require.True(t, ok && it.kind == "card", "card effect %d reads %q", id, e.Message.Text)
		}
		if ok {
			want[it]++
		}
	}
	var committed int
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			committed++
			assert.Positive(t, want[item{"card", inc.Number, ""}], "incident #%d was committed without its card", inc.Number)
			return nil
		})
	}))
	assert.EqualValues(t, opened, committed, "every alert the webhook took opened an incident")

	// What the fake shows, counted the same way.
	got := map[item]int{}
	var acks, secondSteps int
	for _, text := range c.posts() {
		if it, ok := classify(text); ok {
			got[it]++
			if it.step == "Fix it" {
				secondSteps++
			}
		}
		if ackText.MatchString(strings.ReplaceAll(text, "*", "")) {
			acks++
		}
	}
	// The users' acts went through: acks were announced, and presses of
	// Done brought second steps.
	assert.Positive(t, acks, "no acknowledgement reached the chat")
	assert.Positive(t, secondSteps, "no step press reached the chat")
	perKind := map[string]*struct{ committed, missing, duplicates int }{}
	var missing, duplicates int
	for it, n := range want {
		k := perKind[it.kind]
		if k == nil {
			k = &struct{ committed, missing, duplicates int }{}
			perKind[it.kind] = k
		}
		k.committed += n
		switch g := got[it]; {
		case g < n:
			k.missing += n - g
			missing += n - g
			t.Errorf("%s never reached the chat (%d committed, %d posted)", it, n, g)
		case g > n:
			k.duplicates += g - n
			duplicates += g - n
			assert.LessOrEqual(t, g-n, kills, "%s was posted %d times: more repeats than kills", it, g)
			t.Logf("%s posted %d times (committed %d)", it, g, n)
		}
		delete(got, it)
	}
	for it, g := range got {
		t.Errorf("%s posted %d times but never committed", it, g)
	}
	var summary []string
	for _, kind := range []string{"card", "step", "escalation"} {
		if k := perKind[kind]; k != nil {
			summary = append(summary, fmt.Sprintf("%s %d/%d/%d", kind, k.committed, k.missing, k.duplicates))
		}
	}
	t.Logf("crash drill: %d kills, effects pending at the kills %v, %d incidents, %d acks and %d second steps posted, %d outbox effects, post lanes %v; committed/missing/duplicates: %s; %d missing, %d duplicates; %s",
		kills, pendingAtKills, committed, acks, secondSteps, all, slices.Sorted(maps.Keys(lanes)), strings.Join(summary, ", "), missing, duplicates, time.Since(began).Round(100*time.Millisecond))
	for i, n := range pendingAtKills {
		assert.Positive(t, n, "kill %d fell where nothing was pending; it tested nothing", i+1)
	}
	assert.True(t, perKind["step"] != nil && perKind["escalation"] != nil, "the drill committed step cards and escalations")
	assert.LessOrEqual(t, duplicates, kills*len(lanes), "more duplicates than the window allows (one per lane per kill)")
}

// item is one message the drill counts: an incident's card, a step card or
// an escalation notice.
type item struct {
	kind string
	n    uint64
	step string
}

func (it item) String() string {
	if it.step != "" {
		return fmt.Sprintf("the %s card %q of #%d", it.kind, it.step, it.n)
	}
	return fmt.Sprintf("the %s of #%d", it.kind, it.n)
}

// The texts of what the drill counts, as the outbox records them and as
// the platforms receive them, once their markup is gone.
var (
	cardText       = regexp.MustCompile(`^\S+ #(\d+) Drill crash-\d+-\d+ · SEV4 · triggered`)
	stepText       = regexp.MustCompile(`^#(\d+) · Step \d+/\d+: (Look around|Fix it)$`)
	escalationText = regexp.MustCompile(`^🔔 #(\d+) Drill crash-\d+-\d+ is not acknowledged`)
	ackText        = regexp.MustCompile(`acknowledged #\d+ after`)
)

// classify tells what a posted text is, if the drill counts it.
func classify(text string) (item, bool) {
	text = strings.TrimSpace(strings.ReplaceAll(text, "*", ""))
	for kind, re := range map[string]*regexp.Regexp{"card": cardText, "step": stepText, "escalation": escalationText} {
		if m := re.FindStringSubmatch(text); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			it := item{kind: kind, n: n}
			if kind == "step" {
				it.step = m[2]
			}
			return it, true
		}
	}
	return item{}, false
}

// proc is one run of the real binary.
type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// start runs `firebreak serve -headless` for the chat on dir's bbolt file
// and waits until it is healthy and its run-th chat connection is up.
func start(t *testing.T, bin, dir string, c chat, run int, env ...string) *proc {
	t.Helper()
	p := &proc{addr: freeAddr(t), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "-headless")
	p.cmd.Dir = dir
	p.cmd.Env = append(append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "USER=drill",
		"FIREBREAK_DB=" + filepath.Join(dir, "firebreak.db"),
		"FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml"),
		"FIREBREAK_LISTEN=" + p.addr,
		"FIREBREAK_WEBHOOK_TOKEN=drill-token",
		"FIREBREAK_LOG_LEVEL=warn",
	}, c.env()...), env...)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "level=ERROR") {
				t.Logf("run %d: %s", run, sc.Text())
			}
		}
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "run %d did not come up", run)
	c.connected(t, run, p.addr)
	return p
}

// kill ends the run with SIGKILL: no shutdown, nothing flushed.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_ = p.cmd.Wait()
	<-p.done
}

// stop ends the run with SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.cmd.Wait())
	<-p.done
}

// metric reads one unlabelled sample from the run's /metrics.
func (p *proc) metric(name string) (float64, bool) {
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// waitIdle waits until the outbox has held nothing in flight for two
// seconds (more than the escalation's delay, so a timer that falls due
// meanwhile is seen), or fails after timeout.
func (p *proc) waitIdle(t *testing.T, timeout time.Duration) {
	t.Helper()
	var idleSince time.Time
	require.Eventually(t, func() bool {
		v, ok := p.metric("firebreak_outbox_in_flight")
		switch {
		case !ok || v > 0:
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		}
		return !idleSince.IsZero() && time.Since(idleSince) > 2*time.Second
	}, timeout, 50*time.Millisecond, "the outbox did not drain")
}

// postAlert sends one alert to the generic webhook, as a monitoring system
// does, and fails unless Firebreak took it.
func postAlert(addr, fingerprint string) error {
	body := fmt.Sprintf(`{"title": "Drill %s", "service": "svc-%s", "severity": "SEV4", "fingerprint": %q}`, fingerprint, fingerprint, fingerprint)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/alerts/generic", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer drill-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alert %s: %s: %s", fingerprint, resp.Status, b)
	}
	return nil
}

// slackChat drives the Slack fake: over Socket Mode, or with signed HTTP
// requests to Firebreak's /slack/ endpoints (HTTP mode).
type slackChat struct {
	fake    *slacktest.Server
	http    bool
	addr    string // the run's listener, in HTTP mode
	pressed map[string]bool
}

func newSlackChat(t *testing.T, httpMode bool) *slackChat {
	fake := slacktest.New(t)
	fake.AddUser(slacktest.User{ID: "U0ANA", Name: "ana", RealName: "Ana"})
	return &slackChat{fake: fake, http: httpMode, pressed: map[string]bool{}}
}

func (s *slackChat) env() []string {
	env := []string{"SLACK_BOT_TOKEN=" + slacktest.BotToken, "SLACK_API_URL=" + s.fake.URL()}
	if s.http {
		return append(env, "SLACK_SIGNING_SECRET="+slacktest.SigningSecret)
	}
	return append(env, "SLACK_APP_TOKEN="+slacktest.AppToken)
}

func (s *slackChat) connected(t *testing.T, run int, addr string) {
	s.addr = addr
	if !s.http {
		s.fake.WaitConnected(t, run)
	}
}

// deliver sends a signed HTTP request to Firebreak as Slack does, and
// fails unless it answers 200.
func (s *slackChat) deliver(t *testing.T, req *http.Request) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", req.URL.Path, b)
}

func (s *slackChat) ack(t *testing.T, n uint64) {
	cmd := s.fake.Command("U0ANA", slacktest.AlertsChannel, fmt.Sprintf("ack #%d", n))
	if s.http {
		s.deliver(t, slacktest.CommandRequest(t, "http://"+s.addr+"/slack/commands", cmd))
		return
	}
	s.fake.WaitAck(t, s.fake.PushCommand(t, cmd))
}

func (s *slackChat) pressStep(t *testing.T) bool {
	for _, m := range s.fake.Messages(slacktest.AlertsChannel) {
		if s.pressed[m.TS] || !contains(m.Buttons(), bot.ActionStepDone) {
			continue
		}
		s.pressed[m.TS] = true
		press := s.fake.BlockAction(t, "U0ANA", slacktest.AlertsChannel, m.TS, bot.ActionStepDone)
		if s.http {
			s.deliver(t, slacktest.InteractionRequest(t, "http://"+s.addr+"/slack/interactions", press))
		} else {
			s.fake.WaitAck(t, s.fake.PushInteraction(t, press))
		}
		return true
	}
	return false
}

func (s *slackChat) posts() []string {
	var out []string
	for _, c := range s.fake.Calls("chat.postMessage") {
		if c.Status != http.StatusOK || c.Error != "" {
			continue
		}
		text := c.Param("text")
		if v, ok := c.JSON["text"].(string); ok && text == "" {
			text = v
		}
		out = append(out, text)
	}
	return out
}

// discordChat drives the Discord fake over its gateway.
type discordChat struct {
	fake    *discordtest.Server
	user    *discordgo.User
	pressed map[string]bool
}

func newDiscordChat(t *testing.T) *discordChat {
	fake := discordtest.New(t)
	return &discordChat{fake: fake, user: fake.AddUser("ana", "Ana"), pressed: map[string]bool{}}
}

func (d *discordChat) env() []string {
	var env []string
	for _, k := range []string{"DISCORD_BOT_TOKEN", "DISCORD_APP_ID", "DISCORD_GUILD_ID", "DISCORD_API_URL"} {
		env = append(env, k+"="+d.fake.Getenv(k))
	}
	return env
}

func (d *discordChat) connected(t *testing.T, run int, _ string) {
	d.fake.WaitGateway(30*time.Second, fmt.Sprintf("session of run %d", run), func(st discordtest.GatewayStats) bool {
		return st.Identifies >= run && st.Connected
	})
}

func (d *discordChat) ack(t *testing.T, n uint64) {
	in := d.fake.PushCommand(d.fake.ChannelID("alerts"), d.user, "incident", discordtest.Subcommand("ack", discordtest.IntegerOption("incident", int64(n))))
	in.WaitCallback(10 * time.Second)
}

func (d *discordChat) pressStep(t *testing.T) bool {
	alerts := d.fake.ChannelID("alerts")
	chans := []string{alerts}
	for _, th := range d.fake.Threads(alerts) {
		chans = append(chans, th.ID)
	}
	for _, ch := range chans {
		for _, m := range d.fake.Messages(ch) {
			if d.pressed[m.ID] || !hasButton(m, "Done") {
				continue
			}
			d.pressed[m.ID] = true
			d.fake.PressButton(m, d.user, "Done").WaitCallback(10 * time.Second)
			return true
		}
	}
	return false
}

func hasButton(m *discordgo.Message, label string) bool {
	for _, row := range m.Components {
		r, ok := row.(*discordgo.ActionsRow)
		if !ok {
			continue
		}
		for _, c := range r.Components {
			if b, ok := c.(*discordgo.Button); ok && b.Label == label {
				return true
			}
		}
	}
	return false
}

func (d *discordChat) posts() []string {
	var out []string
	for _, c := range d.fake.CallsTo("POST /channels/{channel}/messages") {
		if c.Status != http.StatusOK {
			continue
		}
		// Firebreak's text is the content; fields and buttons are the
		// embeds and components, which the drill does not count.
		var m struct {
			Content string `json:"content"`
		}
		if err := json.Unmarshal(c.Body, &m); err != nil {
			panic("crashtest: the Discord fake recorded a post that is not JSON: " + err.Error())
		}
		out = append(out, m.Content)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
