package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/firebreak/firebreak/incidents"
)

// Config wires a Worker. Store and Sender are required.
type Config struct {
	Store  Store
	Sender Sender
	// RateLimit bounds messages per channel (default one per second).
	RateLimit RateLimit
	// Retry bounds the attempts per effect.
	Retry RetryPolicy
	// MaxInFlight bounds how many pending effects are held in memory at
	// once (default 10,000); the rest are read as those settle.
	MaxInFlight int
	// Clock defaults to the wall clock.
	Clock  Clock
	Logger *slog.Logger
	// GaveUp, when set, is told about each effect the outbox gives up on,
	// before the give-up is recorded, so that it can say so where people
	// look (serve puts it on the incident's timeline with
	// incidents.Service.Undelivered). It may be called again for the same
	// effect after a crash; an error is logged and does not stop the
	// give-up from being recorded.
	GaveUp func(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error
	// Metrics, when set, counts outcomes and queue lengths.
	Metrics *Metrics
	// Retention is how long settled effects (delivered, coalesced, given
	// up) are kept as the record of what Firebreak said before the worker
	// deletes them (default DefaultRetention, 7 days; negative: kept
	// forever). Only a Store that implements Pruner is pruned. The latest
	// delivered post of each Key is kept however old, so its card can
	// still be updated.
	Retention time.Duration
	// PruneEvery is how often the worker prunes (default
	// DefaultPruneEvery; it also prunes when it starts), and PruneBatch
	// how many effects one pruning transaction looks at (default
	// DefaultPruneBatch).
	PruneEvery time.Duration
	PruneBatch int
	// Lane keys the lane (order and pace) of an effect; nil:
	// incidents.Effect.Channel. serve passes bot.Lanes, so a channel
	// named by its id and by playbooks.yaml's spelling is one lane.
	Lane func(incidents.Effect) string
}

// Worker delivers recorded effects: it reads pending effects in ID order
// when woken by Store.Committed (and once at start, for what a previous
// process left undelivered), queues them in one lane per channel, and runs
// each lane's effects one at a time through the pipeline
//
//	CoalesceStage → RateLimitStage → RetryStage (Sender) → Store.Settle
//
// Lanes of different channels run concurrently; within a lane the order is
// the order the effects were committed in, so a card's update never
// overtakes the card. Run it once per process (under high availability:
// on the leader only).
type Worker struct {
	store    Store
	gaveUp   func(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error
	metrics  *Metrics
	pipeline Stage
	clock    Clock
	log      *slog.Logger
	maxLive  int
	lane     func(incidents.Effect) string

	retention, pruneEvery time.Duration
	pruneBatch            int

	mu       sync.Mutex
	lanes    map[string]*lane
	live     int               // effects read and not yet settled
	newest   map[string]uint64 // coalesce key → newest live effect id
	keyCount map[string]int    // coalesce key → live effects with it
	starved  bool              // a read stopped at maxLive; read again as lanes drain
	kick     chan struct{}     // capacity 1: read again now
	running  bool
	// For Idle: reads started, and the start number of the latest read
	// completed.
	readsStarted, lastReadDone uint64
}

type lane struct {
	queue []incidents.Effect
}

var _ Newest = (*Worker)(nil)

// New checks cfg and builds a Worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Store == nil || cfg.Sender == nil {
		return nil, errors.New("outbox worker: Store and Sender are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 10_000
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = DefaultPruneEvery
	}
	if cfg.PruneBatch <= 0 {
		cfg.PruneBatch = DefaultPruneBatch
	}
	w := &Worker{
		store: cfg.Store, gaveUp: cfg.GaveUp, metrics: cfg.Metrics, clock: cfg.Clock, log: cfg.Logger.With("component", "outbox"), maxLive: cfg.MaxInFlight,
		lanes: make(map[string]*lane), newest: make(map[string]uint64), keyCount: make(map[string]int),
		kick:      make(chan struct{}, 1),
		retention: cfg.Retention, pruneEvery: cfg.PruneEvery, pruneBatch: cfg.PruneBatch,
		lane: cfg.Lane,
	}
	w.pipeline = MultiStage{
		&CoalesceStage{Pending: w, Clock: cfg.Clock},
		&RateLimitStage{Limit: cfg.RateLimit, Clock: cfg.Clock},
		&RetryStage{Sender: cfg.Sender, Policy: cfg.Retry, Clock: cfg.Clock, Log: w.log},
	}
	return w, nil
}

// Newest implements Newest over the effects read and not yet settled.
func (w *Worker) Newest(key string) (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, ok := w.newest[key]
	return id, ok
}

// laneOf is the lane e is delivered in.
func (w *Worker) laneOf(e incidents.Effect) string {
	if w.lane != nil {
		if l := w.lane(e); l != "" {
			return l
		}
	}
	return e.Channel()
}

// Run delivers until ctx ends, then waits for its lanes to stop and
// returns ctx's error. An effect interrupted by the stop stays pending and
// is delivered by the next Run. Run may not be called twice at once.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("outbox worker is already running")
	}
	w.running = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running = false
		w.lanes = make(map[string]*lane)
		w.newest, w.keyCount, w.live, w.starved = make(map[string]uint64), make(map[string]int), 0, false
		w.mu.Unlock()
	}()

	var lanes sync.WaitGroup
	defer lanes.Wait()
	if p, ok := w.store.(Pruner); ok && w.retention > 0 {
		lanes.Go(func() { w.prune(ctx, p) })
	}
	var after uint64
	for {
		next, err := w.read(ctx, after, &lanes)
		after = next
		if err != nil && ctx.Err() == nil {
			w.log.Error("reading pending effects failed; will read again at the next commit", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.store.Committed():
		case <-w.kick:
		}
	}
}

