package storage

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// A repeat alert changes only an incident's counters: AlertCount, the
// repeating alert's Count and LastSeen, and UpdatedAt. Re-encoding the whole
// JSON record for that cost CPU in the single committer and rewrote the
// record's leaf page in every commit, one page per incident touched. Such a
// change is stored instead in alert_counts, a small binary record per
// incident that overrides those fields of the JSON record when read:
//
//	alert_counts  number(8) → version(1) alert_count(uvarint) updated_at
//	                          [count(uvarint) last_seen]… one per alert, in order
//
// where a time is 0 for the zero time, else 1, unix ns (varint) and zone
// offset in seconds (varint). Any other change rewrites the JSON record (which
// then holds the counters too) and deletes the alert_counts record.
const alertCountsVersion = 1

// onlyAlertCounts reports whether inc differs from base, the stored JSON
// record's value, in nothing but the fields alert_counts holds. It compares
// every other field, so a field added to Incident later is never lost.
func onlyAlertCounts(base, inc *incidents.Incident) bool {
	if len(base.Alerts) != len(inc.Alerts) || !fitsNano(inc.UpdatedAt) {
		return false
	}
	for i := range base.Alerts {
		a, b := base.Alerts[i], inc.Alerts[i]
		if !fitsNano(b.LastSeen) {
			return false
		}
		a.Count, a.LastSeen = 0, time.Time{}
		b.Count, b.LastSeen = 0, time.Time{}
		if a != b {
			return false
		}
	}
	x, y := *base, *inc
	x.AlertCount, y.AlertCount = 0, 0
	x.UpdatedAt, y.UpdatedAt = time.Time{}, time.Time{}
	x.Entries, y.Entries = 0, 0 // never trusted on write; see doc.go
	x.Alerts, y.Alerts = nil, nil
	return reflect.DeepEqual(x, y)
}

// sameAlertCounts reports whether a and b agree on the fields
// alert_counts holds (the rest is onlyAlertCounts' business).
func sameAlertCounts(a, b *incidents.Incident) bool {
	if a.AlertCount != b.AlertCount || a.UpdatedAt != b.UpdatedAt || len(a.Alerts) != len(b.Alerts) {
		return false
	}
	for i := range a.Alerts {
		if a.Alerts[i].Count != b.Alerts[i].Count || a.Alerts[i].LastSeen != b.Alerts[i].LastSeen {
			return false
		}
	}
	return true
}

// fitsNano reports whether appendTime can encode t.
func fitsNano(t time.Time) bool {
	return t.IsZero() || (!t.Before(minKeyTime()) && !t.After(maxKeyTime()))
}

func (t *txn) putAlertCounts(n uint64, inc *incidents.Incident) error {
	b := make([]byte, 0, 32+24*len(inc.Alerts))
	b = append(b, alertCountsVersion)
	b = binary.AppendUvarint(b, uint64(max(inc.AlertCount, 0)))
	b = appendTime(b, inc.UpdatedAt)
	for _, a := range inc.Alerts {
		b = binary.AppendUvarint(b, uint64(max(a.Count, 0)))
		b = appendTime(b, a.LastSeen)
	}
	if err := t.b.alertCounts.Put(u64Key(n), b); err != nil {
		return fmt.Errorf("incident #%d: alert counts: %w", n, err)
	}
	return nil
}

// dropAlertCounts deletes incident n's alert_counts record, if any.
func (t *txn) dropAlertCounts(n uint64) error {
	k := u64Key(n)
	if t.b.alertCounts.Get(k) == nil {
		return nil
	}
	if err := t.b.alertCounts.Delete(k); err != nil {
		return fmt.Errorf("incident #%d: alert counts: %w", n, err)
	}
	return nil
}

// withAlertCounts applies base's alert_counts record, if any: to a copy
// when clone is set, else to base itself.
func (t *txn) withAlertCounts(base *incidents.Incident, clone bool) (*incidents.Incident, error) {
	v := t.b.alertCounts.Get(u64Key(base.Number))
	if v == nil {
		return base, nil
	}
	inc := base
	if clone {
		inc = base.Clone()
	}
	if err := decodeAlertCounts(v, inc); err != nil {
		return nil, fmt.Errorf("incident #%d: alert counts: %w", base.Number, err)
	}
	return inc, nil
}

func decodeAlertCounts(v []byte, inc *incidents.Incident) error {
	if len(v) == 0 || v[0] != alertCountsVersion {
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

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, off := t.Zone()
	b = append(b, 1)
	b = binary.AppendVarint(b, t.UnixNano())
	return binary.AppendVarint(b, int64(off))
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

// time reads what appendTime wrote, in the zone a JSON round trip would
// give it (canonicalTime), so both encodings read back alike.
func (r *countsReader) time() time.Time {
	if r.uvarint() == 0 || r.bad {
		return time.Time{}
	}
	ns, off := r.varint(), r.varint()
	return canonicalTime(time.Unix(0, ns).In(time.FixedZone("", int(off))))
}
