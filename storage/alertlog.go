package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
)

// defaultAlertSpill is how many new alerts may wait in alerts_recent before
// one commit moves them all into alerts and alert_state.
const defaultAlertSpill = 8192

// alertLog keeps new distinct alerts cheap to record.
//
// Alert records are keyed by (incident, fingerprint), and Alertmanager's
// fingerprints are hashes: in a storm of distinct alerts in one group every
// new alert landed on a random leaf of alerts and of alert_state, so a
// commit of ~800 new alerts rewrote most leaves of two trees that grow
// with the incident (measured end to end: 0.32–0.38× Alertmanager's rate,
// and as much memory, against 0.6–1.1× when the fingerprints happen to
// count up). Instead PutAlert appends a new alert, content and counters,
// to alerts_recent under an increasing sequence number (the right-most
// leaf takes a whole commit's), and remembers where in pending. When the
// log holds spill alerts one commit moves them all into alerts and
// alert_state, writing each leaf once for many alerts.
//
//	alerts_recent  log seq(8) 0 → number(8) len(fp)(uvarint) fp content   (as in alerts)
//	               log seq(8) 1 → state                                   (as in alert_state)
//
// A repeat of an alert still in the log rewrites its state record in
// place, and its content record only when that changed, as PutAlert does
// with the buckets: a payload repeating 800 alerts with 1 KB descriptions
// must not rewrite 800 KB of log.
// alerts_recent is part of the same transactions, so nothing about
// durability changes: Open rebuilds pending from it. Readers merge it: Alert
// looks an alert up in pending (read-only transactions, which must not
// touch the committer's pending, search the log), Alerts merges the
// incident's logged alerts into its key range in fingerprint order. Only
// the committer goroutine touches an alertLog, and a transaction's changes
// reach it only after its commit succeeded (adopt).
type alertLog struct {
	pending map[string]uint64 // alertKey → log seq
	spill   uint64
}

// loadAlertLog reads where the alerts waiting in alerts_recent are.
func loadAlertLog(bdb *bolt.DB) (*alertLog, error) {
	l := &alertLog{pending: make(map[string]uint64), spill: defaultAlertSpill}
	err := bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketAlertsRecent))
		if b == nil {
			return fmt.Errorf("bucket %q is missing: %w", bucketAlertsRecent, errDamaged)
		}
		return b.ForEach(func(k, v []byte) error {
			seq, content, ok := logKeyParts(k)
			if !ok {
				return fmt.Errorf("recent alert key %x: %w", k, errDamaged)
			}
			if !content {
				return nil
			}
			n, fp, _, err := decodeLoggedContent(v)
			if err != nil {
				return fmt.Errorf("recent alert record %x: %w", k, errDamaged)
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
}

// adopt applies a committed transaction's changes to the log.
func (s *txnAlerts) adopt() {
	if s.log == nil {
		return
	}
	if s.folded {
		clear(s.log.pending)
	}
	for k, seq := range s.added {
		s.log.pending[k] = seq
	}
}

// logKey is the alerts_recent key of the content (0) or state (1) record
// of the alert logged at seq.
func logKey(seq uint64, state bool) []byte {
	k := putU64(make([]byte, 0, numberLen+1), seq)
	if state {
		return append(k, 1)
	}
	return append(k, 0)
}

func logKeyParts(k []byte) (seq uint64, content, ok bool) {
	if len(k) != numberLen+1 || k[numberLen] > 1 {
		return 0, false, false
	}
	seq, _ = readU64(k[:numberLen])
	return seq, k[numberLen] == 0, true
}

func encodeLoggedContent(number uint64, fp string, content []byte) []byte {
	v := make([]byte, 0, numberLen+binary.MaxVarintLen32+len(fp)+len(content))
	v = putU64(v, number)
	v = binary.AppendUvarint(v, uint64(len(fp)))
	v = append(v, fp...)
	return append(v, content...)
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
	c := t.b.alertsRecent.Cursor()
	for lk, v := c.First(); lk != nil; lk, v = c.Next() {
		seq, content, ok := logKeyParts(lk)
		if !ok || !content {
			continue
		}
		n, f, _, err := decodeLoggedContent(v)
		if err == nil && n == number && f == fp {
			return seq, true
		}
	}
	return 0, false
}

// readLoggedAlert decodes the logged alert at seq.
func (t *txn) readLoggedAlert(number uint64, fp string, seq uint64) (incidents.AlertState, error) {
	v, state := t.b.alertsRecent.Get(logKey(seq, false)), t.b.alertsRecent.Get(logKey(seq, true))
	if v == nil || state == nil {
		return incidents.AlertState{}, fmt.Errorf("incident #%d: alert %s: recent alert record %d is missing: %w", number, fp, seq, errDamaged)
	}
	_, _, content, err := decodeLoggedContent(v)
	if err != nil {
		return incidents.AlertState{}, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, err, errDamaged)
	}
	return decodeAlert(number, fp, content, state)
}

// loggedAlertsOf decodes incident number's alerts still in alerts_recent,
// in fingerprint order (the order of their keys in alerts).
func (t *txn) loggedAlertsOf(number uint64) ([]incidents.AlertState, error) {
	var out []incidents.AlertState
	c := t.b.alertsRecent.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, isContent, ok := logKeyParts(k)
		if !ok {
			return nil, fmt.Errorf("recent alert key %x: %w", k, errDamaged)
		}
		if !isContent {
			continue
		}
		n, fp, content, err := decodeLoggedContent(v)
		if err != nil {
			return nil, fmt.Errorf("recent alert record %x: %w (%w)", k, err, errDamaged)
		}
		if n != number {
			continue
		}
		a, err := decodeAlert(number, fp, content, t.b.alertsRecent.Get(logKey(seq, true)))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b incidents.AlertState) int {
		return bytes.Compare([]byte(a.Fingerprint), []byte(b.Fingerprint))
	})
	return out, nil
}

