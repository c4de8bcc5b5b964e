package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
)

// How many new alerts' counters may wait in alert_states_recent before
// one commit moves them all into alert_state: as many as this process has
// already moved there, within these bounds.
//
// A fold rewrites most leaves of alert_state (hashed fingerprints land all
// over it), so its cost grows with what the bucket holds. With a fixed
// spill, a storm folded every 8,192 alerts and each fold rewrote
// everything before it again: O(n²) over a storm (measured when folds
// still moved contents too: the last tenth of a 50,000-alert storm with
// Alertmanager's fingerprints 0.67–0.88× as fast as the first, and
// 132–145 MiB resident). Letting the log grow to what has been folded (as
// a log-structured merge tree sizes its levels) keeps the work per alert
// constant: each fold moves at least as many alerts as it rewrites. The
// upper bound keeps what Open reads back and what a read of the log
// decodes small.
const (
	minAlertSpill = 8192
	maxAlertSpill = 65536
)

// alertLog keeps new distinct alerts cheap to record.
//
// Alert records are keyed by (incident, fingerprint), and Alertmanager's
// fingerprints are hashes: in a storm of distinct alerts in one group every
// new alert would land on a random leaf of alerts and of alert_state, so a
// commit of ~800 new alerts rewrote most leaves of two trees that grow
// with the incident (measured end to end: 0.32–0.38× Alertmanager's rate,
// and as much memory, against 0.6–1.1× when the fingerprints happen to
// count up). Instead PutAlert writes a new alert that would land between
// existing keys in arrival order:
//
//	alerts_recent        0 number(8) log seq(8) → number(8) len(fp)(uvarint) fp content   (content as in alerts)
//	alert_states_recent  log seq(8)             → number(8) len(fp)(uvarint) fp state     (state as in alert_state)
//
// Its content stays where it was written, for good: the incident's range of
// alerts_recent grows on its right, a leaf per commit. Its counters wait in
// alert_states_recent, and pending remembers where. When spill alerts
// wait, one commit moves their counters into alert_state, in key order,
// each saying where its content is (state version 2 carries the log seq),
// and drops alert_states_recent. Until schema 7 the fold moved the content
// too, and rewriting most of the leaves of alerts, the biggest tree, at
// every fold was a third of the committer's work in a 50,000-alert storm
// and the peak of its memory; counters are a tenth of its bytes.
//
// A repeat rewrites the counters where they are (in the log or in
// alert_state) and the content record only when it changed, as PutAlert
// does with direct alerts: a payload repeating 800 alerts with 1 KB
// descriptions must not rewrite 800 KB of log. The content records are
// grouped by incident (each incident's new alerts still go on the right
// of its range), so reading one incident's logged alerts is one range,
// not the whole log.
//
// Both buckets are part of the same transactions, so nothing about
// durability changes: Open rebuilds pending from alert_states_recent.
// Readers merge it: Alert looks an alert up in pending (read-only
// transactions, which must not touch the committer's pending, read the
// log's counters once), Alerts merges the incident's waiting alerts into
// its key range of alert_state in fingerprint order. Only the committer
// goroutine touches an alertLog, and a transaction's changes reach it
// only after its commit succeeded (adopt).
type alertLog struct {
	pending map[string]uint64 // alertKey → log seq, for alerts whose counters wait in alert_states_recent
	growingSpill
}

// growingSpill decides when a recent log (alert_states_recent,
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

// loadAlertLog reads which alerts' counters wait in alert_states_recent.
func loadAlertLog(bdb *bolt.DB) (*alertLog, error) {
	l := &alertLog{pending: make(map[string]uint64), growingSpill: growingSpill{minSpill: minAlertSpill, maxSpill: maxAlertSpill}}
	l.setSpill()
	err := bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketAlertStatesRecent))
		if b == nil {
			return fmt.Errorf("bucket %q is missing: %w", bucketAlertStatesRecent, errDamaged)
		}
		return forLoggedStates(b.Cursor(), func(seq, n uint64, fp string, _ []byte) error {
			l.pending[string(alertKey(n, fp))] = seq
			return nil
		})
	})
	return l, err
}

