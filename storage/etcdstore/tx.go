package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/incidents"
)

var (
	_ incidents.Tx     = (*txn)(nil)
	_ incidents.ReadTx = (*txn)(nil)
)

// errReadOnly is what a write through a View returns; the interfaces never
// allow it, but a type assertion could.
var errReadOnly = errors.New("etcd: write in a read-only transaction")

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

// write is one buffered change: a put (with an optional lease) or a delete.
type write struct {
	val   []byte
	del   bool
	lease clientv3.LeaseID
}

// txn is one attempt of an Update (writes != nil) or a View: every read is
// made at revision rev, merged with the attempt's own writes.
type txn struct {
	ctx    context.Context
	s      *Store
	rev    int64
	writes map[string]write
	// reads caches point reads: every read is at rev, so a cached answer
	// stays true for the whole attempt (an intent appending 100 entries
	// reads the incident and its counter once, not 100 times).
	reads map[string]read
	// created holds the incidents this attempt created: none of their
	// alert records can be stored at rev, so looking one up costs no read
	// (a storm's new incident gathers a thousand alerts in one intent).
	created map[uint64]bool
	// undo journals what the running fn of a group changed (see group.go),
	// so a fn that fails, or does not fit beside the others, leaves the
	// group's transaction as it was: each key's write before the fn (nil:
	// none). nil when the attempt runs one fn.
	undo map[string]*write
	// undoCreated are the incidents the running fn created.
	undoCreated []uint64
}

// set buffers one write, journaling what it replaces when a group's fn
// runs (see undo).
func (t *txn) set(k string, w write) {
	if t.undo != nil {
		if _, journaled := t.undo[k]; !journaled {
			if old, ok := t.writes[k]; ok {
				t.undo[k] = &old
			} else {
				t.undo[k] = nil
			}
		}
	}
	t.writes[k] = w
}

type read struct {
	val []byte
	ok  bool
}

func (t *txn) put(k string, v []byte) error {
	if t.writes == nil {
		return errReadOnly
	}
	t.set(k, write{val: v})
	return nil
}

func (t *txn) del(k string) error {
	if t.writes == nil {
		return errReadOnly
	}
	t.set(k, write{del: true})
	return nil
}

// get reads one key as this transaction sees it.
func (t *txn) get(k string) ([]byte, bool, error) {
	if w, ok := t.writes[k]; ok {
		return w.val, !w.del, nil
	}
	if r, ok := t.reads[k]; ok {
		return r.val, r.ok, nil
	}
	resp, err := t.readAt(k)
	if err != nil {
		return nil, false, t.s.unavailable("read "+k, err)
	}
	var r read
	if len(resp.Kvs) > 0 {
		r = read{val: resp.Kvs[0].Value, ok: true}
	}
	if t.reads == nil {
		t.reads = make(map[string]read)
	}
	t.reads[k] = r
	return r.val, r.ok, nil
}

func (t *txn) getNum(k string) (uint64, error) {
	v, ok, err := t.get(k)
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", k, errDamaged)
	}
	return n, nil
}

// seqOf is the last Seq of incident n's timeline. An incident this
// attempt created has no counter at the snapshot, so only its writes are
// looked at (a storm opening a hundred incidents reads none).
func (t *txn) seqOf(n uint64) (uint64, error) {
	k := t.s.k.seq(n)
	if _, written := t.writes[k]; !written && t.created[n] {
		return 0, nil
	}
	return t.getNum(k)
}

func (t *txn) putNum(k string, n uint64) error { return t.put(k, []byte(strconv.FormatUint(n, 10))) }

