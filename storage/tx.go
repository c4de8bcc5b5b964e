package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
)

var (
	_ incidents.Tx     = (*txn)(nil)
	_ incidents.ReadTx = (*txn)(nil)
)

// errDamaged marks records or index entries that cannot be what this
// package wrote: a damaged file, or one edited by another tool.
var errDamaged = errors.New("damaged database record")

// buckets are a transaction's bucket handles, looked up once per
// transaction rather than once per call.
type buckets struct {
	incidents, events, seq, open, fingerprints, homes   *bolt.Bucket
	timers, timersByInc, seen, seenByTime, meta         *bolt.Bucket
	seenRecent, eventsRecent, alerts, alertState        *bolt.Bucket
	alertsRecent, fingerprintsRecent, alertStatesRecent *bolt.Bucket
}

// counters are the totals kept in the meta bucket so Stats never scans.
type counters struct {
	incidents, open, entries int64
}

// txn implements incidents.Tx (and, read-only, incidents.ReadTx) on one
// bbolt transaction. One txn serves every Update fn of a group commit.
type txn struct {
	tx *bolt.Tx
	b  buckets
	// writes counts mutations started. The committer compares it before and
	// after a fn: a fn that failed without writing leaves the transaction as
	// it was, so the others in the batch can still commit with it.
	writes uint64
	// delta is what this transaction changed in the meta counters, written
	// once just before commit.
	delta counters
	// cache holds the incidents this transaction decoded or changed;
	// changed ones are encoded once, by flush, just before commit.
	cache incidentCache
	// seenTx is this transaction's part of the seen event log.
	seenTx txnSeen
	// alertTx is this transaction's part of the recent alert log.
	alertTx txnAlerts
	// fpTx is this transaction's part of the recent fingerprint log.
	fpTx txnFingerprints
	// foldAt is how many entries events_recent may hold (see timeline.go).
	foldAt uint64
	// seqs holds the timeline counters this transaction advanced; flush
	// stores each once, however many entries were appended.
	seqs map[uint64]uint64
	// outbox records Enqueue'd effects; set on write transactions.
	outbox *Outbox
	// lookups serve point reads without a new cursor each (see lookups).
	lookups lookups
	// scratch holds keys for Put and Delete (see scratchU64).
	scratch []byte
	// numbers is flush's buffer for sorting incident numbers.
	numbers []uint64
}

// scratchU64 is n as an 8-byte key in the transaction's scratch buffer,
// for Put and Delete, which copy their key: valid until the next call.
func (t *txn) scratchU64(n uint64) []byte {
	t.scratch = putU64(t.scratch[:0], n)
	return t.scratch
}

// scratchStr is s as a key in the scratch buffer, like scratchU64.
func (t *txn) scratchStr(s string) []byte {
	t.scratch = append(t.scratch[:0], s...)
	return t.scratch
}

// get is b.Get(k) through the transaction's cursor for b.
func (t *txn) get(b *bolt.Bucket, k []byte) []byte { return t.lookups.get(b, k) }

func newTxn(tx *bolt.Tx) (*txn, error) {
	t := &txn{tx: tx}
	handles := [...]struct {
		name string
		dst  **bolt.Bucket
	}{
		{bucketIncidents, &t.b.incidents}, {bucketEvents, &t.b.events}, {bucketSeq, &t.b.seq},
		{bucketOpen, &t.b.open}, {bucketFingerprints, &t.b.fingerprints}, {bucketHomes, &t.b.homes},
		{bucketTimers, &t.b.timers}, {bucketTimersByInc, &t.b.timersByInc}, {bucketSeen, &t.b.seen},
		{bucketSeenByTime, &t.b.seenByTime}, {bucketMeta, &t.b.meta}, {bucketSeenRecent, &t.b.seenRecent},
		{bucketEventsRecent, &t.b.eventsRecent}, {bucketAlerts, &t.b.alerts}, {bucketAlertState, &t.b.alertState},
		{bucketAlertsRecent, &t.b.alertsRecent}, {bucketFingerprintsRecent, &t.b.fingerprintsRecent},
		{bucketAlertStatesRecent, &t.b.alertStatesRecent},
	}
	for _, h := range handles {
		if *h.dst = tx.Bucket([]byte(h.name)); *h.dst == nil {
			return nil, fmt.Errorf("bucket %q is missing: %w", h.name, errDamaged)
		}
	}
	t.b.packLogs()
	return t, nil
}

