package discord

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/discordtest"
	"github.com/firebreak/firebreak/bot/internal/routertest"
	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

const e2ePlaybooks = `
alert_channels: ["#alerts"]
playbooks:
  - id: api
    name: API outage
    default: true
    steps:
      - id: triage
        title: Check the dashboards
      - id: rollback
        title: Roll back the last deploy
`

// firebreak is the real core behind a Discord adapter talking to a fake
// Discord: what a user of the binary gets, minus the database file.
type firebreak struct {
	srv    *discordtest.Server
	svc    *incidents.Service
	router *bot.Router
	a      *Adapter
}

func startFirebreak(t *testing.T) *firebreak {
	t.Helper()
	return startFirebreakWith(t, e2ePlaybooks)
}

// startFirebreakWith is startFirebreak on a playbooks.yaml of the test's own.
func startFirebreakWith(t *testing.T, yaml string) *firebreak {
	t.Helper()
	books, err := playbooks.Parse("playbooks.yaml", []byte(yaml))
	require.NoError(t, err)
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books)
	router, _ := routertest.New(t, svc, bot.RouterConfig{
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		PostmortemDir: t.TempDir(),
	}, intake.Config{})
	srv := discordtest.New(t)
	a := startAdapter(t, srv, router)
	router.AddChat(a.Platform(), a)
	srv.Settle = outboxtest.StartWithRooms(t, store, map[string]bot.Chat{a.Platform(): a}, router.RoomSender(store)).Wait
	return &firebreak{srv: srv, svc: svc, router: router, a: a}
}

// pushAlert posts an Alertmanager-style embed in #alerts.
func (f *firebreak) pushAlert(title string) *discordgo.Message {
	return f.srv.PushMessage(discordtest.Post{
		ChannelID: f.srv.ChannelID("alerts"),
		Webhook:   "Alertmanager",
		Embeds: []*discordgo.MessageEmbed{{
			Title:       title,
			Description: "error ratio above 5% for 10 minutes",
			Fields:      []*discordgo.MessageEmbedField{{Name: "severity", Value: "critical"}, {Name: "service", Value: "api"}},
			Footer:      &discordgo.MessageEmbedFooter{Text: "Alertmanager"},
		}},
	})
}

// stepMessage waits for the bot's card of step stepID, with its buttons.
func (f *firebreak) stepMessage(t *testing.T, stepID string) *discordgo.Message {
	t.Helper()
	return f.srv.WaitMessage(f.srv.ChannelID("alerts"), wait, func(m *discordgo.Message) bool {
		for _, b := range discordtest.Buttons(m) {
			if strings.HasPrefix(b.CustomID, bot.ActionStepDone+"|") && strings.HasSuffix(b.CustomID, ":"+stepID) {
				return true
			}
		}
		return false
	})
}

func (f *firebreak) incidents(t *testing.T) []*incidents.Incident {
	t.Helper()
	list, err := f.svc.List(context.Background(), incidents.ListQuery{})
	require.NoError(t, err)
	return list
}

func (f *firebreak) incident(t *testing.T, n uint64) *incidents.Incident {
	t.Helper()
	inc, err := f.svc.Get(context.Background(), n)
	require.NoError(t, err)
	return inc
}

func button(t *testing.T, m *discordgo.Message, action string) string {
	t.Helper()
	for _, b := range discordtest.Buttons(m) {
		if strings.HasPrefix(b.CustomID, action+"|") {
			return b.CustomID
		}
	}
	t.Fatalf("message %s has no %s button", m.ID, action)
	return ""
}

