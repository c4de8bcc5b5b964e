package bot

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/bot/alerttext"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// Observer receives incident durations and alert outcomes, for metrics.
// The binary passes its Prometheus collectors; nil means no metrics.
type Observer interface {
	ObserveAcknowledged(time.Duration)
	ObserveResolved(time.Duration)
	// CountOutcomes counts alerts the service recorded (outs[i] belongs to
	// alerts[i]). The Router counts the alerts read in chat; webhooks and
	// probes count their own where they hand them over.
	CountOutcomes(source string, alerts []incidents.Alert, outs []incidents.Outcome)
}

// RouterConfig configures a Router. Zero values pick the defaults.
type RouterConfig struct {
	Logger *slog.Logger
	// PostmortemDir is where /incident postmortem writes files (default:
	// postmortem.directory from playbooks.yaml, else "postmortems").
	PostmortemDir string
	// Now is the clock used on cards (default time.Now).
	Now func() time.Time
	// RepeatInterval bounds chat posts about repeated alerts: at most one
	// summary per incident per interval (default: grouping.repeat_interval,
	// else 1m).
	RepeatInterval time.Duration
	// Metrics observes time to acknowledge and resolve; nil means none.
	Metrics Observer
	// Automation starts automated steps and takes the Run and "Post this
	// update" buttons (*automation.Automation); nil: steps are done by
	// hand and status updates stay in the channel they were posted in.
	Automation Automation
	// IncidentURL links an incident's web page on cards (web.IncidentURL
	// of FIREBREAK_PUBLIC_URL); nil leaves the link out.
	IncidentURL func(number uint64) string
	// Tracker files follow-ups as issues in the team's tracker and
	// refreshes their status; nil keeps them in the postmortem only.
	Tracker ActionItemFiler
	// Posted finds where the outbox delivered a keyed post (the outbox's
	// store), so that the room of a webhook alert's incident starts from
	// its announcement (a Discord thread on the card). nil: rooms of
	// webhook incidents start from the channel.
	Posted PostedRefs
}

// PostedRefs finds where a recorded post with a Key landed once the outbox
// delivered it; storage.Outbox implements it.
type PostedRefs interface {
	Ref(ctx context.Context, key string) (ref incidents.EffectRef, ok bool, err error)
}

// announcedWait bounds how long the rooms of one webhook batch wait for
// their announcements to be posted before they start from the channel.
const announcedWait = 10 * time.Second

// MaxPostmortemSize bounds a postmortem held in memory to attach to chat;
// bigger ones are only written to the file.
const MaxPostmortemSize = 5 << 20

// maxRepeatStates bounds the coalescing state: one entry per incident
// with unannounced repeats.
const maxRepeatStates = 1000

// maxAnnouncers bounds concurrent background announcements of webhook
// alerts, so an alert storm queues instead of spawning without limit.
const maxAnnouncers = 16

// Router turns chat events into incidents.Service calls and says what
// happened. It implements Handler. All adapters share one Router, so an
// incident can be worked from Slack, Discord and the console alike.
//
// The Router owns goroutines: one per incident with repeats waiting to be
// summarised and one per webhook batch whose new incidents get rooms (automated
// steps run in package automation). Run stops them. What it says is recorded with each
// intent and posted by the outbox worker (see package doc).
type Router struct {
	svc *incidents.Service
	cfg RouterConfig
	log *slog.Logger

	mu      sync.Mutex
	chats   map[string]Chat
	repeats map[repeatKey]*repeatState
	// picks remembers which incident each "which incident?" question was
	// answered with (by platform, channel and message), so a second press
	// is refused; pickOrder bounds it to maxPicks questions.
	picks     map[string]uint64
	pickOrder []string
	stopped   bool

	bg     sync.WaitGroup
	bgCtx  context.Context
	bgStop context.CancelFunc
	sem    chan struct{}
}

// repeatKey is one incident as seen in one chat channel.
type repeatKey struct {
	incident uint64
	platform string
	channel  string
}

// repeatState is what a channel has not yet been told about an incident's
// repeated alerts.
type repeatState struct {
	thread  string
	title   string
	pending int
	total   int
}

