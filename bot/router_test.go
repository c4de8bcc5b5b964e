package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

const firing = "[FIRING:1] HighErrorRate api-gateway (severity=critical) 5xx rate 17%"

var (
	ana = incidents.Actor{Platform: "slack", ID: "U1", Name: "ana"}
	bob = incidents.Actor{Platform: "slack", ID: "U2", Name: "bob"}
)

// recorder is a Replier that keeps what it was told.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
}

func (r *recorder) Reply(_ context.Context, m Message) (MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return MessageRef{Channel: "C1", ID: fmt.Sprintf("r%d", len(r.msgs))}, nil
}

func (r *recorder) all() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

func (r *recorder) text() string {
	var b strings.Builder
	for _, m := range r.all() {
		b.WriteString(m.Text + "\n")
		for _, f := range m.Fields {
			b.WriteString(f.Label + ": " + f.Value + "\n")
		}
	}
	return b.String()
}

type posted struct {
	Channel string
	Message Message
}

type uploaded struct {
	Channel, Comment string
	File             File
}

// fakeChat is a Chat that keeps what was posted.
type fakeChat struct {
	mu        sync.Mutex
	posts     []posted
	updates   map[string]Message
	uploads   []uploaded
	uploadErr error
}

func newFakeChat() *fakeChat { return &fakeChat{updates: map[string]Message{}} }

func (f *fakeChat) Post(_ context.Context, channel string, m Message) (MessageRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, posted{channel, m})
	return MessageRef{Channel: channel, ID: fmt.Sprintf("p%d", len(f.posts))}, nil
}

func (f *fakeChat) Update(_ context.Context, ref MessageRef, m Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates[ref.ID] = m
	return nil
}

func (f *fakeChat) Upload(_ context.Context, channel, _ string, file File, comment string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uploadErr != nil {
		return f.uploadErr
	}
	f.uploads = append(f.uploads, uploaded{channel, comment, file})
	return nil
}

func (f *fakeChat) postsCopy() []posted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]posted(nil), f.posts...)
}

type observed struct {
	mu       sync.Mutex
	ack, res []time.Duration
	counted  []string // "source/opened|repeat|…"
}

func (o *observed) CountOutcomes(source string, alerts []incidents.Alert, outs []incidents.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range outs {
		what := "grouped"
		switch {
		case outs[i].Created:
			what = "opened"
		case outs[i].Repeat:
			what = "repeat"
		}
		o.counted = append(o.counted, source+"/"+what)
	}
}

func (o *observed) ObserveAcknowledged(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ack = append(o.ack, d)
}

func (o *observed) ObserveResolved(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.res = append(o.res, d)
}

type fixture struct {
	store  *incidentstest.MemStore
	worker *testWorker
	svc    *incidents.Service
	router *Router
	intake *intake.Intake
	clock  *incidentstest.Clock
	chat   *fakeChat
	dir    string
	obs    *observed
	seq    int
}

func newFixture(t *testing.T, repeat time.Duration) *fixture {
	t.Helper()
	books, err := playbooks.Load("../playbooks.yaml")
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithClock(clock.Now), incidents.WithLogger(log))
	f := &fixture{store: store, svc: svc, clock: clock, chat: newFakeChat(), dir: filepath.Join(t.TempDir(), "pm"), obs: &observed{}}
	f.router, f.intake = newRouterIntake(t, svc, RouterConfig{Logger: log, PostmortemDir: f.dir, Now: clock.Now, Metrics: f.obs}, intake.Config{RepeatInterval: repeat})
	f.router.AddChat("slack", f.chat)
	f.worker = startTestWorker(t, store, map[string]Chat{"slack": f.chat})
	runRouter(t, f.router)
	return f
}

// runRouter runs r until the test ends; stop ends it sooner, waiting for
// its goroutines, so a test can read what they did.
func runRouter(t *testing.T, r *Router) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, r.Run(ctx))
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	})
	t.Cleanup(stop)
	return stop
}

// event is an event in Slack channel C1 ("alerts") with a fresh id.
func (f *fixture) event(kind EventKind, text string) Event {
	f.seq++
	return Event{ID: fmt.Sprintf("E%d", f.seq), Platform: "slack", Kind: kind, Channel: "C1", ChannelName: "alerts", User: ana, Text: text}
}

