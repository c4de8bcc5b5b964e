package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
)

// maxBatch bounds how many Update calls share one transaction, so one
// commit's latency stays small even in a storm.
const maxBatch = 1000

// request is one queued Update call.
type request struct {
	ctx  context.Context
	fn   func(incidents.Tx) error
	done chan error
}

// Update implements incidents.Store. Concurrent calls are committed
// together — one write transaction and one fsync for the lot — and each
// returns only after that commit. A lone call is committed at once; after
// a commit of several calls the committer waits a moment (at most as long
// as that commit took, and 1 ms) for their callers' next calls, see gather.
//
// fn may run more than once: when a fn fails after writing, its batch is
// rolled back and every call in it is run again in a transaction of its own,
// so one caller's failure never undoes or commits another's writes. Each
// attempt starts from the last committed state: what a rolled-back attempt
// read or cached is dropped with it.
func (d *DB) Update(ctx context.Context, fn func(incidents.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return ErrClosed
	}
	d.queue = append(d.queue, r)
	d.mu.Unlock()
	d.signal()
	// Wait for the outcome even if ctx ends meanwhile: once queued, the
	// write may commit, and the caller must not be told it did not.
	return <-r.done
}

// signal wakes the committer.
func (d *DB) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *DB) commitLoop() {
	defer d.workers.Done()
	var prev int           // requests in the last commit
	var took time.Duration // how long it took
	for range d.wake {
		for {
			d.gather(prev, took)
			d.mu.Lock()
			n := min(len(d.queue), maxBatch)
			batch := d.queue[:n:n]
			d.queue = d.queue[n:]
			closing := d.closing
			d.mu.Unlock()
			if n == 0 {
				if closing {
					return
				}
				prev = 0
				break
			}
			start := time.Now()
			d.commit(batch)
			prev, took = n, time.Since(start)
		}
	}
}

// maxGather bounds how long the committer waits for company, and
// gatherBelow how long the last commit may have taken for it to wait.
const (
	maxGather   = time.Millisecond
	gatherBelow = 4 * time.Millisecond
)

// gather waits briefly, after a commit of several requests, for their
// senders' next requests, so that the next commit carries them too.
//
// Without it, senders that each wait for their answer before sending again
// (webhook senders, chat adapters) split into two cohorts that take turns:
// the requests that arrived while a commit was being flushed make up the
// next commit, and the senders just answered come back a moment after it
// started, to wait a whole commit more. With 16 senders of one alert each,
// every commit then carried about 8 requests and cost two fsyncs. Waiting
// for them — until as many requests are queued as the last commit carried
// plus those already waiting, at most as long as the last commit took and
// maxGather, and never after a commit of one request, so a lone sender is
// not slowed down — lets one commit and its two fsyncs serve both cohorts.
// Waiting changes nothing about durability: every request still returns
// only after the commit that holds it.
//
// A commit that took longer than gatherBelow is not followed by a wait:
// its time went on work, not on the fsyncs the wait would share, and the
// senders just answered arrive during the next commit anyway. Waiting
// after commits of 100-alert webhooks (10–15 ms each) left the committer
// idle a tenth of the time: 6% fewer alerts per second in process.
func (d *DB) gather(prev int, took time.Duration) {
	if prev < 2 || took > gatherBelow {
		return
	}
	d.mu.Lock()
	target := min(len(d.queue)+prev, maxBatch)
	d.mu.Unlock()
	wait := min(took, maxGather)
	if wait <= 0 {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		d.mu.Lock()
		n, closing := len(d.queue), d.closing
		d.mu.Unlock()
		if n >= target || closing {
			return
		}
		select {
		case <-d.wake:
		case <-timer.C:
			return
		}
	}
}

// errDirty aborts a shared transaction whose fn failed after writing.
var errDirty = errors.New("a batched update failed after writing")

// commit runs a batch in one transaction.
func (d *DB) commit(batch []*request) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err // not run: nothing was written
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	results := make([]error, len(live))
	var totals counters
	var t *txn
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		var err error
		if t, err = d.writeTxn(tx); err != nil {
			return err
		}
		for i, r := range live {
			before := t.writes
			if err := r.fn(t); err != nil {
				if t.writes != before {
					return errDirty
				}
				results[i] = err
			}
		}
		if err := t.flush(); err != nil {
			// Whose incident failed to encode is not known here: run
			// every call alone so only that one fails.
			return errDirty
		}
		totals, err = t.flushCounters()
		return err
	})
	switch {
	case errors.Is(err, errDirty):
		for _, r := range live {
			r.done <- d.commitOne(r)
		}
		return
	case err != nil:
		err = fmt.Errorf("commit to %s: %w", d.path, err)
		for _, r := range live {
			r.done <- err
		}
		return
	}
	t.cache.adopt()
	t.seenTx.adopt()
	t.alertTx.adopt()
	t.fpTx.adopt()
	d.stats.Store(&totals)
	d.commits.Add(1)
	d.updates.Add(uint64(len(live)))
	for i, r := range live {
		r.done <- results[i]
	}
}

