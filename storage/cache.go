package storage

import (
	"fmt"
	"reflect"
	"slices"
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
	// bornFrom and bornTo are the numbers of the first and the last
	// incident created in this transaction (0: none). Such an incident has no alert records and no
	// timeline yet, and its number is above every other, so its first
	// alert and timeline entry are written without looking anything up (in
	// a storm of alerts that each open an incident, those lookups were five
	// of a new incident's seven B-tree reads). Numbers come from the
	// incidents bucket's sequence, so every number from bornFrom to bornTo
	// is an incident created in this transaction: two numbers are enough,
	// where a set of them cost a map entry for every new incident (and the
	// map's growth to a commit's hundreds).
	bornFrom, bornTo uint64
}

// bornHere reports whether incident n was created in this transaction.
func (c *incidentCache) bornHere(n uint64) bool {
	return c.bornFrom != 0 && n >= c.bornFrom && n <= c.bornTo
}

// exists reports whether incident n is stored or was made in this
// transaction, without decoding it.
func (t *txn) exists(n uint64) bool {
	if _, cached := t.cache.txn[n]; cached || t.cache.bornHere(n) {
		return true
	}
	return t.get(t.b.incidents, u64Key(n)) != nil
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
		v := t.get(t.b.incidents, u64Key(n))
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
	if err := t.foldFingerprints(); err != nil {
		return err
	}
	// In number order: bbolt inserts each key into its leaf's sorted
	// array of keys, so keys put in map order each moved half of the
	// commit's keys already there (a commit of ~1,000 new incidents: 10% of
	// the CPU of a storm where every alert opens one), and keys put in
	// order are appended.
	numbers := t.numbers[:0]
	for n := range t.seqs {
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)
	for _, n := range numbers {
		if err := t.b.seq.Put(u64Key(n), u64Key(t.seqs[n])); err != nil {
			return fmt.Errorf("incident #%d: timeline counter: %w", n, err)
		}
	}
	clear(t.seqs)
	numbers = numbers[:0]
	for n, c := range t.cache.txn {
		if c.dirty {
			numbers = append(numbers, n)
		}
	}
	slices.Sort(numbers)
	for _, n := range numbers {
		c := t.cache.txn[n]
		if err := t.putIncident(u64Key(n), c.inc); err != nil {
			return err
		}
		c.dirty = false
	}
	t.numbers = numbers
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

// incidentPlan is canonicalize's plan for incidents.Incident, worked out
// once: remember runs for every PutIncident (in a storm of single-alert
// requests, once per request), and walking the struct's fields and tags by
// reflection each time cost 6% of the CPU.
var incidentPlan = newCanonPlan(reflect.TypeFor[incidents.Incident]())

// canonPlan lists the fields of a struct type that a JSON round trip can
// change: times, empty omitempty slices and maps, and the structs, pointers
// and slices that hold such fields. Fields of other kinds are never
// visited.
type canonPlan struct {
	fields []canonField
}

type canonField struct {
	index     int
	time      bool       // a time.Time
	omitEmpty bool       // a slice or map tagged omitempty: nil when empty
	elem      *canonPlan // a struct, a pointer to one, or a slice of them
	kind      reflect.Kind
}

// newCanonPlan is the plan for struct type t, nil when nothing in t can
// change.
func newCanonPlan(t reflect.Type) *canonPlan {
	p := &canonPlan{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		f := canonField{index: i, kind: sf.Type.Kind()}
		switch f.kind {
		case reflect.Struct:
			if sf.Type == timeType {
				f.time = true
			} else if f.elem = newCanonPlan(sf.Type); f.elem == nil {
				continue
			}
		case reflect.Pointer:
			if sf.Type.Elem().Kind() != reflect.Struct {
				continue
			}
			if f.elem = planOfElem(sf.Type.Elem()); f.elem == nil {
				continue
			}
		case reflect.Slice, reflect.Map:
			f.omitEmpty = strings.Contains(sf.Tag.Get("json"), ",omitempty")
			if f.kind == reflect.Slice {
				if e := sf.Type.Elem(); e.Kind() == reflect.Struct || (e.Kind() == reflect.Pointer && e.Elem().Kind() == reflect.Struct) {
					if e.Kind() == reflect.Pointer {
						e = e.Elem()
					}
					f.elem = planOfElem(e)
				}
			}
			if !f.omitEmpty && f.elem == nil {
				continue
			}
		default:
			continue
		}
		p.fields = append(p.fields, f)
	}
	if len(p.fields) == 0 {
		return nil
	}
	return p
}

// planOfElem is the plan for a struct that is itself a time (a plan with
// one pseudo-field, index -1) or holds fields that can change.
func planOfElem(t reflect.Type) *canonPlan {
	if t == timeType {
		return &canonPlan{fields: []canonField{{index: -1, time: true}}}
	}
	return newCanonPlan(t)
}

// canonicalize makes v (an incidents.Incident) what a JSON round trip
// through the store would make it, so a cached incident reads exactly like
// a decoded one: times lose their monotonic reading and take the zone
// their offset names, and empty slices and maps of omitempty fields become
// nil.
func canonicalize(v reflect.Value) { incidentPlan.apply(v) }

func (p *canonPlan) apply(v reflect.Value) {
	for i := range p.fields {
		f := &p.fields[i]
		if f.index < 0 { // v is itself a time
			t := v.Addr().Interface().(*time.Time)
			*t = canonicalTime(*t)
			continue
		}
		fv := v.Field(f.index)
		switch {
		case f.time:
			t := fv.Addr().Interface().(*time.Time) // no copy through an interface
			*t = canonicalTime(*t)
		case f.kind == reflect.Struct:
			f.elem.apply(fv)
		case f.kind == reflect.Pointer:
			if !fv.IsNil() {
				f.elem.apply(fv.Elem())
			}
		default: // slice or map
			if fv.Len() == 0 {
				if f.omitEmpty {
					fv.SetZero()
				}
				continue
			}
			if f.elem == nil {
				continue
			}
			for j := range fv.Len() {
				e := fv.Index(j)
				if e.Kind() == reflect.Pointer {
					if e.IsNil() {
						continue
					}
					e = e.Elem()
				}
				f.elem.apply(e)
			}
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
