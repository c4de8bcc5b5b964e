package outbox

import (
	"context"
	"time"
)

// Pruner deletes old settled effects. storage.Outbox (bbolt),
// etcdstore.Outbox and the in-memory store implement it; a Store that does
// not is never pruned.
type Pruner interface {
	// Prune deletes effects that settled before before, looking at at most
	// limit effects with ID > after in ID order, in one transaction. It
	// never deletes a pending effect, nor the latest delivered post of a
	// Key (Ref still finds it, so a card can be updated however old it
	// is). last is where the next batch starts (after), 0 when nothing
	// older is left to look at.
	Prune(ctx context.Context, before time.Time, after uint64, limit int) (last uint64, deleted int, err error)
}

// Defaults of the worker's pruning (Config.Retention, PruneEvery,
// PruneBatch).
const (
	DefaultRetention  = 7 * 24 * time.Hour
	DefaultPruneEvery = time.Hour
	DefaultPruneBatch = 500
)

// prune runs while the worker runs: once at start, then every PruneEvery,
// it deletes settled effects older than the retention, batch by batch, so
// no transaction grows with the backlog and intents' writes interleave
// with the batches.
func (w *Worker) prune(ctx context.Context, p Pruner) {
	for {
		w.pruneOnce(ctx, p)
		// The wall clock paces the rounds: a test's fake Clock, which
		// returns from Sleep at once, would make this loop spin.
		if err := (realClock{}).Sleep(ctx, w.pruneEvery); err != nil {
			return
		}
	}
}

// pruneOnce deletes everything settled before now minus the retention, in
// batches of pruneBatch, and reports how many effects it deleted.
func (w *Worker) pruneOnce(ctx context.Context, p Pruner) int {
	before := w.clock.Now().Add(-w.retention)
	var after uint64
	total := 0
	for batch := 0; ctx.Err() == nil; batch++ {
		last, n, err := p.Prune(ctx, before, after, w.pruneBatch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("pruning settled effects failed; will try again at the next round", "deleted", total, "err", err)
			}
			break
		}
		if last == 0 {
			break
		}
		after = last
	}
	if total > 0 {
		w.log.Info("pruned settled effects", "deleted", total, "settled_before", before, "retention", w.retention)
	}
	w.metrics.prunedEffects(total)
	return total
}