// appendAlert logs a new alert of incident number.
func (t *txn) appendAlert(k []byte, number uint64, fp string, content, state []byte) error {
	seq, err := t.b.alertsRecent.NextSequence()
	if err != nil {
		return err
	}
	if err := t.b.alertsRecent.Put(logKey(seq, false), encodeLoggedContent(number, fp, content)); err != nil {
		return err
	}
	if err := t.b.alertsRecent.Put(logKey(seq, true), state); err != nil {
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
	var key []byte // the alert of the last content record: its state follows
	err := t.b.alertsRecent.ForEach(func(k, v []byte) error {
		_, content, ok := logKeyParts(k)
		if !ok {
			return fmt.Errorf("recent alert key %x: %w", k, errDamaged)
		}
		if !content {
			if key == nil {
				return fmt.Errorf("recent alert state %x without its alert: %w", k, errDamaged)
			}
			err := t.b.alertState.Put(key, v)
			key = nil
			return err
		}
		n, fp, c, err := decodeLoggedContent(v)
		if err != nil {
			return fmt.Errorf("recent alert record %x: %w (%w)", k, err, errDamaged)
		}
		key = alertKey(n, fp)
		return t.b.alerts.Put(key, c)
	})
	if err != nil {
		return fmt.Errorf("folding recent alerts: %w", err)
	}
	if t.b.alertsRecent, err = t.emptyLog(bucketAlertsRecent); err != nil {
		return fmt.Errorf("emptying the recent alert log: %w", err)
	}
	t.alertTx.folded = true
	t.alertTx.added = nil
	return nil
}

// putLoggedAlert rewrites the state record of the alert logged at seq, and
// its content record only when the content changed.
func (t *txn) putLoggedAlert(seq, number uint64, fp string, content, state []byte) error {
	ck := logKey(seq, false)
	if old := t.b.alertsRecent.Get(ck); old != nil {
		if _, _, oc, err := decodeLoggedContent(old); err == nil && bytes.Equal(oc, content) {
			return t.b.alertsRecent.Put(logKey(seq, true), state)
		}
	}
	if err := t.b.alertsRecent.Put(ck, encodeLoggedContent(number, fp, content)); err != nil {
		return err
	}
	return t.b.alertsRecent.Put(logKey(seq, true), state)
}