// handle handles ev and returns what its channel shows because of it:
// the replies to the event (ephemeral ones included), then what the
// outbox posted in the event's channel once it delivered everything the
// event recorded.
func (f *fixture) handle(t *testing.T, ev Event) *recorder {
	t.Helper()
	return handleIn(t, f.router, f.worker, f.chat, ev)
}

// lastEffect is the id of the latest recorded effect.
func lastEffect(m *incidentstest.MemStore) uint64 {
	all := m.Effects()
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].ID
}

// sameChannel reports whether channel is ev's channel, by its id or by
// the name playbooks.yaml gives it (a real platform shows both in one
// channel; the fake chat keeps them apart).
func sameChannel(r *Router, ev Event, channel string) bool {
	h := handling{Router: r, ev: ev}
	return channel == ev.Channel || slices.Contains(h.channelAliases(), channel)
}

// handleIn is fixture.handle for any Router, worker and chat.
func handleIn(t *testing.T, r *Router, w *testWorker, chat *fakeChat, ev Event) *recorder {
	t.Helper()
	rec := &recorder{}
	w.idle(t) // what earlier events recorded is posted before this one
	before, recorded := len(chat.postsCopy()), lastEffect(w.store)
	require.NoError(t, r.Handle(context.Background(), ev, rec))
	// The event's own posts: those it recorded in its channel (background
	// work it started, such as an automated step, may post after them).
	var own int
	for _, e := range w.store.Effects() {
		if e.ID > recorded && e.Kind == incidents.EffectPost && e.Home.Platform == ev.Platform && sameChannel(r, ev, e.Home.Channel) {
			own++
		}
	}
	w.idle(t)
	chat.mu.Lock()
	defer chat.mu.Unlock()
	for i, p := range chat.posts[before:] {
		if !sameChannel(r, ev, p.Channel) || own == 0 {
			continue
		}
		own--
		m := p.Message
		if edited, ok := chat.updates[fmt.Sprintf("p%d", before+i+1)]; ok {
			m = edited // the channel shows the message as edited since
		}
		rec.msgs = append(rec.msgs, m)
	}
	return rec
}

func (f *fixture) open(t *testing.T) *incidents.Incident {
	t.Helper()
	rec := f.handle(t, f.event(KindMessage, firing))
	require.Len(t, rec.all(), 2)
	inc, err := f.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	return inc
}

func TestAlertOpensIncident(t *testing.T) {
	f := newFixture(t, time.Minute)
	rec := f.handle(t, f.event(KindMessage, firing))
	msgs := rec.all()
	require.Len(t, msgs, 2)
	assert.Contains(t, msgs[0].Text, "#1 HighErrorRate")
	assert.Contains(t, msgs[0].Text, "SEV1")
	assert.Empty(t, msgs[0].Actions, "the step card carries the buttons")
	assert.Contains(t, msgs[1].Text, "Step 1/5: Read the status codes")
	assert.Contains(t, msgs[1].Text, "☐ Split the 5xx rate")
	require.NotEmpty(t, msgs[1].Actions)
	assert.Equal(t, Action{ID: ActionStepDone, Label: "Done", Style: StylePrimary, Value: "1:read-codes"}, msgs[1].Actions[0])
	var ids []string
	for _, a := range msgs[1].Actions {
		ids = append(ids, a.ID)
	}
	assert.Equal(t, []string{ActionStepDone, ActionStepSkip, ActionAck, ActionResolve}, ids)
	assert.False(t, msgs[1].Ephemeral)
}

func TestMessagesThatAreNotAlerts(t *testing.T) {
	tests := []struct {
		name string
		ev   func(f *fixture) Event
	}{
		{"chatter in the alert channel", func(f *fixture) Event { return f.event(KindMessage, "anyone seeing slowness?") }},
		{"alert in another channel", func(f *fixture) Event {
			ev := f.event(KindMessage, firing)
			ev.Channel, ev.ChannelName = "C9", "random"
			return ev
		}},
		{"Firebreak's own message", func(f *fixture) Event {
			ev := f.event(KindMessage, firing)
			ev.User = incidents.Bot
			return ev
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, time.Minute)
			rec := f.handle(t, tt.ev(f))
			assert.Empty(t, rec.all())
			list, err := f.svc.List(context.Background(), incidents.ListQuery{})
			require.NoError(t, err)
			assert.Empty(t, list)
		})
	}
}