func TestE2EAlertEmbedOpensIncidentWithStepButtons(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	alert := f.pushAlert("[FIRING:1] HighErrorRate api (critical)")

	step := f.stepMessage(t, "triage")
	assert.Contains(t, step.Content+embedText(step), "Check the dashboards")
	list := f.incidents(t)
	require.Len(t, list, 1)
	inc := list[0]
	assert.Equal(t, "api", inc.Playbook)
	assert.Equal(t, incidents.StatusTriggered, inc.Status)
	assert.Equal(t, "triage", inc.CurrentStep().ID)
	assert.Equal(t, incidents.Home{Platform: "discord", Channel: f.srv.ChannelID("alerts")}, inc.Home)
	assert.NotEmpty(t, alert.ID)
}

func TestE2EButtonAdvancesStepAndRecordsUser(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	step := f.stepMessage(t, "triage")
	n := f.incidents(t)[0].Number

	ann := f.srv.AddUser("ann", "Ann (SRE)")
	in := f.srv.PushComponent(step, ann, button(t, step, bot.ActionStepDone))
	assert.Equal(t, discordgo.InteractionResponseDeferredMessageUpdate, in.WaitCallback(wait).Type)

	f.stepMessage(t, "rollback")
	inc := f.incident(t, n)
	assert.Equal(t, "rollback", inc.CurrentStep().ID)
	var done *incidents.Entry
	require.NoError(t, f.svc.Timeline(context.Background(), n, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryStepDone {
			done = &e
		}
		return nil
	}))
	require.NotNil(t, done, "the step is done on the timeline")
	assert.Equal(t, incidents.Actor{Platform: "discord", ID: ann.ID, Name: "Ann (SRE)"}, done.Actor)

	// The pressed message now says who did it, and its buttons are gone.
	require.Eventually(t, func() bool {
		m := f.srv.Message(step.ChannelID, step.ID)
		return m != nil && m.EditedTimestamp != nil && len(discordtest.Buttons(m)) == 0
	}, wait, 10*time.Millisecond)
	m := f.srv.Message(step.ChannelID, step.ID)
	assert.Contains(t, m.Content, "<@"+ann.ID+">")

	// A second press of the stale button changes nothing.
	again := f.srv.PushComponent(step, ann, button(t, step, bot.ActionStepDone))
	again.WaitCallback(wait)
	fu := again.WaitSaid(1, wait)
	assert.True(t, fu[0].Ephemeral, "the refusal is shown to the presser only")
	assert.Equal(t, "rollback", f.incident(t, n).CurrentStep().ID)
}

func TestE2ESlashCommandFromAnotherUserAcknowledges(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	f.stepMessage(t, "triage")
	n := f.incidents(t)[0].Number

	bob := f.srv.AddUser("bob", "")
	in := f.srv.PushCommand(f.srv.ChannelID("general"), bob, "incident",
		discordtest.Subcommand("ack", discordtest.IntegerOption("incident", int64(n))))
	assert.Equal(t, discordgo.InteractionResponseDeferredChannelMessageWithSource, in.WaitCallback(wait).Type)
	fu := in.WaitSaid(1, wait)
	assert.False(t, fu[0].Ephemeral)
	inc := f.incident(t, n)
	assert.Equal(t, incidents.StatusAcknowledged, inc.Status)
	require.NotNil(t, inc.Commander)
	assert.Equal(t, bob.ID, inc.Commander.ID)
	assert.Equal(t, "discord", inc.Commander.Platform)

	// A mistake is shown to the user only.
	in = f.srv.PushCommand(f.srv.ChannelID("general"), bob, "incident", discordtest.Subcommand("ack", discordtest.IntegerOption("incident", 99)))
	fu = in.WaitSaid(1, wait)
	assert.True(t, fu[0].Ephemeral)
}

func TestE2EGatewayResumeDoesNotDuplicateIncident(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	alert := f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	f.stepMessage(t, "triage")
	require.Len(t, f.incidents(t), 1)

	// Discord replays everything since READY on this resume, the alert included.
	f.srv.SetNextResume(discordtest.ResumeReplayAll)
	f.srv.Disconnect(discordtest.CloseUnknownError)
	f.srv.WaitGateway(3*wait, "resumed", func(st discordtest.GatewayStats) bool { return st.Resumes >= 1 && st.Connected })

	assert.Equal(t, 1, f.srv.Stats().Identifies)
	f.assertNoRepeat(t, alert)
}

