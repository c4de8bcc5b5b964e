package storage

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// maxCachedIncidents bounds the decoded incidents the committer keeps
// between commits. An alert storm touches a handful of open incidents over
// and over; a few hundred covers any realistic storm in a few megabytes.
const maxCachedIncidents = 512

// incidentCache holds decoded incident records so that an alert storm does
// not JSON-decode and re-encode the same incident for every alert:
//
//   - Within one write transaction (one group commit) each incident is
//     decoded at most once, PutIncident only records the new value, and the
//     record is stored once, by flush, just before the commit.
//   - Between transactions the committer keeps the committed values
//     (committed), so a repeat alert to a hot incident decodes nothing.
//
// The incident record is small and fixed-size (alerts live in records of
// their own, see alerts.go), so storing it once per commit costs the same
// whatever the incident holds.
//
// Values are private copies: callers get clones, and PutIncident stores a
// clone, so nothing outside the transaction can change a cached value.
type incidentCache struct {
	// txn is this transaction's view: values read or written in it.
	txn map[uint64]*cachedIncident
	// committed is the DB's cache of committed values, nil for read-only
	// transactions (which run concurrently with commits and may see an
	// older snapshot). Only the committer goroutine touches it, and it
	// changes only after a successful commit (adopt).
	committed map[uint64]*cachedIncident
}

type cachedIncident struct {
	// inc is the incident's value (Entries is not kept current here; the
	// readers set it from the timeline counter).
	inc   *incidents.Incident
	dirty bool // changed in this transaction; flush stores it
}

// cached returns incident n's value as of this transaction without
// decoding when it can; nil when it is neither cached nor stored.
func (t *txn) cached(n uint64) (*incidents.Incident, error) {
	if c, ok := t.cache.txn[n]; ok {
		return c.inc, nil
	}
	c, ok := t.cache.committed[n]
	if ok {
		c = &cachedIncident{inc: c.inc}
	} else {
		v := t.b.incidents.Get(u64Key(n))
		if v == nil {
			return nil, nil
		}
		inc, err := decodeRecord(n, v)
		if err != nil {
			return nil, err
		}
		c = &cachedIncident{inc: inc}
	}
	if t.cache.txn == nil {
		t.cache.txn = make(map[uint64]*cachedIncident)
	}
	t.cache.txn[n] = c
	return c.inc, nil
}

// remember records inc as its incident's value in this transaction; dirty
// values are stored by flush.
func (t *txn) remember(inc *incidents.Incident, dirty bool) {
	if t.cache.txn == nil {
		t.cache.txn = make(map[uint64]*cachedIncident)
	}
	c := inc.Clone()
	canonicalize(reflect.ValueOf(c).Elem())
	t.cache.txn[inc.Number] = &cachedIncident{inc: c, dirty: dirty}
}

// flush stores every incident changed in this transaction, and moves the
// recent logs into their indexes when due. It runs once per transaction,
// after every fn of a group commit.
func (t *txn) flush() error {
	if err := t.flushSeen(); err != nil {
		return err
	}
	if err := t.foldTimeline(); err != nil {
		return err
	}
	if err := t.foldAlerts(); err != nil {
		return err
	}
	for n, seq := range t.seqs {
		if err := t.b.seq.Put(u64Key(n), u64Key(seq)); err != nil {
			return fmt.Errorf("incident #%d: timeline counter: %w", n, err)
		}
	}
	clear(t.seqs)
	for n, c := range t.cache.txn {
		if !c.dirty {
			continue
		}
		if err := t.putIncident(u64Key(n), c.inc); err != nil {
			return err
		}
		c.dirty = false
	}
	return nil
}

// adopt makes this committed transaction's values the committer's cache.
// Call it only after the commit succeeded: a rolled-back transaction's
// values must never be seen by the next one.
func (c *incidentCache) adopt() {
	if c.committed == nil {
		return
	}
	for n, e := range c.txn {
		c.committed[n] = e
	}
	// Evict arbitrary entries (map order) to stay bounded; a miss costs one
	// decode, nothing more.
	for n := range c.committed {
		if len(c.committed) <= maxCachedIncidents {
			break
		}
		delete(c.committed, n)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// canonicalize makes v what a JSON round trip through the store would make
// it, so a cached incident reads exactly like a decoded one: times lose
// their monotonic reading and take the zone their offset names, and empty
// slices and maps of omitempty fields become nil.
func canonicalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			p := v.Addr().Interface().(*time.Time) // no copy through an interface
			*p = canonicalTime(*p)
			return
		}
		ty := v.Type()
		for i := range v.NumField() {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint64:
				continue // nothing a round trip changes
			}
			if !ty.Field(i).IsExported() {
				continue
			}
			if (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0 {
				if strings.Contains(ty.Field(i).Tag.Get("json"), ",omitempty") {
					f.SetZero()
				}
				continue
			}
			canonicalize(f)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			canonicalize(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() != reflect.Struct && v.Type().Elem().Kind() != reflect.Pointer {
			return
		}
		for i := range v.Len() {
			canonicalize(v.Index(i))
		}
	}
}

// canonicalTime is t as time.Time's JSON encoding and decoding return it.
func canonicalTime(t time.Time) time.Time {
	t = t.Round(0)
	_, off := t.Zone()
	if off == 0 {
		return t.UTC()
	}
	lt := t.In(time.Local)
	if _, lo := lt.Zone(); lo == off {
		return lt
	}
	return t.In(time.FixedZone("", off))
}