func TestCommands(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.open(t)
	tests := []struct {
		cmd       string
		contains  []string
		ephemeral bool
	}{
		{"ack", []string{"<@U1> acknowledged **#1**"}, false},
		{"status", []string{"#1 HighErrorRate", "Commander: <@U1>", "Step 1/5"}, false},
		{"step done looked at the codes", []string{"Read the status codes — done by <@U1>", "Step 2/5: Validate the user impact"}, false},
		{"note 502s from one pod <!channel>", []string{"added a note to **#1**: 502s from one pod <\u200b!\u200bchannel>"}, false},
		{"followup alert on pool saturation", []string{"follow-up to **#1**"}, false},
		{"role comms me", []string{"<@U1> is now comms of **#1**"}, false},
		{"role commander <@U2>", []string{"<@U2> is now commander of **#1**"}, false},
		{"severity SEV2", []string{"set **#1** to SEV2"}, false},
		{"update rolling back v2.3", []string{"Status update on **#1**", "rolling back v2.3"}, false},
		{"step skip --step verify handled by the rollback", []string{"Verify recovery — skipped by <@U1>"}, false},
		{"mitigate", []string{"marked **#1** mitigated"}, false},
		{"timeline", []string{"Timeline of #1", "acknowledged", "2026-03-04 14:00:00Z"}, true},
		{"list", []string{"Open incidents", "#1 HighErrorRate"}, true},
		{"help", []string{"/incident declare <title>", "/incident resolve [summary]"}, true},
		{"help step", []string{"step done [note]"}, true},
		{"resolve rolled back", []string{"resolved **#1**", "Summary: rolled back"}, false},
		{"list", []string{"No open incidents"}, true},
		{"list all", []string{"#1 HighErrorRate"}, true},
		{"ack", []string{"No incident is open in this channel"}, true},
		{"#1 ack", []string{"already resolved"}, true},
		{"frobnicate", []string{`There is no command "frobnicate".`, "`/incident help`"}, true},
		{"#9 ack", []string{"There is no incident #9: `/incident list all` shows them all."}, true},
		{"declare Checkout is down SEV2", []string{"#2 Checkout is down", "SEV2", "Step 1/4: Validate the outage"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			f.clock.Advance(time.Minute)
			rec := f.handle(t, f.event(KindCommand, tt.cmd))
			msgs := rec.all()
			require.NotEmpty(t, msgs)
			for _, m := range msgs {
				assert.Equal(t, tt.ephemeral, m.Ephemeral, m.Text)
			}
			for _, want := range tt.contains {
				assert.Contains(t, rec.text(), want)
			}
		})
	}
	f.obs.mu.Lock()
	defer f.obs.mu.Unlock()
	assert.Equal(t, []time.Duration{time.Minute}, f.obs.ack)
	require.Len(t, f.obs.res, 1)
	assert.Equal(t, 16*time.Minute, f.obs.res[0])
}

func TestImpliedAndExplicitIncident(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.open(t)
	elsewhere := func(text string) Event {
		ev := f.event(KindCommand, text)
		ev.Channel, ev.ChannelName = "C9", "random"
		return ev
	}
	rec := f.handle(t, elsewhere("ack"))
	require.Len(t, rec.all(), 1)
	assert.True(t, rec.all()[0].Ephemeral)
	assert.Contains(t, rec.all()[0].Text, "No incident is open in this channel")

	for _, cmd := range []string{"#1 note from another room", "note #1 and again"} {
		rec = f.handle(t, elsewhere(cmd))
		require.Len(t, rec.all(), 1)
		assert.False(t, rec.all()[0].Ephemeral)
		assert.Contains(t, rec.all()[0].Text, "**#1**")
	}
}

