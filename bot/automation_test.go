package bot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/automation"
	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

// deploySystem is a loopback deploy API whose rollback endpoint answers
// with the statuses queued in codes (then 200), echoing what it was sent.
type deploySystem struct {
	srv   *httptest.Server
	mu    sync.Mutex
	codes []int
	reqs  []*http.Request
	calls atomic.Int32
}

func newDeploySystem(t *testing.T, codes ...int) *deploySystem {
	d := &deploySystem{codes: codes}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.reqs = append(d.reqs, r)
		code := http.StatusOK
		if len(d.codes) > 0 {
			code, d.codes = d.codes[0], d.codes[1:]
		}
		d.mu.Unlock()
		w.WriteHeader(code)
		// A careless API that echoes the credentials it was given.
		_, _ = fmt.Fprintf(w, "rolled back (%s) auth=%s", body, r.Header.Get("Authorization"))
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *deploySystem) requests() []*http.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*http.Request(nil), d.reqs...)
}

type autoFixture struct {
	worker *testWorker
	svc    *incidents.Service
	router *Router
	chat   *fakeChat
	probes atomic.Int32
}

const deployToken = "tok-3f9a1c"

func newAutoFixture(t *testing.T, yaml string, probeOK bool) *autoFixture {
	t.Helper()
	books, err := playbooks.Parse("auto.yaml", []byte(yaml))
	require.NoError(t, err)
	clock := incidentstest.NewClock(time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := incidentstest.NewMemStore()
	svc := incidents.NewService(store, books, incidents.WithClock(clock.Now), incidents.WithLogger(log))
	f := &autoFixture{svc: svc, chat: newFakeChat()}
	f.worker = startTestWorker(t, store, map[string]Chat{"slack": f.chat})
	runner := actions.New(actions.Options{
		Getenv: func(k string) string {
			if k == "DEPLOY_TOKEN" {
				return deployToken
			}
			return ""
		},
		Backoff: actions.Backoff{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond},
		Logger:  log,
	})
	auto := automation.New(svc, automation.Config{Logger: log, Now: clock.Now, Actions: runner,
		Probe: func(_ context.Context, name string) (bool, string, error) {
			f.probes.Add(1)
			if name != "checkout" {
				return false, "", fmt.Errorf("no probe named %q", name)
			}
			if probeOK {
				return true, "✅ checkout: 200 OK in 12ms", nil
			}
			return false, "❌ checkout: 503 Service Unavailable in 40ms", nil
		}})
	runAutomation(t, auto)
	f.router, _ = newRouterIntake(t, svc, RouterConfig{Logger: log, Now: clock.Now, Automation: auto}, intake.Config{})
	f.router.AddChat("slack", f.chat)
	runRouter(t, f.router)
	return f
}

// The Router takes automation through its own small interface.
var _ Automation = (*automation.Automation)(nil)

// runAutomation runs a's Run (the owner of running steps) until the test
// ends.
func runAutomation(t *testing.T, a *automation.Automation) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func (f *autoFixture) press(t *testing.T, id string, who incidents.Actor, action, value string) *recorder {
	t.Helper()
	ev := Event{ID: id, Platform: "slack", Kind: KindAction, Channel: "C1", User: who, ActionID: action, Value: value,
		Target: MessageRef{Channel: "C1", ID: "card-" + id}}
	return handleIn(t, f.router, f.worker, f.chat, ev)
}

func (f *autoFixture) command(t *testing.T, id string, who incidents.Actor, text string) *recorder {
	t.Helper()
	ev := Event{ID: id, Platform: "slack", Kind: KindCommand, Channel: "C1", User: who, Text: text}
	return handleIn(t, f.router, f.worker, f.chat, ev)
}

// waitFor waits until a post in the incident channel contains s.
func (f *autoFixture) waitFor(t *testing.T, s string) Message {
	t.Helper()
	var found Message
	require.Eventually(t, func() bool {
		for _, p := range f.chat.postsCopy() {
			if strings.Contains(p.Message.Text, s) {
				found = p.Message
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "no post containing %q in %v", s, f.chat.postsCopy())
	return found
}

func (f *autoFixture) timeline(t *testing.T, n uint64) []incidents.Entry {
	t.Helper()
	var es []incidents.Entry
	require.NoError(t, f.svc.Timeline(context.Background(), n, func(e incidents.Entry) error {
		es = append(es, e)
		return nil
	}))
	return es
}

func actionIDs(m Message) []string {
	var ids []string
	for _, a := range m.Actions {
		ids = append(ids, a.ID)
	}
	return ids
}

func rollbackYAML(url string) string {
	return `alert_channels: ["#alerts"]
probes:
  - {name: checkout, url: "http://127.0.0.1:1/healthz", on_demand: true}
permissions:
  confirm_actions: ["role:commander"]
playbooks:
  - id: outage
    steps:
      - {id: validate, title: Validate the outage, kind: probe, probe: checkout}
      - id: rollback
        title: Roll back
        kind: http
        confirm: true
        timeout: 2s
        http:
          url: ` + url + `/rollback/{{.Service}}
          headers: {Authorization: "Bearer ${DEPLOY_TOKEN}"}
          body: '{"incident": {{.Number}}}'
      - {id: monitor, title: Monitor}
`
}

func TestConfirmedRollback(t *testing.T) {
	deploy := newDeploySystem(t, http.StatusServiceUnavailable)
	f := newAutoFixture(t, rollbackYAML(deploy.srv.URL), false)
	ctx := context.Background()

	// The alert opens the incident; the probe step runs by itself.
	rec := handleIn(t, f.router, f.worker, f.chat, Event{ID: "m1", Platform: "slack", Kind: KindMessage, Channel: "C1",
		ChannelName: "alerts", Text: "[FIRING:1] CheckoutDown checkout (service=checkout severity=critical)"})
	// The card and the first step; the step runs by itself in the
	// background and may already have said more.
	require.GreaterOrEqual(t, len(rec.all()), 2)
	assert.Contains(t, rec.all()[1].Text, "Firebreak runs probe `checkout`")
	f.waitFor(t, "Validate the outage** — done by Firebreak: ❌ checkout: 503")
	card := f.waitFor(t, "Step 2/3: Roll back")
	// The confirm card shows the call that will run, not its template
	// (issue 12 item 11), and never a secret.
	assert.Contains(t, card.Text, "🔒 Runs `POST "+deploy.srv.URL+"/rollback/checkout`")
	assert.NotContains(t, card.Text, "{{")
	require.Equal(t, []string{ActionRunStep, ActionStepDone, ActionStepSkip, ActionAck, ActionResolve}, actionIDs(card))
	assert.Equal(t, "1:rollback", card.Actions[0].Value)
	assert.Equal(t, int32(1), f.probes.Load())

	// Ana acknowledges and so leads; Bob may not confirm the rollback.
	f.command(t, "c1", ana, "ack")
	rec = f.press(t, "b1", bob, ActionRunStep, "1:rollback")
	require.Len(t, rec.all(), 1)
	assert.True(t, rec.all()[0].Ephemeral)
	assert.Contains(t, rec.all()[0].Text, "bob may not confirm actions on #1: `permissions.confirm_actions` in playbooks.yaml says who may.")
	assert.Zero(t, deploy.calls.Load(), "a refused confirmation runs nothing")

	// Ana confirms: the call is retried after the 503 and succeeds.
	rec = f.press(t, "b2", ana, ActionRunStep, "1:rollback")
	require.Len(t, rec.all(), 1)
	assert.Contains(t, rec.all()[0].Text, "confirmed **Roll back** on #1")
	done := f.waitFor(t, "Roll back** — done by Firebreak")
	assert.Contains(t, done.Text, "HTTP 200 OK")
	assert.Contains(t, done.Text, "after 2 attempts")
	f.waitFor(t, "Step 3/3: Monitor")

	reqs := deploy.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "/rollback/checkout", reqs[0].URL.Path)
	assert.Equal(t, "Bearer "+deployToken, reqs[0].Header.Get("Authorization"), "the secret comes from the environment")
	key := reqs[0].Header.Get("Idempotency-Key")
	assert.NotEmpty(t, key)
	assert.Equal(t, key, reqs[1].Header.Get("Idempotency-Key"), "a retry is the same request")

	// A second press of the same (stale) button runs nothing again.
	rec = f.press(t, "b3", ana, ActionRunStep, "1:rollback")
	assert.Contains(t, rec.all()[0].Text, "already done")
	assert.Equal(t, int32(2), deploy.calls.Load())

	inc, err := f.svc.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StepDone, inc.Step("rollback").Status)
	assert.True(t, inc.Step("rollback").By.Same(incidents.Bot))

	var kinds []string
	var all strings.Builder
	for _, e := range f.timeline(t, 1) {
		kinds = append(kinds, string(e.Kind)+":"+e.Data["phase"])
		fmt.Fprintf(&all, "%s %v\n", e.Text, e.Data)
	}
	assert.Equal(t, []string{"alert:", "action:started", "action:finished", "step_done:", "acknowledged:",
		"refused:", "action:started", "action:finished", "step_done:"}, kinds)
	assert.Contains(t, all.String(), "refused: bob may not confirm actions on #1")
	assert.Contains(t, all.String(), "confirmed http action of step \"Roll back\"")
	assert.Contains(t, all.String(), "rolled back ({\"incident\": 1}) auth=Bearer [redacted]")
	for _, p := range f.chat.postsCopy() {
		assert.NotContains(t, p.Message.Text, deployToken)
	}
	assert.NotContains(t, all.String(), deployToken, "secrets never reach the timeline")
}

func TestFailedActionOffersRunAgain(t *testing.T) {
	deploy := newDeploySystem(t, http.StatusBadRequest)
	yaml := `alert_channels: ["#alerts"]
playbooks:
  - id: outage
    steps:
      - id: drain
        title: Drain the canary
        kind: http
        http: {url: "` + deploy.srv.URL + `/drain", method: PUT}
      - {id: watch, title: Watch}
`
	f := newAutoFixture(t, yaml, true)
	rec := f.command(t, "c1", ana, "declare Checkout is down")
	require.GreaterOrEqual(t, len(rec.all()), 2, "the card and the first step (the automated step may already have said more)")
	failed := f.waitFor(t, "Drain the canary** did not succeed")
	assert.Contains(t, failed.Text, "HTTP 400 Bad Request")
	assert.Equal(t, []string{ActionRunStep, ActionStepSkip}, actionIDs(failed))
	assert.Equal(t, int32(1), deploy.calls.Load(), "4xx is not retried")
	inc, err := f.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, "drain", inc.CurrentStep().ID, "a failed action leaves the step to the responders")

	// Run again (anyone may: the step needs no confirmation); now it works.
	f.press(t, "b1", bob, ActionRunStep, "1:drain")
	f.waitFor(t, "Drain the canary** — done by Firebreak: ✅ HTTP 200 OK")
	f.waitFor(t, "Step 2/2: Watch")
	reqs := deploy.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, http.MethodPut, reqs[1].Method)
	assert.NotEqual(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"), "Run again is a new request")
}

func TestStatusUpdateStep(t *testing.T) {
	yaml := `alert_channels: ["#alerts"]
incidents:
  stakeholder_channels: ["#status"]
playbooks:
  - id: outage
    steps:
      - id: tell
        title: Tell stakeholders
        kind: status_update
        template: "{{.Title}} ({{.Severity}}): we are investigating. Next update in 30 minutes."
      - {id: fix, title: Fix it}
      - id: tell-again
        title: Tell them again
        kind: status_update
        template: "Update on #{{.Number}}"
`
	f := newAutoFixture(t, yaml, true)
	rec := f.command(t, "c1", ana, "declare Checkout is down --sev 2")
	msgs := rec.all()
	require.Len(t, msgs, 2)
	assert.Contains(t, msgs[1].Text, "Suggested update:\n> Checkout is down (SEV2): we are investigating. Next update in 30 minutes.")
	require.Equal(t, []string{ActionPostUpdate, ActionStepDone, ActionStepSkip, ActionAck, ActionResolve}, actionIDs(msgs[1]))

	rec = f.press(t, "b1", bob, ActionPostUpdate, "1:tell")
	assert.Contains(t, rec.text(), "Status update on **#1** from <@U2>: Checkout is down (SEV2): we are investigating.")
	assert.Contains(t, rec.text(), "Step 2/3: Fix it")
	assert.Contains(t, f.chat.updates["card-b1"].Text, "Tell stakeholders — done by <@U2>")
	share := f.waitFor(t, "Status update — #1")
	assert.Contains(t, share.Text, "we are investigating")

	// Pressing the stale button again does nothing twice.
	rec = f.press(t, "b2", bob, ActionPostUpdate, "1:tell")
	assert.Contains(t, rec.text(), "not the current step")

	// A hand-written update finishes a status_update step just the same.
	f.command(t, "c2", ana, "step done")
	rec = f.command(t, "c3", ana, "update Fixed by restarting the pods")
	assert.Contains(t, rec.text(), "Tell them again — done by <@U1>")
	inc, err := f.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StepDone, inc.Step("tell-again").Status)
	assert.Equal(t, "Fixed by restarting the pods", inc.LastUpdate)
}