// Enqueue implements incidents.Tx through the DB's Outbox (see
// Outbox.Enqueue): the effect is written in this transaction and the
// worker is woken once it has committed.
func (t *txn) Enqueue(e *incidents.Effect) error {
	if e == nil {
		return errors.New("enqueue effect: nil effect")
	}
	if t.outbox == nil {
		return errors.New("enqueue effect: not a write transaction")
	}
	return t.outbox.Enqueue(t, e)
}

// wrote records that a mutation is about to happen.
func (t *txn) wrote() { t.writes++ }

// Incident implements incidents.ReadTx. In a write transaction the record
// is decoded at most once (see incidentCache); the caller gets a copy.
func (t *txn) Incident(number uint64) (*incidents.Incident, error) {
	inc, err := t.cached(number)
	if err != nil {
		return nil, err
	}
	if inc == nil {
		return nil, fmt.Errorf("incident #%d: %w", number, incidents.ErrNotFound)
	}
	return t.withEntries(inc.Clone())
}

// decodeIncident is the incident stored as v, or this transaction's newer
// value of it.
func (t *txn) decodeIncident(number uint64, v []byte) (*incidents.Incident, error) {
	if c, ok := t.cache.txn[number]; ok {
		return t.withEntries(c.inc.Clone())
	}
	inc, err := decodeRecord(number, v)
	if err != nil {
		return nil, err
	}
	return t.withEntries(inc)
}

// withEntries sets inc.Entries from the timeline counter, the only source
// of truth for it.
func (t *txn) withEntries(inc *incidents.Incident) (*incidents.Incident, error) {
	seq, err := t.lastSeq(inc.Number)
	if err != nil {
		return nil, err
	}
	inc.Entries = seq
	return inc, nil
}

// lastSeq is the Seq of the newest timeline entry of an incident (0: none).
func (t *txn) lastSeq(number uint64) (uint64, error) {
	if seq, ok := t.seqs[number]; ok {
		return seq, nil
	}
	if t.cache.bornHere(number) {
		return 0, nil
	}
	v := t.get(t.b.seq, u64Key(number))
	if v == nil {
		return 0, nil
	}
	seq, ok := readU64(v)
	if !ok {
		return 0, fmt.Errorf("incident #%d: timeline counter is %d bytes: %w", number, len(v), errDamaged)
	}
	return seq, nil
}

// OpenByFingerprint implements incidents.ReadTx. A key waiting in
// fingerprints_recent is not in open_by_fingerprint (see fingerprintLog).
func (t *txn) OpenByFingerprint(fp string) (uint64, bool, error) {
	if fp == "" || len(fp) > maxKeyLen {
		return 0, false, nil
	}
	r, logged, _, err := t.loggedFingerprint(fp)
	if err != nil {
		return 0, false, err
	}
	if logged {
		return r.number, true, nil
	}
	v := t.get(t.b.fingerprints, []byte(fp))
	if v == nil {
		t.fpTx.noteAbsent(fp)
		return 0, false, nil
	}
	n, ok := readU64(v)
	if !ok {
		return 0, false, fmt.Errorf("fingerprint %q: index value is %d bytes: %w", fp, len(v), errDamaged)
	}
	return n, true, nil
}

// LatestInHome implements incidents.ReadTx. The home index holds one key
// per (home, incident), so the latest is the last key with h's prefix: one
// seek, whatever the history.
func (t *txn) LatestInHome(h incidents.Home) (uint64, bool, error) {
	if h.IsZero() {
		return 0, false, nil
	}
	prefix := homeKey(h)
	c := t.b.homes.Cursor()
	end := putU64(bytes.Clone(prefix), math.MaxUint64)
	k, _ := c.Seek(end)
	switch {
	case k == nil:
		k, _ = c.Last()
	case !bytes.Equal(k, end):
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return 0, false, nil
	}
	n, ok := readU64(k[len(prefix):])
	if !ok {
		return 0, false, fmt.Errorf("home %s/%s: index key has %d bytes after the home: %w", h.Platform, h.Channel, len(k)-len(prefix), errDamaged)
	}
	return n, true, nil
}

