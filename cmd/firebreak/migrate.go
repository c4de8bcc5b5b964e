package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"os"
	"time"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// migrateChunk is how many records one write of a migration carries: with
// two keys per record at most, it stays under etcd's default of 128
// operations per transaction, so a migration needs no raised limit.
const migrateChunk = 60

// fingerprintLister is what a migration reads beyond incidents.ReadTx: the
// grouping index, which no intent needs to list. Both stores' read
// transactions have it.
type fingerprintLister interface {
	Fingerprints(fn func(fp string, number uint64) error) error
}

// seenLister lists seen event ids with when they were seen; both stores'
// read transactions have it.
type seenLister interface {
	SeenIDs(fn func(id string, at time.Time) error) error
}

// seenRestorer records a seen event id so that it expires when it would
// have in the source (etcd; bbolt's MarkSeen keeps the time it is given,
// and its prune counts from that).
type seenRestorer interface {
	RestoreSeen(id string, at time.Time) (bool, error)
}

// effectLister streams the etcd outbox in ID order, settled effects too.
type effectLister interface {
	Effects(settled bool, fn func(incidents.Effect) error) error
}

// effectRestorer writes an effect with its id and status kept (etcd).
type effectRestorer interface {
	RestoreEffect(e incidents.Effect) error
}

// copyExtras copies seen event ids (when the source can list them) and
// the outbox, in ID order: into etcd every effect with its id and status;
// into a bbolt file the pending ones, through its outbox's Enqueue.
func copyExtras(ctx context.Context, src, dst store, c *copied) error {
	b := &batcher{ctx: ctx, dst: dst}
	var effects []incidents.Effect // pending ones, for a bbolt target's check
	err := src.View(ctx, func(tx incidents.ReadTx) error {
		sl, ok := tx.(seenLister)
		if !ok {
			c.seenUncopied = true
			return nil
		}
		if err := sl.SeenIDs(func(id string, at time.Time) error {
			c.seenListed++
			return b.add(func(tx incidents.Tx) error {
				if r, ok := tx.(seenRestorer); ok {
					_, err := r.RestoreSeen(id, at)
					return err
				}
				_, err := tx.MarkSeen(id, at)
				return err
			})
		}); err != nil {
			return fmt.Errorf("copying seen event ids: %w", err)
		}
		return nil
	})
	if err == nil {
		err = b.flush()
	}
	if err == nil && !c.seenUncopied {
		c.seen, err = countSeen(ctx, dst)
		if err == nil && c.seen > c.seenListed {
			err = fmt.Errorf("%d seen event ids in the copy, %d in the source", c.seen, c.seenListed)
		}
	}
	if err != nil {
		return err
	}
	var bboltOutbox *storage.Outbox
	if bs, ok := dst.(boltStore); ok {
		if bboltOutbox, err = storage.NewOutbox(bs.DB); err != nil {
			return err
		}
	}
	add := func(e incidents.Effect) error {
		if bboltOutbox != nil {
			if e.Status != incidents.EffectPending {
				c.settledUncopied++
				return nil
			}
			effects = append(effects, e)
			c.effects++
			return b.add(func(tx incidents.Tx) error { cp := e; cp.ID = 0; return bboltOutbox.Enqueue(tx, &cp) })
		}
		c.effects++
		return b.add(func(tx incidents.Tx) error {
			r, ok := tx.(effectRestorer)
			if !ok {
				return errors.New("the target store cannot restore outbox effects")
			}
			return r.RestoreEffect(e)
		})
	}
	if err := listEffects(ctx, src, add); err != nil {
		return fmt.Errorf("copying the outbox: %w", err)
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("copying the outbox: %w", err)
	}
	// Check: the target's pending effects are the source's, in order.
	if bboltOutbox != nil {
		i := 0
		err := bboltOutbox.PendingEffects(ctx, 0, func(e incidents.Effect) error {
			if i >= len(effects) || e.Message.Text != effects[i].Message.Text || e.Kind != effects[i].Kind || e.Home != effects[i].Home {
				return fmt.Errorf("pending effect %d of the copy differs from the source's", e.ID)
			}
			i++
			return nil
		})
		if err == nil && i != len(effects) {
			err = fmt.Errorf("%d pending effects in the source, %d in the copy", len(effects), i)
		}
		return err
	}
	// Into etcd: every effect kept as it was, ids and statuses included.
	sums := make([]string, 2)
	for i, s := range []store{src, dst} {
		d := &digest{h: sha256.New()}
		if err := listEffects(ctx, s, func(e incidents.Effect) error { return d.add(e) }); err != nil {
			return fmt.Errorf("checking the outbox of %s: %w", s.describe(), err)
		}
		sums[i] = d.sum()
	}
	if sums[0] != sums[1] {
		return fmt.Errorf("the outbox: %s in the source, %s in the copy", sums[0], sums[1])
	}
	return nil
}