// NewRouter returns a Router over svc. Call Run to stop its goroutines.
func NewRouter(svc *incidents.Service, cfg RouterConfig) *Router {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	books := svc.Playbooks()
	if cfg.RepeatInterval <= 0 && books != nil {
		cfg.RepeatInterval = books.Grouping.RepeatInterval.D()
	}
	if cfg.RepeatInterval <= 0 {
		cfg.RepeatInterval = time.Minute
	}
	if cfg.PostmortemDir == "" && books != nil {
		cfg.PostmortemDir = books.Postmortem.Directory
	}
	if cfg.PostmortemDir == "" {
		cfg.PostmortemDir = "postmortems"
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Router{svc: svc, cfg: cfg, log: cfg.Logger,
		chats: map[string]Chat{}, repeats: map[repeatKey]*repeatState{}, picks: map[string]uint64{},
		bgCtx: ctx, bgStop: cancel, sem: make(chan struct{}, maxAnnouncers)}
}

// AddChat registers a connected platform ("console", "slack", "discord"):
// webhook alerts are announced on every registered platform, and its Chat
// opens incident rooms (ChannelCreator) and invites to them (RoomInviter).
// The Router never posts through it: the outbox worker does. Safe for
// concurrent use.
func (r *Router) AddChat(platform string, c Chat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chats[platform] = c
}

// Run blocks until ctx is done, then stops every goroutine the Router
// started (repeat summaries not yet posted are dropped; their counts are
// on the timeline) and waits for them.
func (r *Router) Run(ctx context.Context) error {
	<-ctx.Done()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.bgStop()
	r.bg.Wait()
	return nil
}

func (r *Router) chat(platform string) Chat {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chats[platform]
}

// platformRank orders platforms for announcements: the console first (it
// is only registered when run locally), then Slack, then Discord, then
// any other.
func platformRank(p string) int {
	switch p {
	case "console":
		return 0
	case "slack":
		return 1
	case "discord":
		return 2
	}
	return 3
}

// platforms lists registered platforms, primary first.
func (r *Router) platforms() []string {
	r.mu.Lock()
	ps := make([]string, 0, len(r.chats))
	for p := range r.chats {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	slices.SortFunc(ps, func(a, b string) int {
		if d := platformRank(a) - platformRank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return ps
}

// goBackground runs fn on its own goroutine under the Router's context.
// Nothing starts once Run has ended.
func (r *Router) goBackground(fn func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		fn(r.bgCtx)
	}()
	return true
}

func (r *Router) renderer(platform string) cards.Renderer {
	return cards.Renderer{Platform: platform, Books: r.svc.Playbooks(), Now: r.cfg.Now(), URL: r.cfg.IncidentURL}
}

func origin(ev Event) incidents.Origin {
	o := incidents.Origin{Actor: ev.User, Home: incidents.Home{Platform: ev.Platform, Channel: ev.Channel, Thread: ev.Thread}}
	if ev.ID != "" {
		// The adapter namespaced the id with its platform (Event.ID).
		o.EventID = ev.ID
		o.FormerEventID = ev.Platform + ":" + ev.ID
	}
	return o
}

func kindName(k EventKind) string {
	switch k {
	case KindMessage:
		return "message"
	case KindCommand:
		return "command"
	case KindAction:
		return "action"
	case KindReaction:
		return "reaction"
	}
	return "kind-" + strconv.Itoa(int(k))
}

// Handle implements Handler.
func (r *Router) Handle(ctx context.Context, ev Event, reply Replier) error {
	h := handling{Router: r, ev: ev, reply: reply, rd: r.renderer(ev.Platform), outcome: "ignored"}
	var err error
	switch ev.Kind {
	case KindMessage:
		err = h.message(ctx)
	case KindCommand:
		err = h.command(ctx)
	case KindAction:
		err = h.action(ctx)
	case KindReaction:
		err = h.reaction(ctx)
	default:
		err = fmt.Errorf("event %s: unknown kind %d", ev.ID, ev.Kind)
	}
	attrs := []any{"event", ev.ID, "kind", kindName(ev.Kind), "platform", ev.Platform, "channel", ev.Channel, "outcome", h.outcome}
	if h.incident != 0 {
		attrs = append(attrs, "incident", h.incident)
	}
	if err != nil {
		r.log.WarnContext(ctx, "event failed", append(attrs, "err", err)...)
		return err
	}
	r.log.InfoContext(ctx, "event handled", attrs...)
	return nil
}

// handling is one event being handled.
type handling struct {
	*Router
	ev       Event
	reply    Replier
	rd       cards.Renderer
	outcome  string
	incident uint64
	// thread is where public replies about the incident go when the event
	// came from the channel at large: the incident's home thread there.
	thread string
	// redraw, when set, is the edit of the pressed message that a
	// lifecycle intent records with its change (ack and mitigate buttons).
	redraw func(inc *incidents.Incident) []incidents.Effect
}

// say answers the person who acted through the event's Replier, unrecorded:
// ephemeral answers, refusals, questions. What the channel is told goes
// through the outbox instead (see saying).
func (h *handling) say(ctx context.Context, m Message) error {
	if _, err := h.reply.Reply(ctx, m); err != nil {
		return fmt.Errorf("reply in %s: %w", h.ev.Channel, err)
	}
	return nil
}

// replyHome is where the public news of an event about inc goes: the
// event's channel and thread, or inc's home thread there when the event
// came from the channel at large — a Slack slash command never carries a
// thread — so an incident's conversation stays in one place.
func (h *handling) replyHome(inc *incidents.Incident) incidents.Home {
	home := incidents.Home{Platform: h.ev.Platform, Channel: h.ev.Channel, Thread: cmp.Or(h.ev.Thread, h.thread)}
	if inc != nil && inc.Home.Platform == h.ev.Platform && slices.Contains(channelAliases(h.ev), inc.Home.Channel) {
		// A webhook's incident was announced in the channel as
		// playbooks.yaml names it: its news goes there under the same
		// name, so the outbox delivers card and news in one lane, in order.
		home.Channel = inc.Home.Channel
	}
	if home.Thread == "" && inc != nil && inc.Home.Thread != "" && inc.Home.Platform == h.ev.Platform && inc.Home.Channel == home.Channel {
		home.Thread = inc.Home.Thread
	}
	return home
}

// replies are msgs as posts where the event's public news about inc goes.
func (h *handling) replies(inc *incidents.Incident, msgs ...Message) []incidents.Effect {
	var n uint64
	if inc != nil {
		n = inc.Number
	}
	home := h.replyHome(inc)
	effs := make([]incidents.Effect, 0, len(msgs))
	for _, m := range msgs {
		effs = append(effs, cards.PostIn(n, home, m))
	}
	return effs
}

// saying is o with Effects that record what build says about the intent's
// outcome, in the intent's own transaction (see incidents.EffectsFunc:
// build must only compute).
func (h *handling) saying(o incidents.Origin, build func(out incidents.Outcome) []incidents.Effect) incidents.Origin {
	o.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		var effs []incidents.Effect
		for _, out := range outs {
			if out.Incident != nil {
				effs = append(effs, build(out)...)
			}
		}
		return effs
	})
	return o
}

// sayingMsgs is saying for public replies only.
func (h *handling) sayingMsgs(o incidents.Origin, build func(out incidents.Outcome) []Message) incidents.Origin {
	return h.saying(o, func(out incidents.Outcome) []incidents.Effect { return h.replies(out.Incident, build(out)...) })
}

// whisper answers only the event's user.
func (h *handling) whisper(ctx context.Context, text string) error {
	return h.say(ctx, Message{Text: text, Ephemeral: true})
}

// userError reports whether a person caused err and can fix it; such
// errors are answered and are not the adapter's problem.
func userError(err error) bool {
	for _, e := range []error{ErrUsage, incidents.ErrInvalidTransition, incidents.ErrNoSuchStep,
		incidents.ErrNoIncident, incidents.ErrEmpty, incidents.ErrTooLong, incidents.ErrNotFound,
		incidents.ErrBadSeverity, incidents.ErrForbidden} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refuse tells the user what went wrong. Errors the user did not cause
// are returned too, so the adapter logs them.
func (h *handling) refuse(ctx context.Context, err error) error {
	h.outcome = "refused"
	user := userError(err)
	said, ok := incidents.UserText(err)
	if !ok {
		said = err.Error()
	}
	text := "⚠️ " + Escape(said)
	if !user {
		h.outcome = "failed"
		text = "⚠️ Firebreak could not do that: " + Escape(err.Error())
	}
	if rerr := h.whisper(ctx, text); rerr != nil {
		return errors.Join(err, rerr)
	}
	if user {
		return nil
	}
	return err
}

func (h *handling) message(ctx context.Context) error {
	ev := h.ev
	if ev.User.Same(incidents.Bot) {
		return nil
	}
	books := h.svc.Playbooks()
	if !books.IsAlertChannel(ev.Channel) && !books.IsAlertChannel(ev.ChannelName) {
		return nil
	}
	alert, ok := alerttext.Parse(ev.Text)
	if !ok {
		return nil
	}
	o := origin(ev)
	rooms := h.roomsOn(ev.Platform)
	o.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		return h.alertEffects(outs[0], ev.Platform, ev.Channel, ev.Thread, rooms)
	})
	out, err := h.svc.ReceiveAlert(ctx, o, alert)
	if err == nil && h.cfg.Metrics != nil {
		h.cfg.Metrics.CountOutcomes(alert.Source, []incidents.Alert{alert}, []incidents.Outcome{out})
	}
	if err != nil {
		return h.refuse(ctx, err)
	}
	return h.announce(ctx, out, rooms)
}