// InChannel implements incidents.ReadTx. It walks the home index keys of
// the channel and its threads (keys only, one per incident ever homed
// there), checking the open index when openOnly, so its cost grows with
// the channel's history, not with the size of its incidents.
func (t *txn) InChannel(platform, channel string, openOnly bool, fn func(number uint64) error) error {
	if platform == "" && channel == "" {
		return nil
	}
	prefix := channelHomeKey(platform, channel)
	var found []uint64
	c := t.b.homes.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) < len(prefix)+numberLen {
			return fmt.Errorf("home %s/%s: index key of %d bytes: %w", platform, channel, len(k), errDamaged)
		}
		n, _ := readU64(k[len(k)-numberLen:])
		// Not open.Get(k) != nil: open index values are empty, and bbolt's
		// Get returns nil for an empty value put in the same transaction,
		// which would hide an incident this Update just opened.
		if !openOnly || hasKey(t.b.open, u64Key(n)) {
			found = append(found, n)
		}
	}
	slices.Sort(found)
	for i := len(found) - 1; i >= 0; i-- {
		if err := fn(found[i]); err != nil {
			return err
		}
	}
	return nil
}

// hasKey reports whether b holds k, whatever its value.
func hasKey(b *bolt.Bucket, k []byte) bool {
	got, _ := b.Cursor().Seek(k)
	return bytes.Equal(got, k)
}

// Entries implements incidents.ReadTx. It returns ErrNotFound for an
// incident that does not exist, so "timeline of #999" is an error and not
// an empty timeline. Entries already folded into the events bucket come
// first, then those still in events_recent: every folded entry is older.
func (t *txn) Entries(number, after uint64, fn func(incidents.Entry) error) error {
	if t.get(t.b.incidents, u64Key(number)) == nil {
		return fmt.Errorf("incident #%d: %w", number, incidents.ErrNotFound)
	}
	if after == math.MaxUint64 {
		return nil
	}
	prefix := u64Key(number)
	c := t.b.events.Cursor()
	pos := make([]byte, 0, eventKeyLen)
	for k, v := c.Seek(eventKey(number, after+1)); k != nil && bytes.HasPrefix(k, prefix); {
		var e incidents.Entry
		if err := decodeEntry(v, &e); err != nil {
			return fmt.Errorf("incident #%d: %w", number, err)
		}
		if len(k) != eventKeyLen {
			return fmt.Errorf("incident #%d: timeline key is %d bytes: %w", number, len(k), errDamaged)
		}
		e.Incident = number
		e.Seq, _ = readU64(k[numberLen:])
		pos = append(pos[:0], k...)
		w := t.writes
		if err := fn(e); err != nil {
			return err
		}
		k, v = t.next(c, pos, w)
	}
	return t.recentEntries(number, after, fn)
}

// next advances c past pos, the key the callback was given. bbolt cursors
// are not valid across mutations, so when the callback wrote since w the
// cursor is re-seeked first.
func (t *txn) next(c *bolt.Cursor, pos []byte, w uint64) ([]byte, []byte) {
	if t.writes == w {
		return c.Next()
	}
	k, v := c.Seek(pos)
	if k != nil && bytes.Equal(k, pos) {
		return c.Next()
	}
	return k, v
}

// prev is next backwards.
func (t *txn) prev(c *bolt.Cursor, pos []byte, w uint64) ([]byte, []byte) {
	if t.writes == w {
		return c.Prev()
	}
	k, _ := c.Seek(pos)
	if k == nil {
		return c.Last()
	}
	// Seek landed on pos, or on the first key after it if the callback
	// deleted it: either way the one before is next.
	return c.Prev()
}

// Incidents implements incidents.ReadTx. Without openOnly it walks the
// incidents bucket backwards; with it, the open index, so neither touches
// more records than it returns. limit <= 0 means no limit.
func (t *txn) Incidents(openOnly bool, limit int, fn func(*incidents.Incident) error) error {
	c := t.b.incidents.Cursor()
	if openOnly {
		c = t.b.open.Cursor()
	}
	pos := make([]byte, 0, numberLen)
	sent := 0
	for k, v := c.Last(); k != nil; {
		number, ok := readU64(k)
		if !ok {
			return fmt.Errorf("incident key is %d bytes: %w", len(k), errDamaged)
		}
		if openOnly {
			if v = t.b.incidents.Get(k); v == nil {
				return fmt.Errorf("open index names incident #%d, which is not stored: %w", number, errDamaged)
			}
		}
		inc, err := t.decodeIncident(number, v)
		if err != nil {
			return err
		}
		pos = append(pos[:0], k...)
		w := t.writes
		if !openOnly || inc.Status.Open() {
			if err := fn(inc); err != nil {
				return err
			}
			sent++
			if limit > 0 && sent >= limit {
				return nil
			}
		}
		k, v = t.prev(c, pos, w)
	}
	return nil
}

