package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/firebreak/firebreak/incidents"
)

// Every distinct alert of an incident is a record of its own:
//
//	alerts  number(8) fingerprint → JSON incidents.AlertState
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

func decodeAlert(number uint64, fp string, v []byte) (incidents.AlertState, error) {
	var a incidents.AlertState
	if err := json.Unmarshal(v, &a); err != nil {
		return a, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, err, errDamaged)
	}
	a.Fingerprint = fp
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
	a.Fingerprint = "" // the key holds it
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("incident #%d: alert %s: encoding: %w", number, fp, err)
	}
	t.wrote()
	if err := t.b.alerts.Put(alertKey(number, fp), v); err != nil {
		return fmt.Errorf("incident #%d: alert %s: %w", number, fp, err)
	}
	return nil
}