// countSeen counts the seen event ids s holds: what a migration copied
// (the target was empty), the source's less those already expired.
func countSeen(ctx context.Context, s store) (int, error) {
	n := 0
	err := s.View(ctx, func(tx incidents.ReadTx) error {
		sl, ok := tx.(seenLister)
		if !ok {
			return fmt.Errorf("%s cannot list its seen event ids", s.describe())
		}
		return sl.SeenIDs(func(string, time.Time) error { n++; return nil })
	})
	if err != nil {
		return 0, fmt.Errorf("counting the copied seen event ids: %w", err)
	}
	return n, nil
}

// listEffects streams src's outbox in ID order: etcd's every effect, a
// bbolt file's every effect by id (ids are dense there).
func listEffects(ctx context.Context, src store, fn func(incidents.Effect) error) error {
	if bs, ok := src.(boltStore); ok {
		o, err := storage.NewOutbox(bs.DB)
		if err != nil {
			return err
		}
		all, _, err := o.Counts(ctx)
		if err != nil {
			return err
		}
		for id := uint64(1); id <= uint64(all); id++ {
			e, err := o.Effect(ctx, id)
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	return src.View(ctx, func(tx incidents.ReadTx) error {
		l, ok := tx.(effectLister)
		if !ok {
			return errors.New("the source store cannot list its outbox")
		}
		return l.Effects(true, fn)
	})
}

// migrate copies the bbolt file into the etcd cluster (to-etcd) or the
// etcd store into a new bbolt file (to-bbolt FILE), then reads both back
// and compares every incident, timeline entry, alert record, grouped
// fingerprint and timer.
func migrate(ctx context.Context, args []string, env environ) error {
	fs := newFlagSet("migrate", env)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{"migrate takes a direction: to-etcd, or to-bbolt FILE"}
	}
	ecfg, ok, err := etcdConfig(env)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("migrate needs the etcd cluster: set FIREBREAK_ETCD_ENDPOINTS (see docs/ha.md)")
	}
	var src, dst store
	switch {
	case pos[0] == "to-etcd" && len(pos) == 1:
		path := dbPath(env)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("no database to migrate at %s (set FIREBREAK_DB): %w", path, err)
		}
		db, err := storage.Open(path, storage.Options{Timeout: time.Second})
		if errors.Is(err, storage.ErrLocked) {
			return fmt.Errorf("%s is in use: stop the bot before migrating it", path)
		}
		if err != nil {
			return err
		}
		defer db.Close()
		e, err := openEtcd(ctx, ecfg)
		if err != nil {
			return err
		}
		defer e.Close()
		src, dst = boltStore{DB: db, path: path}, e
	case pos[0] == "to-bbolt" && len(pos) == 2:
		path := pos[1]
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists: migrate writes a new bbolt file only", path)
		}
		e, err := openEtcd(ctx, ecfg)
		if err != nil {
			return err
		}
		defer e.Close()
		db, err := storage.Open(path, storage.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		src, dst = e, boltStore{DB: db, path: path}
	default:
		return usageError{"migrate takes a direction: to-etcd, or to-bbolt FILE"}
	}
	n, err := lastIncident(ctx, dst)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%s already holds incidents (up to #%d): migrate copies into an empty store only", dst.describe(), n)
	}
	counts, err := copyAll(ctx, src, dst)
	if err != nil {
		return fmt.Errorf("migrating %s to %s: %w (the target may be partly written: empty it before trying again)", src.describe(), dst.describe(), err)
	}
	fmt.Fprintf(env.stdout, "migrated %s to %s: %s; verified record by record\n", src.describe(), dst.describe(), counts)
	for _, note := range counts.notes() {
		fmt.Fprintln(env.stdout, note)
	}
	return nil
}