// read queues pending effects with ID > after and returns the last id
// queued. New lanes start only once the read is complete, so that the
// coalesce stage knows every effect committed so far and a burst read in
// one go is coalesced whole.
func (w *Worker) read(ctx context.Context, after uint64, lanes *sync.WaitGroup) (uint64, error) {
	type newLane struct {
		ch string
		l  *lane
	}
	var fresh []newLane
	w.mu.Lock()
	w.readsStarted++
	started := w.readsStarted
	w.mu.Unlock()
	defer func() {
		for _, n := range fresh {
			lanes.Go(func() { w.drain(ctx, n.ch, n.l) })
		}
	}()
	err := w.store.PendingEffects(ctx, after, func(e incidents.Effect) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.live >= w.maxLive {
			w.starved = true
			return errStarved
		}
		after = e.ID
		w.live++
		if k := e.CoalesceKey; k != "" {
			w.newest[k] = max(w.newest[k], e.ID)
			w.keyCount[k]++
		}
		ch := w.laneOf(e)
		l, ok := w.lanes[ch]
		if !ok {
			l = &lane{}
			w.lanes[ch] = l
			fresh = append(fresh, newLane{ch, l})
		}
		l.queue = append(l.queue, e)
		w.metrics.lanes(w.live, ch, len(l.queue))
		return nil
	})
	if errors.Is(err, errStarved) {
		err = nil
	}
	w.mu.Lock()
	w.lastReadDone = max(w.lastReadDone, started)
	w.mu.Unlock()
	return after, err
}