// DueTimers implements incidents.ReadTx.
func (t *txn) DueTimers(at time.Time, fn func(incidents.Timer) error) error {
	if at.Before(minKeyTime()) {
		return nil
	}
	limit := clampedTimeBits(at)
	c := t.b.timers.Cursor()
	var pos []byte
	for k, v := c.First(); k != nil; {
		due, ok := readU64(k[:min(len(k), numberLen)])
		if !ok || len(k) < timerKeyFixedLength {
			return fmt.Errorf("timer key is %d bytes: %w", len(k), errDamaged)
		}
		if due > limit {
			return nil
		}
		var tm incidents.Timer
		if err := json.Unmarshal(v, &tm); err != nil {
			return fmt.Errorf("decoding timer %q: %w (%w)", k[timerKeyFixedLength:], err, errDamaged)
		}
		pos = append(pos[:0], k...)
		w := t.writes
		if err := fn(tm); err != nil {
			return err
		}
		k, v = t.next(c, pos, w)
	}
	return nil
}

// CreateIncident implements incidents.Tx. Numbers come from the incidents
// bucket's sequence, so they start at 1 and a committed number is never
// handed out again.
func (t *txn) CreateIncident(inc *incidents.Incident) error {
	if inc == nil {
		return errors.New("create incident: nil incident")
	}
	t.wrote()
	n, err := t.b.incidents.NextSequence()
	if err != nil {
		return fmt.Errorf("create incident: numbering: %w", err)
	}
	inc.Number = n
	k := u64Key(n)
	if err := t.putIncident(k, inc); err != nil {
		return err
	}
	if t.cache.bornFrom == 0 {
		t.cache.bornFrom = n
	}
	t.cache.bornTo = n
	// Not cached: in a storm of alerts that each open an incident, copying
	// every new incident into the cache cost 12% of the CPU and pushed the
	// incidents that are read again out of it. A new incident read again
	// (in this transaction or a later one) is decoded once from the record
	// just written, then cached.
	if inc.Status.Open() {
		if err := t.b.open.Put(k, nil); err != nil {
			return fmt.Errorf("incident #%d: open index: %w", n, err)
		}
		t.delta.open++
	}
	if err := t.putHome(inc.Home, n); err != nil {
		return err
	}
	t.delta.incidents++
	return nil
}

func (t *txn) putIncident(k []byte, inc *incidents.Incident) error {
	if err := t.b.incidents.Put(k, encodeIncident(inc)); err != nil {
		return fmt.Errorf("incident #%d: %w", inc.Number, err)
	}
	return nil
}

func (t *txn) putHome(h incidents.Home, number uint64) error {
	if h.IsZero() {
		return nil
	}
	k := putU64(homeKey(h), number)
	if len(k) > maxKeyLen {
		return fmt.Errorf("incident #%d: home channel and thread ids are %d bytes, too long to index", number, len(k))
	}
	if err := t.b.homes.Put(k, nil); err != nil {
		return fmt.Errorf("incident #%d: home index: %w", number, err)
	}
	return nil
}

// PutIncident implements incidents.Tx. It returns ErrNotFound for a number
// CreateIncident never assigned. The open and home indexes follow the new
// status and home at once; the record itself is encoded and stored when the
// transaction commits, once however many times it was put (inc is copied,
// so the caller may go on changing it). The stored Entries count is the
// timeline's, not inc's.
func (t *txn) PutIncident(inc *incidents.Incident) error {
	if inc == nil {
		return errors.New("put incident: nil incident")
	}
	k := u64Key(inc.Number)
	old, err := t.cached(inc.Number)
	if err != nil {
		return fmt.Errorf("put incident #%d: %w", inc.Number, err)
	}
	if old == nil {
		return fmt.Errorf("put incident #%d: %w", inc.Number, incidents.ErrNotFound)
	}
	t.wrote()
	t.remember(inc, true)
	switch wasOpen, isOpen := old.Status.Open(), inc.Status.Open(); {
	case wasOpen && !isOpen:
		if err := t.b.open.Delete(k); err != nil {
			return fmt.Errorf("incident #%d: open index: %w", inc.Number, err)
		}
		t.delta.open--
	case !wasOpen && isOpen:
		if err := t.b.open.Put(k, nil); err != nil {
			return fmt.Errorf("incident #%d: open index: %w", inc.Number, err)
		}
		t.delta.open++
	}
	if old.Home != inc.Home {
		if !old.Home.IsZero() {
			if err := t.b.homes.Delete(putU64(homeKey(old.Home), inc.Number)); err != nil {
				return fmt.Errorf("incident #%d: home index: %w", inc.Number, err)
			}
		}
		if err := t.putHome(inc.Home, inc.Number); err != nil {
			return err
		}
	}
	return nil
}

