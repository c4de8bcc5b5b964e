package storage

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// How many grouped fingerprints may wait in fingerprints_recent before one
// commit moves them all into open_by_fingerprint: as many as this process
// has already moved there, within these bounds, for the reason the alert
// log's spill grows (see minAlertSpill): each fold then moves at least as
// many keys as it rewrites leaves.
const (
	minFingerprintSpill = 8192
	maxFingerprintSpill = 65536
)

// fingerprintEdgeKeys is how many of open_by_fingerprint's last keys a new
// key may sort before and still go to the index directly (see
// fingerprintOnTheRight).
const fingerprintEdgeKeys = 64

// fingerprintLog keeps newly grouped fingerprints cheap to record.
//
// open_by_fingerprint is keyed by the fingerprint, and Alertmanager's
// fingerprints are hashes: in a storm of distinct alerts every new alert
// grouped into its incident wrote a random leaf of the index, about 13
// extra pages per commit at one alert per request, and most of the index
// at 100 per request. Instead SetOpenFingerprint appends a new key that
// would land between existing keys to fingerprints_recent under an
// increasing sequence number (the right-most leaf takes a whole commit's),
// and remembers it in pending. When the log has had spill keys appended,
// one commit moves them all into open_by_fingerprint, in key order, so
// each leaf is written once for many keys.
//
//	fingerprints_recent  log seq(8) → number(8) fingerprint
//
// A key is in the log or in the bucket, never both: setting a key the log
// holds rewrites its record, setting one the bucket holds writes the bucket
// (as before), and ClearOpenFingerprint deletes the key wherever it is, so
// a cleared key is never found again and a later set is the only one.
// Readers look in the log first: the transaction's own changes, then
// pending (the committer) or, for read-only transactions, which must not
// touch the committer's state, the log read once per transaction. Only the
// committer goroutine touches a fingerprintLog, and a transaction's changes
// reach it only after its commit succeeded (adopt), so a rolled-back
// attempt leaves no trace. The log is written in the same transactions as
// everything else: Open rebuilds pending from it.
type fingerprintLog struct {
	pending fingerprintIndex
	growingSpill
	// edgeKeys is fingerprintEdgeKeys (tests set it to 0).
	edgeKeys int
}

// loggedFingerprint is where a key is in fingerprints_recent, and the
// incident it is grouped into. A zero seq in a transaction's changes means
// the transaction removed it from the log.
type loggedFingerprint struct {
	seq, number uint64
}

// loadFingerprintLog reads the keys waiting in fingerprints_recent into
// an index that names them by hash (nil: maphash.String).
func loadFingerprintLog(bdb *bolt.DB, hash func(maphash.Seed, string) uint64) (*fingerprintLog, error) {
	l := &fingerprintLog{pending: newFingerprintIndex(hash),
		growingSpill: growingSpill{minSpill: minFingerprintSpill, maxSpill: maxFingerprintSpill}, edgeKeys: fingerprintEdgeKeys}
	l.setSpill()
	err := bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketFingerprintsRecent))
		if b == nil {
			return fmt.Errorf("bucket %q is missing: %w", bucketFingerprintsRecent, errDamaged)
		}
		return forLoggedFingerprints(b.Cursor(), func(fp []byte, r loggedFingerprint) error {
			// Each key is in the log once, so a hash already taken is
			// another key's.
			l.pending.add(string(fp), r)
			return nil
		})
	})
	return l, err
}

// fingerprintIndex is the committer's index of fingerprints_recent: which
// keys wait there, where, and for which incident. It holds a key by a
// 64-bit hash of it, not by name: a storm's 65,536 waiting keys (half of
// them group keys of 70 bytes) held 10 MB of strings the collector
// scanned at every cycle, three times that in resident memory between
// collections; by hash they take 3.4 MB without a pointer. A hash only
// probably names its key, so a lookup checks a hit against the log record
// it points at (owns). Keys whose hash another waiting key already held
// when they came are kept by name, in overflow.
type fingerprintIndex struct {
	seed     maphash.Seed
	hash     func(maphash.Seed, string) uint64
	byHash   map[uint64]loggedFingerprint
	overflow map[string]loggedFingerprint
}