// announce finishes what a chat alert did once it is recorded (with its
// posts, see alertEffects): a new incident may get a room of its own and
// its automated first step; repeats go to the coalescer.
func (h *handling) announce(ctx context.Context, out incidents.Outcome, rooms bool) error {
	if out.Incident == nil {
		return nil
	}
	h.incident = out.Incident.Number
	if out.Duplicate {
		h.outcome = "duplicate"
		return nil
	}
	h.outcome = "recorded"
	if out.Created {
		h.outcome = "created"
	}
	channel, thread := h.ev.Channel, h.ev.Thread
	if home := out.Incident.Home; !out.Created && home.Thread != "" && home.Platform == h.ev.Platform && home.Channel == channel {
		thread = home.Thread
	}
	h.afterAlert(ctx, out, h.ev.Platform, channel, thread, h.ev.Target, rooms)
	return nil
}

// afterAlert does what an alert outcome needs beyond its recorded posts:
// a room for a new incident (when rooms), its automated first step, the
// repeat coalescer, forgetting repeats of a mitigated incident.
func (r *Router) afterAlert(ctx context.Context, out incidents.Outcome, platform, channel, thread string, from MessageRef, rooms bool) {
	inc := out.Incident
	switch {
	case inc == nil || out.Duplicate:
		return
	case out.Created:
		if rooms {
			inc = r.moveToRoom(ctx, inc, platform, from)
		}
		r.autoStart(inc)
		return
	case out.Repeat:
		r.noteRepeat(out, platform, channel, thread)
		return
	}
	for _, e := range out.Entries {
		if e.Kind == incidents.EntryMitigated {
			r.forgetRepeats(inc.Number)
		}
	}
}

// alertEffects are the posts one alert outcome causes in a channel of
// platform: the card (keyed cardKey) and first step of a new incident —
// only the card when it is to get a room, whose opening turns the card
// into a pointer — or the news of a reopen or mitigation, in the
// incident's thread there and in its room. Repeats say nothing here: the
// coalescer summarises them. It runs inside the intent's transaction.
func (r *Router) alertEffects(out incidents.Outcome, platform, channel, thread string, rooms bool) []incidents.Effect {
	inc := out.Incident
	if inc == nil || out.Duplicate || out.Repeat {
		return nil
	}
	home := incidents.Home{Platform: platform, Channel: channel, Thread: thread}
	if out.Created {
		return r.openingEffects(r.renderer(platform), inc, home, rooms)
	}
	// News about an incident (reopened, mitigated) joins its thread, not
	// the thread of the alert message that brought it.
	if inc.Home.Thread != "" && inc.Home.Platform == platform && inc.Home.Channel == channel {
		home.Thread = inc.Home.Thread
	}
	var effs []incidents.Effect
	for _, m := range alertNews(inc, out.Entries) {
		effs = append(effs, cards.PostIn(inc.Number, home, m))
		if !inc.Mirror.IsZero() && inc.Home != home {
			effs = append(effs, cards.PostHome(inc, m))
		}
	}
	return effs
}

