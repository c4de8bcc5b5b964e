package storage

import (
	"fmt"
	"time"
)

// SeenIDs streams every recorded event id with when it was seen: those in
// the id index (in byte order of the id), then those still waiting in the
// recent log (in the order they were seen). Ids older than the TTL that
// the hourly prune has not removed yet are included; the caller decides
// what has expired. It is not part of incidents.ReadTx: `firebreak
// migrate to-etcd` uses it so that a webhook or chat event delivered again
// after the move is still recognised as a duplicate.
func (t *txn) SeenIDs(fn func(id string, at time.Time) error) error {
	err := t.b.seen.ForEach(func(id, at []byte) error {
		bits, ok := readU64(at)
		if !ok {
			return fmt.Errorf("seen event %q: time is %d bytes: %w", id, len(at), errDamaged)
		}
		return fn(string(id), timeFromBits(bits))
	})
	if err != nil {
		return err
	}
	return t.b.seenRecent.ForEach(func(_, v []byte) error {
		if len(v) <= numberLen {
			return fmt.Errorf("recent seen event record is %d bytes: %w", len(v), errDamaged)
		}
		bits, _ := readU64(v[:numberLen])
		return fn(string(v[numberLen:]), timeFromBits(bits))
	})
}

// timeFromBits is the inverse of timeBits (clampedTimeBits' ends come back
// as the earliest and latest representable times).
func timeFromBits(bits uint64) time.Time {
	return time.Unix(0, int64(bits^(1<<63))).UTC()
}