// indexPlace is where a key is in a fingerprintIndex.
type indexPlace uint8

const (
	notIndexed indexPlace = iota
	inByHash
	inOverflow
)

func newFingerprintIndex(hash func(maphash.Seed, string) uint64) fingerprintIndex {
	if hash == nil {
		hash = maphash.String
	}
	return fingerprintIndex{seed: maphash.MakeSeed(), hash: hash, byHash: make(map[uint64]loggedFingerprint)}
}

// lookup finds fp; owns reports whether the key of a record is fp.
func (x *fingerprintIndex) lookup(fp string, owns func(loggedFingerprint) bool) (loggedFingerprint, indexPlace) {
	if len(x.overflow) > 0 {
		if r, ok := x.overflow[fp]; ok {
			return r, inOverflow
		}
	}
	if r, ok := x.byHash[x.hash(x.seed, fp)]; ok && owns(r) {
		return r, inByHash
	}
	return loggedFingerprint{}, notIndexed
}

// add indexes fp, which is not indexed.
func (x *fingerprintIndex) add(fp string, r loggedFingerprint) {
	h := x.hash(x.seed, fp)
	if _, taken := x.byHash[h]; !taken {
		x.byHash[h] = r
		return
	}
	if x.overflow == nil {
		x.overflow = make(map[string]loggedFingerprint)
	}
	x.overflow[fp] = r
}

// remove unindexes fp from where it is.
func (x *fingerprintIndex) remove(fp string, at indexPlace) {
	switch at {
	case inByHash:
		delete(x.byHash, x.hash(x.seed, fp))
	case inOverflow:
		delete(x.overflow, fp)
	}
}

// clear empties the index (after a fold).
func (x *fingerprintIndex) clear() {
	clear(x.byHash)
	x.overflow = nil
}

// len is how many keys the index holds.
func (x *fingerprintIndex) len() int { return len(x.byHash) + len(x.overflow) }

// forLoggedFingerprints calls fn with every record of the log, in log order.
func forLoggedFingerprints(c *bolt.Cursor, fn func(fp []byte, r loggedFingerprint) error) error {
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := readU64(k)
		if !ok || seq == 0 || len(v) <= numberLen {
			return fmt.Errorf("recent fingerprint record %x: %w", k, errDamaged)
		}
		n, _ := readU64(v[:numberLen])
		if err := fn(v[numberLen:], loggedFingerprint{seq: seq, number: n}); err != nil {
			return err
		}
	}
	return nil
}

// txnFingerprints is one transaction's part of the fingerprint log.
type txnFingerprints struct {
	log *fingerprintLog // nil for read-only transactions
	// changed holds the keys this transaction appended to, rewrote in or
	// removed from the log (seq 0), not yet in log.pending.
	changed map[string]fingerprintChange
	// view is the log as a read-only transaction read it, on first need.
	view   map[string]loggedFingerprint
	folded bool   // the log was moved into the bucket: log.pending no longer applies
	moved  uint64 // how many keys that fold moved
	// edge is the last key of open_by_fingerprint when onTheRight first
	// looked (nil: none), edgeKnown whether it has looked.
	edge      []byte
	edgeKnown bool
	// absent holds the keys OpenByFingerprint found in neither the log
	// nor the bucket since they were last written: intake looks a new
	// alert's fingerprint up before it groups it, and the write need not
	// search the bucket again.
	absent map[string]struct{}
}

// noteAbsent records that fp is in neither the log nor the bucket.
func (s *txnFingerprints) noteAbsent(fp string) {
	if s.log == nil {
		return // read-only: nothing will be written
	}
	if s.absent == nil {
		s.absent = make(map[string]struct{})
	}
	s.absent[fp] = struct{}{}
}

// takeAbsent reports whether fp was noted absent, and forgets it: the
// caller is about to write it.
func (s *txnFingerprints) takeAbsent(fp string) bool {
	if _, ok := s.absent[fp]; !ok {
		return false
	}
	delete(s.absent, fp)
	return true
}

