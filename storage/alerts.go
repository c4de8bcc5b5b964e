package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Every distinct alert of an incident is a record of its own:
//
//	alerts       number(8) fingerprint → the alert as monitoring sent it
//	alert_state  number(8) fingerprint → its counters (both below)
//
// so a repeat reads and rewrites one small record, and a new alert adds
// one, whatever the incident already holds; the incident record only keeps
// counters and the few alerts shown on cards. One incident's alerts are one
// key range, streamed by Alerts with a cursor.

func alertKey(number uint64, fp string) []byte {
	k := make([]byte, 0, numberLen+len(fp))
	return append(putU64(k, number), fp...)
}

// An alert is two records under the same key, so that a repeat, which
// changes only counters, rewrites a few dozen bytes and not the alert's
// labels and annotations (a 1 KB description repeated 800 times a request
// is otherwise megabytes of pages per commit):
//
//	alerts       version(1) name title instance source url text starts_at
//	             len(labels)(uvarint) [key value]…  len(annotations)(uvarint) [key value]…
//	alert_state  version(1) firing(1) count(uvarint) first_seen last_seen resolved_at
//
// Strings are uvarint length + bytes in version 1 of the alerts record and
// words (words.go) in version 2 (schema 5): label names, the source, the
// name again as the alertname label, the title again as the summary
// annotation take a byte each. Times are varint Unix ns (0 = zero time),
// read back in UTC; map keys are written sorted so equal alerts encode
// equally, and PutAlert writes the alerts record only when its bytes change
// (a version 1 record is rewritten in version 2 by the first repeat).
const (
	alertVersion1 = 1
	alertVersion  = 2
	// alertStateVersion is the alert_state record's version.
	alertStateVersion = 1
)

func encodeAlertContent(a *incidents.AlertState) []byte { return appendAlertContent(nil, a) }

// appendAlertContent encodes a's content after a copy of head, in one
// allocation (the alerts_recent record is a header and the content).
func appendAlertContent(head []byte, a *incidents.AlertState) []byte {
	n := len(head) + 32 + len(a.Name) + len(a.Title) + len(a.Instance) + len(a.Source) + len(a.URL) + len(a.Text)
	for k, v := range a.Labels {
		n += len(k) + len(v) + 4
	}
	for k, v := range a.Annotations {
		n += len(k) + len(v) + 4
	}
	w := wordWriter{b: append(make([]byte, 0, n), head...)}
	w.b = append(w.b, alertVersion)
	for _, s := range []string{a.Name, a.Title, a.Instance, a.Source, a.URL, a.Text} {
		w.str(s)
	}
	w.b = appendNano(w.b, a.StartsAt)
	var buf [16]string
	for _, m := range []map[string]string{a.Labels, a.Annotations} {
		w.b = binary.AppendUvarint(w.b, uint64(len(m)))
		for _, k := range sortedKeys(m, buf[:]) {
			w.str(k)
			w.str(m[k])
		}
	}
	return w.b
}

func encodeAlertState(a *incidents.AlertState) []byte {
	b := make([]byte, 0, 48)
	b = append(b, alertStateVersion)
	firing := byte(0)
	if a.Firing {
		firing = 1
	}
	b = append(b, firing)
	b = binary.AppendUvarint(b, uint64(max(a.Count, 0)))
	for _, t := range []time.Time{a.FirstSeen, a.LastSeen, a.ResolvedAt} {
		b = appendNano(b, t)
	}
	return b
}

func appendNano(b []byte, t time.Time) []byte {
	var ns int64
	if !t.IsZero() && !t.Before(minKeyTime()) && !t.After(maxKeyTime()) {
		ns = t.UnixNano()
	}
	return binary.AppendVarint(b, ns)
}

func (r *entryReader) nano() time.Time {
	if r.err != nil {
		return time.Time{}
	}
	ns, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortEntry
		return time.Time{}
	}
	r.b = r.b[n:]
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func decodeAlert(number uint64, fp string, content, state []byte) (incidents.AlertState, error) {
	a := incidents.AlertState{Fingerprint: fp}
	if len(content) == 0 || (content[0] != alertVersion && content[0] != alertVersion1) || len(state) < 2 || state[0] != alertStateVersion {
		return a, fmt.Errorf("incident #%d: alert %s: record format is unknown: %w", number, fp, errDamaged)
	}
	r := entryReader{b: content[1:], words: content[0] == alertVersion}
	a.Name, a.Title, a.Instance, a.Source, a.URL, a.Text = r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
	a.StartsAt = r.nano()
	for _, m := range []*map[string]string{&a.Labels, &a.Annotations} {
		cnt := r.uvarint()
		if r.err != nil || cnt == 0 {
			continue
		}
		if cnt > uint64(len(r.b)) {
			r.err = errShortEntry
			break
		}
		*m = make(map[string]string, cnt)
		for range cnt {
			k := r.str()
			(*m)[k] = r.str()
		}
	}
	s := entryReader{b: state[2:]}
	a.Firing = state[1] == 1
	a.Count = int(s.uvarint())
	a.FirstSeen, a.LastSeen, a.ResolvedAt = s.nano(), s.nano(), s.nano()
	if err := errors.Join(r.err, s.err); err != nil {
		return a, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, err, errDamaged)
	}
	return a, nil
}

