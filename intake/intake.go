package intake

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/internal/background"
)

// Rooms is what intake needs of the connected chat platforms: which are
// connected, and whether an incident announced on one gets a room of its
// own (a Slack channel, a Discord thread). The room itself is opened by
// the outbox (incidents.EffectRoom, recorded with the incident).
// bot.RoomOpener implements it.
type Rooms interface {
	// Platforms lists the connected platforms ("console", "slack",
	// "discord"), in any order.
	Platforms() []string
	// On reports whether an incident announced on platform gets a room.
	On(platform string) bool
}

// Steps starts the automated first step of a new incident in the
// background, when its playbook has one. bot.Router implements it.
type Steps interface {
	AutoStart(inc *incidents.Incident)
}

// Config configures an Intake. Zero values pick the defaults.
type Config struct {
	Logger *slog.Logger
	// Now is the clock used on cards (default time.Now).
	Now func() time.Time
	// RepeatInterval bounds chat posts about repeated alerts: at most one
	// summary per incident and channel per interval (default:
	// grouping.repeat_interval from playbooks.yaml, else 1m).
	RepeatInterval time.Duration
	// IncidentURL links an incident's web page on cards (web.IncidentURL
	// of FIREBREAK_PUBLIC_URL); nil leaves the link out.
	IncidentURL func(number uint64) string
}

// maxRepeatStates bounds the coalescing state: one entry per incident
// and channel with unannounced repeats.
const maxRepeatStates = 1000

// Intake records alerts from every source — webhooks, probes and alert
// messages read in chat — with what they make Firebreak say, and does
// what follows the commit: the automated first step of a new incident
// without a room, the summaries of repeated alerts. A new incident's room
// is opened by the outbox (the room effect recorded with it).
//
// It owns goroutines: one per incident and channel with repeats waiting
// to be summarised. Run stops them.
type Intake struct {
	svc *incidents.Service
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	rooms   Rooms
	steps   Steps
	repeats map[repeatKey]*repeatState

	bg *background.Group
}

// New returns an Intake over svc. Until Attach, alerts are only recorded
// (no chat platform is known); call Run to stop its goroutines.
func New(svc *incidents.Service, cfg Config) *Intake {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if books := svc.Playbooks(); cfg.RepeatInterval <= 0 && books != nil {
		cfg.RepeatInterval = books.Grouping.RepeatInterval.D()
	}
	if cfg.RepeatInterval <= 0 {
		cfg.RepeatInterval = time.Minute
	}
	return &Intake{svc: svc, cfg: cfg, log: cfg.Logger, repeats: map[repeatKey]*repeatState{},
		bg: background.New()}
}

// Attach connects the chat side: rooms says which platforms are connected
// and which give incidents rooms, steps starts automated steps. Either may
// be nil. The chat Router reads alerts through the Intake and the Intake
// asks the Router about rooms, so one of them is attached after both
// exist; call Attach before the first alert arrives.
func (in *Intake) Attach(rooms Rooms, steps Steps) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rooms, in.steps = rooms, steps
}

// Run blocks until ctx is done, then stops every goroutine the Intake
// started (repeat summaries not yet posted are dropped: their counts are
// on the timeline) and waits for them.
// Goroutines started before Run are stopped too.
func (in *Intake) Run(ctx context.Context) error { return in.bg.RunUntil(ctx) }

// chat is what Attach connected.
func (in *Intake) chat() (Rooms, Steps) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rooms, in.steps
}

func (in *Intake) renderer(platform string) cards.Renderer {
	return cards.Renderer{Platform: platform, Books: in.svc.Playbooks(), Now: in.cfg.Now(), URL: in.cfg.IncidentURL}
}

// record records effects that no intent's transaction carried (a repeat
// summary) in a transaction of their own. A failure is logged: nobody
// waits on these posts.
func (in *Intake) record(ctx context.Context, effects ...incidents.Effect) {
	effects = cards.Reachable(effects)
	if len(effects) == 0 {
		return
	}
	if err := in.svc.Say(ctx, effects...); err != nil {
		in.log.WarnContext(ctx, "recording what to say failed", "incident", effects[0].Incident, "effects", len(effects), "err", err)
	}
}
