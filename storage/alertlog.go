package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
)

// How many new alerts may wait in alerts_recent before one commit moves
// them all into alerts and alert_state: as many as this process has already
// moved there, within these bounds.
//
// A fold rewrites most leaves of alerts and alert_state (hashed
// fingerprints land all over them), so its cost grows with what the
// buckets hold. With a fixed spill, a storm folded every 8,192 alerts and
// each fold rewrote everything before it again: O(n²) over a storm, the
// last tenth of a 50,000-alert storm with Alertmanager's fingerprints
// 0.67–0.88× as fast as the first, and 132–145 MiB resident. Letting the
// log grow to what has been folded (as a log-structured merge tree sizes
// its levels) keeps the work per alert constant: each fold moves at least
// as many alerts as it rewrites. The upper bound keeps what Open reads
// back and what a read of the log decodes small.
const (
	minAlertSpill = 8192
	maxAlertSpill = 65536
)

// alertLog keeps new distinct alerts cheap to record.
//
// Alert records are keyed by (incident, fingerprint), and Alertmanager's
// fingerprints are hashes: in a storm of distinct alerts in one group every
// new alert landed on a random leaf of alerts and of alert_state, so a
// commit of ~800 new alerts rewrote most leaves of two trees that grow
// with the incident (measured end to end: 0.32–0.38× Alertmanager's rate,
// and as much memory, against 0.6–1.1× when the fingerprints happen to
// count up). Instead PutAlert appends a new alert that would land between
// existing keys, content and counters, to alerts_recent under an increasing sequence number (the right-most
// leaf takes a whole commit's), and remembers where in pending. When the
// log holds spill alerts one commit moves them all into alerts and
// alert_state, writing each leaf once for many alerts.
//
//	alerts_recent  0 number(8) log seq(8) → number(8) len(fp)(uvarint) fp content   (as in alerts)
//	               1 log seq(8)           → state                                   (as in alert_state)
//
// A repeat of an alert still in the log rewrites its state record in
// place, and its content record only when that changed, as PutAlert does
// with the buckets: a payload repeating 800 alerts with 1 KB descriptions
// must not rewrite 800 KB of log. The states come after all the contents
// (the tag leads the key), so they share few pages, as in alert_state. The
// contents are grouped by incident (each incident's new alerts still go on
// the right of its range), so reading one incident's logged alerts is one
// range, not the whole log.
// alerts_recent is part of the same transactions, so nothing about
// durability changes: Open rebuilds pending from it. Readers merge it: Alert
// looks an alert up in pending (read-only transactions, which must not
// touch the committer's pending, search the log), Alerts merges the
// incident's logged alerts into its key range in fingerprint order. Only
// the committer goroutine touches an alertLog, and a transaction's changes
// reach it only after its commit succeeded (adopt).
type alertLog struct {
	pending map[string]uint64 // alertKey → log seq
	growingSpill
}

// growingSpill decides when a recent log (alerts_recent,
// fingerprints_recent) is next folded into its bucket: once it has had as
// many records appended as this process has already folded, within
// [minSpill, maxSpill] (see minAlertSpill for why it grows).
type growingSpill struct {
	spill              uint64 // fold when the log has had this many records appended
	folded             uint64 // records this process has moved into the bucket
	minSpill, maxSpill uint64
}

// setSpill sets the next fold's threshold from what has been folded.
func (g *growingSpill) setSpill() {
	g.spill = min(max(g.folded, g.minSpill), g.maxSpill)
}

// foldedMore counts the records a committed fold moved.
func (g *growingSpill) foldedMore(n uint64) {
	g.folded += n
	g.setSpill()
}

// loadAlertLog reads where the alerts waiting in alerts_recent are.
func loadAlertLog(bdb *bolt.DB) (*alertLog, error) {
	l := &alertLog{pending: make(map[string]uint64), growingSpill: growingSpill{minSpill: minAlertSpill, maxSpill: maxAlertSpill}}
	l.setSpill()
	err := bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketAlertsRecent))
		if b == nil {
			return fmt.Errorf("bucket %q is missing: %w", bucketAlertsRecent, errDamaged)
		}
		return forLoggedContent(b.Cursor(), nil, func(_, seq uint64, v []byte) error {
			n, fp, _, err := decodeLoggedContent(v)
			if err != nil {
				return fmt.Errorf("recent alert record %d: %w", seq, errDamaged)
			}
			l.pending[string(alertKey(n, fp))] = seq
			return nil
		})
	})
	return l, err
}