// AppendEntry implements incidents.Tx: e.Seq becomes one more than the
// timeline's last, and the entry is appended to events_recent, to be
// folded into the incident's key range later (see timeline.go).
func (t *txn) AppendEntry(e *incidents.Entry) error { return t.appendEntry(e, nil) }

// AppendEncodedEntry implements incidents.EncodedTx.
func (t *txn) AppendEncodedEntry(e *incidents.Entry, body []byte) error {
	return t.appendEntry(e, body)
}

// appendEntry stores e; body, when not nil, is e already encoded
// (DB.EncodeEntry).
func (t *txn) appendEntry(e *incidents.Entry, body []byte) error {
	if e == nil {
		return errors.New("append entry: nil entry")
	}
	if !t.exists(e.Incident) {
		return fmt.Errorf("append entry to incident #%d: %w", e.Incident, incidents.ErrNotFound)
	}
	last, err := t.lastSeq(e.Incident)
	if err != nil {
		return err
	}
	e.Seq = last + 1
	t.wrote()
	if err := t.appendRecentEntry(e, body); err != nil {
		return fmt.Errorf("append entry to incident #%d: %w", e.Incident, err)
	}
	if t.seqs == nil {
		t.seqs = make(map[uint64]uint64)
	}
	t.seqs[e.Incident] = e.Seq
	t.delta.entries++
	return nil
}

// SetOpenFingerprint implements incidents.Tx.
func (t *txn) SetOpenFingerprint(fp string, number uint64) error {
	if fp == "" {
		return fmt.Errorf("incident #%d: empty alert fingerprint", number)
	}
	if len(fp) > maxKeyLen {
		return fmt.Errorf("incident #%d: alert fingerprint is %d bytes; at most %d fit", number, len(fp), maxKeyLen)
	}
	t.wrote()
	if err := t.setFingerprint(fp, number); err != nil {
		return fmt.Errorf("incident #%d: fingerprint index: %w", number, err)
	}
	return nil
}

// ClearOpenFingerprint implements incidents.Tx: fp is removed from the
// fingerprint log or the index, wherever it is.
func (t *txn) ClearOpenFingerprint(fp string) error {
	if fp == "" || len(fp) > maxKeyLen {
		return nil
	}
	if err := t.clearFingerprint(fp); err != nil {
		return fmt.Errorf("fingerprint %q: %w", fp, err)
	}
	return nil
}

// MarkSeen implements incidents.Tx. A repeat writes nothing, so a storm of
// redelivered events costs no disk flush. A new id is appended to the
// seen_recent log rather than inserted into the id index (see seenLog).
func (t *txn) MarkSeen(eventID string, at time.Time) (bool, error) {
	if eventID == "" {
		return false, errors.New("mark event seen: empty event id")
	}
	if numberLen+len(eventID) > maxKeyLen {
		return false, fmt.Errorf("mark event seen: event id is %d bytes; at most %d fit", len(eventID), maxKeyLen-numberLen)
	}
	seen, err := t.markSeenAt([]byte(eventID), at)
	if err != nil {
		return false, fmt.Errorf("mark event %q seen: %w", eventID, err)
	}
	return seen, nil
}

// PutTimer implements incidents.Tx. Due must be within the years
// 1678–2262 (what Unix nanoseconds can hold); the zero time is refused so a
// forgotten Due does not fire at once.
func (t *txn) PutTimer(tm incidents.Timer) error {
	k, err := timerKey(tm)
	if err != nil {
		return err
	}
	v, err := json.Marshal(tm)
	if err != nil {
		return fmt.Errorf("timer %q of incident #%d: encoding: %w", tm.Key, tm.Incident, err)
	}
	t.wrote()
	if err := t.b.timers.Put(k, v); err != nil {
		return fmt.Errorf("timer %q of incident #%d: %w", tm.Key, tm.Incident, err)
	}
	if err := t.b.timersByInc.Put(timerIndexKey(k), nil); err != nil {
		return fmt.Errorf("timer %q of incident #%d: index: %w", tm.Key, tm.Incident, err)
	}
	return nil
}