func TestButtons(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.open(t)
	press := func(id, value, eventID string) *recorder {
		ev := f.event(KindAction, "")
		ev.ID, ev.ActionID, ev.Value, ev.Target = eventID, id, value, MessageRef{Channel: "C1", ID: "m-step1"}
		return f.handle(t, ev)
	}
	rec := press(ActionStepDone, "1:read-codes", "press-1")
	msgs := rec.all()
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0].Text, "Step 2/5: Validate the user impact")
	assert.Equal(t, "1:validate", msgs[0].Actions[0].Value)
	f.chat.mu.Lock()
	upd, ok := f.chat.updates["m-step1"]
	f.chat.mu.Unlock()
	require.True(t, ok, "the pressed message is updated")
	assert.Contains(t, upd.Text, "Read the status codes — done by <@U1> at 14:00 UTC")
	assert.Empty(t, upd.Actions)

	t.Run("second press of the same Done", func(t *testing.T) {
		rec := press(ActionStepDone, "1:read-codes", "press-2")
		require.Len(t, rec.all(), 1)
		assert.True(t, rec.all()[0].Ephemeral)
		inc, err := f.svc.Get(context.Background(), 1)
		require.NoError(t, err)
		assert.Equal(t, 1, inc.Current, "one advance only")
	})
	t.Run("redelivered press", func(t *testing.T) {
		assert.Empty(t, press(ActionStepDone, "1:read-codes", "press-1").all())
	})
	t.Run("skip asks for a reason", func(t *testing.T) {
		rec := press(ActionStepSkip, "1:validate", "press-3")
		require.Len(t, rec.all(), 1)
		assert.True(t, rec.all()[0].Ephemeral)
		assert.Contains(t, rec.all()[0].Text, "/incident #1 step skip --step validate <why>")
	})
	t.Run("acknowledge", func(t *testing.T) {
		rec := press(ActionAck, "1", "press-4")
		require.Len(t, rec.all(), 1)
		assert.Contains(t, rec.all()[0].Text, "acknowledged **#1**")
		f.chat.mu.Lock()
		upd := f.chat.updates["m-step1"]
		f.chat.mu.Unlock()
		for _, a := range upd.Actions {
			assert.NotEqual(t, ActionAck, a.ID, "no Acknowledge once acknowledged")
		}
	})
	t.Run("resolve asks for a summary instead of closing", func(t *testing.T) {
		rec := press(ActionResolve, "1", "press-5")
		require.Len(t, rec.all(), 1)
		assert.True(t, rec.all()[0].Ephemeral)
		assert.Contains(t, rec.all()[0].Text, "`/incident #1 resolve <summary>`")
		inc, err := f.svc.Get(context.Background(), 1)
		require.NoError(t, err)
		assert.True(t, inc.Status.Open(), "one click closes nothing")
		f.obs.mu.Lock()
		assert.Empty(t, f.obs.res)
		f.obs.mu.Unlock()
	})
	t.Run("bad value", func(t *testing.T) {
		rec := press(ActionStepDone, "x:y", "press-6")
		require.Len(t, rec.all(), 1)
		assert.True(t, rec.all()[0].Ephemeral)
	})
}

func TestDuplicateEventHasNoReply(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.open(t)
	ev := f.event(KindCommand, "note first")
	require.Len(t, f.handle(t, ev).all(), 1)
	assert.Empty(t, f.handle(t, ev).all())
	alert := f.event(KindMessage, firing)
	f.handle(t, alert)
	assert.Empty(t, f.handle(t, alert).all())
}

