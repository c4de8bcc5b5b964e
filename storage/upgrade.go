package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
)

// upgradeToAlertRecords turns a schema 1 or 2 file into schema 3 inside
// the caller's transaction: every incident's Alerts list (with the repeat
// counters schema 2 kept beside it in alert_counts) becomes one alert
// record per fingerprint, the incident record keeps the counters and the
// first few alerts for cards, and alert_counts is dropped. Timelines,
// indexes and timers are unchanged. It runs once, on the first open by a
// Firebreak that knows schema 3; a crash during it rolls it back whole.
func upgradeToAlertRecords(tx *bolt.Tx) error {
	incB, alertsB, stateB := tx.Bucket([]byte(bucketIncidents)), tx.Bucket([]byte(bucketAlerts)), tx.Bucket([]byte(bucketAlertState))
	counts := tx.Bucket([]byte(bucketAlertCounts))
	var numbers [][]byte
	if err := incB.ForEach(func(k, _ []byte) error {
		numbers = append(numbers, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range numbers {
		n, ok := readU64(k)
		if !ok {
			return fmt.Errorf("incident key is %d bytes: %w", len(k), errDamaged)
		}
		inc, err := decodeRecord(n, incB.Get(k))
		if err != nil {
			return err
		}
		if counts != nil {
			if v := counts.Get(k); v != nil {
				if err := decodeSchema2Counts(v, inc); err != nil {
					return fmt.Errorf("incident #%d: alert counts: %w", n, err)
				}
			}
		}
		inc.DistinctAlerts, inc.FiringAlerts = len(inc.Alerts), 0
		cards := make([]incidents.AlertState, 0, min(len(inc.Alerts), incidents.MaxCardAlerts))
		for i, a := range inc.Alerts {
			// Schema 2 kept the alert's title in Name.
			a.Title, a.Name = a.Name, ""
			if a.Firing {
				inc.FiringAlerts++
			}
			if inc.FirstAlertAt.IsZero() || a.FirstSeen.Before(inc.FirstAlertAt) {
				inc.FirstAlertAt = a.FirstSeen
			}
			if a.LastSeen.After(inc.LastAlertAt) {
				inc.LastAlertAt = a.LastSeen
			}
			if a.Fingerprint == "" || numberLen+len(a.Fingerprint) > maxKeyLen {
				return fmt.Errorf("incident #%d: alert %d has fingerprint of %d bytes: %w", n, i, len(a.Fingerprint), errDamaged)
			}
			k := alertKey(n, a.Fingerprint)
			if err := errors.Join(alertsB.Put(k, encodeAlertContent(&a)), stateB.Put(k, encodeAlertState(&a))); err != nil {
				return fmt.Errorf("incident #%d: alert %s: %w", n, a.Fingerprint, err)
			}
			if len(cards) < incidents.MaxCardAlerts {
				cards = append(cards, a)
			}
		}
		inc.Alerts = cards
		if err := incB.Put(k, encodeIncident(inc)); err != nil {
			return fmt.Errorf("incident #%d: %w", n, err)
		}
	}
	if counts != nil {
		if err := tx.DeleteBucket([]byte(bucketAlertCounts)); err != nil {
			return fmt.Errorf("dropping %s: %w", bucketAlertCounts, err)
		}
	}
	return nil
}

// decodeSchema2Counts applies a schema 2 alert_counts record:
//
//	version(1)=1 alert_count(uvarint) updated_at [count(uvarint) last_seen]… one per alert
//
// where a time is 0 for the zero time, else 1, unix ns (varint) and zone
// offset in seconds (varint).
func decodeSchema2Counts(v []byte, inc *incidents.Incident) error {
	if len(v) == 0 || v[0] != 1 {
		return fmt.Errorf("record format %v is unknown: %w", v[:min(len(v), 1)], errDamaged)
	}
	r := countsReader{b: v[1:]}
	inc.AlertCount = int(r.uvarint())
	inc.UpdatedAt = r.time()
	for i := range inc.Alerts {
		inc.Alerts[i].Count = int(r.uvarint())
		inc.Alerts[i].LastSeen = r.time()
	}
	if r.bad || len(r.b) != 0 {
		return fmt.Errorf("record does not match the incident's %d alerts: %w", len(inc.Alerts), errDamaged)
	}
	return nil
}

type countsReader struct {
	b   []byte
	bad bool
}

func (r *countsReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > 1<<62 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *countsReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *countsReader) time() time.Time {
	if r.uvarint() == 0 || r.bad {
		return time.Time{}
	}
	ns, off := r.varint(), r.varint()
	return canonicalTime(time.Unix(0, ns).In(time.FixedZone("", int(off))))
}

// upgradeAlertStateLog turns a schema 3 to 6 file's alert log into schema
// 7's inside the caller's transaction: the counters of alerts waiting in
// alerts_recent (keys 1 seq(8), after every content record) move to
// alert_states_recent under the same seq, with the header naming their
// alert, and the state log's sequence counts them. The content records
// stay where they are, and alerts already folded into alerts and
// alert_state are not touched (their state records are version 1: content
// in alerts). The log holds at most one fold's worth, so this is quick.
func upgradeAlertStateLog(tx *bolt.Tx) error {
	logB, statesB := tx.Bucket([]byte(bucketAlertsRecent)), tx.Bucket([]byte(bucketAlertStatesRecent))
	if logB == nil {
		return nil
	}
	type name struct {
		number uint64
		fp     string
	}
	names := map[uint64]name{}
	var stateKeys [][]byte
	c := logB.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		switch {
		case len(k) == 1+2*numberLen && k[0] == 0:
			seq, _ := readU64(k[1+numberLen:])
			n, fp, _, err := decodeLogged(v)
			if err != nil {
				return fmt.Errorf("recent alert record %x: %w (%w)", k, err, errDamaged)
			}
			names[seq] = name{n, fp}
		case len(k) == 1+numberLen && k[0] == 1:
			stateKeys = append(stateKeys, bytes.Clone(k))
		default:
			return fmt.Errorf("recent alert key %x: %w", k, errDamaged)
		}
	}
	for _, k := range stateKeys {
		seq, _ := readU64(k[1:])
		nm, ok := names[seq]
		if !ok {
			return fmt.Errorf("recent alert counters %d have no content: %w", seq, errDamaged)
		}
		rec := append(loggedHeader(nil, nm.number, nm.fp), logB.Get(k)...)
		if err := statesB.Put(u64Key(seq), rec); err != nil {
			return err
		}
		if _, err := statesB.NextSequence(); err != nil {
			return err
		}
		if err := logB.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