// writeTxn wraps a write transaction of the committer; it shares the
// committer's cache of committed incidents. A new txn is made for every
// attempt, so nothing a rolled-back attempt read or wrote is reused.
func (d *DB) writeTxn(tx *bolt.Tx) (*txn, error) {
	t, err := newTxn(tx)
	if err != nil {
		return nil, err
	}
	t.cache.committed = d.committed
	t.seenTx.log = d.seen
	t.alertTx.log = d.alerts
	t.fpTx.log = d.fingerprints
	t.foldAt = d.foldAt
	t.outbox = d.outbox
	return t, nil
}

// commitOne runs one Update in its own transaction; fn's error rolls back
// only its own writes.
func (d *DB) commitOne(r *request) error {
	var totals counters
	var fnErr error
	var t *txn
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		var err error
		if t, err = d.writeTxn(tx); err != nil {
			return err
		}
		if fnErr = r.fn(t); fnErr != nil {
			return fnErr
		}
		if err := t.flush(); err != nil {
			return err
		}
		totals, err = t.flushCounters()
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("commit to %s: %w", d.path, err)
	}
	t.cache.adopt()
	t.seenTx.adopt()
	t.alertTx.adopt()
	t.fpTx.adopt()
	d.stats.Store(&totals)
	d.commits.Add(1)
	d.updates.Add(1)
	return nil
}

// Backup writes a consistent copy of the database to w from one read
// transaction, while writers carry on (bbolt's Tx.WriteTo).
func (d *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if d.closed.Load() {
		return 0, ErrClosed
	}
	var n int64
	err := d.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup of %s: %w", d.path, err)
	}
	return n, nil
}

// BackupFile writes a consistent copy to path (mode 0600): to a temporary
// file in the same directory first, fsynced and renamed into place, so a
// failed backup never leaves a truncated file under the final name.
func (d *DB) BackupFile(ctx context.Context, path string) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".firebreak-backup-*")
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this is a no-op
	n, err := d.Backup(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return n, fmt.Errorf("backup to %s: %w", path, err)
	}
	return n, nil
}

// PruneSeen forgets platform event ids seen before cutoff, at most limit
// of them per call; it reports how many it removed.
func (d *DB) PruneSeen(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	removed := 0
	err := d.Update(ctx, func(itx incidents.Tx) error {
		t := itx.(*txn)
		removed = 0
		// Ids still in the recent log are indexed first, so that their
		// times can be pruned like any other.
		if err := t.spillSeen(); err != nil {
			return err
		}
		end := clampedTimeBits(cutoff)
		c := t.b.seenByTime.Cursor()
		var doomed [][]byte
		for k, _ := c.First(); k != nil && len(doomed) < limit; k, _ = c.Next() {
			at, ok := readU64(k[:min(len(k), numberLen)])
			if !ok {
				return fmt.Errorf("seen index key is %d bytes: %w", len(k), errDamaged)
			}
			if at >= end {
				break
			}
			doomed = append(doomed, append([]byte(nil), k...))
		}
		for _, k := range doomed {
			t.wrote()
			if err := t.b.seenByTime.Delete(k); err != nil {
				return err
			}
			if err := t.b.seen.Delete(k[numberLen:]); err != nil {
				return err
			}
			removed++
		}
		return nil
	})
	return removed, err
}

// pruneLoop prunes seen event ids older than ttl, hourly (and once soon
// after start), in bounded slices so a prune never holds the writer long.
func (d *DB) pruneLoop(ctx context.Context, ttl time.Duration) {
	every := min(time.Hour, max(ttl/10, time.Second))
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range 100 {
			n, err := d.PruneSeen(ctx, time.Now().Add(-ttl), 10000)
			if err != nil {
				if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
					d.log.Warn("pruning seen event ids", "err", err)
				}
				break
			}
			if n < 10000 {
				break
			}
		}
		t.Reset(every)
	}
}
