package storage

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
)

// defaultTimelineFold is how many new timeline entries may wait in
// events_recent before one commit moves them all into the events bucket.
const defaultTimelineFold = 4096

// Timeline entries are first appended to events_recent, keyed by an
// increasing sequence number, and moved ("folded") into the events bucket
// in bulk, a few thousand at a time (DB.foldAt).
//
// The events bucket is keyed by incident, then seq, so appending one entry
// to each of N incidents dirties N leaf pages; in an alert storm spread over
// a few dozen incidents that was one page written per alert in every
// commit, each a separate write for the fsync to wait on. events_recent
// takes a commit's entries on its right-most leaf instead, and a fold
// writes each incident's tail page once for many entries. Both buckets
// change in the same transactions as everything else, so a crash loses
// nothing that was committed; readers see the union.
//
// events_recent: recent seq(8) → number(8) seq(8) entry (entry.go encoding)
const recentEntryHeader = eventKeyLen

// packLogs fills the append-only log buckets' pages completely: keys only
// ever go on the right, so bbolt's default half-full split would just
// double their pages.
func (b *buckets) packLogs() {
	b.eventsRecent.FillPercent = 1
	b.seenRecent.FillPercent = 1
	b.alertsRecent.FillPercent = 1
	b.fingerprintsRecent.FillPercent = 1
	b.alertStatesRecent.FillPercent = 1
	// Buckets keyed by incident number grow on the right as well: a storm
	// of new incidents appends its records there, and at the default 50%
	// every page written held half of what it could (an incident opened by
	// an alert wrote about 0.8 pages of 4 KB, measured with strace). They
	// are also rewritten in place (counters, steps), so leave a little room
	// for records that grow.
	for _, bk := range []*bolt.Bucket{b.incidents, b.events, b.alerts, b.alertState, b.timersByInc} {
		bk.FillPercent = 0.9
	}
	b.open.FillPercent = 1 // keys only, never rewritten
	b.seq.FillPercent = 1  // fixed-size values
}

// appendRecentEntry stores e, its Seq set, in events_recent: header and
// entry encoded into one buffer, under a key in the transaction's scratch
// buffer (bbolt copies keys, not values).
func (t *txn) appendRecentEntry(e *incidents.Entry, body []byte) error {
	n, err := t.b.eventsRecent.NextSequence()
	if err != nil {
		return err
	}
	var head [recentEntryHeader]byte
	putU64(putU64(head[:0], e.Incident), e.Seq)
	if body != nil {
		// As with alert content, an entry reads the same after any header.
		rec := append(append(make([]byte, 0, len(head)+len(body)), head[:]...), body...)
		return t.b.eventsRecent.Put(t.scratchU64(n), rec)
	}
	return t.b.eventsRecent.Put(t.scratchU64(n), appendEntry(head[:], e))
}

// foldTimeline moves events_recent into events once enough has gathered.
// The bucket's sequence counts its entries, since it is only ever appended
// to and emptied by dropping it.
func (t *txn) foldTimeline() error {
	if t.foldAt == 0 || t.b.eventsRecent.Sequence() < t.foldAt {
		return nil
	}
	t.wrote()
	err := t.b.eventsRecent.ForEach(func(k, v []byte) error {
		if len(v) < recentEntryHeader {
			return fmt.Errorf("recent timeline record %x is %d bytes: %w", k, len(v), errDamaged)
		}
		return t.b.events.Put(v[:recentEntryHeader], v[recentEntryHeader:])
	})
	if err != nil {
		return fmt.Errorf("folding recent timeline entries: %w", err)
	}
	if t.b.eventsRecent, err = t.emptyLog(bucketEventsRecent); err != nil {
		return fmt.Errorf("emptying the recent timeline log: %w", err)
	}
	return nil
}

// record is a key and a value to put.
type record struct{ k, v []byte }

// putInKeyOrder puts recs into b in key order. A log holds its records in
// arrival order, which for hashed keys is a random walk over b; key order
// visits each leaf once, while it is still in the CPU's cache, and
// appends within it.
func putInKeyOrder(b *bolt.Bucket, recs []record) error {
	slices.SortFunc(recs, func(x, y record) int { return bytes.Compare(x.k, y.k) })
	for _, r := range recs {
		if err := b.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

// emptyLog empties an append-only log bucket once it has been folded.
// Dropping the bucket frees its pages in one step instead of rewriting
// every leaf to delete keys one by one.
func (t *txn) emptyLog(name string) (*bolt.Bucket, error) {
	if err := t.tx.DeleteBucket([]byte(name)); err != nil {
		return nil, err
	}
	b, err := t.tx.CreateBucket([]byte(name))
	if err != nil {
		return nil, err
	}
	b.FillPercent = 1 // see packLogs
	return b, nil
}

// recentEntries streams incident number's entries after Seq `after` that
// are still in events_recent, in Seq order (the log's order). It reads the
// whole log, at most DB.foldAt records plus one transaction's worth.
func (t *txn) recentEntries(number, after uint64, fn func(incidents.Entry) error) error {
	prefix := u64Key(number)
	c := t.b.eventsRecent.Cursor()
	pos := make([]byte, 0, numberLen)
	for k, v := c.First(); k != nil; {
		if len(v) < recentEntryHeader {
			return fmt.Errorf("recent timeline record %x is %d bytes: %w", k, len(v), errDamaged)
		}
		seq, _ := readU64(v[numberLen:recentEntryHeader])
		if !bytes.HasPrefix(v, prefix) || seq <= after {
			k, v = c.Next()
			continue
		}
		var e incidents.Entry
		if err := decodeEntry(v[recentEntryHeader:], &e); err != nil {
			return fmt.Errorf("incident #%d: %w", number, err)
		}
		e.Incident, e.Seq = number, seq
		pos = append(pos[:0], k...)
		w := t.writes
		if err := fn(e); err != nil {
			return err
		}
		k, v = t.next(c, pos, w)
	}
	return nil
}