// scan visits the keys in [start, end) in ascending key order, as this
// transaction sees them: the stored keys at rev, page by page, merged with
// the transaction's own writes. fn returning errStop ends the scan with
// nil. A key fn changes or deletes while the scan runs is seen as changed
// if the scan has not passed it yet; a key fn adds may or may not be
// visited (as with a Go map).
func (t *txn) scan(start, end string, fn func(k string, v []byte) error) error {
	err := t.scanErr(start, end, fn)
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func (t *txn) scanErr(start, end string, fn func(k string, v []byte) error) error {
	// This transaction's puts in the range, in key order.
	var mine []string
	listed := map[string]bool{}
	for k, w := range t.writes {
		if k >= start && k < end && !w.del {
			mine = append(mine, k)
			listed[k] = true
		}
	}
	slices.Sort(mine)
	emit := func(k string) error {
		if w, ok := t.writes[k]; ok && !w.del {
			return fn(k, w.val)
		}
		return nil // deleted by fn meanwhile
	}
	// flush emits our own keys that come before stored key k (or all).
	i := 0
	flush := func(k string, all bool) error {
		for ; i < len(mine) && (all || mine[i] <= k); i++ {
			if err := emit(mine[i]); err != nil {
				return err
			}
		}
		return nil
	}
	lo := start
	for {
		// Ascending key order is etcd's natural order: with a limit, the
		// server reads only one page (any other order reads the whole range).
		resp, err := t.readAt(lo, clientv3.WithRange(end), clientv3.WithLimit(pageSize))
		if err != nil {
			return t.s.unavailable("range "+start, err)
		}
		for _, kv := range resp.Kvs {
			k := string(kv.Key)
			if err := flush(k, false); err != nil {
				return err
			}
			if listed[k] {
				continue // emitted from our own writes
			}
			if w, ok := t.writes[k]; ok {
				if w.del {
					continue
				}
				if err := fn(k, w.val); err != nil {
					return err
				}
				continue
			}
			if err := fn(k, kv.Value); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return flush("", true)
		}
		lo = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// readAt reads at the transaction's revision. What a revision holds never
// changes, so any member that has applied it answers the same: the read is
// served by the member the client talks to (serializable), without the
// quorum round a linearizable read costs. A member that has not applied
// rev yet says so, and the read is asked again linearizably.
func (t *txn) readAt(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	opts = append(opts, clientv3.WithRev(t.rev))
	resp, err := t.s.client.Get(t.ctx, key, append(opts, clientv3.WithSerializable())...)
	if errors.Is(err, rpctypes.ErrFutureRev) {
		resp, err = t.s.client.Get(t.ctx, key, opts...)
	}
	return resp, err
}

// Incident implements incidents.ReadTx.
func (t *txn) Incident(number uint64) (*incidents.Incident, error) {
	v, ok, err := t.get(t.s.k.incident(number))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("incident #%d: %w", number, incidents.ErrNotFound)
	}
	return t.decodeIncident(number, v)
}

// decodeIncident decodes a stored incident and fills Entries from the
// timeline counter, the only source of truth for it.
func (t *txn) decodeIncident(number uint64, v []byte) (*incidents.Incident, error) {
	inc := new(incidents.Incident)
	if err := json.Unmarshal(v, inc); err != nil {
		return nil, fmt.Errorf("incident #%d: %w (%w)", number, err, errDamaged)
	}
	inc.Number = number
	seq, err := t.seqOf(number)
	if err != nil {
		return nil, err
	}
	inc.Entries = seq
	return inc, nil
}

// OpenByFingerprint implements incidents.ReadTx.
func (t *txn) OpenByFingerprint(fp string) (uint64, bool, error) {
	if fp == "" {
		return 0, false, nil
	}
	v, ok, err := t.get(t.s.k.fingerprint(fp))
	if err != nil || !ok {
		return 0, false, err
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("fingerprint %q: %w", fp, errDamaged)
	}
	return n, true, nil
}

// LatestInHome implements incidents.ReadTx: the first key of the home's
// part of the index (numbers are inverted there), one read whatever the
// history.
func (t *txn) LatestInHome(h incidents.Home) (uint64, bool, error) {
	if h.IsZero() {
		return 0, false, nil
	}
	p := t.s.k.homeOf(h)
	var n uint64
	var found bool
	err := t.scan(p, prefixEnd(p), func(k string, _ []byte) error {
		inv, err := parseNum(k[len(p):])
		if err != nil {
			return err
		}
		n, found = ^inv, true
		return errStop
	})
	return n, found, err
}

// InChannel implements incidents.ReadTx. Open incidents come from
// homeopen/, one ascending range already newest first; with resolved ones
// too, it walks the channel's part of home/ (keys only, one per incident
// homed there or in a thread of it, grouped by thread) and sorts the
// numbers, as the bbolt store does: its cost grows with the channel's
// history, eight bytes an incident, not with the incidents' size.
func (t *txn) InChannel(platform, channel string, openOnly bool, fn func(number uint64) error) error {
	if platform == "" && channel == "" {
		return nil
	}
	if openOnly {
		p := t.s.k.openInChannel(platform, channel)
		return t.scan(p, prefixEnd(p), func(k string, _ []byte) error {
			inv, err := parseNum(k[len(p):])
			if err != nil {
				return err
			}
			return fn(^inv)
		})
	}
	p := t.s.k.channelHomes(platform, channel)
	var found []uint64
	err := t.scan(p, prefixEnd(p), func(k string, _ []byte) error {
		if len(k) < len(p)+numLen {
			return fmt.Errorf("home index key %q: %w", k, errDamaged)
		}
		inv, err := parseNum(k[len(k)-numLen:])
		if err != nil {
			return err
		}
		found = append(found, ^inv)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(found)
	for i := len(found) - 1; i >= 0; i-- {
		if err := fn(found[i]); err != nil {
			return err
		}
	}
	return nil
}

// Alert implements incidents.ReadTx: one point read of alert/<n>/<fp>.
func (t *txn) Alert(number uint64, fp string) (incidents.AlertState, bool, error) {
	if fp == "" {
		return incidents.AlertState{}, false, nil
	}
	k := t.s.k.alert(number, fp)
	if t.created[number] {
		if w, ok := t.writes[k]; !ok || w.del {
			return incidents.AlertState{}, false, nil
		}
	}
	v, ok, err := t.get(k)
	if err != nil || !ok {
		return incidents.AlertState{}, false, err
	}
	a, err := decodeAlert(number, fp, v)
	return a, err == nil, err
}

// Alerts implements incidents.ReadTx: one ascending range over
// alert/<n>/, read pageSize records at a time, so fingerprint order is key
// order and a storm's thousands of alerts never sit in memory together.
func (t *txn) Alerts(number uint64, fn func(incidents.AlertState) error) error {
	p := t.s.k.alerts(number)
	return t.scan(p, prefixEnd(p), func(k string, v []byte) error {
		a, err := decodeAlert(number, k[len(p):], v)
		if err != nil {
			return err
		}
		return fn(a)
	})
}

func decodeAlert(number uint64, fp string, v []byte) (incidents.AlertState, error) {
	var a incidents.AlertState
	if err := json.Unmarshal(v, &a); err != nil {
		return incidents.AlertState{}, fmt.Errorf("incident #%d: alert %s: %w (%w)", number, fp, err, errDamaged)
	}
	a.Fingerprint = fp
	return a, nil
}

// PutAlert implements incidents.Tx: one key per distinct alert, so a
// storm's repeat rewrites that alert's record and nothing else.
func (t *txn) PutAlert(number uint64, a incidents.AlertState) error {
	if a.Fingerprint == "" {
		return fmt.Errorf("put alert of incident #%d: empty fingerprint", number)
	}
	if t.writes == nil {
		return errReadOnly
	}
	if _, ok, err := t.get(t.s.k.incident(number)); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("put alert %s of incident #%d: %w", a.Fingerprint, number, incidents.ErrNotFound)
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("incident #%d: alert %s: encoding: %w", number, a.Fingerprint, err)
	}
	return t.put(t.s.k.alert(number, a.Fingerprint), v)
}

// Entries implements incidents.ReadTx, reading pageSize entries at a time.
func (t *txn) Entries(number, after uint64, fn func(incidents.Entry) error) error {
	if _, ok, err := t.get(t.s.k.incident(number)); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("timeline of incident #%d: %w", number, incidents.ErrNotFound)
	}
	if after == ^uint64(0) {
		return nil
	}
	p := t.s.k.timeline(number)
	return t.scan(t.s.k.entry(number, after+1), prefixEnd(p), func(k string, v []byte) error {
		seq, err := parseNum(k[len(p):])
		if err != nil {
			return err
		}
		var e incidents.Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("incident #%d entry %d: %w (%w)", number, seq, err, errDamaged)
		}
		e.Incident, e.Seq = number, seq
		return fn(e)
	})
}

// Incidents implements incidents.ReadTx. With openOnly it walks the
// open/ index, whose inverted numbers put the newest first; otherwise it
// walks incident numbers down from meta/last (they are dense) a window of
// pageSize at a time, each window one ascending read. Either way it reads
// no more incidents than it returns, plus one page.
func (t *txn) Incidents(openOnly bool, limit int, fn func(*incidents.Incident) error) error {
	sent := 0
	visit := func(number uint64, v []byte) error {
		if limit > 0 && sent >= limit {
			return errStop
		}
		inc, err := t.decodeIncident(number, v)
		if err != nil {
			return err
		}
		if openOnly && !inc.Status.Open() {
			return nil
		}
		sent++
		return fn(inc)
	}
	if openOnly {
		p := t.s.k.opens()
		return t.scan(p, prefixEnd(p), func(k string, _ []byte) error {
			inv, err := parseNum(k[len(p):])
			if err != nil {
				return err
			}
			v, ok, err := t.get(t.s.k.incident(^inv))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("open index names incident #%d, which is not stored: %w", ^inv, errDamaged)
			}
			return visit(^inv, v)
		})
	}
	last, err := t.getNum(t.s.k.last())
	if err != nil {
		return err
	}
	type kv struct {
		n uint64
		v []byte
	}
	p := t.s.k.incidents()
	for hi := last; hi > 0; {
		lo := hi - min(hi, pageSize) + 1
		var window []kv
		err := t.scan(t.s.k.incident(lo), t.s.k.incident(hi)+"\x00", func(k string, v []byte) error {
			n, err := parseNum(k[len(p):])
			window = append(window, kv{n, v})
			return err
		})
		if err != nil {
			return err
		}
		for i := len(window) - 1; i >= 0; i-- {
			if err := visit(window[i].n, window[i].v); err != nil {
				if errors.Is(err, errStop) {
					return nil
				}
				return err
			}
		}
		hi = lo - 1
	}
	return nil
}

