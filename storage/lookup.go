package storage

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// lookups are a transaction's point reads, one reusable cursor per bucket.
//
// bbolt's Bucket.Get makes a new cursor for every read, and a new cursor's
// path from the root to the leaf is a slice grown from zero: three
// allocations for a tree three levels deep. In an alert storm the committer
// reads a few keys per alert (the fingerprint index, the alert's record,
// the seen event ids), and those slices were over a third of all the
// objects a storm allocated. Cursor.Seek starts from the root every time
// and reuses its slice, so one cursor per bucket serves every read of a
// transaction, including reads after writes to the same bucket (Seek
// reads the bucket's nodes as this transaction left them).
type lookups struct {
	n       int
	buckets [12]*bolt.Bucket
	cursors [12]*bolt.Cursor
}

// get is b.Get(k) through b's cursor. Like Get, it returns nil for a key b
// does not hold and for a nested bucket; the value is valid until the
// transaction ends.
func (l *lookups) get(b *bolt.Bucket, k []byte) []byte {
	c := l.cursor(b)
	got, v := c.Seek(k)
	if !bytes.Equal(got, k) {
		return nil
	}
	return v
}

// cursor returns b's cursor, made on first use. A bucket dropped and made
// again (the recent logs, when folded) is a new *bolt.Bucket and gets a
// cursor of its own.
func (l *lookups) cursor(b *bolt.Bucket) *bolt.Cursor {
	for i := range l.n {
		if l.buckets[i] == b {
			return l.cursors[i]
		}
	}
	c := b.Cursor()
	if l.n < len(l.buckets) {
		l.buckets[l.n], l.cursors[l.n] = b, c
		l.n++
	}
	return c
}