func TestE2EPostmortemIsAttached(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	f.stepMessage(t, "triage")
	n := f.incidents(t)[0].Number
	alerts := f.srv.ChannelID("alerts")
	cy := f.srv.AddUser("cy", "")

	in := f.srv.PushCommand(alerts, cy, "incident", discordtest.Subcommand("resolve", discordtest.StringOption("summary", "rolled back")))
	in.WaitSaid(1, wait)
	assert.Equal(t, incidents.StatusResolved, f.incident(t, n).Status)

	in = f.srv.PushCommand(alerts, cy, "incident", discordtest.Subcommand("postmortem"))
	in.WaitCallback(wait)
	m := f.srv.WaitMessage(alerts, wait, func(m *discordgo.Message) bool { return len(m.Attachments) == 1 })
	assert.True(t, strings.HasSuffix(m.Attachments[0].Filename, ".md"), m.Attachments[0].Filename)
	body := string(f.srv.Attachment(m.Attachments[0]).Content)
	assert.Contains(t, body, "HighErrorRate")
	assert.Contains(t, body, "rolled back")
	require.Eventually(t, func() bool { return !in.Pending() }, wait, 10*time.Millisecond, "no \"thinking…\" is left behind")
}

func embedText(m *discordgo.Message) string {
	return alertText(&discordgo.Message{Embeds: m.Embeds})
}

func TestE2ERedeliveryToARestartedAdapterIsIgnored(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	alert := f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	f.stepMessage(t, "triage")
	require.Len(t, f.incidents(t), 1)

	// A new process (its adapter remembers nothing) is sent the same
	// message again: the incidents service has the event id on record.
	startAdapter(t, f.srv, f.router)
	f.srv.WaitGateway(wait, "second session", func(st discordtest.GatewayStats) bool { return st.Identifies == 2 && st.Connected })
	raw, err := discordtest.MessageJSON(alert)
	require.NoError(t, err)
	f.srv.Dispatch("MESSAGE_CREATE", json.RawMessage(raw))
	f.assertNoRepeat(t, alert)
}

// assertNoRepeat checks that alert, delivered again, left its incident
// alone; and that the check can fail: the same alert in a new message
// counts as a repeat on the incident.
func (f *firebreak) assertNoRepeat(t *testing.T, alert *discordgo.Message) {
	t.Helper()
	n := f.incidents(t)[0].Number
	before := f.incident(t, n).AlertCount
	// A marker alert after the redelivery shows that events were handled.
	f.pushAlert("[FIRING:1] DiskFull db (warning)")
	require.Eventually(t, func() bool { return len(f.incidents(t)) == 2 }, wait, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, f.incidents(t), 2, "the redelivered alert opened nothing")
	assert.Equal(t, before, f.incident(t, n).AlertCount, "the redelivered alert was not even counted as a repeat")

	f.pushAlert(alert.Embeds[0].Title)
	require.Eventually(t, func() bool { return f.incident(t, n).AlertCount > before }, wait, 10*time.Millisecond, "a new message with the same alert is a repeat")
}

