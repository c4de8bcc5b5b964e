package discord

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/discordtest"
	"github.com/firebreak/firebreak/bot/outbox"
)

const wait = 5 * time.Second

// recorder is a bot.Handler that keeps every event and answers with what
// respond says.
type recorder struct {
	mu      sync.Mutex
	events  []bot.Event
	notify  chan struct{}
	respond func(ctx context.Context, ev bot.Event, r bot.Replier) error
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 64)} }

func (r *recorder) Handle(ctx context.Context, ev bot.Event, rep bot.Replier) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	respond := r.respond
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if respond != nil {
		return respond(ctx, ev, rep)
	}
	return nil
}

func (r *recorder) all() []bot.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Event(nil), r.events...)
}

// waitEvents waits for at least n events and returns them.
func (r *recorder) waitEvents(t *testing.T, n int) []bot.Event {
	t.Helper()
	deadline := time.After(wait)
	for {
		if evs := r.all(); len(evs) >= n {
			return evs
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("got %d events, want %d: %+v", len(r.all()), n, r.all())
		}
	}
}

// startAdapter runs an adapter against srv until the test ends.
func startAdapter(t *testing.T, srv *discordtest.Server, h bot.Handler, tweaks ...func(*Adapter)) *Adapter {
	t.Helper()
	return startAdapterLogging(t, srv, h, slog.New(slog.NewTextHandler(io.Discard, nil)), tweaks...)
}