func TestAutomatedStepsRunOnceEach(t *testing.T) {
	deploy := newDeploySystem(t)
	yaml := `alert_channels: ["#alerts"]
probes:
  - {name: checkout, url: "http://127.0.0.1:1/healthz", on_demand: true}
playbooks:
  - id: outage
    steps:
      - {id: validate, title: Validate, kind: probe, probe: checkout}
      - {id: flag, title: Turn the flag off, kind: http, http: {url: "` + deploy.srv.URL + `/flag"}}
      - {id: watch, title: Watch}
`
	f := newAutoFixture(t, yaml, true)
	f.command(t, "c1", ana, "declare Checkout is down")
	// While the chain runs, people press Run on the same steps.
	for i := range 5 {
		_ = f.router.Handle(context.Background(), Event{ID: fmt.Sprintf("b%d", i), Platform: "slack", Kind: KindAction,
			Channel: "C1", User: bob, ActionID: ActionRunStep, Value: "1:flag"}, &recorder{})
	}
	f.waitFor(t, "Step 3/3: Watch")
	assert.Equal(t, int32(1), f.probes.Load())
	assert.Equal(t, int32(1), deploy.calls.Load(), "the flag is turned off once")
	healthy := f.waitFor(t, "Validate** — done by Firebreak")
	assert.Contains(t, healthy.Text, "the probe is healthy")
}