// alertNews is what an alert's timeline entries (reopened, mitigated) are
// worth saying.
func alertNews(inc *incidents.Incident, entries []incidents.Entry) []Message {
	var msgs []Message
	for _, e := range entries {
		switch e.Kind {
		case incidents.EntryReopened:
			msgs = append(msgs, Message{Text: fmt.Sprintf("♻️ **#%d reopened** — %s", inc.Number, Escape(e.Text)), Actions: cards.LifecycleButtons(inc)})
		case incidents.EntryMitigated:
			msgs = append(msgs, Message{Text: fmt.Sprintf("🟢 **#%d mitigated** — every alert in it has resolved. `/incident #%d resolve <summary>` when it is over.", inc.Number, inc.Number)})
		}
	}
	return msgs
}

// openingEffects announce a new incident in home: its card (keyed
// cardKey, so a room can turn it into a pointer) and its first step; only
// the card when the incident is to get a room, where its steps go.
func (r *Router) openingEffects(rd cards.Renderer, inc *incidents.Incident, home incidents.Home, rooms bool) []incidents.Effect {
	msgs := r.openingMessages(rd, inc)
	if rooms {
		msgs = []Message{rd.Card(inc, false)}
	}
	effs := make([]incidents.Effect, 0, len(msgs))
	for _, m := range msgs {
		effs = append(effs, cards.PostIn(inc.Number, home, m))
	}
	effs[0].Key = cards.CardKey(inc.Number)
	return effs
}

// openingMessages announce a new incident: its card, then its first step.
// The card carries the lifecycle buttons only when no step card follows.
func (r *Router) openingMessages(rd cards.Renderer, inc *incidents.Incident) []Message {
	if len(inc.Steps) == 0 {
		return []Message{rd.Card(inc, true)}
	}
	return []Message{rd.Card(inc, false), rd.Step(inc)}
}

// noteRepeat counts a repeat. The first repeat of a quiet incident starts
// a goroutine that posts one summary per RepeatInterval while repeats keep
// coming, and ends once an interval passes without any.
//
// The summary quotes the latest alert's title ("5xx rate 31%"), not the
// first one's: responders want to know what monitoring says now.
func (r *Router) noteRepeat(out incidents.Outcome, platform, channel, thread string) {
	inc := out.Incident
	latest := inc.Title
	if out.AlertTitle != "" {
		latest = out.AlertTitle
	}
	key := repeatKey{incident: inc.Number, platform: platform, channel: channel}
	r.mu.Lock()
	st, ok := r.repeats[key]
	if ok {
		st.pending++
		st.total = inc.AlertCount
		st.title = latest
		r.mu.Unlock()
		return
	}
	if len(r.repeats) >= maxRepeatStates || r.stopped {
		r.mu.Unlock()
		r.log.Warn("repeat not announced: too many incidents repeating at once", "incident", inc.Number)
		return
	}
	st = &repeatState{thread: thread, title: latest, pending: 1, total: inc.AlertCount}
	r.repeats[key] = st
	r.bg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.bg.Done()
		r.summarise(r.bgCtx, key, st)
	}()
}

// summarise posts the coalesced repeats of one incident, at most once per
// interval, until an interval passes with nothing new.
func (r *Router) summarise(ctx context.Context, key repeatKey, st *repeatState) {
	t := time.NewTicker(r.cfg.RepeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			if r.repeats[key] == st {
				delete(r.repeats, key)
			}
			r.mu.Unlock()
			return
		case <-t.C:
		}
		r.mu.Lock()
		if r.repeats[key] != st || st.pending == 0 {
			if r.repeats[key] == st {
				delete(r.repeats, key)
			}
			r.mu.Unlock()
			return
		}
		pending, total, thread, title := st.pending, st.total, st.thread, st.title
		st.pending = 0
		r.mu.Unlock()
		m := Message{Text: fmt.Sprintf("🔁 #%d %s fired again (×%d in the last %s, %d in total)",
			key.incident, Escape(title), pending, cards.Human(r.cfg.RepeatInterval), total)}
		e := cards.PostIn(key.incident, incidents.Home{Platform: key.platform, Channel: key.channel, Thread: thread}, m)
		// A backlog of summaries (a chat outage) is worth its latest only.
		e.CoalesceKey = fmt.Sprintf("repeat/%d/%s/%s", key.incident, key.platform, key.channel)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		r.record(rctx, e)
		cancel()
	}
}

// forgetRepeats drops unannounced repeats of an incident that is over;
// its goroutines end at their next tick.
func (r *Router) forgetRepeats(n uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.repeats {
		if k.incident == n {
			delete(r.repeats, k)
		}
	}
}

// withoutIncident reports whether a command acts on no single incident.
func withoutIncident(name string) bool {
	return name == "declare" || name == "list" || name == "help"
}

// readOnly reports whether a command only reads its incident or writes
// up a resolved one (a postmortem draft, rewritten at will), so that in a
// shared channel with none open it may mean the one resolved last there.
// Moving a postmortem to review or final changes state: that needs an
// open incident or a name.
func readOnly(c Command) bool {
	return c.Name == "status" || c.Name == "timeline" || c.Name == "postmortem" && c.Sub == ""
}

