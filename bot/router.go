package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/bot/alerttext"
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/internal/background"
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
	// Alerts records the alerts read in alert channels (intake.Intake);
	// nil leaves alert messages unread.
	Alerts AlertIntake
}

// AlertIntake records an alert read from a chat message, with what it
// makes Firebreak say, and does what follows (a room, the automated first
// step, repeat summaries); *intake.Intake implements it. o is the
// message's origin (its channel and thread are the home); from is the
// message itself.
type AlertIntake interface {
	IngestChatAlert(ctx context.Context, o incidents.Origin, alert incidents.Alert, from incidents.EffectRef) (incidents.Outcome, error)
}

// MaxPostmortemSize bounds a postmortem held in memory to attach to chat;
// bigger ones are only written to the file.
const MaxPostmortemSize = 5 << 20

// Router turns chat events into incidents.Service calls and says what
// happened. It implements Handler. All adapters share one Router, so an
// incident can be worked from Slack, Discord and the console alike.
//
// The Router owns goroutines: invitations to incident rooms. Run stops
// them. Alerts read in chat it only parses: the AlertIntake records them
// and owns the goroutines of repeat summaries; automated steps run in
// package automation. What the Router says is recorded with each intent
// and posted by the outbox worker (see package doc).
type Router struct {
	svc *incidents.Service
	cfg RouterConfig
	log *slog.Logger

	mu    sync.Mutex
	chats map[string]Chat
	// picks remembers which incident each "which incident?" question was
	// answered with (by platform, channel and message), so a second press
	// is refused; pickOrder bounds it to maxPicks questions.
	picks     map[string]uint64
	pickOrder []string

	bg *background.Group
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
	if cfg.PostmortemDir == "" && books != nil {
		cfg.PostmortemDir = books.Postmortem.Directory
	}
	if cfg.PostmortemDir == "" {
		cfg.PostmortemDir = "postmortems"
	}
	return &Router{svc: svc, cfg: cfg, log: cfg.Logger,
		chats: map[string]Chat{}, picks: map[string]uint64{}, bg: background.New()}
}

// AddChat registers a connected platform ("console", "slack", "discord"):
// webhook alerts are announced on every registered platform (see
// RoomOpener), and its Chat opens incident rooms (ChannelCreator) and
// invites to them (RoomInviter).
// The Router never posts through it: the outbox worker does. Safe for
// concurrent use.
func (r *Router) AddChat(platform string, c Chat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chats[platform] = c
}

// Run blocks until ctx is done, then stops every goroutine the Router
// started and waits for them.
func (r *Router) Run(ctx context.Context) error { return r.bg.RunUntil(ctx) }

func (r *Router) chat(platform string) Chat {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chats[platform]
}

// goBackground runs fn on its own goroutine under the Router's context.
// Nothing starts once Run has ended.
func (r *Router) goBackground(fn func(ctx context.Context)) bool { return r.bg.Go(fn) }

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

func (h *handling) message(ctx context.Context) error {
	ev := h.ev
	if ev.User.Same(incidents.Bot) || h.cfg.Alerts == nil {
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
	from := incidents.EffectRef{Channel: ev.Target.Channel, ID: ev.Target.ID, Thread: ev.Target.Thread}
	out, err := h.cfg.Alerts.IngestChatAlert(ctx, origin(ev), alert, from)
	if err != nil {
		return h.refuse(ctx, err)
	}
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.CountOutcomes(alert.Source, []incidents.Alert{alert}, []incidents.Outcome{out})
	}
	if out.Incident == nil {
		return nil
	}
	h.incident = out.Incident.Number
	switch {
	case out.Duplicate:
		h.outcome = "duplicate"
	case out.Created:
		h.outcome = "created"
	default:
		h.outcome = "recorded"
	}
	return nil
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
		if n, err = implied(ctx, o.Home, h.channelAliases()...); err != nil {
			if amb, ok := errors.AsType[*incidents.AmbiguousError](err); ok {
				return h.ask(ctx, amb, ev.Text)
			}
			if c.Name == "postmortem" && errors.Is(err, incidents.ErrNoIncident) {
				// Right after a resolve: say which number to name.
				if last, lerr := h.svc.ImpliedToRead(ctx, o.Home, h.channelAliases()...); lerr == nil {
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
			return h.rd.OpeningEffects(out.Incident, h.replyHome(out.Incident), rooms)
		})
		out, err = h.svc.Declare(ctx, o, c.Args, c.Severity)
		if err == nil && out.Incident != nil && !out.Duplicate {
			h.incident = out.Incident.Number
		}
	case "ack":
		in, err := h.ack(ctx, o, n)
		return h.answer(ctx, in, err)
	case "step":
		in, err := h.step(ctx, o, n, c.Step, c.Args, c.Sub == "skip")
		return h.answer(ctx, in, err)
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
	return h.finish(ctx, out, err)
}

// finish answers a state change: an error only to the user, a duplicate
// not at all, and a success publicly — by the posts the intent recorded
// with its change (see saying).
func (h *handling) finish(ctx context.Context, out incidents.Outcome, err error) error {
	if err != nil {
		return h.refuse(ctx, err)
	}
	if out.Duplicate {
		h.outcome = "duplicate"
		return nil
	}
	h.outcome = "changed"
	h.followHome(out.Incident)
	// A new incident that gets a room starts its first step there, once
	// the outbox opened it (RoomSender).
	if out.Incident != nil && (out.Created && !h.roomsOn(out.Incident.Home.Platform) || out.StepChanged) {
		h.autoStart(out.Incident)
	}
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
		in, err := h.step(ctx, o, n, stepID, "", false)
		return h.answer(ctx, in, err)
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
	return h.finish(ctx, out, err)
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
	n, err := h.svc.Implied(ctx, o.Home, h.channelAliases()...)
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
	return h.finish(ctx, out, err)
}

// AutoStart runs the current step of inc when it is an automated step
// that needs no confirmation (see autoStart); alert intake calls it for
// the incidents it opens (intake.Steps).
func (r *Router) AutoStart(inc *incidents.Incident) { r.autoStart(inc) }
