package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Every distinct alert of an incident is a record of its own:
//
//	alerts  number(8) fingerprint → alert record (compact binary, below)
//
// so a repeat reads and rewrites one small record, and a new alert adds
// one, whatever the incident already holds; the incident record only keeps
// counters and the few alerts shown on cards. One incident's alerts are one
// key range, streamed by Alerts with a cursor.

func alertKey(number uint64, fp string) []byte {
	k := make([]byte, 0, numberLen+len(fp))
	return append(putU64(k, number), fp...)
}

// Alert implements incidents.ReadTx.
func (t *txn) Alert(number uint64, fp string) (incidents.AlertState, bool, error) {
	if fp == "" || numberLen+len(fp) > maxKeyLen {
		return incidents.AlertState{}, false, nil
	}
	v := t.b.alerts.Get(alertKey(number, fp))
	if v == nil {
		return incidents.AlertState{}, false, nil
	}
	a, err := decodeAlert(number, fp, v)
	if err != nil {
		return incidents.AlertState{}, false, err
	}
	return a, true, nil
}

// An alert record is read and rewritten for every repeat, so it is binary
// rather than JSON (several times cheaper to encode and decode):
//
//	version(1) name title instance source url text
//	starts_at first_seen last_seen resolved_at   (varint unix ns, 0 = zero time)
//	firing(1) count(uvarint)
//	len(labels)(uvarint) [key value]…  len(annotations)(uvarint) [key value]…
//
// where every string is uvarint length + bytes, and map keys are written
// sorted so equal records encode equally. Times read back in UTC.
const alertVersion = 1

func encodeAlert(a *incidents.AlertState) []byte {
	n := 32 + len(a.Name) + len(a.Title) + len(a.Instance) + len(a.Source) + len(a.URL) + len(a.Text)
	for k, v := range a.Labels {
		n += len(k) + len(v) + 4
	}
	for k, v := range a.Annotations {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n+48)
	b = append(b, alertVersion)
	for _, s := range []string{a.Name, a.Title, a.Instance, a.Source, a.URL, a.Text} {
		b = appendString(b, s)
	}
	for _, t := range []time.Time{a.StartsAt, a.FirstSeen, a.LastSeen, a.ResolvedAt} {
		var ns int64
		if !t.IsZero() && fitsNano(t) {
			ns = t.UnixNano()
		}
		b = binary.AppendVarint(b, ns)
	}
	firing := byte(0)
	if a.Firing {
		firing = 1
	}
	b = append(b, firing)
	b = binary.AppendUvarint(b, uint64(max(a.Count, 0)))
	for _, m := range []map[string]string{a.Labels, a.Annotations} {
		b = binary.AppendUvarint(b, uint64(len(m)))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			b = appendString(b, k)
			b = appendString(b, m[k])
		}
	}
	return b
}

// fitsNano reports whether t can be stored as Unix nanoseconds.
func fitsNano(t time.Time) bool { return !t.Before(minKeyTime()) && !t.After(maxKeyTime()) }

func decodeAlert(number uint64, fp string, v []byte) (incidents.AlertState, error) {
	a := incidents.AlertState{Fingerprint: fp}
	if len(v) == 0 || v[0] != alertVersion {
		return a, fmt.Errorf("incident #%d: alert %s: record format %v is unknown: %w", number, fp, v[:min(len(v), 1)], errDamaged)
	}
	r := entryReader{b: v[1:]}
	a.Name, a.Title, a.Instance, a.Source, a.URL, a.Text = r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
	for _, t := range []*time.Time{&a.StartsAt, &a.FirstSeen, &a.LastSeen, &a.ResolvedAt} {
		if r.err != nil {
			break
		}
		ns, n := binary.Varint(r.b)
		if n <= 0 {
			r.err = errShortEntry
			break
		}
		r.b = r.b[n:]
		if ns != 0 {
			*t = time.Unix(0, ns).UTC()
		}
	}
	if r.err == nil && len(r.b) > 0 {
		a.Firing = r.b[0] == 1
		r.b = r.b[1:]
	} else if r.err == nil {
		r.err = errShortEntry
	}
	a.Count = int(r.uvarint())
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
	if r.err != nil {
		return a, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, r.err, errDamaged)
	}
	return a, nil
}

// Alerts implements incidents.ReadTx with one cursor over the incident's
// key range.
func (t *txn) Alerts(number uint64, fn func(incidents.AlertState) error) error {
	prefix := u64Key(number)
	c := t.b.alerts.Cursor()
	var pos []byte
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
		a, err := decodeAlert(number, string(k[numberLen:]), v)
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
	return nil
}

// PutAlert implements incidents.Tx.
func (t *txn) PutAlert(number uint64, a incidents.AlertState) error {
	if a.Fingerprint == "" {
		return errors.New("put alert: empty fingerprint")
	}
	if numberLen+len(a.Fingerprint) > maxKeyLen {
		return fmt.Errorf("incident #%d: alert fingerprint is %d bytes; at most %d fit", number, len(a.Fingerprint), maxKeyLen-numberLen)
	}
	if _, cached := t.cache.txn[number]; !cached && t.b.incidents.Get(u64Key(number)) == nil {
		return fmt.Errorf("put alert %s of incident #%d: %w", a.Fingerprint, number, incidents.ErrNotFound)
	}
	fp := a.Fingerprint
	t.wrote()
	if err := t.b.alerts.Put(alertKey(number, fp), encodeAlert(&a)); err != nil {
		return fmt.Errorf("incident #%d: alert %s: %w", number, fp, err)
	}
	return nil
}
