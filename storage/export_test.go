package storage

// SetLogLimits lets tests make the recent logs spill and fold after a few
// records instead of thousands.
func SetLogLimits(d *DB, seenSpill int, timelineFold uint64) {
	d.seen.spill = seenSpill
	d.foldAt = timelineFold
}

// CachedIncidents is how many incidents the committer has cached.
func CachedIncidents(d *DB) int { return len(d.committed) }

// SetAlertSpill lets tests make the recent alert log fold after a few
// alerts instead of thousands.
func SetAlertSpill(d *DB, n uint64) { d.alerts.spill = n }

// LoggedAlerts is how many alerts wait in the recent alert log, as the
// committer knows them.
func LoggedAlerts(d *DB) int { return len(d.alerts.pending) }

// PagesWritten is how many pages bbolt has written since the file was
// opened (the meta page included), for the benchmarks' pages per commit.
func PagesWritten(d *DB) int64 {
	st := d.bolt.Stats()
	return st.TxStats.GetWrite()
}