// Alert implements incidents.ReadTx.
func (t *txn) Alert(number uint64, fp string) (incidents.AlertState, bool, error) {
	if fp == "" || numberLen+len(fp) > maxKeyLen {
		return incidents.AlertState{}, false, nil
	}
	k := alertKey(number, fp)
	if seq, ok := t.loggedAlert(k); ok {
		a, err := t.readLoggedAlert(number, fp, seq)
		if err != nil {
			return incidents.AlertState{}, false, err
		}
		return a, true, nil
	}
	content := t.get(t.b.alerts, k)
	if content == nil {
		t.alertTx.noteAbsent(k)
		return incidents.AlertState{}, false, nil
	}
	a, err := decodeAlert(number, fp, content, t.get(t.b.alertState, k))
	if err != nil {
		return incidents.AlertState{}, false, err
	}
	return a, true, nil
}

// Alerts implements incidents.ReadTx with one cursor over the incident's
// key range, merged in fingerprint order with its alerts still in
// alerts_recent (listed up front, decoded one at a time).
func (t *txn) Alerts(number uint64, fn func(incidents.AlertState) error) error {
	logged, err := t.loggedAlertsOf(number)
	if err != nil {
		return err
	}
	prefix := u64Key(number)
	c := t.b.alerts.Cursor()
	var pos []byte
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
		fp := string(k[numberLen:])
		if len(logged) > 0 && logged[0].Fingerprint < fp {
			// A logged alert comes first; then look again from k, since
			// the callback may have written (cursors do not survive that).
			pos = append(pos[:0], k...)
			w := t.writes
			a, err := t.readLoggedAlert(number, logged[0].Fingerprint, logged[0].seq)
			if err != nil {
				return err
			}
			if err := fn(a); err != nil {
				return err
			}
			logged = logged[1:]
			if t.writes != w {
				k, v = c.Seek(pos)
			}
			continue
		}
		a, err := decodeAlert(number, fp, v, t.b.alertState.Get(k))
		if err != nil {
			return err
		}
		pos = append(pos[:0], k...)
		w := t.writes
		if err := fn(a); err != nil {
			return err
		}
		k, v = t.next(c, pos, w)
	}
	for _, r := range logged {
		a, err := t.readLoggedAlert(number, r.Fingerprint, r.seq)
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// PutAlert implements incidents.Tx.
func (t *txn) PutAlert(number uint64, a incidents.AlertState) error {
	return t.putAlert(number, &a, nil)
}

// PutAlertEncoded implements incidents.EncodedTx.
func (t *txn) PutAlertEncoded(number uint64, a incidents.AlertState, content []byte) error {
	return t.putAlert(number, &a, content)
}

// putAlert stores a; content, when not nil, is a's content already
// encoded (DB.EncodeAlert).
func (t *txn) putAlert(number uint64, a *incidents.AlertState, content []byte) error {
	if a.Fingerprint == "" {
		return errors.New("put alert: empty fingerprint")
	}
	if numberLen+len(a.Fingerprint) > maxKeyLen {
		return fmt.Errorf("incident #%d: alert fingerprint is %d bytes; at most %d fit", number, len(a.Fingerprint), maxKeyLen-numberLen)
	}
	if !t.exists(number) {
		return fmt.Errorf("put alert %s of incident #%d: %w", a.Fingerprint, number, incidents.ErrNotFound)
	}
	k := alertKey(number, a.Fingerprint)
	t.wrote()
	if seq, ok := t.loggedAlert(k); ok {
		if err := t.putLoggedAlert(seq, number, a, content); err != nil {
			return fmt.Errorf("incident #%d: alert %s: %w", number, a.Fingerprint, err)
		}
		return nil
	}
	var old []byte
	born := t.cache.bornHere(number)
	if !born && !t.alertTx.takeAbsent(k) {
		// An incident made in this transaction sorts after every alert
		// record: its alerts go on the right, written directly.
		old = t.get(t.b.alerts, k)
	}
	if old == nil && !born && t.alertTx.log != nil && !t.onTheRight(k) {
		// A new alert that would land between existing keys (a hashed
		// fingerprint): into the log (see alertLog).
		if err := t.appendAlert(k, number, a, content); err != nil {
			return fmt.Errorf("incident #%d: alert %s: %w", number, a.Fingerprint, err)
		}
		return nil
	}
	if content == nil {
		content = encodeAlertContent(a)
	}
	if !bytes.Equal(content, old) {
		if err := t.b.alerts.Put(k, content); err != nil {
			return fmt.Errorf("incident #%d: alert %s: %w", number, a.Fingerprint, err)
		}
	}
	if err := t.b.alertState.Put(k, encodeAlertState(a)); err != nil {
		return fmt.Errorf("incident #%d: alert %s: %w", number, a.Fingerprint, err)
	}
	return nil
}
