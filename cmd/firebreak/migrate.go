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
	counts, err := copyStore(ctx, src, dst)
	if err != nil {
		return fmt.Errorf("migrating %s to %s: %w (the target may be partly written: empty it before trying again)", src.describe(), dst.describe(), err)
	}
	if err := verifyCopy(ctx, src, dst); err != nil {
		return fmt.Errorf("migrated %s to %s, but the copy differs: %w", src.describe(), dst.describe(), err)
	}
	fmt.Fprintf(env.stdout, "migrated %s to %s: %s; verified record by record\n", src.describe(), dst.describe(), counts)
	fmt.Fprintln(env.stdout, "seen event ids were not copied: chat events delivered again within minutes of the switch may be handled twice")
	return nil
}

// copied counts what a migration wrote.
type copied struct{ incidents, entries, alerts, fingerprints, timers int }

func (c copied) String() string {
	return fmt.Sprintf("%d incidents, %d timeline entries, %d alert records, %d grouped fingerprints, %d timers",
		c.incidents, c.entries, c.alerts, c.fingerprints, c.timers)
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