// copyAll copies everything a store holds into an empty one and verifies
// the copy: incidents and what hangs off them (copyStore, verifyCopy),
// then seen event ids and the outbox (copyExtras).
func copyAll(ctx context.Context, src, dst store) (copied, error) {
	counts, err := copyStore(ctx, src, dst)
	if err != nil {
		return counts, err
	}
	if err := copyExtras(ctx, src, dst, &counts); err != nil {
		return counts, err
	}
	if err := verifyCopy(ctx, src, dst); err != nil {
		return counts, fmt.Errorf("the copy differs: %w", err)
	}
	return counts, nil
}

// copied counts what a migration wrote.
type copied struct {
	incidents, entries, alerts, fingerprints, timers int
	seen, effects                                    int
	// seenListed: seen event ids in the source; those of them not in seen
	// had expired (or expire within a second) and were left out.
	seenListed int
	// seenUncopied: the source cannot list its seen event ids;
	// settledUncopied: settled effects a bbolt target cannot take.
	seenUncopied    bool
	settledUncopied int
}

func (c copied) String() string {
	s := fmt.Sprintf("%d incidents, %d timeline entries, %d alert records, %d grouped fingerprints, %d timers",
		c.incidents, c.entries, c.alerts, c.fingerprints, c.timers)
	if !c.seenUncopied {
		s += fmt.Sprintf(", %d seen event ids", c.seen)
		if gone := c.seenListed - c.seen; gone > 0 {
			s += fmt.Sprintf(" (%d more had expired)", gone)
		}
	}
	return s + fmt.Sprintf(", %d outbox effects", c.effects)
}

// notes says what was not copied, and what that means for users.
func (c copied) notes() []string {
	var n []string
	if c.seenUncopied {
		n = append(n, "seen event ids were not copied (the source cannot list them): chat events and webhooks delivered again within minutes of the switch may be handled twice")
	}
	if c.settledUncopied > 0 {
		n = append(n, fmt.Sprintf("%d settled outbox effects were not copied (a bbolt file takes pending effects only, renumbered in order): a card posted before the move is posted anew rather than edited at its next update", c.settledUncopied))
	}
	return n
}

// lastIncident is the highest incident number in s (0 when empty).
func lastIncident(ctx context.Context, s store) (uint64, error) {
	var last uint64
	err := s.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 1, func(inc *incidents.Incident) error {
			last = inc.Number
			return nil
		})
	})
	return last, err
}

// batcher collects writes and applies them migrateChunk at a time, each
// batch one Update of the target.
type batcher struct {
	ctx    context.Context
	dst    store
	writes []func(incidents.Tx) error
}