func (h *handling) command(ctx context.Context) error {
	ev := h.ev
	c, err := ParseCommand(ev.Text)
	if err != nil {
		return h.refuse(ctx, err)
	}
	o := origin(ev)
	n := c.Incident
	if n == 0 && !withoutIncident(c.Name) {
		implied := h.svc.Implied
		if readOnly(c) {
			implied = h.svc.ImpliedToRead
		}
		if n, err = implied(ctx, o.Home, channelAliases(ev)...); err != nil {
			if amb, ok := errors.AsType[*incidents.AmbiguousError](err); ok {
				return h.ask(ctx, amb, ev.Text)
			}
			if c.Name == "postmortem" && errors.Is(err, incidents.ErrNoIncident) {
				// Right after a resolve: say which number to name.
				if last, lerr := h.svc.ImpliedToRead(ctx, o.Home, channelAliases(ev)...); lerr == nil {
					err = incidents.Refuse(incidents.ErrNoIncident, TextNamePostmortem, last, strings.TrimSpace("postmortem "+c.Sub))
				}
			}
			return h.refuse(ctx, err)
		}
	}
	h.incident = n
	who := Mention(ev.User, ev.Platform)
	var out incidents.Outcome
	switch c.Name {
	case "help":
		h.outcome = "answered"
		return h.whisper(ctx, HelpText(c.Args))
	case "list":
		return h.list(ctx, c.All)
	case "status":
		return h.status(ctx, n)
	case "timeline":
		return h.timeline(ctx, n)
	case "postmortem":
		return h.postmortemCommand(ctx, o, n, c.Sub)
	case "declare":
		rooms := h.roomsOn(ev.Platform)
		o = h.saying(o, func(out incidents.Outcome) []incidents.Effect {
			return h.openingEffects(h.rd, out.Incident, h.replyHome(out.Incident), rooms)
		})
		out, err = h.svc.Declare(ctx, o, c.Args, c.Severity)
		if err == nil && out.Incident != nil && !out.Duplicate {
			h.incident = out.Incident.Number
			if rooms {
				out.Incident = h.moveToRoom(ctx, out.Incident, ev.Platform, MessageRef{Channel: ev.Channel, Thread: ev.Thread})
			}
		}
	case "ack":
		in, err := h.ack(ctx, o, n)
		return h.answer(ctx, in, err)
	case "step":
		o = h.sayingMsgs(o, h.stepMessages)
		if c.Sub == "skip" {
			out, err = h.svc.StepSkip(ctx, o, n, c.Step, c.Args)
		} else {
			out, err = h.svc.StepDone(ctx, o, n, c.Step, c.Args)
		}
	case "note":
		o = h.sayingMsgs(o, func(incidents.Outcome) []Message {
			return []Message{{Text: fmt.Sprintf("📝 %s added a note to **#%d**: %s", who, n, Escape(c.Args))}}
		})
		out, err = h.svc.AddNote(ctx, o, n, c.Args)
	case "followup":
		return h.followUp(ctx, o, n, c)
	case "role":
		var target incidents.Actor
		if target, err = ParseMention(c.User, ev.User, ev.Platform); err != nil {
			return h.refuse(ctx, err)
		}
		o = h.sayingMsgs(o, func(incidents.Outcome) []Message {
			return []Message{{Text: fmt.Sprintf("🎖️ %s is now %s of **#%d** (set by %s).", Mention(target, ev.Platform), c.Role, n, who)}}
		})
		out, err = h.svc.AssignRole(ctx, o, n, c.Role, target)
		if err == nil && !out.Duplicate {
			h.joinRoom(out.Incident, target)
		}
	case "severity":
		o = h.sayingMsgs(o, func(incidents.Outcome) []Message {
			return []Message{{Text: fmt.Sprintf("📈 %s set **#%d** to %s.", who, n, c.Severity)}}
		})
		out, err = h.svc.SetSeverity(ctx, o, n, c.Severity)
	case "update":
		o = h.saying(o, func(out incidents.Outcome) []incidents.Effect {
			return h.updateEffects(out, fmt.Sprintf("📣 Status update on **#%d** from %s: %s", n, who, Escape(c.Args)), h.stepMessages(out))
		})
		out, err = h.svc.PostUpdate(ctx, o, n, c.Args)
	case "mitigate":
		in, err := h.mitigate(ctx, o, n)
		return h.answer(ctx, in, err)
	case "resolve":
		in, err := h.resolve(ctx, o, n, c.Args, true)
		return h.answer(ctx, in, err)
	default:
		return h.refuse(ctx, refuseUsage(TextNotHandled, c.Name))
	}
	return h.finish(ctx, out, err, nil)
}

// finish answers a state change: an error only to the user, a duplicate
// not at all, and a success publicly — by the posts the intent recorded
// with its change (see saying), and msgs, news that could only be worded
// after the change (a tracker's answer), recorded on their own.
func (h *handling) finish(ctx context.Context, out incidents.Outcome, err error, msgs []Message) error {
	if err != nil {
		return h.refuse(ctx, err)
	}
	if out.Duplicate {
		h.outcome = "duplicate"
		return nil
	}
	h.outcome = "changed"
	h.followHome(out.Incident)
	if len(msgs) > 0 {
		if err := h.sayNow(ctx, h.replies(out.Incident, msgs...)...); err != nil {
			return fmt.Errorf("record what to say about incident #%d: %w", h.incident, err)
		}
	}
	if out.Incident != nil && (out.Created || out.StepChanged) {
		h.autoStart(out.Incident)
	}
	return nil
}

// stepMessages announce the steps an intent finished and post the next
// step card when the current step moved.
func (h *handling) stepMessages(out incidents.Outcome) []Message {
	if out.Duplicate || out.Incident == nil {
		return nil
	}
	var msgs []Message
	for _, e := range out.Entries {
		if e.Kind != incidents.EntryStepDone && e.Kind != incidents.EntryStepSkipped {
			continue
		}
		if st := out.Incident.Step(e.Step); st != nil {
			msgs = append(msgs, h.rd.FinishedStep(out.Incident, *st))
		}
	}
	if out.StepChanged && out.Incident.Status.Open() {
		msgs = append(msgs, h.rd.Step(out.Incident))
	}
	return msgs
}

