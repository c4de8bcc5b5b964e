package slack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/internal/routertest"
	"github.com/firebreak/firebreak/bot/internal/slacktest"
	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	fbslack "github.com/firebreak/firebreak/bot/slack"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

const (
	ana = "U0ANA"
	bob = "U0BOB"
)

// counting wraps the real Router and counts how often each event id
// reached it, to prove redeliveries are handled once.
type counting struct {
	next bot.Handler
	mu   sync.Mutex
	ids  map[string]int
	evs  []bot.Event
}

func (c *counting) Handle(ctx context.Context, ev bot.Event, r bot.Replier) error {
	c.mu.Lock()
	c.ids[ev.ID]++
	c.evs = append(c.evs, ev)
	next := c.next
	c.mu.Unlock()
	if next == nil {
		return nil
	}
	return next.Handle(ctx, ev, r)
}

func (c *counting) setNext(h bot.Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = h
}

// handlerFunc lets a test answer events its own way.
type handlerFunc func(ctx context.Context, ev bot.Event, r bot.Replier) error

func (f handlerFunc) Handle(ctx context.Context, ev bot.Event, r bot.Replier) error {
	return f(ctx, ev, r)
}

func (c *counting) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids[id]
}

func (c *counting) events() []bot.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bot.Event(nil), c.evs...)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type env struct {
	fake *slacktest.Server
	ad   *fbslack.Adapter
	h    *counting
	svc  *incidents.Service // nil without a Router
}

// start runs an adapter against a fake Slack; withRouter puts the real
// Router, Service and an in-memory store behind it.
func start(t testing.TB, socket, withRouter bool) *env {
	t.Helper()
	var books *playbooks.Config
	if withRouter {
		var err error
		books, err = playbooks.Load("../../playbooks.yaml")
		require.NoError(t, err)
	}
	return startWith(t, socket, books, quiet())
}

// startWith is start with the Router on books (nil: no Router), logging
// to log.
func startWith(t testing.TB, socket bool, books *playbooks.Config, log *slog.Logger) *env {
	t.Helper()
	fake := slacktest.New(t)
	fake.AddUser(slacktest.User{ID: ana, Name: "ana", RealName: "Ana Lima"})
	fake.AddUser(slacktest.User{ID: bob, Name: "bob", RealName: "Bob Stone"})
	h := &counting{ids: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var router *bot.Router
	var svc *incidents.Service
	store := incidentstest.NewMemStore()
	if books != nil {
		svc = incidents.NewService(store, books, incidents.WithLogger(log))
		router, _ = routertest.New(t, svc, bot.RouterConfig{Logger: log, PostmortemDir: t.TempDir()}, intake.Config{})
		h.next = router
	}
	cfg := fbslack.Config{BotToken: slacktest.BotToken, APIURL: fake.URL(), Logger: log}
	if socket {
		cfg.AppToken = slacktest.AppToken
	} else {
		cfg.SigningSecret = slacktest.SigningSecret
	}
	ad, err := fbslack.New(cfg, h)
	require.NoError(t, err)
	var wg sync.WaitGroup
	if router != nil {
		router.AddChat("slack", ad)
		outboxtest.StartWithRooms(t, store, map[string]bot.Chat{"slack": ad}, router.RoomSender(store))
		wg.Add(1)
		go func() { defer wg.Done(); assert.NoError(t, router.Run(ctx)) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); assert.NoError(t, ad.Run(ctx)) }()
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("adapter did not stop within 5 s")
		}
	})
	if socket {
		fake.WaitConnected(t, 1)
	} else {
		fake.WaitCalls(t, "auth.test", 1)
	}
	return &env{fake: fake, ad: ad, h: h, svc: svc}
}

// alertmanager is a message as Alertmanager's Slack receiver posts it:
// empty text, the alert in the attachment.
func alertmanager() slacktest.Message {
	return slacktest.Message{
		Channel: slacktest.AlertsChannel, SubType: "bot_message", BotID: "B0ALERTMGR", Username: "Alertmanager",
		Attachments: []slacktest.Attachment{{
			Color: "danger", Title: "[FIRING:1] HighErrorRate api-gateway (severity=critical)",
			Text: "5xx rate 17% on api-gateway", Fallback: "[FIRING:1] HighErrorRate",
		}},
	}
}