func TestRepeatsAreCoalesced(t *testing.T) {
	f := newFixture(t, 100*time.Millisecond)
	f.open(t)
	opened := len(f.chat.postsCopy())
	later := func() []posted { return f.chat.postsCopy()[opened:] }
	for range 5 {
		assert.Empty(t, f.handle(t, f.event(KindMessage, firing)).all())
	}
	require.Eventually(t, func() bool { return len(later()) >= 1 }, 5*time.Second, 10*time.Millisecond)
	posts := later()
	require.Len(t, posts, 1)
	assert.Equal(t, "C1", posts[0].Channel)
	assert.Contains(t, posts[0].Message.Text, "#1 HighErrorRate api-gateway 5xx rate 17% fired again (×5 in the last <1s, 6 in total)")

	// The next repeat is summarised on its own (that a quiet interval ends
	// the summariser is intake's TestRepeatsCoalesce).
	f.handle(t, f.event(KindMessage, firing))
	require.Eventually(t, func() bool { return len(later()) == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, later()[1].Message.Text, "×1")
}

// TestRepeatLineQuotesTheLatestAlert reproduces issue 12 item 11: the
// repeat summary quoted the first alert's text, not what monitoring says now.
func TestRepeatLineQuotesTheLatestAlert(t *testing.T) {
	f := newFixture(t, 100*time.Millisecond)
	f.open(t)
	opened := len(f.chat.postsCopy())
	f.handle(t, f.event(KindMessage, strings.Replace(firing, "17%", "25%", 1)))
	f.handle(t, f.event(KindMessage, strings.Replace(firing, "17%", "31%", 1)))
	require.Eventually(t, func() bool { return len(f.chat.postsCopy()) > opened }, 5*time.Second, 10*time.Millisecond)
	text := f.chat.postsCopy()[opened].Message.Text
	assert.Contains(t, text, "5xx rate 31% fired again (×2")
	assert.NotContains(t, text, "17%")
}

// TestChatAlertsAreCounted reproduces issue 12 item 9: incidents opened
// by alerts read in chat never reached the metrics (only webhooks counted).
func TestChatAlertsAreCounted(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.open(t)
	f.handle(t, f.event(KindMessage, firing))
	f.handle(t, f.event(KindMessage, "just chatting, no alert here"))
	f.obs.mu.Lock()
	defer f.obs.mu.Unlock()
	assert.Equal(t, []string{"chat/opened", "chat/repeat"}, f.obs.counted)
}

func TestResolvedAlertMitigates(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.open(t)
	rec := f.handle(t, f.event(KindMessage, strings.Replace(firing, "[FIRING:1]", "[RESOLVED]", 1)))
	require.Len(t, rec.all(), 1)
	assert.Contains(t, rec.all()[0].Text, "#1 mitigated")
	f.clock.Advance(2 * time.Minute)
	rec = f.handle(t, f.event(KindMessage, firing))
	require.Len(t, rec.all(), 1)
	assert.Contains(t, rec.all()[0].Text, "#1 reopened")
}

func TestPostmortem(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.open(t)
	rec := f.handle(t, f.event(KindCommand, "postmortem"))
	assert.Empty(t, rec.all(), "the upload is the answer")
	path := filepath.Join(f.dir, "incident-1-postmortem.md")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(data), "HighErrorRate")
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), info.Mode().Perm())
	require.Len(t, f.chat.uploads, 1)
	up := f.chat.uploads[0]
	assert.Equal(t, "C1", up.Channel)
	assert.Equal(t, "incident-1-postmortem.md", up.File.Name)
	assert.Equal(t, data, up.File.Content)
	assert.Contains(t, up.Comment, path)

	// The upload is the outbox's: one that fails is settled as given up,
	// with the platform's reason, and the file stays where it was written.
	f.chat.mu.Lock()
	f.chat.uploadErr = errors.New("files:write scope missing")
	f.chat.mu.Unlock()
	rec = f.handle(t, f.event(KindCommand, "postmortem"))
	assert.Empty(t, rec.all())
	effects := f.store.Effects()
	last := effects[len(effects)-1]
	assert.Equal(t, incidents.EffectUpload, last.Kind)
	assert.Equal(t, incidents.EffectGaveUp, last.Status)
	assert.Contains(t, last.Reason, "files:write scope missing")
	assert.FileExists(t, path)
}

func TestPinReaction(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.open(t)
	ev := f.event(KindReaction, "")
	ev.Emoji, ev.TargetAuthor, ev.TargetText, ev.Target = "pushpin", bob, "pool at 100%", MessageRef{Channel: "C1", ID: "m7"}
	rec := f.handle(t, ev)
	require.Len(t, rec.all(), 1)
	assert.Equal(t, "m7", rec.all()[0].Thread)
	assert.Contains(t, rec.all()[0].Text, "Pinned to the timeline of **#1**")

	other := f.event(KindReaction, "")
	other.Emoji = "thumbsup"
	assert.Empty(t, f.handle(t, other).all())
}