func resolvedMessage(inc *incidents.Incident, who string) Message {
	text := fmt.Sprintf("✅ %s resolved **#%d** after %s.", who, inc.Number, cards.Human(inc.TimeToResolve()))
	if inc.Summary != "" {
		text += "\nSummary: " + Escape(inc.Summary)
	}
	return Message{Text: text + fmt.Sprintf("\nWrite it up while memories are fresh: `/incident #%d postmortem`.", inc.Number)}
}

func (r *Router) observeAck(inc *incidents.Incident) {
	if r.cfg.Metrics != nil && inc != nil {
		r.cfg.Metrics.ObserveAcknowledged(inc.TimeToAcknowledge())
	}
}

func (r *Router) observeResolve(inc *incidents.Incident) {
	if r.cfg.Metrics != nil && inc != nil {
		r.cfg.Metrics.ObserveResolved(inc.TimeToResolve())
	}
}

func (h *handling) status(ctx context.Context, n uint64) error {
	inc, err := h.svc.Get(ctx, n)
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.outcome = "answered"
	h.followHome(inc)
	card := h.rd.Card(inc, !inc.Status.Open() || len(inc.Steps) == 0)
	if inc.DistinctAlerts > 1 {
		_, sum, err := h.svc.AlertSummary(ctx, n, incidents.DefaultAlertRows)
		if err != nil {
			return h.refuse(ctx, err)
		}
		card.Text += cards.AlertLines(sum)
	}
	if !inc.Status.Open() || len(inc.Steps) == 0 {
		return h.sayAbout(ctx, inc, card)
	}
	return h.sayAbout(ctx, inc, card, h.rd.Step(inc))
}

// sayAbout records msgs as public news about inc that no change causes
// (the answer to /incident status, say), for the outbox to post.
func (h *handling) sayAbout(ctx context.Context, inc *incidents.Incident, msgs ...Message) error {
	if err := h.sayNow(ctx, h.replies(inc, msgs...)...); err != nil {
		return fmt.Errorf("record what to say about incident #%d: %w", inc.Number, err)
	}
	return nil
}

// listLimit bounds /incident list.
const listLimit = 20

func (h *handling) list(ctx context.Context, all bool) error {
	list, err := h.svc.List(ctx, incidents.ListQuery{OpenOnly: !all, Limit: listLimit})
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.outcome = "answered"
	switch {
	case len(list) == 0 && all:
		return h.whisper(ctx, "No incidents yet.")
	case len(list) == 0:
		return h.whisper(ctx, "No open incidents. 🎉")
	}
	var b strings.Builder
	if all {
		fmt.Fprintf(&b, "**Incidents** (newest %d)", listLimit)
	} else {
		b.WriteString("**Open incidents**")
	}
	for _, inc := range list {
		b.WriteString("\n" + Headline(inc))
		if inc.Commander != nil {
			b.WriteString(" · " + Mention(*inc.Commander, h.ev.Platform))
		}
		b.WriteString(" · opened " + inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return h.whisper(ctx, b.String())
}

// timelineShown is how many of the latest entries /incident timeline shows.
const timelineShown = 50

func (h *handling) timeline(ctx context.Context, n uint64) error {
	ring := make([]incidents.Entry, 0, timelineShown)
	total := 0
	// A storm's distinct alerts firing one after another read as a few
	// rows and one "… and N more" row.
	add, flush := incidents.CondenseAlertRuns(3, func(e incidents.Entry) error {
		if len(ring) == timelineShown {
			ring = append(ring[:0], ring[1:]...)
		}
		ring = append(ring, e)
		total++
		return nil
	})
	err := h.svc.Timeline(ctx, n, add)
	if err == nil {
		err = flush()
	}
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.outcome = "answered"
	var b strings.Builder
	fmt.Fprintf(&b, "**Timeline of #%d** (UTC)", n)
	if earlier := total - len(ring); earlier > 0 {
		fmt.Fprintf(&b, " — %d earlier entries not shown; `/incident #%d postmortem` has them all", earlier, n)
	}
	for _, e := range ring {
		b.WriteString("\n" + h.rd.TimelineLine(e))
	}
	return h.whisper(ctx, b.String())
}

// limitedBuffer keeps at most limit bytes and notes when more came, so a
// huge postmortem is not held in memory for chat.
type limitedBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.over || l.Len()+len(p) > l.limit {
		l.over = true
		return len(p), nil
	}
	return l.Buffer.Write(p)
}

// PostmortemPath is where the postmortem of incident n is written.
func (r *Router) PostmortemPath(n uint64) string {
	return filepath.Join(r.cfg.PostmortemDir, fmt.Sprintf("incident-%d-postmortem.md", n))
}

func (h *handling) postmortem(ctx context.Context, n uint64) error {
	path := h.PostmortemPath(n)
	buf := &limitedBuffer{limit: MaxPostmortemSize}
	if err := h.svc.WritePostmortem(ctx, n, path, buf); err != nil {
		return h.refuse(ctx, err)
	}
	h.outcome = "written"
	comment := fmt.Sprintf("📄 Postmortem of **#%d** written to `%s`.", n, path)
	inc, err := h.svc.Get(ctx, n)
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.followHome(inc)
	if buf.over {
		return h.sayAbout(ctx, inc, Message{Text: comment + " It is over 5 MiB, so it is only in that file."})
	}
	// The file is written outside the store, so its upload is recorded on
	// its own; the outbox attaches it (or puts why it could not on the
	// incident's timeline).
	up := incidents.Effect{Kind: incidents.EffectUpload, Incident: n, Home: h.replyHome(inc),
		Message: incidents.EffectMessage{Text: comment, File: &incidents.EffectFile{Name: filepath.Base(path), Title: fmt.Sprintf("Postmortem of incident #%d", n), Content: buf.Bytes()}}}
	if err := h.sayNow(ctx, up); err != nil {
		h.outcome = "upload failed"
		werr := h.whisper(ctx, fmt.Sprintf("⚠️ The postmortem is in `%s`, but attaching it failed: %s", path, Escape(err.Error())))
		return errors.Join(fmt.Errorf("upload the postmortem of incident #%d: %w", n, err), werr)
	}
	h.outcome = "uploaded"
	return nil
}

// parseValue reads a button value: "<n>" or "<n>:<stepID>".
func parseValue(v string) (uint64, string, error) {
	num, step, _ := strings.Cut(v, ":")
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return 0, "", refuseUsage(TextButtonNoIncident)
	}
	return n, step, nil
}