// fingerprintChange is a key's place in the log after this transaction
// (r; seq 0: not in the log) and where the committer's index held it
// before (was).
type fingerprintChange struct {
	r   loggedFingerprint
	was indexPlace
}

// adopt applies a committed transaction's changes to the log: every
// changed key leaves the place it had, then those still in the log are
// indexed anew, so a key is never indexed twice and a hash a removed key
// freed can be taken again.
func (s *txnFingerprints) adopt() {
	if s.log == nil {
		return
	}
	if s.folded {
		s.log.pending.clear()
		s.log.foldedMore(s.moved)
	}
	for fp, c := range s.changed {
		s.log.pending.remove(fp, c.was)
	}
	for fp, c := range s.changed {
		if c.r.seq != 0 {
			s.log.pending.add(fp, c.r)
		}
	}
}

// note records a change of fp's place in the log; was is where the
// committer's index held fp before this transaction, as loggedFingerprint
// found it.
func (s *txnFingerprints) note(fp string, r loggedFingerprint, was indexPlace) {
	if s.changed == nil {
		s.changed = make(map[string]fingerprintChange)
	}
	if c, ok := s.changed[fp]; ok {
		was = c.was // the place before this transaction's first change
	}
	s.changed[fp] = fingerprintChange{r: r, was: was}
}

// loggedFingerprint reports where in fingerprints_recent fp is, and where
// the committer's index holds it (for note).
func (t *txn) loggedFingerprint(fp string) (loggedFingerprint, bool, indexPlace, error) {
	s := &t.fpTx
	if c, ok := s.changed[fp]; ok {
		return c.r, c.r.seq != 0, c.was, nil
	}
	if s.log == nil {
		if s.view == nil {
			view := make(map[string]loggedFingerprint)
			err := forLoggedFingerprints(t.b.fingerprintsRecent.Cursor(), func(fp []byte, r loggedFingerprint) error {
				view[string(fp)] = r
				return nil
			})
			if err != nil {
				return loggedFingerprint{}, false, notIndexed, err
			}
			s.view = view
		}
		r, ok := s.view[fp]
		return r, ok, notIndexed, nil
	}
	if s.folded {
		return loggedFingerprint{}, false, notIndexed, nil
	}
	r, at := s.log.pending.lookup(fp, func(r loggedFingerprint) bool {
		var k [numberLen]byte
		v := t.get(t.b.fingerprintsRecent, putU64(k[:0], r.seq))
		return len(v) > numberLen && string(v[numberLen:]) == fp
	})
	return r, at != notIndexed, at, nil
}

// fingerprintRecord is the log record grouping fp into number.
func fingerprintRecord(fp string, number uint64) []byte {
	return append(putU64(make([]byte, 0, numberLen+len(fp)), number), fp...)
}

// setFingerprint groups fp into number: in the log if the log holds fp,
// in the bucket if the bucket does or fp goes on its right, else appended
// to the log.
func (t *txn) setFingerprint(fp string, number uint64) error {
	// A key OpenByFingerprint just found nowhere is in neither the log
	// nor the bucket, and the committer's index does not hold it: intake
	// looks up every key it groups, and looking again cost a hash and two
	// map look-ups for each key of a new incident.
	absent := t.fpTx.takeAbsent(fp)
	var (
		r      loggedFingerprint
		logged bool
		was    indexPlace
		err    error
	)
	if !absent {
		if r, logged, was, err = t.loggedFingerprint(fp); err != nil {
			return err
		}
	}
	if logged {
		if r.number == number {
			return nil
		}
		r.number = number
		if err := t.b.fingerprintsRecent.Put(t.scratchU64(r.seq), fingerprintRecord(fp, number)); err != nil {
			return err
		}
		t.fpTx.note(fp, r, was)
		return nil
	}
	k := t.scratchStr(fp)
	if t.fingerprintOnTheRight(k) || (!absent && t.get(t.b.fingerprints, k) != nil) {
		return t.b.fingerprints.Put(k, u64Key(number))
	}
	seq, err := t.b.fingerprintsRecent.NextSequence()
	if err != nil {
		return err
	}
	if err := t.b.fingerprintsRecent.Put(t.scratchU64(seq), fingerprintRecord(fp, number)); err != nil {
		return err
	}
	t.fpTx.note(fp, loggedFingerprint{seq: seq, number: number}, was)
	return nil
}