// txnAlerts is one transaction's part of the alert log.
type txnAlerts struct {
	log    *alertLog         // nil for read-only transactions
	added  map[string]uint64 // alerts this transaction appended to the log
	folded bool              // the log's counters were moved into alert_state: log.pending no longer applies
	moved  uint64            // how many alerts that fold moved
	// view is, for read-only transactions, the alerts whose counters wait
	// in the log (alertKey → seq), read on first need.
	view map[string]uint64
	// edge is the last key of alert_state when onTheRight first looked
	// (nil: none), edgeKnown whether it has looked.
	edge      []byte
	edgeKnown bool
	// where holds what Alert found about keys it did not find logged,
	// until PutAlert writes them: intake asks for an alert before it puts
	// it, and the put need not search alert_state again to learn whether
	// the alert is new and where its content is.
	where map[string]alertPlace
}

// alertPlace is where a stored alert's content is.
type alertPlace struct {
	absent bool   // no such alert
	ref    uint64 // its seq in alerts_recent; 0: in alerts
}

// noteWhere records what Alert found about k.
func (s *txnAlerts) noteWhere(k []byte, p alertPlace) {
	if s.log == nil {
		return // read-only: nothing will be put
	}
	if s.where == nil {
		s.where = make(map[string]alertPlace)
	}
	s.where[string(k)] = p
}

// takeWhere returns what Alert found about k, and forgets it: the caller
// is about to write it.
func (s *txnAlerts) takeWhere(k []byte) (alertPlace, bool) {
	p, ok := s.where[string(k)]
	if ok {
		delete(s.where, string(k))
	}
	return p, ok
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

// contentKey appends the alerts_recent key of the content of incident
// number's alert logged at seq to b.
func contentKey(b []byte, number, seq uint64) []byte {
	return putU64(putU64(append(b, 0), number), seq)
}

// scratchKey is key(number, seq) in the transaction's scratch buffer, for
// Put (see scratchU64).
func (t *txn) scratchKey(key func(b []byte, number, seq uint64) []byte, number, seq uint64) []byte {
	t.scratch = key(t.scratch[:0], number, seq)
	return t.scratch
}

// encodeLoggedContent is the alerts_recent content record of incident
// number's alert a: a header naming the alert, then its content as in
// alerts, encoded into one buffer. content, when not nil, is a's content
// already encoded (DB.EncodeAlert).
func encodeLoggedContent(number uint64, a *incidents.AlertState, content []byte) []byte {
	var buf [numberLen + binary.MaxVarintLen32 + 64]byte
	head := loggedHeader(buf[:0], number, a.Fingerprint)
	if content != nil {
		// Strings refer to earlier ones by their index in the content,
		// not by where they are, so the content reads the same after
		// any header.
		return append(append(make([]byte, 0, len(head)+len(content)), head...), content...)
	}
	return appendAlertContent(head, a)
}

// loggedHeader appends the header of both logs' records to b: the alert's
// incident and fingerprint.
func loggedHeader(b []byte, number uint64, fp string) []byte {
	b = putU64(b, number)
	b = binary.AppendUvarint(b, uint64(len(fp)))
	return append(b, fp...)
}

// decodeLogged splits a record of either log into its header and the
// rest (content or state).
func decodeLogged(v []byte) (number uint64, fp string, rest []byte, err error) {
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

// encodeLoggedState is the alert_states_recent record of incident
// number's alert a.
func encodeLoggedState(number uint64, a *incidents.AlertState) []byte {
	b := loggedHeader(make([]byte, 0, numberLen+1+len(a.Fingerprint)+48), number, a.Fingerprint)
	return appendAlertState(b, a)
}

// forLoggedStates calls fn with every record of alert_states_recent: the
// log seq of the alert's content, its incident and fingerprint, and its
// state.
func forLoggedStates(c *bolt.Cursor, fn func(seq, number uint64, fp string, state []byte) error) error {
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := readU64(k)
		if !ok {
			return fmt.Errorf("recent alert state key %x: %w", k, errDamaged)
		}
		n, fp, state, err := decodeLogged(v)
		if err != nil {
			return fmt.Errorf("recent alert state %d: %w (%w)", seq, err, errDamaged)
		}
		if err := fn(seq, n, fp, state); err != nil {
			return err
		}
	}
	return nil
}

// loggedAlert reports, for an alert whose counters wait in
// alert_states_recent, the log seq of its records.
func (t *txn) loggedAlert(k []byte) (uint64, bool) {
	s := &t.alertTx
	if seq, ok := s.added[string(k)]; ok {
		return seq, true
	}
	if s.log == nil {
		if err := t.readLogView(); err != nil {
			return 0, false
		}
		seq, ok := s.view[string(k)]
		return seq, ok
	}
	if s.folded {
		return 0, false
	}
	seq, ok := s.log.pending[string(k)]
	return seq, ok
}

// readLogView reads, for a read-only transaction, which alerts' counters
// wait in the log: at most spill records plus a transaction's worth, once.
func (t *txn) readLogView() error {
	s := &t.alertTx
	if s.view != nil {
		return nil
	}
	view := make(map[string]uint64)
	err := forLoggedStates(t.b.alertStatesRecent.Cursor(), func(seq, n uint64, fp string, _ []byte) error {
		view[string(alertKey(n, fp))] = seq
		return nil
	})
	if err != nil {
		return err
	}
	s.view = view
	return nil
}

// loggedContent is the content of incident number's alert fp logged at seq.
func (t *txn) loggedContent(number uint64, fp string, seq uint64) ([]byte, error) {
	var ck [1 + 2*numberLen]byte
	v := t.get(t.b.alertsRecent, contentKey(ck[:0], number, seq))
	if v == nil {
		return nil, fmt.Errorf("incident #%d: alert %s: recent alert record %d is missing: %w", number, fp, seq, errDamaged)
	}
	_, _, content, err := decodeLogged(v)
	if err != nil {
		return nil, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, err, errDamaged)
	}
	return content, nil
}