// txnAlerts is one write transaction's part of the alert log.
type txnAlerts struct {
	log    *alertLog         // nil for read-only transactions
	added  map[string]uint64 // alerts this transaction appended to the log
	folded bool              // the log was moved into the buckets: log.pending no longer applies
	moved  uint64            // how many alerts that fold moved
	// edge is the last key of alerts when onTheRight first looked (nil:
	// none), edgeKnown whether it has looked.
	edge      []byte
	edgeKnown bool
	// absent holds the keys Alert found in neither the log nor alerts
	// since they were last written: intake asks for an alert before it
	// puts a new one, and the put need not search alerts again.
	absent map[string]struct{}
}

// noteAbsent records that k is in neither the log nor alerts.
func (s *txnAlerts) noteAbsent(k []byte) {
	if s.log == nil {
		return // read-only: nothing will be put
	}
	if s.absent == nil {
		s.absent = make(map[string]struct{})
	}
	s.absent[string(k)] = struct{}{}
}

// takeAbsent reports whether k was noted absent, and forgets it: the
// caller is about to write it.
func (s *txnAlerts) takeAbsent(k []byte) bool {
	if _, ok := s.absent[string(k)]; !ok {
		return false
	}
	delete(s.absent, string(k))
	return true
}

// adopt applies a committed transaction's changes to the log.
func (s *txnAlerts) adopt() {
	if s.log == nil {
		return
	}
	if s.folded {
		clear(s.log.pending)
		s.log.foldedMore(s.moved)
	}
	for k, seq := range s.added {
		s.log.pending[k] = seq
	}
}

// contentKey and stateKey append the alerts_recent keys of the records of
// incident number's alert logged at seq to b.
func contentKey(b []byte, number, seq uint64) []byte {
	return putU64(putU64(append(b, 0), number), seq)
}

func stateKey(b []byte, _, seq uint64) []byte {
	return putU64(append(b, 1), seq)
}

// scratchKey is key(number, seq) in the transaction's scratch buffer, for
// Put (see scratchU64).
func (t *txn) scratchKey(key func(b []byte, number, seq uint64) []byte, number, seq uint64) []byte {
	t.scratch = key(t.scratch[:0], number, seq)
	return t.scratch
}

// forLoggedContent calls fn with every content record of the log (those of
// incident *number only, when number is not nil), and its number and seq.
func forLoggedContent(c *bolt.Cursor, number *uint64, fn func(number, seq uint64, v []byte) error) error {
	prefix := []byte{0}
	if number != nil {
		prefix = putU64(prefix, *number)
	}
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != 1+2*numberLen {
			return fmt.Errorf("recent alert key %x: %w", k, errDamaged)
		}
		n, _ := readU64(k[1 : 1+numberLen])
		seq, _ := readU64(k[1+numberLen:])
		if err := fn(n, seq, v); err != nil {
			return err
		}
	}
	return nil
}

// encodeLoggedContent is the alerts_recent content record of incident
// number's alert a: a header naming the alert, then its content as in
// alerts, encoded into one buffer.
// content, when not nil, is a's content already encoded (DB.EncodeAlert).
func encodeLoggedContent(number uint64, a *incidents.AlertState, content []byte) []byte {
	var buf [numberLen + binary.MaxVarintLen32 + 64]byte
	head := putU64(buf[:0], number)
	head = binary.AppendUvarint(head, uint64(len(a.Fingerprint)))
	head = append(head, a.Fingerprint...)
	if content != nil {
		// Strings refer to earlier ones by their index in the content,
		// not by where they are, so the content reads the same after
		// any header.
		return append(append(make([]byte, 0, len(head)+len(content)), head...), content...)
	}
	return appendAlertContent(head, a)
}