// startAdapterLogging is startAdapter logging to log.
func startAdapterLogging(t *testing.T, srv *discordtest.Server, h bot.Handler, log *slog.Logger, tweaks ...func(*Adapter)) *Adapter {
	t.Helper()
	cfg, ok, err := ConfigFromEnv(srv.Getenv)
	require.NoError(t, err)
	require.True(t, ok)
	cfg.HTTPClient = &http.Client{Timeout: wait}
	cfg.Logger = log
	a, err := New(cfg, h)
	require.NoError(t, err)
	for _, tw := range tweaks {
		tw(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(drainTimeout + wait):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	srv.WaitConnected(wait)
	return a
}

func TestRunRegistersCommandsAndIdentifies(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	startAdapter(t, srv, newRecorder())

	cmds, puts := srv.Commands(srv.GuildID)
	require.Len(t, cmds, 1)
	assert.Equal(t, 1, puts)
	assert.Equal(t, "incident", cmds[0].Name)
	var subs []string
	for _, o := range cmds[0].Options {
		subs = append(subs, o.Name)
	}
	assert.Equal(t, []string{"declare", "ack", "status", "step-done", "step-skip", "note", "followup", "role", "severity", "update", "mitigate", "resolve", "timeline", "postmortem", "list", "help"}, subs)
	st := srv.WaitGateway(wait, "a heartbeat", func(st discordtest.GatewayStats) bool { return st.Heartbeats >= 1 })
	assert.Equal(t, 1, st.Identifies)
	assert.Equal(t, Intents, st.Intents)
	global, _ := srv.Commands("")
	assert.Empty(t, global, "with DISCORD_GUILD_ID the commands are guild commands")

	// A second start overwrites with the same definition: same command id.
	id := cmds[0].ID
	startAdapter(t, srv, newRecorder())
	srv.WaitCalls(discordtest.RouteGuildCommands, 2, wait)
	cmds, puts = srv.Commands(srv.GuildID)
	require.Len(t, cmds, 1)
	assert.Equal(t, 2, puts)
	assert.Equal(t, id, cmds[0].ID)
}

func TestRunFailsOnBadToken(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	a, err := New(Config{BotToken: "wrong", AppID: srv.AppID, GuildID: srv.GuildID, APIURL: srv.APIURL(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, newRecorder())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err = a.Run(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DISCORD_BOT_TOKEN")
}

func TestRunFailsWithoutMessageContentIntent(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	srv.DisallowPrivilegedIntents()
	cfg, _, err := ConfigFromEnv(srv.Getenv)
	require.NoError(t, err)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(cfg, newRecorder())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err = a.Run(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "4014")
	assert.Contains(t, err.Error(), "Message Content")
}

func TestAlertEmbedFromWebhookIsReadAsAlert(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	startAdapter(t, srv, rec)
	alerts := srv.ChannelID("alerts")

	m := srv.PushMessage(discordtest.Post{
		ChannelID: alerts,
		Webhook:   "Alertmanager",
		Embeds: []*discordgo.MessageEmbed{{
			Title:       "[FIRING:1] HighErrorRate api (critical)",
			Description: "5xx above 5% for 10m",
			Fields:      []*discordgo.MessageEmbedField{{Name: "severity", Value: "critical"}, {Name: "service", Value: "api"}},
			Footer:      &discordgo.MessageEmbedFooter{Text: "Alertmanager"},
		}},
	})
	ev := rec.waitEvents(t, 1)[0]
	assert.Equal(t, "discord:msg:"+m.ID, ev.ID)
	assert.Equal(t, bot.KindMessage, ev.Kind)
	assert.Equal(t, "discord", ev.Platform)
	assert.Equal(t, alerts, ev.Channel)
	assert.Equal(t, "alerts", ev.ChannelName)
	assert.True(t, ev.FromBot)
	assert.Equal(t, "[FIRING:1] HighErrorRate api (critical)\n5xx above 5% for 10m\nseverity: critical\nservice: api\nAlertmanager", ev.Text)
	assert.Equal(t, bot.MessageRef{Channel: alerts, ID: m.ID}, ev.Target)
	assert.Equal(t, "https://discord.com/channels/"+srv.GuildID+"/"+alerts+"/"+m.ID, ev.Permalink)
}

func TestOwnMessagesAreIgnored(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	rec.respond = func(ctx context.Context, ev bot.Event, r bot.Replier) error {
		_, err := r.Reply(ctx, bot.Message{Text: "seen: " + ev.Text})
		return err
	}
	startAdapter(t, srv, rec)
	general := srv.ChannelID("general")
	ann := srv.AddUser("ann", "Ann (SRE)")

	srv.PushMessage(discordtest.Post{ChannelID: general, Author: ann, Content: "db is slow"})
	reply := srv.WaitMessage(general, wait, func(m *discordgo.Message) bool { return m.Content == "seen: db is slow" })
	require.NotNil(t, reply)
	second := srv.PushMessage(discordtest.Post{ChannelID: general, Author: ann, Content: "still slow"})
	rec.waitEvents(t, 2)
	srv.WaitMessage(general, wait, func(m *discordgo.Message) bool { return m.Content == "seen: still slow" })
	time.Sleep(200 * time.Millisecond) // room for an echo of the replies to arrive, were they not ignored
	evs := rec.all()
	require.Len(t, evs, 2, "Firebreak's own replies must not come back as events")
	assert.Equal(t, "discord:msg:"+second.ID, evs[1].ID)
	assert.Equal(t, "Ann (SRE)", evs[0].User.Name)
	assert.Equal(t, ann.ID, evs[0].User.ID)
	assert.False(t, evs[0].FromBot)
}

func TestSlashCommandIsDeferredThenAnswered(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	rec.respond = func(ctx context.Context, ev bot.Event, r bot.Replier) error {
		_, err := r.Reply(ctx, bot.Message{Text: "ok: " + ev.Text})
		return err
	}
	startAdapter(t, srv, rec)
	general := srv.ChannelID("general")
	bob := srv.AddUser("bob", "")

	in := srv.PushCommand(general, bob, "incident", discordtest.Subcommand("step-skip",
		discordtest.StringOption("reason", "no access\nto prod"), discordtest.IntegerOption("incident", 4)))
	cb := in.WaitCallback(wait)
	assert.Equal(t, discordgo.InteractionResponseDeferredChannelMessageWithSource, cb.Type)
	assert.Less(t, cb.After, discordtest.InteractionDeadline)
	fu := in.WaitFollowups(1, wait)
	assert.Equal(t, "ok: #4 step skip no access to prod", fu[0].Message.Content)
	assert.False(t, fu[0].Ephemeral)

	ev := rec.all()[0]
	assert.Equal(t, "discord:int:"+in.ID, ev.ID)
	assert.Equal(t, bot.KindCommand, ev.Kind)
	assert.Equal(t, bob.ID, ev.User.ID)
	assert.Equal(t, "bob", ev.User.Name)
	assert.Equal(t, "general", ev.ChannelName)
}

func TestHandlerErrorIsShownEphemerally(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	rec.respond = func(context.Context, bot.Event, bot.Replier) error {
		return errors.New("no incident in this channel")
	}
	startAdapter(t, srv, rec)
	bob := srv.AddUser("bob", "")

	in := srv.PushCommand(srv.ChannelID("general"), bob, "incident", discordtest.Subcommand("ack"))
	fu := in.WaitFollowups(1, wait)
	assert.True(t, fu[0].Ephemeral, "errors are for the user only")
	assert.Contains(t, fu[0].Message.Content, "no incident in this channel")
	assert.True(t, in.OriginalDeleted(), "the public deferral is removed before an ephemeral answer")
	assert.False(t, in.Pending())
}

func TestUnansweredDeferralIsCleared(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	startAdapter(t, srv, newRecorder())
	in := srv.PushCommand(srv.ChannelID("general"), srv.AddUser("bob", ""), "incident", discordtest.Subcommand("status"))
	in.WaitCallback(wait)
	require.Eventually(t, in.OriginalDeleted, wait, 10*time.Millisecond)
}

func TestButtonPressIsAnAction(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	a := startAdapter(t, srv, rec)
	alerts := srv.ChannelID("alerts")

	ref, err := a.Post(context.Background(), "#alerts", bot.Message{
		Text:   "**Step 1** Check the dashboards",
		Fields: []bot.Field{{Label: "Severity", Value: "SEV2"}},
		Actions: []bot.Action{
			{ID: "step_done", Label: "Done", Style: bot.StylePrimary, Value: "7:dashboards"},
			{ID: "step_skip", Label: "Skip", Style: bot.StyleDanger, Value: "7:dashboards"},
		},
	})
	require.NoError(t, err)
	assert.Equal(t, alerts, ref.Channel)
	m := srv.Message(alerts, ref.ID)
	require.NotNil(t, m)
	buttons := discordtest.Buttons(m)
	require.Len(t, buttons, 2)
	assert.Equal(t, "step_done|7:dashboards", buttons[0].CustomID)
	assert.Equal(t, discordgo.PrimaryButton, buttons[0].Style)
	assert.Equal(t, discordgo.DangerButton, buttons[1].Style)
	require.Len(t, m.Embeds, 1)
	assert.Equal(t, "Severity", m.Embeds[0].Fields[0].Name)

	cy := srv.AddUser("cy", "Cy")
	in := srv.PressButton(m, cy, "Done")
	assert.Equal(t, discordgo.InteractionResponseDeferredMessageUpdate, in.WaitCallback(wait).Type)
	ev := rec.waitEvents(t, 1)[0]
	assert.Equal(t, bot.KindAction, ev.Kind)
	assert.Equal(t, "step_done", ev.ActionID)
	assert.Equal(t, "7:dashboards", ev.Value)
	assert.Equal(t, bot.MessageRef{Channel: alerts, ID: ref.ID}, ev.Target)
	assert.Equal(t, "Cy", ev.User.Name)

	require.NoError(t, a.Update(context.Background(), ev.Target, bot.Message{Text: "**Step 1** done by <@" + cy.ID + ">"}))
	m = srv.Message(alerts, ref.ID)
	assert.Equal(t, "**Step 1** done by <@"+cy.ID+">", m.Content)
	assert.Empty(t, discordtest.Buttons(m), "an update without actions removes the buttons")
	assert.Empty(t, m.Embeds)
}

func TestPinReactionCarriesTheMessage(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	startAdapter(t, srv, rec)
	general := srv.ChannelID("general")
	ann, bob := srv.AddUser("ann", ""), srv.AddUser("bob", "Bobby")

	m := srv.PushMessage(discordtest.Post{ChannelID: general, Author: ann, Content: "rolled back to v41"})
	rec.waitEvents(t, 1)
	srv.PushReaction(general, m.ID, bob, "👍")
	srv.PushReaction(general, m.ID, bob, "📌")
	ev := rec.waitEvents(t, 2)[1]
	assert.Equal(t, bot.KindReaction, ev.Kind)
	assert.Equal(t, "pushpin", ev.Emoji)
	assert.Equal(t, "rolled back to v41", ev.TargetText)
	assert.Equal(t, ann.ID, ev.TargetAuthor.ID)
	assert.Equal(t, "Bobby", ev.User.Name)
	assert.Equal(t, bot.MessageRef{Channel: general, ID: m.ID}, ev.Target)
	assert.Equal(t, "https://discord.com/channels/"+srv.GuildID+"/"+general+"/"+m.ID, ev.Permalink)
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, rec.all(), 2, "other emoji are not pins")
}

func TestResumeDoesNotRedeliverEvents(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	startAdapter(t, srv, rec)
	alerts := srv.ChannelID("alerts")

	srv.PushMessage(discordtest.Post{ChannelID: alerts, Webhook: "Grafana", Content: "[Alerting] disk full"})
	rec.waitEvents(t, 1)
	srv.SetNextResume(discordtest.ResumeReplayAll)
	srv.Disconnect(discordtest.CloseUnknownError)
	srv.WaitGateway(3*wait, "resumed", func(st discordtest.GatewayStats) bool { return st.Resumes >= 1 && st.Connected })
	assert.Equal(t, 1, srv.Stats().Identifies, "a disconnect resumes the session")

	srv.PushMessage(discordtest.Post{ChannelID: alerts, Webhook: "Grafana", Content: "[Alerting] cpu high"})
	rec.waitEvents(t, 2)
	time.Sleep(200 * time.Millisecond)
	evs := rec.all()
	require.Len(t, evs, 2, "the replayed message must not be handled again")
	assert.Equal(t, "[Alerting] cpu high", evs[1].Text)
}

func TestUploadAttachesMarkdown(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	a := startAdapter(t, srv, newRecorder())
	general := srv.ChannelID("general")

	content := []byte("# Incident 7\n\nWhat happened.\n")
	require.NoError(t, a.Upload(context.Background(), general, "", bot.File{Name: "incident-7-postmortem.md", Content: content}, "Postmortem for #7"))
	m := srv.WaitMessage(general, wait, func(m *discordgo.Message) bool { return len(m.Attachments) == 1 })
	assert.Equal(t, "Postmortem for #7", m.Content)
	assert.Equal(t, "incident-7-postmortem.md", m.Attachments[0].Filename)
	f := srv.Attachment(m.Attachments[0])
	assert.Equal(t, content, f.Content)
	assert.Equal(t, markdownType, f.ContentType)
}

func TestIncidentThreadFromAlert(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	a := startAdapter(t, srv, rec)
	alerts := srv.ChannelID("alerts")
	ann := srv.AddUser("ann", "")

	m := srv.PushMessage(discordtest.Post{ChannelID: alerts, Webhook: "Alertmanager", Content: "[FIRING:1] disk"})
	ctx := context.Background()
	home, err := a.CreateIncidentChannel(ctx, "inc-3 disk full", bot.MessageRef{Channel: alerts, ID: m.ID}, []string{"<@" + ann.ID + ">", "not-a-user"})
	require.NoError(t, err)
	assert.Equal(t, "discord", home.Platform)
	assert.Equal(t, alerts, home.Channel)
	assert.Equal(t, m.ID, home.Thread, "a thread started from a message takes its id")
	assert.Equal(t, []string{ann.ID}, srv.ThreadMembers(home.Thread))

	again, err := a.CreateIncidentChannel(ctx, "inc-3 disk full", bot.MessageRef{Channel: alerts, ID: m.ID}, nil)
	require.NoError(t, err, "a message's existing thread is reused")
	assert.Equal(t, home, again)

	// A message in the thread is placed in its parent channel.
	srv.PushMessage(discordtest.Post{ChannelID: home.Thread, Author: ann, Content: "looking"})
	// Events are handled concurrently, so find the thread message by text.
	var inThread bot.Event
	for _, ev := range rec.waitEvents(t, 2) {
		if ev.Text == "looking" {
			inThread = ev
		}
	}
	assert.Equal(t, alerts, inThread.Channel)
	assert.Equal(t, home.Thread, inThread.Thread)
	assert.Equal(t, "alerts", inThread.ChannelName)

	ref, err := a.Post(ctx, alerts, bot.Message{Text: "update", Thread: home.Thread})
	require.NoError(t, err)
	assert.Equal(t, home.Thread, ref.Thread)
	srv.WaitMessage(home.Thread, wait, func(m *discordgo.Message) bool { return m.Content == "update" })
}

func TestRESTRetriesServerErrorsAndRateLimits(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	a := startAdapter(t, srv, newRecorder())
	general := srv.ChannelID("general")
	ctx := context.Background()
	send := func(text string) error {
		_, err := a.rest().ChannelMessageSend(general, text, discordgo.WithContext(ctx))
		return err
	}

	// The adapter's own calls (replies, lookups) are retried by the transport.
	srv.InjectFault(discordtest.Fault{Route: discordtest.RouteCreateMessage, Status: http.StatusBadGateway, Times: 2})
	require.NoError(t, send("after 5xx"))
	srv.InjectFault(discordtest.Fault{Route: discordtest.RouteCreateMessage, Status: http.StatusTooManyRequests, RetryAfter: 150 * time.Millisecond})
	require.NoError(t, send("after 429"))

	var statuses []int
	for _, c := range srv.CallsTo(discordtest.RouteCreateMessage) {
		statuses = append(statuses, c.Status)
	}
	assert.Equal(t, []int{502, 502, 200, 429, 200}, statuses)
	var contents []string
	for _, m := range srv.Messages(general) {
		contents = append(contents, m.Content)
	}
	assert.Equal(t, []string{"after 5xx", "after 429"}, contents, "each message is posted once")

	srv.InjectFault(discordtest.Fault{Route: discordtest.RouteCreateMessage, Status: http.StatusServiceUnavailable, Times: 10})
	require.Error(t, send("never"), "retries are bounded")
}

// TestOutboxCallsAreTriedOnce: Post, Update and Upload are the outbox's
// calls; the transport tries them once and hands back what Discord said,
// for the outbox to retry within its own bounds.
func TestOutboxCallsAreTriedOnce(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	a := startAdapter(t, srv, newRecorder())
	general := srv.ChannelID("general")
	ctx := context.Background()

	srv.InjectFault(discordtest.Fault{Route: discordtest.RouteCreateMessage, Status: http.StatusBadGateway})
	_, err := a.Post(ctx, general, bot.Message{Text: "after 5xx"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "posting in channel "+general)
	retry, after := outbox.Classify(err)
	assert.True(t, retry, "a 502 is worth another attempt")
	assert.Zero(t, after)

	srv.InjectFault(discordtest.Fault{Route: discordtest.RouteCreateMessage, Status: http.StatusTooManyRequests, RetryAfter: 150 * time.Millisecond})
	_, err = a.Post(ctx, general, bot.Message{Text: "after 429"})
	require.Error(t, err)
	retry, after = outbox.Classify(err)
	assert.True(t, retry)
	assert.InDelta(t, 150*time.Millisecond, after, float64(100*time.Millisecond), "Discord's retry_after is handed back")

	_, err = a.Post(ctx, general, bot.Message{Text: "then it goes through"})
	require.NoError(t, err)
	var statuses []int
	for _, c := range srv.CallsTo(discordtest.RouteCreateMessage) {
		statuses = append(statuses, c.Status)
	}
	assert.Equal(t, []int{502, 429, 200}, statuses, "one attempt per call")
}

func TestLongTextIsSplit(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	a := startAdapter(t, srv, newRecorder())
	general := srv.ChannelID("general")
	text := strings.Repeat("timeline line\n", 300) // 4,200 characters
	ref, err := a.Post(context.Background(), general, bot.Message{Text: text, Actions: []bot.Action{{ID: "ack", Label: "Ack", Value: "1"}}})
	require.NoError(t, err)
	msgs := srv.Messages(general)
	require.Len(t, msgs, 3)
	assert.Equal(t, ref.ID, msgs[2].ID)
	assert.Len(t, discordtest.Buttons(msgs[2]), 1, "buttons go on the last piece")
	var joined []string
	for _, m := range msgs {
		joined = append(joined, m.Content)
	}
	assert.Equal(t, strings.TrimSpace(text), strings.Join(joined, "\n"))
}

func TestWatchdogReplacesWedgedSession(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	a := startAdapter(t, srv, rec, func(a *Adapter) { a.dog = watchdog{interval: 50 * time.Millisecond, stuck: 300 * time.Millisecond} })
	first := a.session()

	// RECONNECT in answer to RESUME deadlocks discordgo v0.29 inside Open.
	srv.SetNextResume(discordtest.ResumeReconnect)
	srv.Disconnect(discordtest.CloseUnknownError)
	srv.WaitGateway(3*wait, "a new session", func(st discordtest.GatewayStats) bool { return st.Identifies == 2 && st.Connected })
	assert.NotSame(t, first, a.session())

	m := srv.PushMessage(discordtest.Post{ChannelID: srv.ChannelID("alerts"), Webhook: "Grafana", Content: "[Alerting] after the watchdog"})
	ev := rec.waitEvents(t, 1)[0]
	assert.Equal(t, "discord:msg:"+m.ID, ev.ID)
}

func TestRESTWaitsForRateLimitBuckets(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	a := startAdapter(t, srv, newRecorder())
	general := srv.ChannelID("general")
	srv.SetRateLimit(2, 300*time.Millisecond)

	for i := range 5 {
		_, err := a.Post(context.Background(), general, bot.Message{Text: "update " + string(rune('a'+i))})
		require.NoError(t, err)
	}
	assert.Len(t, srv.Messages(general), 5)
	assert.Zero(t, srv.RateLimited(), "the client waits for its bucket instead of running into 429s")
}

func TestSlowHandlerStillAnswersInTime(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	rec.respond = func(ctx context.Context, ev bot.Event, r bot.Replier) error {
		// Longer than Discord's window: only the deferral keeps the interaction alive.
		time.Sleep(discordtest.InteractionDeadline + 500*time.Millisecond)
		_, err := r.Reply(ctx, bot.Message{Text: "slow but done"})
		return err
	}
	startAdapter(t, srv, rec)
	in := srv.PushCommand(srv.ChannelID("general"), srv.AddUser("bob", ""), "incident", discordtest.Subcommand("status"))
	cb := in.WaitCallback(wait)
	assert.Less(t, cb.After, discordtest.InteractionDeadline)
	fu := in.WaitFollowups(1, 2*wait)
	assert.Equal(t, "slow but done", fu[0].Message.Content)
}

func TestGatewayReconnectOpcodeResumes(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	startAdapter(t, srv, rec)

	srv.SendReconnect()
	srv.WaitGateway(3*wait, "resumed", func(st discordtest.GatewayStats) bool { return st.Resumes >= 1 && st.Connected })
	m := srv.PushMessage(discordtest.Post{ChannelID: srv.ChannelID("alerts"), Webhook: "Grafana", Content: "[Alerting] after op 7"})
	ev := rec.waitEvents(t, 1)[0]
	assert.Equal(t, "discord:msg:"+m.ID, ev.ID)
	assert.Equal(t, 1, srv.Stats().Identifies)
}

func TestRunAgainAfterStop(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t)
	rec := newRecorder()
	cfg, _, err := ConfigFromEnv(srv.Getenv)
	require.NoError(t, err)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(cfg, rec)
	require.NoError(t, err)
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		srv.WaitGateway(wait, "connected", func(st discordtest.GatewayStats) bool { return st.Connected && st.Identifies == i+1 })
		srv.PushMessage(discordtest.Post{ChannelID: srv.ChannelID("alerts"), Webhook: "Grafana", Content: "[Alerting] run " + string(rune('1'+i))})
		rec.waitEvents(t, i+1)
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(drainTimeout + wait):
			t.Fatal("Run did not return")
		}
	}
}