// DueTimers implements incidents.ReadTx.
func (t *txn) DueTimers(at time.Time, fn func(incidents.Timer) error) error {
	p := t.s.k.timers()
	end := prefixEnd(p)
	switch bits, ok := timeBits(at); {
	case ok && bits < ^uint64(0):
		end = p + num(bits+1)
	case !ok && at.Before(time.Unix(0, math.MinInt64)):
		return nil // before any storable due time
	}
	return t.scan(p, end, func(k string, v []byte) error {
		var tm incidents.Timer
		if err := json.Unmarshal(v, &tm); err != nil {
			return fmt.Errorf("timer %s: %w (%w)", k, err, errDamaged)
		}
		return fn(tm)
	})
}

// CreateIncident implements incidents.Tx: numbers come from meta/last, so
// they start at 1 and a committed number is never handed out again.
func (t *txn) CreateIncident(inc *incidents.Incident) error {
	if inc == nil {
		return errors.New("create incident: nil incident")
	}
	last, err := t.getNum(t.s.k.last())
	if err != nil {
		return err
	}
	inc.Number = last + 1
	if err := t.putNum(t.s.k.last(), inc.Number); err != nil {
		return err
	}
	if t.created == nil {
		t.created = make(map[uint64]bool)
	}
	t.created[inc.Number] = true
	if t.undo != nil {
		t.undoCreated = append(t.undoCreated, inc.Number)
	}
	if err := t.putIncident(inc); err != nil {
		return err
	}
	if inc.Status.Open() {
		if err := t.put(t.s.k.open(inc.Number), nil); err != nil {
			return err
		}
	}
	if !inc.Home.IsZero() {
		if err := t.put(t.s.k.homeEntry(inc.Home, inc.Number), nil); err != nil {
			return err
		}
		if inc.Status.Open() {
			return t.put(t.s.k.openHomeEntry(inc.Home, inc.Number), nil)
		}
	}
	return nil
}