func decodeLoggedContent(v []byte) (number uint64, fp string, content []byte, err error) {
	if len(v) < numberLen {
		return 0, "", nil, errShortEntry
	}
	number, _ = readU64(v[:numberLen])
	r := entryReader{b: v[numberLen:]}
	fp = r.str()
	if r.err != nil {
		return 0, "", nil, r.err
	}
	return number, fp, r.b, nil
}

// loggedAlert reports where in alerts_recent the alert with key k is.
func (t *txn) loggedAlert(k []byte) (uint64, bool) {
	if seq, ok := t.alertTx.added[string(k)]; ok {
		return seq, true
	}
	if t.alertTx.log == nil {
		return t.searchAlertLog(k)
	}
	if t.alertTx.folded {
		return 0, false
	}
	seq, ok := t.alertTx.log.pending[string(k)]
	return seq, ok
}

// searchAlertLog finds k in alerts_recent by reading it, for transactions
// without the committer's index: at most spill records plus a
// transaction's worth.
func (t *txn) searchAlertLog(k []byte) (uint64, bool) {
	number, _ := readU64(k[:numberLen])
	fp := string(k[numberLen:])
	var found uint64
	errFound := errors.New("found")
	err := forLoggedContent(t.b.alertsRecent.Cursor(), &number, func(_, seq uint64, v []byte) error {
		_, f, _, err := decodeLoggedContent(v)
		if err == nil && f == fp {
			found = seq
			return errFound
		}
		return nil
	})
	return found, errors.Is(err, errFound)
}

// readLoggedAlert decodes the logged alert at seq.
func (t *txn) readLoggedAlert(number uint64, fp string, seq uint64) (incidents.AlertState, error) {
	var ck, sk [1 + 2*numberLen]byte
	v, state := t.get(t.b.alertsRecent, contentKey(ck[:0], number, seq)), t.get(t.b.alertsRecent, stateKey(sk[:0], 0, seq))
	if v == nil || state == nil {
		return incidents.AlertState{}, fmt.Errorf("incident #%d: alert %s: recent alert record %d is missing: %w", number, fp, seq, errDamaged)
	}
	_, _, content, err := decodeLoggedContent(v)
	if err != nil {
		return incidents.AlertState{}, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, err, errDamaged)
	}
	return decodeAlert(number, fp, content, state)
}

// loggedRef names an alert waiting in alerts_recent.
type loggedRef struct {
	Fingerprint string
	seq         uint64
}