func TestE2EPinReactionAddsToTimeline(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	f.stepMessage(t, "triage")
	n := f.incidents(t)[0].Number
	alerts := f.srv.ChannelID("alerts")
	ann, bob := f.srv.AddUser("ann", ""), f.srv.AddUser("bob", "")

	m := f.srv.PushMessage(discordtest.Post{ChannelID: alerts, Author: ann, Content: "rolled back api to v41"})
	f.srv.PushReaction(alerts, m.ID, bob, "📌")
	reply := f.srv.WaitMessage(alerts, wait, func(r *discordgo.Message) bool { return strings.Contains(r.Content, "timeline") })
	require.NotNil(t, reply.MessageReference, "the confirmation answers the pinned message")
	assert.Equal(t, m.ID, reply.MessageReference.MessageID)

	var pinned *incidents.Entry
	require.NoError(t, f.svc.Timeline(context.Background(), n, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryPinned {
			pinned = &e
		}
		return nil
	}))
	require.NotNil(t, pinned)
	assert.Equal(t, "rolled back api to v41", pinned.Text)
	assert.Equal(t, ann.ID, pinned.Data["author_id"])
	assert.Equal(t, "https://discord.com/channels/"+f.srv.GuildID+"/"+alerts+"/"+m.ID, pinned.Data["permalink"])
	assert.Equal(t, bob.ID, pinned.Actor.ID)
}

// TestE2EEverySubcommandWorks runs each /incident subcommand through the
// real parser and service: none may come back as a usage error.
func TestE2EEverySubcommandWorks(t *testing.T) {
	t.Parallel()
	f := startFirebreak(t)
	general := f.srv.ChannelID("general")
	ann, bob := f.srv.AddUser("ann", ""), f.srv.AddUser("bob", "Bobby")
	S, I := discordtest.StringOption, discordtest.IntegerOption

	run := func(who *discordgo.User, name string, opts ...*discordtest.Option) discordtest.Followup {
		t.Helper()
		in := f.srv.PushCommand(general, who, "incident", discordtest.Subcommand(name, opts...))
		fu := in.WaitSaid(1, wait)
		require.False(t, strings.HasPrefix(fu[0].Message.Content, "⚠️"), "/incident %s was refused: %s", name, fu[0].Message.Content)
		return fu[0]
	}
	run(ann, "declare", S("title", "Checkout is failing"), S("severity", "SEV2"))
	list := f.incidents(t)
	require.Len(t, list, 1)
	n := list[0].Number
	assert.Equal(t, "Checkout is failing", list[0].Title)
	assert.EqualValues(t, 2, list[0].Severity)

	run(ann, "ack", I("incident", int64(n)))
	run(ann, "role", S("role", "comms"), discordtest.UserOption("user", bob.ID), I("incident", int64(n)))
	run(ann, "note", S("text", "payments provider degraded"), I("incident", int64(n)))
	run(ann, "followup", S("text", "alert on provider latency"), I("incident", int64(n)))
	run(ann, "severity", S("level", "SEV1"), I("incident", int64(n)))
	run(bob, "update", S("text", "we are on it"), I("incident", int64(n)))
	run(ann, "step-done", S("note", "dashboards checked"), I("incident", int64(n)))
	run(ann, "step-skip", S("reason", "nothing deployed"), I("incident", int64(n)))
	run(ann, "status", I("incident", int64(n)))
	run(ann, "timeline", I("incident", int64(n)))
	run(ann, "list", discordtest.BoolOption("all", true))
	run(ann, "help")
	run(ann, "mitigate", I("incident", int64(n)))
	run(ann, "resolve", S("summary", "provider fixed"), I("incident", int64(n)))

	inc := f.incident(t, n)
	assert.Equal(t, incidents.StatusResolved, inc.Status)
	assert.EqualValues(t, 1, inc.Severity)
	require.NotNil(t, inc.Comms)
	assert.Equal(t, bob.ID, inc.Comms.ID)
	assert.Equal(t, "discord", inc.Comms.Platform)
}