func TestIngestAlerts(t *testing.T) {
	alert := incidents.Alert{Source: "alertmanager", Status: incidents.AlertFiring, Name: "HighErrorRate", Title: "HighErrorRate checkout", Service: "checkout", Severity: incidents.SEV2}
	t.Run("announced on every platform", func(t *testing.T) {
		f := newFixture(t, time.Minute)
		console := newFakeChat()
		f.router.AddChat("console", console)
		f.worker.add("console", console)
		outs, err := f.intake.IngestAlerts(context.Background(), "alertmanager", "am-1", []incidents.Alert{alert, alert})
		require.NoError(t, err)
		require.Len(t, outs, 2)
		assert.True(t, outs[0].Created)
		assert.Equal(t, incidents.Home{Platform: "console", Channel: "#alerts"}, outs[0].Incident.Home)
		for _, c := range []*fakeChat{console, f.chat} {
			require.Eventually(t, func() bool { return len(c.postsCopy()) == 2 }, 5*time.Second, 10*time.Millisecond)
			posts := c.postsCopy()
			assert.Equal(t, "#alerts", posts[0].Channel)
			assert.Contains(t, posts[0].Message.Text, "#1 HighErrorRate checkout")
			assert.Contains(t, posts[1].Message.Text, "Step 1/5")
		}
		again, err := f.intake.IngestAlerts(context.Background(), "alertmanager", "am-1", []incidents.Alert{alert})
		require.NoError(t, err)
		assert.True(t, again[0].Duplicate)
	})
	t.Run("headless", func(t *testing.T) {
		books, err := playbooks.Load("../playbooks.yaml")
		require.NoError(t, err)
		svc := incidents.NewService(incidentstest.NewMemStore(), books)
		_, in := newRouterIntake(t, svc, RouterConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, intake.Config{})
		outs, err := in.IngestAlerts(context.Background(), "probe", "", []incidents.Alert{alert})
		require.NoError(t, err)
		require.Len(t, outs, 1)
		assert.True(t, outs[0].Created)
		assert.True(t, outs[0].Incident.Home.IsZero())
	})
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, notContains string }{
		{"@everyone look", "@everyone"},
		{"@here", "@here"},
		{"<!channel> hi", "<!channel>"},
		{"<!here>", "<!here>"},
		{"<!everyone>", "<!everyone>"},
		{"<@&123> ping", "<@&"},
		{"<@U123>", "<@U"},
		{"**bold**", "**"},
		{"[click](http://x)", "[click]("},
		{"`<!channel>`", "<!channel>"},
		{"`<@U123>`", "<@U"},
		{"a `b", "`"},
		{"~~gone~~", "~~"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.NotContains(t, Escape(tt.in), tt.notContains)
		})
	}
	assert.Equal(t, "api-gateway 5xx rate 17%", Escape("api-gateway 5xx rate 17%"))
}

// TestEscapeKeepsCodeSpans reproduces issue 12 item 5: Escape turned every
// backtick into ˋ, so "did you mean `/incident ack`?" lost its code span
// on every platform.
func TestEscapeKeepsCodeSpans(t *testing.T) {
	tests := []struct{ in, want string }{
		{"did you mean `/incident ack`?", "did you mean `/incident ack`?"},
		{"run `kubectl rollout undo deploy/api_gw` now", "run `kubectl rollout undo deploy/api_gw` now"},
		{"```\nstack_trace *here*\n```", "```\nstack_trace *here*\n```"},
		{"`a` and *b*", "`a` and *\u200bb*\u200b"},
		{"a lone ` backtick", "a lone \u02cb backtick"},
		{"`one` two `three", "`one` two \u02cbthree"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, Escape(tt.in))
		})
	}
}

// outsideCode drops the code spans of escaped text, leaving what chat
// interprets as markup.
func outsideCode(s string) string {
	parts := strings.Split(s, "`")
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 0 {
			b.WriteString(p)
		}
	}
	return b.String()
}

func TestMention(t *testing.T) {
	assert.Equal(t, "<@U1>", Mention(ana, "slack"))
	assert.Equal(t, "ana", Mention(ana, "discord"))
	assert.Equal(t, "Firebreak", Mention(incidents.Bot, "slack"))
	assert.Equal(t, "e\u200bvil@\u200beveryone", Mention(incidents.Actor{Platform: "discord", Name: "e\u200bvil@everyone"}, "slack"))
}

