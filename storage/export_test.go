package storage

// SetLogLimits lets tests make the recent logs spill and fold after a few
// records instead of thousands.
func SetLogLimits(d *DB, seenSpill int, timelineFold uint64) {
	d.seen.spill = seenSpill
	d.foldAt = timelineFold
}

// CachedIncidents is how many incidents the committer has cached.
func CachedIncidents(d *DB) int { return len(d.committed) }