// stepMessage waits for a message from Firebreak carrying live step
// buttons, other than the one at skip.
func stepMessage(t *testing.T, fake *slacktest.Server, skip string) slacktest.Message {
	t.Helper()
	var got slacktest.Message
	require.Eventuallyf(t, func() bool {
		for _, m := range fake.Messages(slacktest.AlertsChannel) {
			if m.TS != skip && m.User == slacktest.BotUserID && contains(m.Buttons(), bot.ActionStepDone) {
				got = m
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "no step message besides %q", skip)
	return got
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestSocketModeAlertButtonsCommands(t *testing.T) {
	e := start(t, true, true)
	fake := e.fake

	// A 429 on the first post is retried by the outbox after Retry-After,
	// once: the adapter hands the wait back instead of sleeping it.
	fake.FailNext("chat.postMessage", http.StatusTooManyRequests, time.Second)
	payload := fake.MessageEvent(alertmanager())
	env1 := fake.PushEvent(t, payload)
	fake.WaitAck(t, env1)

	step1 := stepMessage(t, fake, "")
	assert.Contains(t, step1.Buttons(), bot.ActionStepSkip)
	assert.Contains(t, step1.Buttons(), bot.ActionAck)
	posts := fake.Calls("chat.postMessage")
	require.NotEmpty(t, posts)
	assert.Equal(t, http.StatusTooManyRequests, posts[0].Status, "first post was rate limited")
	var limited, ok429 time.Time
	for _, c := range posts {
		if c.Status == http.StatusTooManyRequests {
			limited = c.At
		} else if ok429.IsZero() {
			ok429 = c.At
		}
	}
	assert.GreaterOrEqual(t, ok429.Sub(limited), 900*time.Millisecond, "retry waited for Retry-After")

	// The same event redelivered (new envelope, retry_attempt 1) is acked
	// but handled once.
	env2 := fake.Push(t, slacktest.Envelope{Type: "events_api", Payload: payload, RetryAttempt: 1, RetryReason: "timeout"})
	fake.WaitAck(t, env2)
	msgID := "slack:msg:" + slacktest.AlertsChannel + ":" + fake.Messages(slacktest.AlertsChannel)[0].TS
	assert.Never(t, func() bool { return e.h.count(msgID) > 1 }, 300*time.Millisecond, 20*time.Millisecond)
	assert.Equal(t, 1, e.h.count(msgID))

	evs := e.h.events()
	require.NotEmpty(t, evs)
	assert.True(t, evs[0].FromBot)
	assert.Equal(t, "alerts", evs[0].ChannelName)
	assert.Contains(t, evs[0].Text, "[FIRING:1] HighErrorRate api-gateway")

	// Ana presses Done: the step advances and the pressed message loses
	// its buttons and names her.
	envB := fake.PushInteraction(t, fake.BlockAction(t, ana, slacktest.AlertsChannel, step1.TS, bot.ActionStepDone))
	fake.WaitAck(t, envB)
	step2 := stepMessage(t, fake, step1.TS)
	assert.NotEqual(t, step1.Text, step2.Text, "the next step is shown")
	require.Eventually(t, func() bool {
		m, _ := fake.Message(slacktest.AlertsChannel, step1.TS)
		return m.Updates > 0 && !contains(m.Buttons(), bot.ActionStepDone)
	}, slacktest.WaitTimeout, 10*time.Millisecond, "pressed message was not updated")
	pressed, _ := fake.Message(slacktest.AlertsChannel, step1.TS)
	assert.Contains(t, string(pressed.Blocks), `\u003c@`+ana+`\u003e`, "Slack shows who pressed it as a mention")

	// A mistyped command is answered to Bob alone.
	envE := fake.PushCommand(t, fake.Command(bob, slacktest.AlertsChannel, "ack 1"))
	fake.WaitAck(t, envE)
	require.Eventually(t, func() bool {
		for _, m := range fake.Ephemerals() {
			if m.User == bob && strings.Contains(m.Text, "takes no text") {
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "no ephemeral error for bob")

	// Bob acknowledges with the slash command.
	envC := fake.PushCommand(t, fake.Command(bob, slacktest.AlertsChannel, "ack #1"))
	ack := fake.WaitAck(t, envC)
	assert.Contains(t, []string{"", "null", "{}"}, string(ack.Payload), "slash command acked with an empty payload")
	require.Eventually(t, func() bool {
		for _, m := range fake.Messages(slacktest.AlertsChannel) {
			if m.User == slacktest.BotUserID && strings.Contains(strings.ToLower(m.Text), "acknowledged") &&
				strings.Contains(m.Text, "<@"+bob+">") {
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "no acknowledgement by bob posted")

	// Firebreak's own messages are never read back as events.
	for _, ev := range e.h.events() {
		assert.NotEqual(t, slacktest.BotUserID, ev.User.ID)
	}
}

func TestHTTPModeSignatures(t *testing.T) {
	e := start(t, false, false)
	srv := httptest.NewServer(http.StripPrefix("/slack", e.ad.HTTPHandler()))
	t.Cleanup(srv.Close)
	do := func(req *http.Request) (int, string) {
		t.Helper()
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer func() { _ = res.Body.Close() }()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(b)
	}
	fake := e.fake
	cmd := fake.Command(ana, slacktest.AlertsChannel, "status")

	t.Run("forged signature is refused", func(t *testing.T) {
		req := slacktest.SignedRequestAt(t, "not-the-secret", time.Now(), srv.URL+"/slack/commands",
			"application/x-www-form-urlencoded", []byte(cmd.Form().Encode()))
		code, _ := do(req)
		assert.Equal(t, http.StatusUnauthorized, code)
		req = slacktest.SignedRequestAt(t, slacktest.SigningSecret, time.Now().Add(-6*time.Minute), srv.URL+"/slack/commands",
			"application/x-www-form-urlencoded", []byte(cmd.Form().Encode()))
		code, _ = do(req)
		assert.Equal(t, http.StatusUnauthorized, code, "stale timestamp")
		assert.Never(t, func() bool { return len(e.h.events()) > 0 }, 200*time.Millisecond, 20*time.Millisecond)
		assert.Len(t, fake.Calls(""), 1, "only auth.test reached Slack")
	})

	t.Run("url verification", func(t *testing.T) {
		code, body := do(slacktest.EventsRequest(t, srv.URL+"/slack/events", slacktest.URLVerification("c-123")))
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "c-123", body)
	})

	t.Run("slash command", func(t *testing.T) {
		code, _ := do(slacktest.CommandRequest(t, srv.URL+"/slack/commands", cmd))
		assert.Equal(t, http.StatusOK, code)
		// The same signed request replayed inside the window runs once.
		code, _ = do(slacktest.CommandRequest(t, srv.URL+"/slack/commands", cmd))
		assert.Equal(t, http.StatusOK, code)
		require.Eventually(t, func() bool { return e.h.count("slack:cmd:"+cmd.TriggerID) == 1 },
			slacktest.WaitTimeout, 10*time.Millisecond)
		assert.Never(t, func() bool { return e.h.count("slack:cmd:"+cmd.TriggerID) > 1 }, 200*time.Millisecond, 20*time.Millisecond)
		var ev bot.Event
		for _, x := range e.h.events() {
			if x.Kind == bot.KindCommand {
				ev = x
			}
		}
		assert.Equal(t, "status", ev.Text)
		assert.Equal(t, "Ana Lima", ev.User.Name)
		assert.Equal(t, "alerts", ev.ChannelName)
	})

	t.Run("redelivered event handled once", func(t *testing.T) {
		payload := fake.MessageEvent(slacktest.Message{Channel: slacktest.AlertsChannel, User: bob, Text: "[FIRING:1] DiskFull db-1"})
		for i := range 3 {
			req := slacktest.EventsRequest(t, srv.URL+"/slack/events", payload)
			if i > 0 {
				req.Header.Set("X-Slack-Retry-Num", "1")
				req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
			}
			code, _ := do(req)
			assert.Equal(t, http.StatusOK, code)
		}
		msgs := fake.Messages(slacktest.AlertsChannel)
		id := "slack:msg:" + slacktest.AlertsChannel + ":" + msgs[len(msgs)-1].TS
		require.Eventually(t, func() bool { return e.h.count(id) == 1 }, slacktest.WaitTimeout, 10*time.Millisecond)
		assert.Never(t, func() bool { return e.h.count(id) > 1 }, 200*time.Millisecond, 20*time.Millisecond)
		for _, ev := range e.h.events() {
			if ev.ID == id {
				assert.False(t, ev.FromBot)
				assert.Equal(t, "Bob Stone", ev.User.Name)
				assert.Equal(t, "[FIRING:1] DiskFull db-1", ev.Text)
			}
		}
	})

	t.Run("oversized body", func(t *testing.T) {
		big := make([]byte, 2<<20)
		code, _ := do(slacktest.SignedRequest(t, srv.URL+"/slack/events", "application/json", big))
		assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	})
}

func TestUploadTwoStep(t *testing.T) {
	e := start(t, true, false)
	content := []byte("# Incident 1 postmortem\n\nAll good now.\n")
	err := e.ad.Upload(context.Background(), slacktest.AlertsChannel, "", bot.File{
		Name: "incident-1-postmortem.md", Title: "Incident 1 postmortem", Content: content,
	}, "**Postmortem** for incident 1")
	require.NoError(t, err)
	get := e.fake.Calls("files.getUploadURLExternal")
	require.Len(t, get, 1)
	assert.Equal(t, "incident-1-postmortem.md", get[0].Param("filename"))
	assert.Equal(t, strconv.Itoa(len(content)), get[0].Param("length"))
	assert.Len(t, e.fake.Calls("upload"), 1)
	assert.Len(t, e.fake.Calls("files.completeUploadExternal"), 1)
	files := e.fake.Files()
	require.Len(t, files, 1)
	assert.Equal(t, content, files[0].Content)
	assert.True(t, files[0].Completed)
	assert.Equal(t, slacktest.AlertsChannel, files[0].Channel)
	assert.Equal(t, "*Postmortem* for incident 1", files[0].InitialComment)
}

func TestReactionPinsMessage(t *testing.T) {
	e := start(t, true, false)
	m := e.fake.Post(slacktest.Message{Channel: slacktest.AlertsChannel, User: bob, Text: "rolled back deploy 1234"})
	env := e.fake.PushEvent(t, e.fake.ReactionAddedEvent(ana, "pushpin", slacktest.AlertsChannel, m.TS))
	e.fake.WaitAck(t, env)
	other := e.fake.PushEvent(t, e.fake.ReactionAddedEvent(ana, "tada", slacktest.AlertsChannel, m.TS))
	e.fake.WaitAck(t, other)
	require.Eventually(t, func() bool { return len(e.h.events()) == 1 }, slacktest.WaitTimeout, 10*time.Millisecond)
	ev := e.h.events()[0]
	assert.Equal(t, bot.KindReaction, ev.Kind)
	assert.Equal(t, "pushpin", ev.Emoji)
	assert.Equal(t, "rolled back deploy 1234", ev.TargetText)
	assert.Equal(t, "Bob Stone", ev.TargetAuthor.Name)
	assert.Equal(t, "Ana Lima", ev.User.Name)
	assert.Equal(t, slacktest.Permalink(slacktest.AlertsChannel, m.TS), ev.Permalink)
	assert.Never(t, func() bool { return len(e.h.events()) > 1 }, 200*time.Millisecond, 20*time.Millisecond)
}

func TestCreateIncidentChannel(t *testing.T) {
	e := start(t, true, false)
	alert := e.fake.Post(alertmanager())
	home, err := e.ad.CreateIncidentChannel(context.Background(), "inc-42 API gateway 5xx!",
		bot.MessageRef{Channel: slacktest.AlertsChannel, ID: alert.TS}, []string{ana, bob, slacktest.BotUserID})
	require.NoError(t, err)
	assert.Equal(t, "slack", home.Platform)
	ch, ok := e.fake.Channel(home.Channel)
	require.True(t, ok)
	assert.Equal(t, "inc-42-api-gateway-5xx", ch.Name)
	assert.Subset(t, ch.Members, []string{ana, bob})
	assert.Len(t, ch.Pins, 1)
	var linked bool
	for _, m := range e.fake.Messages(slacktest.AlertsChannel) {
		if m.ThreadTS == alert.TS && strings.Contains(m.Text, "<#"+home.Channel+">") {
			linked = true
		}
	}
	assert.True(t, linked, "alert thread links the new channel")
}

// TestHTTPModeEndToEnd drives the real Router through signed HTTP-mode
// requests: an alert, a 5xx on the update that is retried, a button press
// and the postmortem upload.
func TestHTTPModeEndToEnd(t *testing.T) {
	e := start(t, false, true)
	fake := e.fake
	srv := httptest.NewServer(http.StripPrefix("/slack", e.ad.HTTPHandler()))
	t.Cleanup(srv.Close)
	send := func(req *http.Request) {
		t.Helper()
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}

	send(slacktest.EventsRequest(t, srv.URL+"/slack/events", fake.MessageEvent(alertmanager())))
	step1 := stepMessage(t, fake, "")

	fake.FailNext("chat.update", http.StatusServiceUnavailable, 0)
	send(slacktest.InteractionRequest(t, srv.URL+"/slack/interactions",
		fake.BlockAction(t, ana, slacktest.AlertsChannel, step1.TS, bot.ActionStepDone)))
	step2 := stepMessage(t, fake, step1.TS)
	require.Eventually(t, func() bool {
		m, _ := fake.Message(slacktest.AlertsChannel, step1.TS)
		return m.Updates == 1 && len(m.Buttons()) == 0
	}, slacktest.WaitTimeout, 10*time.Millisecond, "pressed message not updated after the 503")
	updates := fake.Calls("chat.update")
	require.Len(t, updates, 2)
	assert.Equal(t, http.StatusServiceUnavailable, updates[0].Status)
	assert.Equal(t, http.StatusOK, updates[1].Status)

	// Skip needs a reason: the presser alone is told how to give one.
	send(slacktest.InteractionRequest(t, srv.URL+"/slack/interactions",
		fake.BlockAction(t, bob, slacktest.AlertsChannel, step2.TS, bot.ActionStepSkip)))
	require.Eventually(t, func() bool {
		for _, m := range fake.Ephemerals() {
			if m.User == bob && strings.Contains(m.Text, "step skip") {
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "no ephemeral answer to the Skip button")

	send(slacktest.CommandRequest(t, srv.URL+"/slack/commands", fake.Command(bob, slacktest.AlertsChannel, "postmortem #1")))
	fake.WaitCalls(t, "files.completeUploadExternal", 1)
	require.Len(t, fake.Calls("files.getUploadURLExternal"), 1)
	require.Len(t, fake.Calls("upload"), 1)
	files := fake.Files()
	require.Len(t, files, 1)
	assert.True(t, files[0].Completed)
	assert.True(t, strings.HasSuffix(files[0].Name, ".md"), files[0].Name)
	assert.Contains(t, string(files[0].Content), "HighErrorRate")
	assert.Contains(t, string(files[0].Content), "Ana Lima", "real names in the postmortem")
	assert.Equal(t, slacktest.AlertsChannel, files[0].Channel)
}

// TestSocketModeReconnects follows Slack's "disconnect" request onto a new
// connection and keeps handling events there.
func TestSocketModeReconnects(t *testing.T) {
	e := start(t, true, false)
	e.fake.Disconnect(t)
	e.fake.WaitConnected(t, 2)
	require.Eventually(t, func() bool { return len(e.fake.Calls("apps.connections.open")) >= 2 },
		slacktest.WaitTimeout, 10*time.Millisecond)
	cmd := e.fake.Command(ana, slacktest.AlertsChannel, "list")
	env := e.fake.PushCommand(t, cmd)
	e.fake.WaitAck(t, env)
	require.Eventually(t, func() bool { return e.h.count("slack:cmd:"+cmd.TriggerID) == 1 },
		slacktest.WaitTimeout, 10*time.Millisecond)
}

// TestLostAnswerIsNotReposted: when chat.postMessage was processed but its
// answer never arrived, the adapter reports the error instead of posting a
// second copy.
func TestLostAnswerIsNotReposted(t *testing.T) {
	e := start(t, true, false)
	e.fake.DropNext("chat.postMessage")
	_, err := e.ad.Post(context.Background(), slacktest.AlertsChannel, bot.Message{Text: "step 1"})
	require.Error(t, err)
	assert.Len(t, e.fake.Calls("chat.postMessage"), 1)
	assert.Len(t, e.fake.Messages(slacktest.AlertsChannel), 1, "posted exactly once")

	e.fake.ErrorNext("chat.postMessage", "channel_not_found")
	_, err = e.ad.Post(context.Background(), slacktest.AlertsChannel, bot.Message{Text: "step 1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "channel_not_found")
	assert.Len(t, e.fake.Calls("chat.postMessage"), 2, "Slack errors are not retried")
}

// TestEphemeralFallsBackToResponseURL: where chat.postEphemeral is refused
// (Firebreak not in the channel), the slash command's response_url still
// reaches the user.
func TestEphemeralFallsBackToResponseURL(t *testing.T) {
	e := start(t, true, false)
	e.h.setNext(handlerFunc(func(ctx context.Context, _ bot.Event, r bot.Replier) error {
		_, err := r.Reply(ctx, bot.Message{Text: "**nope**", Ephemeral: true})
		return err
	}))
	e.fake.ErrorNext("chat.postEphemeral", "not_in_channel")
	cmd := e.fake.Command(ana, slacktest.AlertsChannel, "status")
	e.fake.WaitAck(t, e.fake.PushCommand(t, cmd))
	calls := e.fake.WaitCalls(t, "response_url", 1)
	assert.Equal(t, "ephemeral", calls[0].JSON["response_type"])
	assert.Equal(t, "*nope*", calls[0].JSON["text"])
	assert.Len(t, e.fake.Calls("chat.postEphemeral"), 1)
}

// TestIncidentChannelEndToEnd: with channel_per_incident, an alert opens
// inc-1-… through conversations.create, the steps are worked there with
// buttons and commands, and updates are mirrored to the alert thread.
func TestIncidentChannelEndToEnd(t *testing.T) {
	books, err := playbooks.Parse("rooms.yaml", []byte(`alert_channels: ["alerts"]
incidents:
  channel_per_incident: true
escalation:
  levels:
    - {after: 10m, notify: ["<@`+bob+`>"]}
playbooks:
  - id: outage
    steps: [{id: look, title: Look at the dashboards}, {id: fix, title: Fix it}]
`))
	require.NoError(t, err)
	e := startWith(t, true, books, quiet())
	fake := e.fake
	alert := alertmanager()
	fake.WaitAck(t, fake.PushEvent(t, fake.MessageEvent(alert)))

	var room slacktest.Channel
	require.Eventually(t, func() bool {
		var ok bool
		room, ok = fake.Channel("inc-1-higherrorrate-api-gateway")
		return ok && len(fake.Messages(room.ID)) >= 3
	}, slacktest.WaitTimeout, 10*time.Millisecond, "no incident channel with its card and first step")
	assert.Contains(t, room.Members, bob, "the first escalation level is invited")
	assert.Len(t, room.Pins, 1, "the link to the alert is pinned")
	var step1 slacktest.Message
	for _, m := range fake.Messages(room.ID) {
		if contains(m.Buttons(), bot.ActionStepDone) {
			step1 = m
		}
	}
	require.NotEmpty(t, step1.TS, "the first step with buttons is in the incident channel")
	assert.Contains(t, step1.Text, "Look at the dashboards")
	alertTS := fake.Messages(slacktest.AlertsChannel)[0].TS
	for _, m := range fake.Messages(slacktest.AlertsChannel) {
		assert.False(t, contains(m.Buttons(), bot.ActionStepDone), "no step buttons in the alert channel")
	}

	// Whoever acknowledges from the alert channel joins the room.
	fake.WaitAck(t, fake.PushCommand(t, fake.Command(ana, slacktest.AlertsChannel, "ack #1")))
	require.Eventually(t, func() bool {
		ch, _ := fake.Channel(room.ID)
		return contains(ch.Members, ana)
	}, slacktest.WaitTimeout, 10*time.Millisecond, "ana was not invited to the incident channel")

	// Done in the room advances; a command in the room needs no #1.
	fake.WaitAck(t, fake.PushInteraction(t, fake.BlockAction(t, ana, room.ID, step1.TS, bot.ActionStepDone)))
	fake.WaitAck(t, fake.PushCommand(t, fake.Command(ana, room.ID, "update Rolling back the 13:55 deploy")))
	require.Eventually(t, func() bool {
		for _, m := range fake.Messages(slacktest.AlertsChannel) {
			if m.ThreadTS == alertTS && strings.Contains(m.Text, "Rolling back the 13:55 deploy") {
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "the update is not mirrored to the alert thread")
	require.Eventually(t, func() bool {
		for _, m := range fake.Messages(room.ID) {
			if strings.Contains(m.Text, "Fix it") && contains(m.Buttons(), bot.ActionStepDone) {
				return true
			}
		}
		return false
	}, slacktest.WaitTimeout, 10*time.Millisecond, "step 2 is not posted in the incident channel")
}

// lockedBuffer collects log output from concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTokensNeverLogged drives both connection modes at debug level —
// alerts, commands, a rate limit, a failed call, forged requests — and
// checks that no token or signing secret appears in the log.
func TestTokensNeverLogged(t *testing.T) {
	for _, socket := range []bool{true, false} {
		t.Run(map[bool]string{true: "socket mode", false: "http mode"}[socket], func(t *testing.T) {
			var logs lockedBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			books, err := playbooks.Load("../../playbooks.yaml")
			require.NoError(t, err)
			e := startWith(t, socket, books, log)
			fake := e.fake
			fake.FailNext("chat.postMessage", http.StatusTooManyRequests, 10*time.Millisecond)
			fake.ErrorNext("users.info", "invalid_auth")
			if socket {
				fake.WaitAck(t, fake.PushEvent(t, fake.MessageEvent(alertmanager())))
				stepMessage(t, fake, "")
				fake.WaitAck(t, fake.PushCommand(t, fake.Command(bob, slacktest.AlertsChannel, "ack #1")))
			} else {
				srv := httptest.NewServer(http.StripPrefix("/slack", e.ad.HTTPHandler()))
				t.Cleanup(srv.Close)
				do := func(req *http.Request) {
					res, err := srv.Client().Do(req)
					require.NoError(t, err)
					require.NoError(t, res.Body.Close())
				}
				do(slacktest.SignedRequestAt(t, "not-the-secret", time.Now(), srv.URL+"/slack/commands",
					"application/x-www-form-urlencoded", []byte(fake.Command(ana, slacktest.AlertsChannel, "status").Form().Encode())))
				do(slacktest.EventsRequest(t, srv.URL+"/slack/events", fake.MessageEvent(alertmanager())))
				// The event is handled after its 200; the incident must exist before the ack.
				stepMessage(t, fake, "")
				do(slacktest.CommandRequest(t, srv.URL+"/slack/commands", fake.Command(bob, slacktest.AlertsChannel, "ack #1")))
			}
			require.Eventually(t, func() bool { return strings.Contains(logs.String(), "acknowledged") }, slacktest.WaitTimeout, 10*time.Millisecond)
			require.NotEmpty(t, logs.String())
			for _, secret := range []string{slacktest.BotToken, slacktest.AppToken, slacktest.SigningSecret} {
				assert.NotContains(t, logs.String(), secret)
			}
		})
	}
}