// TestE2EIncidentThread: with channel_per_incident, an alert opens a thread
// started from the alert message; the steps are worked there and the
// status update is mirrored to the alert channel.
func TestE2EIncidentThread(t *testing.T) {
	t.Parallel()
	f := startFirebreakWith(t, e2ePlaybooks+"incidents:\n  channel_per_incident: true\n")
	alert := f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	thread := alert.ID // a thread started from a message takes its id
	step := f.srv.WaitMessage(thread, wait, func(m *discordgo.Message) bool {
		return strings.Contains(m.Content+embedText(m), "Check the dashboards") && len(discordtest.Buttons(m)) > 0
	})
	inc := f.incident(t, 1)
	assert.Equal(t, incidents.Home{Platform: "discord", Channel: f.srv.ChannelID("alerts"), Thread: thread}, inc.Home)
	assert.Equal(t, f.srv.ChannelID("alerts"), inc.Mirror.Channel)

	ann := f.srv.AddUser("ann", "Ann (SRE)")
	in := f.srv.PushComponent(step, ann, button(t, step, bot.ActionStepDone))
	in.WaitCallback(wait)
	f.srv.WaitMessage(thread, wait, func(m *discordgo.Message) bool {
		return strings.Contains(m.Content+embedText(m), "Roll back the last deploy") && len(discordtest.Buttons(m)) > 0
	})
	in = f.srv.PushCommand(thread, ann, "incident", discordtest.Subcommand("update", discordtest.StringOption("text", "Rolling back the 13:55 deploy")))
	in.WaitSaid(1, wait)
	// Whoever acknowledges from the alert channel joins the thread.
	bob := f.srv.AddUser("bob", "")
	f.srv.PushCommand(f.srv.ChannelID("alerts"), bob, "incident", discordtest.Subcommand("ack", discordtest.IntegerOption("incident", 1)))
	// Said in the incident's thread: its conversation stays in one place.
	f.srv.WaitMessage(thread, wait, func(m *discordgo.Message) bool {
		return strings.Contains(m.Content+embedText(m), "acknowledged **#1**")
	})
	require.Eventually(t, func() bool { return slices.Contains(f.srv.ThreadMembers(thread), bob.ID) }, wait, 10*time.Millisecond)
	f.srv.WaitMessage(f.srv.ChannelID("alerts"), wait, func(m *discordgo.Message) bool {
		return strings.Contains(m.Content+embedText(m), "Rolling back the 13:55 deploy")
	})
}

// TestE2ETokenNeverLogged drives an alert, a rate limit, a 5xx, a command
// and a gateway resume at debug level, and checks the bot token is not in
// the log.
func TestE2ETokenNeverLogged(t *testing.T) {
	t.Parallel()
	var logs lockedLog
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	books, err := playbooks.Parse("playbooks.yaml", []byte(e2ePlaybooks))
	require.NoError(t, err)
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithLogger(log))
	router, _ := routertest.New(t, svc, bot.RouterConfig{Logger: log, PostmortemDir: t.TempDir()}, intake.Config{})
	srv := discordtest.New(t)
	a := startAdapterLogging(t, srv, router, log)
	router.AddChat(a.Platform(), a)
	srv.Settle = outboxtest.StartWithRooms(t, store, map[string]bot.Chat{a.Platform(): a}, router.RoomSender(store)).Wait
	f := &firebreak{srv: srv, svc: svc, router: router, a: a}

	srv.InjectFault(discordtest.Fault{Route: discordtest.RouteCreateMessage, Status: 429, RetryAfter: 20 * time.Millisecond})
	srv.InjectFault(discordtest.Fault{Route: discordtest.RouteCreateMessage, Status: 502})
	f.pushAlert("[FIRING:1] HighErrorRate api (critical)")
	f.stepMessage(t, "triage")
	srv.Disconnect(4000)
	srv.WaitGateway(wait, "a resume", func(s discordtest.GatewayStats) bool { return s.Resumes > 0 })
	bob := srv.AddUser("bob", "")
	in := srv.PushCommand(srv.ChannelID("general"), bob, "incident", discordtest.Subcommand("ack", discordtest.IntegerOption("incident", 1)))
	in.WaitSaid(1, wait)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "acknowledged") }, wait, 10*time.Millisecond)
	assert.NotContains(t, logs.String(), srv.Token)
}

// lockedLog collects log output from concurrent handlers.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
