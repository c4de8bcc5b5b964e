package storage

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// defaultSeenSpill is how many event ids may wait in the seen_recent log
// before they are moved into the id index in one go.
const defaultSeenSpill = 8192

// seenLog keeps newly seen event ids cheap to record.
//
// Event ids are hashes and chat ids with no useful order, so inserting each
// into the id-keyed seen_events bucket dirties a random leaf page: in an
// alert storm that was one extra page per alert in every commit, each a
// separate write the fsync must wait for. Instead MarkSeen appends the id to
// seen_recent under an increasing sequence number (one right-most leaf for
// a whole commit), and remembers it in pending. When pending reaches spill
// ids (or PruneSeen asks), one commit moves them all into seen_events and
// seen_by_time and empties seen_recent, so each id-index page is written
// once per many ids rather than once per id (while the index has fewer
// leaf pages than a spill has ids; beyond that, the move still writes all
// its pages under one fsync instead of one scattered page per commit).
//
// seen_recent is part of the same transactions, so it is as durable as
// before: Open rebuilds pending from it. Only the committer goroutine
// touches a seenLog, and changes reach it only after a commit succeeded
// (adopt), so a rolled-back attempt leaves no trace.
type seenLog struct {
	pending map[string]struct{}
	spill   int
}

// loadSeenLog reads the ids waiting in seen_recent.
func loadSeenLog(bdb *bolt.DB) (*seenLog, error) {
	l := &seenLog{pending: make(map[string]struct{}), spill: defaultSeenSpill}
	err := bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketSeenRecent))
		if b == nil {
			return fmt.Errorf("bucket %q is missing: %w", bucketSeenRecent, errDamaged)
		}
		return b.ForEach(func(_, v []byte) error {
			if len(v) <= numberLen {
				return fmt.Errorf("recent seen event record is %d bytes: %w", len(v), errDamaged)
			}
			l.pending[string(v[numberLen:])] = struct{}{}
			return nil
		})
	})
	return l, err
}

// txnSeen is one write transaction's part of the seen log.
type txnSeen struct {
	log     *seenLog            // nil for read-only transactions
	added   map[string]struct{} // ids in seen_recent not yet in log.pending
	spilled bool                // seen_recent was moved into the index: log.pending no longer applies
}

// seen reports whether id is recorded, in the index or still in the log.
func (t *txn) seen(id []byte) bool {
	if t.get(t.b.seen, id) != nil {
		return true
	}
	if _, ok := t.seenTx.added[string(id)]; ok {
		return true
	}
	if t.seenTx.log == nil || t.seenTx.spilled {
		return false
	}
	_, ok := t.seenTx.log.pending[string(id)]
	return ok
}

// waiting is how many ids seen_recent holds in this transaction.
func (s *txnSeen) waiting() int {
	n := len(s.added)
	if s.log != nil && !s.spilled {
		n += len(s.log.pending)
	}
	return n
}

// appendSeen records id, seen at bits, in the seen_recent log.
func (t *txn) appendSeen(id []byte, bits uint64) error {
	seq, err := t.b.seenRecent.NextSequence()
	if err != nil {
		return err
	}
	v := make([]byte, 0, numberLen+len(id))
	v = append(putU64(v, bits), id...)
	if err := t.b.seenRecent.Put(u64Key(seq), v); err != nil {
		return err
	}
	if t.seenTx.added == nil {
		t.seenTx.added = make(map[string]struct{})
	}
	t.seenTx.added[string(id)] = struct{}{}
	return nil
}

// flushSeen moves the seen_recent log into the id and time indexes when it
// is due. It runs once per transaction, after every fn of a group commit.
func (t *txn) flushSeen() error {
	if l := t.seenTx.log; l == nil || t.seenTx.waiting() < l.spill {
		return nil
	}
	return t.spillSeen()
}

// spillSeen moves every id in seen_recent into seen_events and
// seen_by_time, and empties seen_recent.
func (t *txn) spillSeen() error {
	if k, _ := t.b.seenRecent.Cursor().First(); k == nil {
		return nil
	}
	t.wrote()
	err := t.b.seenRecent.ForEach(func(_, v []byte) error {
		if len(v) <= numberLen {
			return fmt.Errorf("recent seen event record is %d bytes: %w", len(v), errDamaged)
		}
		at, id := v[:numberLen], v[numberLen:]
		if err := t.b.seen.Put(id, at); err != nil {
			return err
		}
		bits, _ := readU64(at)
		return t.b.seenByTime.Put(seenTimeKey(bits, id), nil)
	})
	if err != nil {
		return fmt.Errorf("indexing seen event ids: %w", err)
	}
	if t.b.seenRecent, err = t.emptyLog(bucketSeenRecent); err != nil {
		return fmt.Errorf("emptying the recent seen event log: %w", err)
	}
	t.seenTx.spilled = true
	t.seenTx.added = nil
	return nil
}

// adopt applies a committed transaction's changes to the log.
func (s *txnSeen) adopt() {
	if s.log == nil {
		return
	}
	if s.spilled {
		clear(s.log.pending)
	}
	for id := range s.added {
		s.log.pending[id] = struct{}{}
	}
}

// markSeenAt is MarkSeen's body, with the time already in key form.
func (t *txn) markSeenAt(id []byte, at time.Time) (bool, error) {
	if t.seen(id) {
		return true, nil
	}
	t.wrote()
	if err := t.appendSeen(id, clampedTimeBits(at)); err != nil {
		return false, err
	}
	return false, nil
}