// clearFingerprint removes fp from the log or the bucket, wherever it is.
func (t *txn) clearFingerprint(fp string) error {
	r, logged, was, err := t.loggedFingerprint(fp)
	if err != nil {
		return err
	}
	if logged {
		t.wrote()
		if err := t.b.fingerprintsRecent.Delete(t.scratchU64(r.seq)); err != nil {
			return err
		}
		t.fpTx.note(fp, loggedFingerprint{}, was)
		return nil
	}
	if t.get(t.b.fingerprints, []byte(fp)) == nil {
		return nil
	}
	t.wrote()
	return t.b.fingerprints.Delete([]byte(fp))
}

// fingerprintOnTheRight reports whether k sorts after every key of
// open_by_fingerprint but its last edgeKeys when this transaction first
// asked: such a key lands on the index's right-most leaf, which this
// transaction writes anyway, so it is written there directly rather than
// twice. Not just after the last key, as alerts do (see onTheRight): group
// keys ("group:…") sort after hexadecimal fingerprints, so with one open
// group a storm whose fingerprints count up would otherwise log every
// alert, where it used to write one leaf per commit; a few open groups'
// keys are not a page. Comparing with the keys as they were when the
// transaction first asked keeps a group commit's requests, which arrive in
// no key order, from sending half of them to the log.
func (t *txn) fingerprintOnTheRight(k []byte) bool {
	s := &t.fpTx
	if !s.edgeKnown {
		n := fingerprintEdgeKeys
		if s.log != nil {
			n = s.log.edgeKeys
		}
		c := t.b.fingerprints.Cursor()
		last, _ := c.Last()
		for range n {
			if last == nil {
				break
			}
			last, _ = c.Prev()
		}
		s.edge, s.edgeKnown = bytes.Clone(last), true
	}
	return s.edge == nil || bytes.Compare(k, s.edge) > 0
}

// foldFingerprints moves fingerprints_recent into open_by_fingerprint once
// spill keys have been appended to it, in key order. It runs once per
// transaction, after every fn of a group commit. The bucket's sequence
// counts the keys appended, since rewrites and clears do not append and the
// log is emptied by dropping it.
func (t *txn) foldFingerprints() error {
	l := t.fpTx.log
	if l == nil || t.b.fingerprintsRecent.Sequence() < l.spill {
		return nil
	}
	t.wrote()
	var recs []record
	// bbolt keeps the values put until the commit: one buffer for all
	// (a value taken from it stays valid when it grows).
	var vals []byte
	err := forLoggedFingerprints(t.b.fingerprintsRecent.Cursor(), func(fp []byte, r loggedFingerprint) error {
		vals = putU64(vals, r.number)
		recs = append(recs, record{k: fp, v: vals[len(vals)-numberLen:]})
		return nil
	})
	if err == nil {
		err = putInKeyOrder(t.b.fingerprints, recs)
	}
	if err != nil {
		return fmt.Errorf("folding recent fingerprints: %w", err)
	}
	if t.b.fingerprintsRecent, err = t.emptyLog(bucketFingerprintsRecent); err != nil {
		return fmt.Errorf("emptying the recent fingerprint log: %w", err)
	}
	t.fpTx.folded = true
	t.fpTx.absent = nil // still true, but say nothing after a fold
	t.fpTx.moved = uint64(len(recs))
	t.fpTx.changed = nil
	return nil
}

// loggedFingerprints is every key waiting in the log as this transaction
// sees it, in key order: the bucket, which holds this transaction's own
// changes too.
func (t *txn) loggedFingerprints() ([]string, map[string]uint64, error) {
	out := make(map[string]uint64)
	err := forLoggedFingerprints(t.b.fingerprintsRecent.Cursor(), func(fp []byte, r loggedFingerprint) error {
		out[string(fp)] = r.number
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	keys := make([]string, 0, len(out))
	for fp := range out {
		keys = append(keys, fp)
	}
	slices.Sort(keys)
	return keys, out, nil
}