// readLoggedAlert decodes the alert whose counters wait in the log at seq.
func (t *txn) readLoggedAlert(number uint64, fp string, seq uint64) (incidents.AlertState, error) {
	content, err := t.loggedContent(number, fp, seq)
	if err != nil {
		return incidents.AlertState{}, err
	}
	v := t.get(t.b.alertStatesRecent, t.scratchU64(seq))
	if v == nil {
		return incidents.AlertState{}, fmt.Errorf("incident #%d: alert %s: recent alert state %d is missing: %w", number, fp, seq, errDamaged)
	}
	_, _, state, err := decodeLogged(v)
	if err != nil {
		return incidents.AlertState{}, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, err, errDamaged)
	}
	return decodeAlert(number, fp, content, state)
}

// loggedRef names an alert whose counters wait in the log.
type loggedRef struct {
	Fingerprint string
	seq         uint64
}

// loggedAlertsOf lists incident number's alerts whose counters wait in
// the log, in fingerprint order (the order of their keys in alert_state).
// It names them only: a storm's incident can have tens of thousands in
// the log, and Alerts decodes each when it comes to it, so a read holds
// one at a time.
func (t *txn) loggedAlertsOf(number uint64) ([]loggedRef, error) {
	var out []loggedRef
	prefix := string(u64Key(number)) // alertKey(number, fp) begins with it
	add := func(m map[string]uint64) {
		for k, seq := range m {
			if fp, ok := strings.CutPrefix(k, prefix); ok {
				out = append(out, loggedRef{Fingerprint: fp, seq: seq})
			}
		}
	}
	s := &t.alertTx
	switch {
	case s.log == nil:
		if err := t.readLogView(); err != nil {
			return nil, err
		}
		add(s.view)
	case !s.folded:
		add(s.log.pending)
	}
	add(s.added)
	slices.SortFunc(out, func(a, b loggedRef) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return out, nil
}

// appendAlert logs a new alert of incident number, a, whose key in alerts
// is k (content: as for encodeLoggedContent).
func (t *txn) appendAlert(k []byte, number uint64, a *incidents.AlertState, content []byte) error {
	seq, err := t.b.alertsRecent.NextSequence()
	if err != nil {
		return err
	}
	if err := t.b.alertsRecent.Put(t.scratchKey(contentKey, number, seq), encodeLoggedContent(number, a, content)); err != nil {
		return err
	}
	// The state log's own sequence counts the alerts waiting (see
	// foldAlerts); their keys are their contents' seqs.
	if _, err := t.b.alertStatesRecent.NextSequence(); err != nil {
		return err
	}
	if err := t.b.alertStatesRecent.Put(t.scratchU64(seq), encodeLoggedState(number, a)); err != nil {
		return err
	}
	if t.alertTx.added == nil {
		t.alertTx.added = make(map[string]uint64)
	}
	t.alertTx.added[string(k)] = seq
	return nil
}

// foldAlerts moves the counters waiting in alert_states_recent into
// alert_state once spill alerts wait, each saying where its content is in
// alerts_recent, and drops the log. It runs once per transaction, after
// every fn of a group commit. The log's sequence counts the alerts
// appended, since repeats rewrite records in place and it is emptied by
// dropping it.
func (t *txn) foldAlerts() error {
	l := t.alertTx.log
	if l == nil || t.b.alertStatesRecent.Sequence() < l.spill {
		return nil
	}
	t.wrote()
	var recs []record
	err := forLoggedStates(t.b.alertStatesRecent.Cursor(), func(seq, n uint64, fp string, state []byte) error {
		st, err := loggedStateAt(state, seq)
		if err != nil {
			return fmt.Errorf("recent alert state %d: %w", seq, err)
		}
		recs = append(recs, record{k: alertKey(n, fp), v: st})
		return nil
	})
	if err == nil {
		err = putInKeyOrder(t.b.alertState, recs)
	}
	if err != nil {
		return fmt.Errorf("folding recent alerts: %w", err)
	}
	if t.b.alertStatesRecent, err = t.emptyLog(bucketAlertStatesRecent); err != nil {
		return fmt.Errorf("emptying the recent alert state log: %w", err)
	}
	t.alertTx.folded = true
	t.alertTx.where = nil // still true, but say nothing after a fold
	t.alertTx.moved = uint64(len(recs))
	t.alertTx.added = nil
	return nil
}

// putLoggedContent rewrites the content of incident number's alert a,
// logged at seq, when it changed (content: as for encodeLoggedContent).
func (t *txn) putLoggedContent(seq, number uint64, a *incidents.AlertState, content []byte) error {
	var buf [1 + 2*numberLen]byte
	ck := contentKey(buf[:0], number, seq)
	// The record is the header (the same for the same alert) and the
	// content: equal records, equal content.
	if rec := encodeLoggedContent(number, a, content); !bytes.Equal(t.get(t.b.alertsRecent, ck), rec) {
		return t.b.alertsRecent.Put(ck, rec)
	}
	return nil
}

// putLoggedAlert rewrites the waiting counters of incident number's alert
// a, logged at seq, and its content when that changed.
func (t *txn) putLoggedAlert(seq, number uint64, a *incidents.AlertState, content []byte) error {
	if err := t.putLoggedContent(seq, number, a, content); err != nil {
		return err
	}
	return t.b.alertStatesRecent.Put(t.scratchU64(seq), encodeLoggedState(number, a))
}

// onTheRight reports whether k sorts after every key alert_state held
// when this transaction first asked: such an alert (an incident's first,
// or fingerprints that count up) goes to the right-most leaves of alerts
// and alert_state, which this transaction writes anyway, as cheap as the
// log, so it is written there directly. Comparing with the keys as they
// were, not as this transaction left them, matters: a group commit's
// requests (and a request's alerts) do not arrive in key order, and each
// new alert that sorted before one written a moment earlier used to go to
// the log (in process, a fifth of the CPU of a counting-up storm at 100
// per request). alert_state holds every stored alert, direct or folded.
func (t *txn) onTheRight(k []byte) bool {
	s := &t.alertTx
	if !s.edgeKnown {
		last, _ := t.b.alertState.Cursor().Last()
		s.edge, s.edgeKnown = bytes.Clone(last), true
	}
	return s.edge == nil || bytes.Compare(k, s.edge) > 0
}