func (t *txn) putIncident(inc *incidents.Incident) error {
	v, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("incident #%d: encoding: %w", inc.Number, err)
	}
	return t.put(t.s.k.incident(inc.Number), v)
}

// PutIncident implements incidents.Tx; the open and home indexes follow
// the new status and home in the same transaction.
func (t *txn) PutIncident(inc *incidents.Incident) error {
	if inc == nil {
		return errors.New("put incident: nil incident")
	}
	if t.writes == nil {
		return errReadOnly
	}
	old, err := t.Incident(inc.Number)
	if err != nil {
		return fmt.Errorf("put incident #%d: %w", inc.Number, err)
	}
	if err := t.putIncident(inc); err != nil {
		return err
	}
	n := inc.Number
	switch wasOpen, isOpen := old.Status.Open(), inc.Status.Open(); {
	case wasOpen && !isOpen:
		err = t.del(t.s.k.open(n))
	case !wasOpen && isOpen:
		err = t.put(t.s.k.open(n), nil)
	}
	if err != nil {
		return err
	}
	// homeopen/ holds the incident while it is open and homed, under its
	// channel: it leaves when the incident resolves or moves.
	oldOpenHome := old.Status.Open() && !old.Home.IsZero()
	newOpenHome := inc.Status.Open() && !inc.Home.IsZero()
	if oldOpenHome && (!newOpenHome || old.Home.Platform != inc.Home.Platform || old.Home.Channel != inc.Home.Channel) {
		if err := t.del(t.s.k.openHomeEntry(old.Home, n)); err != nil {
			return err
		}
	}
	if newOpenHome {
		if err := t.put(t.s.k.openHomeEntry(inc.Home, n), nil); err != nil {
			return err
		}
	}
	if old.Home == inc.Home {
		return nil
	}
	if !old.Home.IsZero() {
		if err := t.del(t.s.k.homeEntry(old.Home, n)); err != nil {
			return err
		}
	}
	if !inc.Home.IsZero() {
		return t.put(t.s.k.homeEntry(inc.Home, n), nil)
	}
	return nil
}