func TestParseMention(t *testing.T) {
	tests := []struct {
		in, platform string
		want         incidents.Actor
		err          bool
	}{
		{"me", "slack", ana, false},
		{"@me", "slack", ana, false},
		{"<@U123ABC>", "slack", incidents.Actor{Platform: "slack", ID: "U123ABC"}, false},
		{"<@U123ABC|bob>", "slack", incidents.Actor{Platform: "slack", ID: "U123ABC", Name: "bob"}, false},
		{"<@!80351110224678912>", "discord", incidents.Actor{Platform: "discord", ID: "80351110224678912"}, false},
		{"<@80351110224678912>", "discord", incidents.Actor{Platform: "discord", ID: "80351110224678912"}, false},
		{"@bob", "discord", incidents.Actor{Platform: "discord", Name: "bob"}, false},
		{"@bob", "console", incidents.Actor{Platform: "console", ID: "bob", Name: "bob"}, false},
		{"U0123ABCD", "slack", incidents.Actor{Platform: "slack", ID: "U0123ABCD"}, false},
		{"bob", "slack", incidents.Actor{Platform: "slack", Name: "bob"}, false},
		{"@everyone", "slack", incidents.Actor{}, true},
		{"<@&123>", "discord", incidents.Actor{}, true},
		{"<@U1", "slack", incidents.Actor{}, true},
		{"", "slack", incidents.Actor{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMention(tt.in, ana, tt.platform)
			if tt.err {
				assert.ErrorIs(t, err, ErrUsage)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		in   string
		n    uint64
		step string
		err  bool
	}{
		{"4", 4, "", false},
		{"4:validate", 4, "validate", false},
		{"0", 0, "", true},
		{"", 0, "", true},
		{"x:y", 0, "", true},
		{"-1:y", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, step, err := parseValue(tt.in)
			if tt.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.n, n)
			assert.Equal(t, tt.step, step)
		})
	}
}

func FuzzParseMention(f *testing.F) {
	for _, s := range []string{"me", "<@U1>", "<@!1|x>", "@bob", "U0123ABC", "<@&1>", "<@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseMention(s, ana, "slack")
		if err != nil {
			return
		}
		if a.IsZero() {
			t.Fatalf("%q: an accepted mention names someone", s)
		}
		if strings.ContainsAny(a.ID, "<>") {
			t.Fatalf("%q: id %q keeps markup", s, a.ID)
		}
	})
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"@everyone", "<!here>", "<@&1>", "**x**", "[a](b)", "`x`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if strings.Count(e, "`")%2 != 0 {
			t.Fatalf("Escape(%q) = %q leaves a backtick without a partner", s, e)
		}
		for _, bad := range []string{"@everyone", "@here", "<!", "<@"} {
			if strings.Contains(e, bad) {
				t.Fatalf("Escape(%q) = %q keeps %q", s, e, bad)
			}
		}
		if out := outsideCode(e); strings.Contains(out, "**") {
			t.Fatalf("Escape(%q) = %q keeps ** outside code", s, e)
		}
	})
}

func BenchmarkParseCommand(b *testing.B) {
	for b.Loop() {
		if _, err := ParseCommand("/incident #42 step done --step rollback rolled back v2.3.1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandleNote(b *testing.B) {
	books, err := playbooks.Load("../playbooks.yaml")
	require.NoError(b, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := incidents.NewService(incidentstest.NewMemStore(), books, incidents.WithLogger(log))
	r, _ := newRouterIntake(b, svc, RouterConfig{Logger: log, PostmortemDir: b.TempDir()}, intake.Config{})
	ctx := context.Background()
	ev := Event{Platform: "slack", Kind: KindMessage, Channel: "C1", ChannelName: "alerts", User: ana, Text: firing}
	require.NoError(b, r.Handle(ctx, ev, &recorder{}))
	ev.Kind, ev.Text = KindCommand, "note still failing"
	i := 0
	for b.Loop() {
		i++
		ev.ID = strconv.Itoa(i)
		if err := r.Handle(ctx, ev, &recorder{}); err != nil {
			b.Fatal(err)
		}
	}
}