// Idle waits until everything committed before the call is settled, and
// what those deliveries committed in turn (the tracker's "Filed as" post):
// it asks the running worker to read, waits until no effect is in flight,
// and confirms with one more read that finds nothing new. The console calls it
// between two lines of input, so a script's next line sees what the last
// one posted; tests call it before they look. It returns ctx's error when
// ctx ends first (a platform that does not answer, a worker not running).
func (w *Worker) Idle(ctx context.Context) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	// confirming: nothing was in flight after the last read; one more read,
	// started after that, must find nothing either — a delivery may have
	// committed new effects just before it settled (the tracker's "Filed
	// as" post, a give-up notice).
	confirming := false
	for {
		w.mu.Lock()
		start := w.readsStarted
		w.mu.Unlock()
		select {
		case w.kick <- struct{}{}:
		default:
		}
		for {
			w.mu.Lock()
			read, live := w.lastReadDone > start, w.live
			w.mu.Unlock()
			if read && live == 0 && confirming {
				return nil
			}
			if read {
				confirming = live == 0
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

var errStarved = errors.New("in-flight bound reached")

// drain runs a lane until it is empty or ctx ends.
func (w *Worker) drain(ctx context.Context, ch string, l *lane) {
	for {
		w.mu.Lock()
		if len(l.queue) == 0 || ctx.Err() != nil {
			delete(w.lanes, ch)
			w.mu.Unlock()
			return
		}
		e := l.queue[0]
		l.queue = l.queue[1:]
		w.metrics.lanes(w.live, ch, len(l.queue))
		w.mu.Unlock()

		d := &Delivery{Effect: e, Lane: ch}
		if _, err := w.pipeline.Exec(ctx, d); err != nil || !d.Settled() {
			return // stopping: the effect stays pending for the next Run
		}
		if err := w.settle(ctx, d); err != nil {
			return
		}
		w.done(e)
	}
}

// settle records the outcome, retrying until the store takes it or the
// worker stops: moving on without the record would send a delivered
// effect again after a restart.
func (w *Worker) settle(ctx context.Context, d *Delivery) error {
	if d.Result.Status == incidents.EffectGaveUp && w.gaveUp != nil {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := w.gaveUp(gctx, d.Effect, d.Result); err != nil {
			w.log.Warn("saying that an effect was given up failed", "effect", d.Effect.ID, "incident", d.Effect.Incident, "err", err)
		}
		cancel()
	}
	b := backoff.NewExponentialBackOff()
	b.MaxInterval = 30 * time.Second
	for {
		err := w.store.Settle(ctx, d.Effect.ID, d.Result)
		if err == nil {
			w.logOutcome(d)
			w.metrics.settled(d)
			return nil
		}
		wait := b.NextBackOff()
		w.log.Error("recording an effect's delivery failed; retrying", "effect", d.Effect.ID, "status", d.Result.Status, "wait", wait, "err", err)
		if err := w.clock.Sleep(ctx, wait); err != nil {
			if d.Result.Status == incidents.EffectDelivered {
				w.log.Warn("stopped before recording a delivered effect: the next start will send it again",
					"effect", d.Effect.ID, "incident", d.Effect.Incident, "channel", d.Effect.Channel())
			}
			return fmt.Errorf("settle effect %d: %w", d.Effect.ID, err)
		}
	}
}

func (w *Worker) logOutcome(d *Delivery) {
	e, r := d.Effect, d.Result
	switch r.Status {
	case incidents.EffectGaveUp:
		w.log.Error("outbox gave up on an effect", "effect", e.ID, "incident", e.Incident, "kind", e.Kind, "channel", e.Channel(), "attempts", r.Attempts, "reason", r.Reason)
	case incidents.EffectCoalesced:
		w.log.Debug("outbox coalesced an effect", "effect", e.ID, "incident", e.Incident, "reason", r.Reason)
	default:
		w.log.Debug("outbox delivered an effect", "effect", e.ID, "incident", e.Incident, "kind", e.Kind, "channel", e.Channel(), "attempts", r.Attempts)
	}
}

// done forgets a settled effect, and asks for another read when an earlier
// one stopped at the in-flight bound.
func (w *Worker) done(e incidents.Effect) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.live--
	if w.metrics != nil {
		w.metrics.inFlight.Set(float64(w.live))
	}
	if k := e.CoalesceKey; k != "" {
		if w.keyCount[k]--; w.keyCount[k] <= 0 {
			delete(w.keyCount, k)
			delete(w.newest, k)
		}
	}
	if w.starved && w.live <= w.maxLive/2 {
		w.starved = false
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}