// DeleteTimer implements incidents.Tx.
func (t *txn) DeleteTimer(tm incidents.Timer) error {
	k, err := timerKey(tm)
	if err != nil {
		// PutTimer refuses such timers, so none is stored.
		return nil
	}
	if t.b.timers.Get(k) == nil {
		return nil
	}
	return t.deleteTimerKey(k)
}

func (t *txn) deleteTimerKey(k []byte) error {
	t.wrote()
	if err := t.b.timers.Delete(k); err != nil {
		return fmt.Errorf("delete timer %q: %w", k[timerKeyFixedLength:], err)
	}
	if err := t.b.timersByInc.Delete(timerIndexKey(k)); err != nil {
		return fmt.Errorf("delete timer %q: index: %w", k[timerKeyFixedLength:], err)
	}
	return nil
}

// DeleteTimers implements incidents.Tx with a range scan of the incident's
// part of the timers_by_incident index.
func (t *txn) DeleteTimers(incident uint64, keyPrefix string) error {
	prefix := append(u64Key(incident), keyPrefix...)
	var doomed [][]byte
	c := t.b.timersByInc.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		// The index key ends in the due time, so a prefix match must also
		// leave room for it.
		if len(k) < len(prefix)+numberLen {
			continue
		}
		tk, ok := timerKeyFromIndex(k)
		if !ok {
			return fmt.Errorf("timer index key is %d bytes: %w", len(k), errDamaged)
		}
		doomed = append(doomed, tk)
	}
	for _, k := range doomed {
		if err := t.deleteTimerKey(k); err != nil {
			return err
		}
	}
	return nil
}

// readCounters loads the meta counters.
func readCounters(meta *bolt.Bucket) (counters, error) {
	var c counters
	for name, dst := range map[string]*int64{metaIncidents: &c.incidents, metaOpenIncidents: &c.open, metaEntries: &c.entries} {
		v := meta.Get([]byte(name))
		if v == nil {
			continue
		}
		n, ok := readU64(v)
		if !ok || n > math.MaxInt64 {
			return c, fmt.Errorf("meta counter %q: %w", name, errDamaged)
		}
		*dst = int64(n)
	}
	return c, nil
}

// flushCounters adds the transaction's deltas to the meta counters and
// returns the totals the commit will hold.
func (t *txn) flushCounters() (counters, error) {
	c, err := readCounters(t.b.meta)
	if err != nil {
		return c, err
	}
	if t.delta == (counters{}) {
		return c, nil
	}
	for name, pair := range map[string][2]*int64{
		metaIncidents:     {&c.incidents, &t.delta.incidents},
		metaOpenIncidents: {&c.open, &t.delta.open},
		metaEntries:       {&c.entries, &t.delta.entries},
	} {
		total, delta := pair[0], pair[1]
		if *delta == 0 {
			continue
		}
		*total = max(*total+*delta, 0)
		if err := t.b.meta.Put([]byte(name), u64Key(uint64(*total))); err != nil {
			return c, fmt.Errorf("meta counter %q: %w", name, err)
		}
	}
	t.delta = counters{}
	return c, nil
}

// Fingerprints streams every grouped fingerprint and its open incident in
// byte order of the fingerprint. It is not part of incidents.ReadTx:
// `firebreak migrate` uses it to copy the grouping index between stores.
// Keys still in fingerprints_recent are merged in.
func (t *txn) Fingerprints(fn func(fp string, number uint64) error) error {
	keys, logged, err := t.loggedFingerprints()
	if err != nil {
		return err
	}
	i := 0
	err = t.b.fingerprints.ForEach(func(k, v []byte) error {
		for ; i < len(keys) && keys[i] <= string(k); i++ {
			if keys[i] == string(k) {
				// Never both (see fingerprintLog); the log would win.
				continue
			}
			if err := fn(keys[i], logged[keys[i]]); err != nil {
				return err
			}
		}
		if _, dup := logged[string(k)]; dup {
			return fn(string(k), logged[string(k)])
		}
		n, ok := readU64(v)
		if !ok {
			return fmt.Errorf("fingerprint %q: index value is %d bytes: %w", k, len(v), errDamaged)
		}
		return fn(string(k), n)
	})
	if err != nil {
		return err
	}
	for ; i < len(keys); i++ {
		if err := fn(keys[i], logged[keys[i]]); err != nil {
			return err
		}
	}
	return nil
}
