package storage

import "hash/maphash"

// SetLogLimits lets tests make the recent logs spill and fold after a few
// records instead of thousands.
func SetLogLimits(d *DB, seenSpill int, timelineFold uint64) {
	d.seen.spill = seenSpill
	d.foldAt = timelineFold
}

// CachedIncidents is how many incidents the committer has cached.
func CachedIncidents(d *DB) int { return len(d.committed) }

// SetAlertSpill lets tests make the recent alert log fold after a few
// alerts instead of thousands, always the same number.
func SetAlertSpill(d *DB, n uint64) { SetAlertSpillBounds(d, n, n) }

// SetAlertSpillBounds lets tests make the recent alert log's spill grow
// from lo to hi as alerts are folded.
func SetAlertSpillBounds(d *DB, lo, hi uint64) {
	d.alerts.minSpill, d.alerts.maxSpill = lo, hi
	d.alerts.setSpill()
}

// AlertSpill is how many alerts the recent alert log may hold before the
// next fold.
func AlertSpill(d *DB) uint64 { return d.alerts.spill }

// LoggedAlerts is how many alerts wait in the recent alert log, as the
// committer knows them.
func LoggedAlerts(d *DB) int { return len(d.alerts.pending) }

// PagesWritten is how many pages bbolt has written since the file was
// opened (the meta page included), for the benchmarks' pages per commit.
func PagesWritten(d *DB) int64 {
	st := d.bolt.Stats()
	return st.TxStats.GetWrite()
}

// SetFingerprintSpill lets tests make the recent fingerprint log fold
// after a few keys instead of thousands, always the same number.
func SetFingerprintSpill(d *DB, n uint64) {
	d.fingerprints.minSpill, d.fingerprints.maxSpill = n, n
	d.fingerprints.setSpill()
}

// SetFingerprintEdge sets how many of the index's last keys a new key may
// sort before and still go to the index directly (0: only after all).
func SetFingerprintEdge(d *DB, n int) { d.fingerprints.edgeKeys = n }

// LoggedFingerprints is how many keys wait in the recent fingerprint log,
// as the committer knows them.
func LoggedFingerprints(d *DB) int { return d.fingerprints.pending.len() }

// FingerprintsByName is how many waiting keys the committer's index of the
// fingerprint log keeps by name because another had their hash.
func FingerprintsByName(d *DB) int { return len(d.fingerprints.pending.overflow) }

// SetFingerprintHash rebuilds the committer's index of the fingerprint log
// with hash instead of maphash.String, so tests can make keys collide.
// Only while no Update runs.
func SetFingerprintHash(d *DB, hash func(string) uint64) error {
	l, err := loadFingerprintLog(d.bolt, func(_ maphash.Seed, s string) uint64 { return hash(s) })
	if err != nil {
		return err
	}
	d.fingerprints.pending = l.pending
	return nil
}