func (h *handling) action(ctx context.Context) error {
	ev := h.ev
	n, stepID, err := parseValue(ev.Value)
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.incident = n
	o := origin(ev)
	var out incidents.Outcome
	switch ev.ActionID {
	case ActionStepDone:
		if stepID == "" {
			return h.refuse(ctx, refuseUsage(TextButtonNoStep))
		}
		o = h.saying(o, func(out incidents.Outcome) []incidents.Effect {
			var effs []incidents.Effect
			if st := out.Incident.Step(stepID); st != nil {
				effs = h.pressedEdit(out.Incident, h.rd.FinishedStep(out.Incident, *st))
			}
			if out.StepChanged && out.Incident.Status.Open() {
				effs = append(effs, h.replies(out.Incident, h.rd.Step(out.Incident))...)
			}
			return effs
		})
		out, err = h.svc.StepDone(ctx, o, n, stepID, "")
	case ActionRunStep:
		return h.runPressed(ctx, n, stepID)
	case ActionPostUpdate:
		return h.postUpdatePressed(ctx, n, stepID)
	case ActionStepSkip:
		h.outcome = "answered"
		return h.whisper(ctx, fmt.Sprintf("Skipping a step needs a reason for the postmortem: type `/incident #%d step skip --step %s <why>`", n, stepID))
	case ActionAck, ActionMitigate:
		h.redraw = func(inc *incidents.Incident) []incidents.Effect { return h.pressedEdit(inc, h.redrawn(inc)) }
		var in intent
		if ev.ActionID == ActionAck {
			in, err = h.ack(ctx, o, n)
		} else {
			in, err = h.mitigate(ctx, o, n)
		}
		out = in.out
	case ActionResolve:
		in, err := h.resolve(ctx, o, n, "", false)
		return h.answer(ctx, in, err)
	case ActionPick + strconv.FormatUint(n, 10):
		return h.picked(ctx, n, stepID)
	default:
		return h.refuse(ctx, refuseUsage(TextUnknownButton, truncate(ev.ActionID, 40)))
	}
	return h.finish(ctx, out, err, nil)
}

// pressedEdit redraws the message whose button was pressed as m, when the
// platform said which message that was.
func (h *handling) pressedEdit(inc *incidents.Incident, m Message) []incidents.Effect {
	if h.ev.Target.ID == "" || m.Text == "" {
		return nil
	}
	return []incidents.Effect{editOf(inc.Number, h.ev.Platform, h.ev.Target, m)}
}

// redrawn is the pressed card drawn again after a lifecycle change: the
// current step with the buttons that still apply.
func (h *handling) redrawn(inc *incidents.Incident) Message {
	if inc.CurrentStep() != nil && inc.Status.Open() {
		return h.rd.Step(inc)
	}
	return h.rd.Card(inc, true)
}

func (h *handling) reaction(ctx context.Context) error {
	ev := h.ev
	pin := h.svc.Playbooks().Incidents.PinEmoji
	if pin == "" {
		pin = "pushpin"
	}
	if !strings.EqualFold(strings.Trim(ev.Emoji, ":"), pin) {
		return nil
	}
	o := origin(ev)
	n, err := h.svc.Implied(ctx, o.Home, channelAliases(ev)...)
	if errors.Is(err, incidents.ErrNoIncident) {
		return nil // a pin outside incident channels is just a reaction
	}
	if amb, ok := errors.AsType[*incidents.AmbiguousError](err); ok {
		h.outcome = "asked"
		return h.whisper(ctx, "📌 "+Escape(fmt.Sprintf(TextPinWhichIncident, amb.Candidates(), amb.Open[0].Number)))
	}
	if err != nil {
		return h.refuse(ctx, err)
	}
	h.incident = n
	thread := ev.Target.Thread
	if thread == "" {
		thread = ev.Target.ID
	}
	o = h.sayingMsgs(o, func(incidents.Outcome) []Message {
		return []Message{{Text: fmt.Sprintf("📌 Pinned to the timeline of **#%d**.", n), Thread: thread}}
	})
	out, err := h.svc.Pin(ctx, o, n, ev.TargetAuthor, ev.TargetText, ev.Permalink)
	return h.finish(ctx, out, err, nil)
}