// TestRunPressWhileRunning: while an automated step's action runs (here
// started by Firebreak itself), a Run press is refused with when it
// started — the store says the step is running, so any replica refuses —
// and the action runs once.
func TestRunPressWhileRunning(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "drained")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { closeOnce(release) })
	yaml := `alert_channels: ["#alerts"]
playbooks:
  - id: outage
    steps:
      - {id: drain, title: Drain the canary, kind: http, timeout: 30s, http: {url: "` + srv.URL + `/drain"}}
      - {id: watch, title: Watch}
`
	f := newAutoFixture(t, yaml, true)
	f.command(t, "c1", ana, "declare Checkout is down")
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, 5*time.Millisecond, "the step starts by itself")

	rec := f.press(t, "b1", bob, ActionRunStep, "1:drain")
	require.Len(t, rec.all(), 1)
	assert.True(t, rec.all()[0].Ephemeral, "only the presser is told")
	assert.Equal(t, `⚠️ The step "drain" of #1 is already running since 14:00 UTC.`, rec.all()[0].Text)
	inc, err := f.svc.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, incidents.StepRunning, inc.Step("drain").Status)

	closeOnce(release)
	f.waitFor(t, "Drain the canary** — done by Firebreak")
	f.waitFor(t, "Step 2/2: Watch")
	assert.Equal(t, int32(1), calls.Load(), "the action ran once")
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}
