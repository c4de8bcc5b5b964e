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
//	alerts         number(8) fingerprint → the alert as monitoring sent it
//	alert_state    number(8) fingerprint → its counters (both below)
//
// so a repeat reads and rewrites one small record, and a new alert adds
// one, whatever the incident already holds; the incident record only keeps
// counters and the few alerts shown on cards. One incident's alerts are one
// key range of alert_state, streamed by Alerts with a cursor. An alert
// that came through the alert log (alertlog.go) has no alerts record: its
// content stays in alerts_recent, and its alert_state record says where.

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
//	alert_state  1 firing(1) count(uvarint) first_seen last_seen resolved_at
//	             2 log seq(uvarint) firing(1) count(uvarint) first_seen last_seen resolved_at
//
// Version 2 of alert_state (schema 7) is an alert whose content is in
// alerts_recent at that seq, not in alerts.
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
	// alertStateVersion is the alert_state record's version;
	// alertStateLoggedVersion the one of a record whose content is in
	// alerts_recent.
	alertStateVersion       = 1
	alertStateLoggedVersion = 2
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
	return appendAlertState(make([]byte, 0, 48), a)
}

// appendAlertState appends a's alert_state record (version 1) to b.
func appendAlertState(b []byte, a *incidents.AlertState) []byte {
	return appendAlertCounters(append(b, alertStateVersion), a)
}

// encodeAlertStateAt is a's version 2 alert_state record: its content is
// in alerts_recent at seq.
func encodeAlertStateAt(a *incidents.AlertState, seq uint64) []byte {
	b := make([]byte, 0, 48+binary.MaxVarintLen64)
	return appendAlertCounters(binary.AppendUvarint(append(b, alertStateLoggedVersion), seq), a)
}

// appendAlertCounters appends what both versions of the alert_state
// record hold after their header: firing, count and the three times.
func appendAlertCounters(b []byte, a *incidents.AlertState) []byte {
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

// loggedStateAt is the version 2 alert_state record of an alert whose
// content is in alerts_recent at seq, given its version 1 record.
func loggedStateAt(state []byte, seq uint64) ([]byte, error) {
	if len(state) < 2 || state[0] != alertStateVersion {
		return nil, fmt.Errorf("alert state format is unknown: %w", errDamaged)
	}
	b := make([]byte, 0, len(state)+binary.MaxVarintLen64)
	b = binary.AppendUvarint(append(b, alertStateLoggedVersion), seq)
	return append(b, state[1:]...), nil
}

// stateRef splits an alert_state record: where its content is in
// alerts_recent (0: in alerts), and the counters.
func stateRef(state []byte) (seq uint64, body []byte, err error) {
	if len(state) < 2 {
		return 0, nil, errShortEntry
	}
	switch state[0] {
	case alertStateVersion:
		return 0, state[1:], nil
	case alertStateLoggedVersion:
		seq, n := binary.Uvarint(state[1:])
		if n <= 0 || seq == 0 || len(state) < 2+n {
			return 0, nil, errShortEntry
		}
		return seq, state[1+n:], nil
	}
	return 0, nil, fmt.Errorf("alert state version %d is unknown: %w", state[0], errDamaged)
}

func decodeAlert(number uint64, fp string, content, state []byte) (incidents.AlertState, error) {
	a := incidents.AlertState{Fingerprint: fp}
	_, body, err := stateRef(state)
	if err != nil || len(content) == 0 || (content[0] != alertVersion && content[0] != alertVersion1) {
		return a, fmt.Errorf("incident #%d: alert %s: record format is unknown: %w", number, fp, errDamaged)
	}
	state = body
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
	s := entryReader{b: state[1:]}
	a.Firing = state[0] == 1
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
	state := t.get(t.b.alertState, k)
	if state == nil {
		t.alertTx.noteWhere(k, alertPlace{absent: true})
		return incidents.AlertState{}, false, nil
	}
	a, ref, err := t.storedAlert(number, fp, k, state)
	if err != nil {
		return incidents.AlertState{}, false, err
	}
	t.alertTx.noteWhere(k, alertPlace{ref: ref})
	return a, true, nil
}

// storedAlert decodes the alert with key k and alert_state record state,
// its content read from alerts or, for one that came through the log,
// from alerts_recent (ref, its seq there).
func (t *txn) storedAlert(number uint64, fp string, k, state []byte) (a incidents.AlertState, ref uint64, err error) {
	ref, _, err = stateRef(state)
	if err != nil {
		return a, 0, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, err, errDamaged)
	}
	var content []byte
	if ref != 0 {
		if content, err = t.loggedContent(number, fp, ref); err != nil {
			return a, 0, err
		}
	} else if content = t.get(t.b.alerts, k); content == nil {
		return a, 0, fmt.Errorf("incident #%d: alert %s has counters but no content: %w", number, fp, errDamaged)
	}
	a, err = decodeAlert(number, fp, content, state)
	return a, ref, err
}

// Alerts implements incidents.ReadTx with one cursor over the incident's
// key range of alert_state, merged in fingerprint order with its alerts
// whose counters still wait in the log (listed up front, decoded one at a
// time).
func (t *txn) Alerts(number uint64, fn func(incidents.AlertState) error) error {
	logged, err := t.loggedAlertsOf(number)
	if err != nil {
		return err
	}
	prefix := u64Key(number)
	c := t.b.alertState.Cursor()
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
		pos = append(pos[:0], k...)
		a, _, err := t.storedAlert(number, fp, pos, v)
		if err != nil {
			return err
		}
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
	// Where is it? An incident made in this transaction sorts after every
	// alert record and holds only alerts of this transaction; otherwise
	// Alert usually just looked.
	var at alertPlace
	born := t.cache.bornHere(number)
	if born {
		at.absent = true
	} else if p, ok := t.alertTx.takeWhere(k); ok {
		at = p
	} else if state := t.get(t.b.alertState, k); state == nil {
		at.absent = true
	} else if ref, _, err := stateRef(state); err != nil {
		return fmt.Errorf("incident #%d: alert %s: %w (%w)", number, a.Fingerprint, err, errDamaged)
	} else {
		at.ref = ref
	}
	switch {
	case at.absent && !born && t.alertTx.log != nil && !t.onTheRight(k):
		// A new alert that would land between existing keys (a hashed
		// fingerprint): into the log (see alertLog).
		if err := t.appendAlert(k, number, a, content); err != nil {
			return fmt.Errorf("incident #%d: alert %s: %w", number, a.Fingerprint, err)
		}
		return nil
	case at.ref != 0:
		// Its content stayed in the log when its counters were folded.
		if err := t.putLoggedContent(at.ref, number, a, content); err != nil {
			return fmt.Errorf("incident #%d: alert %s: %w", number, a.Fingerprint, err)
		}
		if err := t.b.alertState.Put(k, encodeAlertStateAt(a, at.ref)); err != nil {
			return fmt.Errorf("incident #%d: alert %s: %w", number, a.Fingerprint, err)
		}
		return nil
	}
	var old []byte
	if !at.absent {
		old = t.get(t.b.alerts, k)
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