func (b *batcher) add(w func(incidents.Tx) error) error {
	b.writes = append(b.writes, w)
	if len(b.writes) >= migrateChunk {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if len(b.writes) == 0 {
		return nil
	}
	ws := b.writes
	b.writes = nil
	return b.dst.Update(b.ctx, func(tx incidents.Tx) error {
		for _, w := range ws {
			if err := w(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyStore copies src into the empty dst. Incident numbers must be dense
// (both stores hand them out so), and each is checked to land on the same
// number in dst; a long timeline or a storm's alert records are copied
// over several writes.
func copyStore(ctx context.Context, src, dst store) (copied, error) {
	var c copied
	last, err := lastIncident(ctx, src)
	if err != nil {
		return c, err
	}
	b := &batcher{ctx: ctx, dst: dst}
	for n := uint64(1); n <= last; n++ {
		var inc *incidents.Incident
		if err := src.View(ctx, func(tx incidents.ReadTx) error {
			var err error
			inc, err = tx.Incident(n)
			return err
		}); err != nil {
			return c, fmt.Errorf("reading incident #%d: %w", n, err)
		}
		if err := dst.Update(ctx, func(tx incidents.Tx) error {
			cp := inc.Clone()
			if err := tx.CreateIncident(cp); err != nil {
				return err
			}
			if cp.Number != n {
				return fmt.Errorf("incident #%d landed as #%d", n, cp.Number)
			}
			return nil
		}); err != nil {
			return c, fmt.Errorf("writing incident #%d: %w", n, err)
		}
		c.incidents++
		err := src.View(ctx, func(tx incidents.ReadTx) error {
			if err := tx.Entries(n, 0, func(e incidents.Entry) error {
				c.entries++
				return b.add(func(tx incidents.Tx) error {
					cp := e.Clone()
					if err := tx.AppendEntry(&cp); err != nil {
						return err
					}
					if cp.Seq != e.Seq {
						return fmt.Errorf("incident #%d entry %d landed as %d", n, e.Seq, cp.Seq)
					}
					return nil
				})
			}); err != nil {
				return err
			}
			return tx.Alerts(n, func(a incidents.AlertState) error {
				c.alerts++
				return b.add(func(tx incidents.Tx) error { return tx.PutAlert(n, a) })
			})
		})
		if err == nil {
			err = b.flush()
		}
		if err != nil {
			return c, fmt.Errorf("copying the timeline and alerts of incident #%d: %w", n, err)
		}
	}
	err = src.View(ctx, func(tx incidents.ReadTx) error {
		fl, ok := tx.(fingerprintLister)
		if !ok {
			return errors.New("the source store cannot list its grouped fingerprints")
		}
		if err := fl.Fingerprints(func(fp string, n uint64) error {
			c.fingerprints++
			return b.add(func(tx incidents.Tx) error { return tx.SetOpenFingerprint(fp, n) })
		}); err != nil {
			return err
		}
		return tx.DueTimers(time.Unix(0, math.MaxInt64), func(t incidents.Timer) error {
			c.timers++
			return b.add(func(tx incidents.Tx) error { return tx.PutTimer(t) })
		})
	})
	if err == nil {
		err = b.flush()
	}
	return c, err
}

// digest is one store's content, hashed record by record in the order
// the store streams it (both stores stream in the same documented order).
type digest struct {
	h hash.Hash
	n int
}

func (d *digest) add(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	d.h.Write(b)
	d.h.Write([]byte{'\n'})
	d.n++
	return nil
}

func (d *digest) sum() string { return fmt.Sprintf("%d records %x", d.n, d.h.Sum(nil)) }

// storeDigests hashes each incident (with its timeline and alert records)
// on its own, then the grouping index and the timers.
func storeDigests(ctx context.Context, s store, last uint64) ([]string, error) {
	var sums []string
	for n := uint64(1); n <= last; n++ {
		d := &digest{h: sha256.New()}
		err := s.View(ctx, func(tx incidents.ReadTx) error {
			inc, err := tx.Incident(n)
			if err != nil {
				return err
			}
			if err := d.add(inc); err != nil {
				return err
			}
			if err := tx.Entries(n, 0, func(e incidents.Entry) error { return d.add(e) }); err != nil {
				return err
			}
			return tx.Alerts(n, func(a incidents.AlertState) error { return d.add(a) })
		})
		if err != nil {
			return nil, fmt.Errorf("%s: incident #%d: %w", s.describe(), n, err)
		}
		sums = append(sums, d.sum())
	}
	fps, timers := &digest{h: sha256.New()}, &digest{h: sha256.New()}
	err := s.View(ctx, func(tx incidents.ReadTx) error {
		fl, ok := tx.(fingerprintLister)
		if !ok {
			return errors.New("cannot list grouped fingerprints")
		}
		if err := fl.Fingerprints(func(fp string, n uint64) error { return fps.add([]any{fp, n}) }); err != nil {
			return err
		}
		return tx.DueTimers(time.Unix(0, math.MaxInt64), func(t incidents.Timer) error { return timers.add(t) })
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.describe(), err)
	}
	return append(sums, fps.sum(), timers.sum()), nil
}

// verifyCopy compares the two stores record by record (as digests, so a
// 100,000-entry timeline is never held in memory).
func verifyCopy(ctx context.Context, src, dst store) error {
	last, err := lastIncident(ctx, src)
	if err != nil {
		return err
	}
	if got, err := lastIncident(ctx, dst); err != nil {
		return err
	} else if got != last {
		return fmt.Errorf("%d incidents in the source, %d in the copy", last, got)
	}
	a, err := storeDigests(ctx, src, last)
	if err != nil {
		return err
	}
	b, err := storeDigests(ctx, dst, last)
	if err != nil {
		return err
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		what := fmt.Sprintf("incident #%d", i+1)
		switch i {
		case len(a) - 2:
			what = "the grouped fingerprints"
		case len(a) - 1:
			what = "the timers"
		}
		return fmt.Errorf("%s: %s in the source, %s in the copy", what, a[i], b[i])
	}
	return nil
}
