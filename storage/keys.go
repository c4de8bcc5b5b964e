package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Bucket names. They are stored, so never rename one.
const (
	bucketIncidents    = "incidents"
	bucketEvents       = "events"
	bucketSeq          = "seq"
	bucketOpen         = "open"
	bucketFingerprints = "open_by_fingerprint"
	bucketHomes        = "home"
	bucketTimers       = "timers"
	bucketTimersByInc  = "timers_by_incident"
	bucketSeen         = "seen_events"
	bucketSeenByTime   = "seen_by_time"
	bucketSeenRecent   = "seen_recent"
	bucketEventsRecent = "events_recent"
	bucketAlerts       = "alerts"
	bucketAlertState   = "alert_state"
	bucketAlertsRecent = "alerts_recent"
	// bucketAlertStatesRecent holds the counters of alerts_recent's
	// alerts until they are folded into alert_state (schema 7).
	bucketAlertStatesRecent = "alert_states_recent"
	// bucketFingerprintsRecent is open_by_fingerprint's log (schema 6).
	bucketFingerprintsRecent = "fingerprints_recent"
	// bucketAlertCounts held schema 2's per-incident repeat counters; the
	// upgrade to schema 3 moves them into alert records and drops it.
	bucketAlertCounts   = "alert_counts"
	bucketMeta          = "meta"
	metaSchema          = "schema"
	metaIncidents       = "incidents"
	metaOpenIncidents   = "open_incidents"
	metaEntries         = "entries"
	schemaVersion       = 7
	maxKeyLen           = 32768 // bbolt's limit on key size
	numberLen           = 8
	eventKeyLen         = 2 * numberLen
	timerKeyFixedLength = 2 * numberLen
)

// allBuckets lists every bucket Open makes sure exists.
func allBuckets() []string {
	return []string{
		bucketIncidents, bucketEvents, bucketSeq, bucketOpen, bucketFingerprints, bucketHomes,
		bucketTimers, bucketTimersByInc, bucketSeen, bucketSeenByTime, bucketMeta,
		bucketSeenRecent, bucketEventsRecent, bucketAlerts, bucketAlertState, bucketAlertsRecent,
		bucketFingerprintsRecent, bucketAlertStatesRecent,
	}
}

func putU64(b []byte, n uint64) []byte { return binary.BigEndian.AppendUint64(b, n) }

func u64Key(n uint64) []byte { return putU64(make([]byte, 0, numberLen), n) }

// readU64 decodes an 8-byte big-endian value, reporting damaged ones.
func readU64(v []byte) (uint64, bool) {
	if len(v) != numberLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

func eventKey(number, seq uint64) []byte {
	return putU64(putU64(make([]byte, 0, eventKeyLen), number), seq)
}

// minKeyTime and maxKeyTime bound the times UnixNano can represent.
func minKeyTime() time.Time { return time.Unix(0, math.MinInt64) }
func maxKeyTime() time.Time { return time.Unix(0, math.MaxInt64) }

// timeBits orders times as unsigned integers: flipping the sign bit of the
// Unix nanoseconds puts times before 1970 before those after.
func timeBits(t time.Time) (uint64, bool) {
	if t.Before(minKeyTime()) || t.After(maxKeyTime()) {
		return 0, false
	}
	return uint64(t.UnixNano()) ^ (1 << 63), true
}

// clampedTimeBits is timeBits for times where only order matters (when an
// event id was seen): times out of range sort at the ends.
func clampedTimeBits(t time.Time) uint64 {
	switch {
	case t.Before(minKeyTime()):
		return 0
	case t.After(maxKeyTime()):
		return math.MaxUint64
	}
	b, _ := timeBits(t)
	return b
}

// homeKey is the home index prefix of h; the incident number follows it.
// Each component is length-prefixed so the encoding is prefix-free.
func homeKey(h incidents.Home) []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen16+len(h.Platform)+len(h.Channel)+len(h.Thread)+numberLen)
	for _, s := range []string{h.Platform, h.Channel, h.Thread} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// channelHomeKey is the home index prefix shared by a channel's own home
// and every thread in it: the thread's length prefix follows it.
func channelHomeKey(platform, channel string) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen16+len(platform)+len(channel))
	for _, s := range []string{platform, channel} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// timerKey is due(8) incident(8) key, the timers bucket key: a range scan
// from the start visits timers in due order.
func timerKey(t incidents.Timer) ([]byte, error) {
	due, ok := timeBits(t.Due)
	if !ok {
		return nil, fmt.Errorf("timer %q of incident #%d: due time %v is outside the years 1678–2262", t.Key, t.Incident, t.Due)
	}
	if timerKeyFixedLength+len(t.Key) > maxKeyLen {
		return nil, fmt.Errorf("timer key of incident #%d is %d bytes; at most %d fit", t.Incident, len(t.Key), maxKeyLen-timerKeyFixedLength)
	}
	k := make([]byte, 0, timerKeyFixedLength+len(t.Key))
	k = putU64(putU64(k, due), t.Incident)
	return append(k, t.Key...), nil
}

// timerIndexKey turns a timers key into its timers_by_incident key:
// incident(8) key due(8), so one incident's timers with a key prefix are a
// range.
func timerIndexKey(timerKey []byte) []byte {
	k := make([]byte, 0, len(timerKey))
	k = append(k, timerKey[numberLen:]...)
	return append(k, timerKey[:numberLen]...)
}

// timerKeyFromIndex reverses timerIndexKey; ok is false for damaged keys.
func timerKeyFromIndex(index []byte) ([]byte, bool) {
	if len(index) < timerKeyFixedLength {
		return nil, false
	}
	cut := len(index) - numberLen
	k := make([]byte, 0, len(index))
	k = append(k, index[cut:]...)
	return append(k, index[:cut]...), true
}

// seenTimeKey is at(8) id, the seen_by_time key: pruning is a range scan
// from the start.
func seenTimeKey(at uint64, id []byte) []byte {
	k := make([]byte, 0, numberLen+len(id))
	return append(putU64(k, at), id...)
}