// loggedAlertsOf lists incident number's alerts still in alerts_recent, in
// fingerprint order (the order of their keys in alerts). It names them
// only: a storm's incident can have tens of thousands in the log, and
// Alerts decodes each when it comes to it, so a read holds one at a time.
func (t *txn) loggedAlertsOf(number uint64) ([]loggedRef, error) {
	var out []loggedRef
	err := forLoggedContent(t.b.alertsRecent.Cursor(), &number, func(_, seq uint64, v []byte) error {
		_, fp, _, err := decodeLoggedContent(v)
		if err != nil {
			return fmt.Errorf("recent alert record %d: %w (%w)", seq, err, errDamaged)
		}
		out = append(out, loggedRef{Fingerprint: fp, seq: seq})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b loggedRef) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return out, nil
}

// appendAlert logs a new alert of incident number, a, whose key in alerts
// is k.
func (t *txn) appendAlert(k []byte, number uint64, a *incidents.AlertState, content []byte) error {
	seq, err := t.b.alertsRecent.NextSequence()
	if err != nil {
		return err
	}
	if err := t.b.alertsRecent.Put(t.scratchKey(contentKey, number, seq), encodeLoggedContent(number, a, content)); err != nil {
		return err
	}
	if err := t.b.alertsRecent.Put(t.scratchKey(stateKey, 0, seq), encodeAlertState(a)); err != nil {
		return err
	}
	if t.alertTx.added == nil {
		t.alertTx.added = make(map[string]uint64)
	}
	t.alertTx.added[string(k)] = seq
	return nil
}

// foldAlerts moves alerts_recent into alerts and alert_state once it holds
// spill alerts. It runs once per transaction, after every fn of a group
// commit. The bucket's sequence counts the alerts appended, since repeats
// rewrite records in place and the log is emptied by dropping it.
func (t *txn) foldAlerts() error {
	l := t.alertTx.log
	if l == nil || t.b.alertsRecent.Sequence() < l.spill {
		return nil
	}
	t.wrote()
	// The log is in arrival order, which for hashed fingerprints is a
	// random walk over alerts and alert_state. Putting the records in key
	// order instead visits each leaf once, while it is still in the CPU's
	// cache, and appends within it.
	type rec struct {
		key, content, state []byte
	}
	var recs []rec
	err := forLoggedContent(t.b.alertsRecent.Cursor(), nil, func(_, seq uint64, v []byte) error {
		n, fp, c, err := decodeLoggedContent(v)
		if err != nil {
			return fmt.Errorf("recent alert record %d: %w (%w)", seq, err, errDamaged)
		}
		var sk [1 + numberLen]byte
		state := t.get(t.b.alertsRecent, stateKey(sk[:0], 0, seq))
		if state == nil {
			return fmt.Errorf("recent alert record %d has no counters: %w", seq, errDamaged)
		}
		recs = append(recs, rec{key: alertKey(n, fp), content: c, state: state})
		return nil
	})
	if err != nil {
		return fmt.Errorf("folding recent alerts: %w", err)
	}
	slices.SortFunc(recs, func(a, b rec) int { return bytes.Compare(a.key, b.key) })
	for _, r := range recs {
		if err := t.b.alerts.Put(r.key, r.content); err != nil {
			return fmt.Errorf("folding recent alerts: %w", err)
		}
	}
	for _, r := range recs {
		if err := t.b.alertState.Put(r.key, r.state); err != nil {
			return fmt.Errorf("folding recent alerts: %w", err)
		}
	}
	moved := uint64(len(recs))
	if t.b.alertsRecent, err = t.emptyLog(bucketAlertsRecent); err != nil {
		return fmt.Errorf("emptying the recent alert log: %w", err)
	}
	t.alertTx.folded = true
	t.alertTx.absent = nil // still true, but say nothing after a fold
	t.alertTx.moved = moved
	t.alertTx.added = nil
	return nil
}

// putLoggedAlert rewrites the state record of incident number's alert a,
// logged at seq, and its content record only when the content changed
// (content: as for encodeLoggedContent).
func (t *txn) putLoggedAlert(seq, number uint64, a *incidents.AlertState, content []byte) error {
	var buf [1 + 2*numberLen]byte
	ck := contentKey(buf[:0], number, seq)
	// The record is the header (the same for the same alert) and the
	// content: equal records, equal content.
	if rec := encodeLoggedContent(number, a, content); !bytes.Equal(t.get(t.b.alertsRecent, ck), rec) {
		if err := t.b.alertsRecent.Put(ck, rec); err != nil {
			return err
		}
	}
	return t.b.alertsRecent.Put(t.scratchKey(stateKey, 0, seq), encodeAlertState(a))
}

// onTheRight reports whether k sorts after every key alerts held when this
// transaction first asked: such an alert (an incident's first, or
// fingerprints that count up) goes to the right-most leaves of alerts and
// alert_state, which this transaction writes anyway, as cheap as the log,
// so it is written there directly rather than twice. Comparing with the
// keys as they were, not as this transaction left them, matters: a group
// commit's requests (and a request's alerts) do not arrive in key order,
// and each new alert that sorted before one written a moment earlier used
// to go to the log and be written again by the next fold (in process, a
// fifth of the CPU of a counting-up storm at 100 per request).
func (t *txn) onTheRight(k []byte) bool {
	s := &t.alertTx
	if !s.edgeKnown {
		last, _ := t.b.alerts.Cursor().Last()
		s.edge, s.edgeKnown = bytes.Clone(last), true
	}
	return s.edge == nil || bytes.Compare(k, s.edge) > 0
}
