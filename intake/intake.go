package intake

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// Rooms is what intake needs of the connected chat platforms: which are
// connected, whether an incident announced on one gets a room of its own
// (a Slack channel, a Discord thread), and opening it. bot.RoomOpener
// implements it.
type Rooms interface {
	// Platforms lists the connected platforms ("console", "slack",
	// "discord"), in any order.
	Platforms() []string
	// On reports whether an incident announced on platform gets a room.
	On(platform string) bool
	// Open gives the new incident inc a room on platform, starting from
	// the message at from (its announcement or the alert message; only
	// the channel when that is unknown), records its cards there and
	// returns the incident as it is now. When no room could be opened,
	// the steps are worked where the incident was announced.
	Open(ctx context.Context, inc *incidents.Incident, platform string, from incidents.EffectRef) *incidents.Incident
}

// Steps starts the automated first step of a new incident in the
// background, when its playbook has one. bot.Router implements it.
type Steps interface {
	AutoStart(inc *incidents.Incident)
}

// PostedRefs finds where a recorded post with a Key landed once the outbox
// delivered it; storage.Outbox implements it.
type PostedRefs interface {
	Ref(ctx context.Context, key string) (ref incidents.EffectRef, ok bool, err error)
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
	// Posted finds where the outbox delivered a keyed post (the outbox's
	// store), so that the room of a webhook alert's incident starts from
	// its announcement (a Discord thread on the card). nil: rooms of
	// webhook incidents start from the channel.
	Posted PostedRefs
}

// announcedWait bounds how long the rooms of one webhook batch wait for
// their announcements to be posted before they start from the channel.
const announcedWait = 10 * time.Second

// maxRepeatStates bounds the coalescing state: one entry per incident
// and channel with unannounced repeats.
const maxRepeatStates = 1000

// maxAnnouncers bounds concurrent background work for webhook batches
// (rooms of new incidents), so an alert storm queues instead of spawning
// without limit.
const maxAnnouncers = 16

// Intake records alerts from every source — webhooks, probes and alert
// messages read in chat — with what they make Firebreak say, and does
// what follows the commit: a room for a new incident, its automated first
// step, the summaries of repeated alerts.
//
// It owns goroutines: one per incident and channel with repeats waiting
// to be summarised, one per webhook batch whose new incidents get rooms.
// Run stops them.
type Intake struct {
	svc *incidents.Service
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	rooms   Rooms
	steps   Steps
	repeats map[repeatKey]*repeatState
	stopped bool

	bg     sync.WaitGroup
	bgCtx  context.Context
	bgStop context.CancelFunc
	sem    chan struct{}
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Intake{svc: svc, cfg: cfg, log: cfg.Logger, repeats: map[repeatKey]*repeatState{},
		bgCtx: ctx, bgStop: cancel, sem: make(chan struct{}, maxAnnouncers)}
}

// Attach connects the chat side: rooms says which platforms are connected
// and opens incident rooms, steps starts automated steps. Either may be
// nil. The chat Router reads alerts through the Intake and the Intake
// opens rooms through the Router, so one of them is attached after both
// exist; call Attach before the first alert arrives.
func (in *Intake) Attach(rooms Rooms, steps Steps) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rooms, in.steps = rooms, steps
}

// Run blocks until ctx is done, then stops every goroutine the Intake
// started (repeat summaries not yet posted are dropped: their counts are
// on the timeline; rooms not yet opened stay unopened) and waits for them.
// Goroutines started before Run are stopped too.
func (in *Intake) Run(ctx context.Context) error {
	<-ctx.Done()
	in.mu.Lock()
	in.stopped = true
	in.mu.Unlock()
	in.bgStop()
	in.bg.Wait()
	return nil
}

// chat is what Attach connected.
func (in *Intake) chat() (Rooms, Steps) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rooms, in.steps
}

// goBackground runs fn on its own goroutine under the Intake's context.
// Nothing starts once Run has ended.
func (in *Intake) goBackground(fn func(ctx context.Context)) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return false
	}
	in.bg.Add(1)
	go func() {
		defer in.bg.Done()
		fn(in.bgCtx)
	}()
	return true
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