// IngestAlerts records alerts that did not come from chat (webhooks,
// probes) and, in the same transaction, their announcements on every
// registered platform, for the outbox to deliver.
//
// The incidents' home is the primary platform's announce channel:
// incidents.announce[platform] from playbooks.yaml, else that platform's
// first alert channel; the console is primary when registered, then
// Slack, then Discord. It returns once the alerts and their posts are
// committed; opening rooms for new incidents and their automated steps
// follow on a background goroutine (at most 16 batches at once; an alert
// storm waits here for a free slot) that Run stops. With no chat
// registered, alerts are only recorded. eventID (per payload; "" for
// none) makes a redelivered payload change nothing; the caller has
// namespaced it ("webhook:<source>:…", "probe:<name>:…") and it is
// recorded as is.
func (r *Router) IngestAlerts(ctx context.Context, source, eventID string, alerts []incidents.Alert) ([]incidents.Outcome, error) {
	platforms := r.platforms()
	o := incidents.Origin{Actor: incidents.Actor{Platform: "webhook", ID: source, Name: source}}
	if eventID != "" {
		o.EventID = eventID
		o.FormerEventID = source + ":" + eventID
	}
	var targets []announceTarget
	for _, p := range platforms {
		if ch := r.announceChannel(p); ch != "" {
			targets = append(targets, announceTarget{platform: p, channel: ch})
		}
	}
	rooms := false
	if len(targets) > 0 {
		o.Home = incidents.Home{Platform: targets[0].platform, Channel: targets[0].channel}
		// The incidents' home is the first target's; rooms open there.
		rooms = r.roomsOn(targets[0].platform)
	}
	o.Effects = cards.SaysThat(func(outs []incidents.Outcome) []incidents.Effect {
		return r.batchEffects(outs, targets, rooms)
	})
	outs, err := r.svc.ReceiveAlerts(ctx, o, alerts)
	if err != nil {
		return nil, fmt.Errorf("alerts from %s: %w", source, err)
	}
	r.log.InfoContext(ctx, "alerts ingested", "source", source, "event", eventID, "alerts", len(alerts))
	var created []*incidents.Incident
	seen := map[uint64]bool{}
	for _, out := range outs {
		switch {
		case out.Incident == nil || out.Duplicate || seen[out.Incident.Number]:
		case out.Created:
			seen[out.Incident.Number] = true
			created = append(created, out.Incident)
		default:
			for _, t := range targets {
				r.afterAlert(ctx, out, t.platform, t.channel, "", MessageRef{}, false)
			}
		}
	}
	if len(created) == 0 {
		return outs, nil
	}
	if !rooms {
		for _, inc := range created {
			r.autoStart(inc)
		}
		return outs, nil
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return outs, nil // committed with their cards; only the rooms are lost
	}
	if !r.goBackground(func(bctx context.Context) {
		defer func() { <-r.sem }()
		deadline := time.Now().Add(announcedWait)
		for _, inc := range created {
			from := r.announced(bctx, inc.Number, deadline, MessageRef{Channel: targets[0].channel})
			r.afterAlert(bctx, incidents.Outcome{Incident: inc, Created: true}, targets[0].platform, targets[0].channel, "", from, true)
		}
	}) {
		<-r.sem
	}
	return outs, nil
}

type announceTarget struct{ platform, channel string }

// announced is where incident n's card landed once the outbox posted it,
// waiting for it until deadline (the outbox posts within milliseconds
// unless a channel is rate-limited); else fallback.
func (r *Router) announced(ctx context.Context, n uint64, deadline time.Time, fallback MessageRef) MessageRef {
	if r.cfg.Posted == nil {
		return fallback
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ref, ok, err := r.cfg.Posted.Ref(ctx, cards.CardKey(n))
		if err == nil && ok {
			return MessageRef{Channel: ref.Channel, ID: ref.ID, Thread: ref.Thread}
		}
		if time.Now().After(deadline) {
			r.log.Warn("the announcement was not posted in time; the room starts from the channel", "incident", n)
			return fallback
		}
		select {
		case <-ctx.Done():
			return fallback
		case <-tick.C:
		}
	}
}

// batchEffects are every post of one batch, on every target, in the order
// of the alerts. An incident created in the batch is announced once, in
// its final state; its later repeats are not news. Only the first
// target's card of a new incident is keyed: that is its home, where a
// room opens. It runs inside the intake transaction, so it only computes.
func (r *Router) batchEffects(outs []incidents.Outcome, targets []announceTarget, rooms bool) []incidents.Effect {
	var effs []incidents.Effect
	for i, t := range targets {
		created := map[uint64]bool{}
		for _, out := range outs {
			if out.Incident == nil || out.Duplicate || created[out.Incident.Number] {
				continue
			}
			if out.Created {
				created[out.Incident.Number] = true
			}
			if !out.Created && i > 0 && !out.Incident.Mirror.IsZero() {
				// The room hears news once, from the first target's effects.
				out.Incident = withoutMirror(out.Incident)
			}
			more := r.alertEffects(out, t.platform, t.channel, "", rooms && i == 0)
			if out.Created && i > 0 && len(more) > 0 {
				more[0].Key = ""
			}
			effs = append(effs, more...)
		}
	}
	return effs
}

// withoutMirror is a copy of inc that has no former home, so its news is
// said in one channel only.
func withoutMirror(inc *incidents.Incident) *incidents.Incident {
	c := *inc
	c.Mirror = incidents.Home{}
	return &c
}

// announceChannel is where incidents from webhooks are posted on platform.
func (r *Router) announceChannel(platform string) string {
	books := r.svc.Playbooks()
	if books == nil {
		return ""
	}
	if ch := books.Incidents.Announce[platform]; ch != "" {
		return ch
	}
	if len(books.AlertChannels) > 0 {
		return books.AlertChannels[0]
	}
	return ""
}