// AppendEntry implements incidents.Tx: e.Seq is one more than the
// timeline's last.
func (t *txn) AppendEntry(e *incidents.Entry) error {
	if e == nil {
		return errors.New("append entry: nil entry")
	}
	if _, ok, err := t.get(t.s.k.incident(e.Incident)); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("append entry to incident #%d: %w", e.Incident, incidents.ErrNotFound)
	}
	last, err := t.seqOf(e.Incident)
	if err != nil {
		return err
	}
	e.Seq = last + 1
	stored := e.Clone()
	stored.Incident, stored.Seq = 0, 0 // in the key
	v, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("append entry to incident #%d: encoding: %w", e.Incident, err)
	}
	if err := t.put(t.s.k.entry(e.Incident, e.Seq), v); err != nil {
		return err
	}
	return t.putNum(t.s.k.seq(e.Incident), e.Seq)
}

// SetOpenFingerprint implements incidents.Tx.
func (t *txn) SetOpenFingerprint(fp string, number uint64) error {
	if fp == "" {
		return fmt.Errorf("incident #%d: empty alert fingerprint", number)
	}
	return t.putNum(t.s.k.fingerprint(fp), number)
}

// ClearOpenFingerprint implements incidents.Tx.
func (t *txn) ClearOpenFingerprint(fp string) error {
	if fp == "" {
		return nil
	}
	return t.del(t.s.k.fingerprint(fp))
}

// MarkSeen implements incidents.Tx. The id is attached to a lease, so
// etcd forgets it after Config.SeenTTL without a pruning job; a repeat
// writes nothing.
func (t *txn) MarkSeen(eventID string, at time.Time) (bool, error) {
	if eventID == "" {
		return false, errors.New("mark event seen: empty event id")
	}
	if t.writes == nil {
		return false, errReadOnly
	}
	k := t.s.k.seen(eventID)
	if _, ok, err := t.get(k); err != nil || ok {
		return ok, err
	}
	lease, err := t.s.seenLeaseID(t.ctx)
	if err != nil {
		return false, fmt.Errorf("mark event %q seen: %w", eventID, err)
	}
	t.set(k, write{val: []byte(at.UTC().Format(time.RFC3339Nano)), lease: lease})
	return false, nil
}

// PutTimer implements incidents.Tx.
func (t *txn) PutTimer(tm incidents.Timer) error {
	k, err := t.s.k.timer(tm)
	if err != nil {
		return err
	}
	ik, _ := t.s.k.timerIndex(tm)
	v, err := json.Marshal(tm)
	if err != nil {
		return fmt.Errorf("timer %q of incident #%d: encoding: %w", tm.Key, tm.Incident, err)
	}
	if err := t.put(k, v); err != nil {
		return err
	}
	return t.put(ik, []byte(k))
}

// DeleteTimer implements incidents.Tx.
func (t *txn) DeleteTimer(tm incidents.Timer) error {
	k, err := t.s.k.timer(tm)
	if err != nil {
		return nil // PutTimer refuses such timers, so none is stored
	}
	ik, _ := t.s.k.timerIndex(tm)
	if err := t.del(k); err != nil {
		return err
	}
	return t.del(ik)
}

// DeleteTimers implements incidents.Tx with a range read of the incident's
// part of timerinc/.
func (t *txn) DeleteTimers(incident uint64, keyPrefix string) error {
	if t.writes == nil {
		return errReadOnly
	}
	p := t.s.k.timersOf(incident)
	var doomed []string
	err := t.scan(p+keyPrefix, prefixEnd(p+keyPrefix), func(ik string, v []byte) error {
		name, err := t.s.k.timerKeyName(string(v))
		if err != nil {
			return err
		}
		if strings.HasPrefix(name, keyPrefix) {
			doomed = append(doomed, ik, string(v))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := t.del(k); err != nil {
			return err
		}
	}
	return nil
}

// Fingerprints streams every grouped fingerprint and its open incident in
// byte order of the fingerprint. It is not part of incidents.ReadTx:
// `firebreak migrate` uses it to copy the grouping index between stores.
func (t *txn) Fingerprints(fn func(fp string, number uint64) error) error {
	p := t.s.k.fingerprint("")
	return t.scan(p, prefixEnd(p), func(k string, v []byte) error {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("fingerprint %q: %w", k[len(p):], errDamaged)
		}
		return fn(k[len(p):], n)
	})
}
