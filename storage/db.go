package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/firebreak/firebreak/incidents"
)

var (
	_ incidents.Store     = (*DB)(nil)
	_ incidents.Encoder   = (*DB)(nil)
	_ incidents.EncodedTx = (*txn)(nil)
)

// EncodeAlert implements incidents.Encoder: a's record in alerts, as
// PutAlert would encode it. It runs in the caller's goroutine, so that
// the committer, which every write waits for, does not.
func (d *DB) EncodeAlert(a *incidents.AlertState) []byte { return encodeAlertContent(a) }

// EncodeEntry implements incidents.Encoder: e's record in the timeline,
// apart from the key (its incident and Seq), as AppendEntry would encode
// it.
func (d *DB) EncodeEntry(e *incidents.Entry) []byte { return encodeEntry(e) }

// Errors callers may test with errors.Is.
var (
	// ErrLocked means another process (or another DB in this process) holds
	// the database file.
	ErrLocked = errors.New("database locked")
	// ErrClosed is returned by calls on a closed DB, and by Update calls
	// still queued when Close was called.
	ErrClosed = errors.New("database closed")
	// ErrSchemaTooNew means the file was written by a newer Firebreak whose
	// layout this version does not understand.
	ErrSchemaTooNew = errors.New("database schema is newer than this Firebreak")
)

// Defaults for Options' zero values.
const (
	DefaultTimeout = 2 * time.Second
	DefaultSeenTTL = 7 * 24 * time.Hour
)

// initialMmapSize is mapped up front so the first tens of megabytes of
// growth need no remap; a remap waits for every open read transaction (a
// backup in progress, say) and stalls commits meanwhile.
const initialMmapSize = 64 << 20

// Options configure Open. The zero value is ready for production use.
type Options struct {
	// Timeout bounds the wait for the file lock another process holds
	// (default DefaultTimeout). Open never waits forever.
	Timeout time.Duration
	// NoSync skips fsync on commit. For tests and benchmarks only: with it,
	// a crash or power cut can lose committed incidents or damage the file.
	NoSync bool
	// Logger receives storage logs (default slog.Default()).
	Logger *slog.Logger
	// SeenTTL is how long platform event ids are remembered for
	// deduplication (default DefaultSeenTTL); older ones are pruned in the
	// background. Negative disables pruning.
	SeenTTL time.Duration
}

// Stats are cheap totals for metrics and status output, read from counters
// kept in the same transactions as the data, never from a scan.
type Stats struct {
	// Incidents is every incident ever created.
	Incidents uint64
	// OpenIncidents is those not resolved.
	OpenIncidents uint64
	// Entries is timeline entries across all incidents.
	Entries uint64
	// Commits is write transactions committed since Open, and Updates the
	// Update calls they carried: Updates/Commits is the group-commit factor.
	Commits, Updates uint64
}

// DB is Firebreak's bbolt database. It implements incidents.Store and is
// safe for concurrent use. Close it to release the file lock.
type DB struct {
	bolt *bolt.DB
	path string
	log  *slog.Logger

	mu      sync.Mutex // guards queue and closing
	queue   []*request
	closing bool
	wake    chan struct{} // capacity 1: "the queue may be non-empty"
	closed  atomic.Bool

	// committed caches committed incident records for the committer
	// goroutine only (see incidentCache).
	committed map[uint64]*cachedIncident
	// seen is the log of recently seen event ids (committer only).
	seen *seenLog
	// alerts is the log of recently added alerts (committer only).
	alerts *alertLog
	// fingerprints is the log of recently grouped fingerprints (committer
	// only).
	fingerprints *fingerprintLog
	// foldAt is how many timeline entries wait in events_recent before a
	// commit folds them into events.
	foldAt uint64

	// outbox is the DB's one Outbox: Enqueue in write transactions,
	// delivery state for the worker (see outbox.go).
	outbox *Outbox

	stats   atomic.Pointer[counters]
	commits atomic.Uint64
	updates atomic.Uint64

	stopPruner context.CancelFunc
	workers    sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

// lockedError is the ErrLocked users see: it names the file and says who
// is likely holding it.
type lockedError struct {
	path    string
	timeout time.Duration
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("database %s is in use by another Firebreak process (bbolt lock not acquired within %s)", e.path, e.timeout)
}

func (e *lockedError) Unwrap() error { return ErrLocked }

// Open opens (creating it with mode 0600 if absent) the database at path,
// waiting at most opts.Timeout for the file lock. A file written by a newer
// Firebreak is refused with ErrSchemaTooNew rather than misread.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path (set FIREBREAK_DB)")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.SeenTTL == 0 {
		opts.SeenTTL = DefaultSeenTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         opts.Timeout,
		NoSync:          opts.NoSync,
		InitialMmapSize: initialMmapSize,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &lockedError{path: path, timeout: opts.Timeout}
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	c, err := prepare(bdb)
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	seen, err := loadSeenLog(bdb)
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	alerts, err := loadAlertLog(bdb)
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	fingerprints, err := loadFingerprintLog(bdb, nil)
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	d := &DB{bolt: bdb, seen: seen, alerts: alerts, fingerprints: fingerprints, foldAt: defaultTimelineFold, path: path, log: opts.Logger.With("db", path), wake: make(chan struct{}, 1),
		committed: make(map[uint64]*cachedIncident)}
	d.outbox = &Outbox{db: d, committed: make(chan struct{}, 1)}
	d.stats.Store(&c)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		d.log.Warn("database file is readable by other users; it holds incident details", "mode", fi.Mode().Perm(), "fix", "chmod 600 "+path)
	}
	d.workers.Add(1)
	go d.commitLoop()
	ctx, cancel := context.WithCancel(context.Background())
	d.stopPruner = cancel
	if opts.SeenTTL > 0 {
		d.workers.Go(func() { d.pruneLoop(ctx, opts.SeenTTL) })
	}
	d.log.Debug("database open", "incidents", c.incidents, "open_incidents", c.open, "entries", c.entries)
	return d, nil
}

// prepare checks the schema version and creates missing buckets. It only
// writes (and fsyncs) when something is missing, so opening an existing
// file to read it costs no write.
func prepare(bdb *bolt.DB) (counters, error) {
	var c counters
	complete := false
	err := bdb.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil {
			return nil
		}
		if err := checkSchema(meta); err != nil {
			return err
		}
		v, _ := readU64(meta.Get([]byte(metaSchema)))
		complete = v == schemaVersion
		for _, name := range schemaBuckets() {
			complete = complete && tx.Bucket([]byte(name)) != nil
		}
		var err error
		c, err = readCounters(meta)
		return err
	})
	if err != nil || complete {
		return c, err
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range schemaBuckets() {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("creating bucket %q: %w", name, err)
			}
		}
		meta := tx.Bucket([]byte(bucketMeta))
		if err := checkSchema(meta); err != nil {
			return err
		}
		// A file of an older schema is upgraded in place, in this one
		// transaction: schema 2 only added buckets (created above); schema 3
		// moves every incident's alerts into records of their own; schema 4
		// writes incident records in binary and still reads JSON ones, so
		// nothing is rewritten; schema 6 only adds fingerprints_recent
		// (created above); schema 7 moves the counters waiting in
		// alerts_recent into alert_states_recent. Recording the new version keeps an older
		// Firebreak from reading a layout it would misread (version 1 would
		// ignore event ids waiting in seen_recent, version 2 would see
		// incidents without their alerts, version 3 could not decode a
		// binary incident record, version 5 would not see the grouped
		// fingerprints waiting in fingerprints_recent and open a second
		// incident for their alerts, version 6 would not find the alerts
		// whose content stays in alerts_recent).
		v, _ := readU64(meta.Get([]byte(metaSchema)))
		if v > 0 && v < 3 {
			if err := upgradeToAlertRecords(tx); err != nil {
				return fmt.Errorf("upgrading schema %d to %d: %w", v, schemaVersion, err)
			}
		}
		if v > 0 && v < 7 {
			if err := upgradeAlertStateLog(tx); err != nil {
				return fmt.Errorf("upgrading schema %d to %d: %w", v, schemaVersion, err)
			}
		}
		if v < schemaVersion {
			if err := meta.Put([]byte(metaSchema), u64Key(schemaVersion)); err != nil {
				return fmt.Errorf("recording schema version: %w", err)
			}
		}
		var err error
		c, err = readCounters(meta)
		return err
	})
	return c, err
}

func checkSchema(meta *bolt.Bucket) error {
	v := meta.Get([]byte(metaSchema))
	if v == nil {
		return nil
	}
	if len(v) != numberLen {
		return fmt.Errorf("schema version record is %d bytes: %w", len(v), errDamaged)
	}
	switch n := binary.BigEndian.Uint64(v); {
	case n > schemaVersion:
		return fmt.Errorf("%w: the file has schema %d, this Firebreak reads up to %d; run the newer Firebreak, or restore a backup taken by this version", ErrSchemaTooNew, n, schemaVersion)
	case n < 1:
		return fmt.Errorf("schema version %d: %w", n, errDamaged)
	}
	return nil
}

// Outbox is the DB's outbox: the effects intents record with
// incidents.Tx.Enqueue, for the outbox worker to deliver.
func (d *DB) Outbox() *Outbox { return d.outbox }

// Path is the file the DB was opened from.
func (d *DB) Path() string { return d.path }

// Close stops background work, fails Update calls still queued with
// ErrClosed (a batch already running completes and commits), and closes
// the file, releasing its lock. Calling Close again returns the first
// result.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.stopPruner()
		d.mu.Lock()
		d.closing = true
		pending := d.queue
		d.queue = nil
		d.mu.Unlock()
		for _, r := range pending {
			r.done <- fmt.Errorf("update not run: %w", ErrClosed)
		}
		d.signal()
		d.workers.Wait()
		if err := d.bolt.Close(); err != nil {
			d.closeErr = fmt.Errorf("close database %s: %w", d.path, err)
		}
	})
	return d.closeErr
}

// View implements incidents.Store: fn sees one consistent snapshot and may
// run concurrently with other Views and with a commit. fn must not call
// Update (that would deadlock when the commit needs to grow the file).
// fn's error is returned as is.
func (d *DB) View(ctx context.Context, fn func(incidents.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.closed.Load() {
		return ErrClosed
	}
	tx, err := d.bolt.Begin(false)
	if err != nil {
		return fmt.Errorf("read database %s: %w", d.path, err)
	}
	defer func() { _ = tx.Rollback() }()
	t, err := newTxn(tx)
	if err != nil {
		return fmt.Errorf("read database %s: %w", d.path, err)
	}
	return fn(t)
}

// Stats returns the totals as of the last commit, without a transaction.
func (d *DB) Stats() Stats {
	c := d.stats.Load()
	return Stats{
		Incidents:     uint64(c.incidents),
		OpenIncidents: uint64(c.open),
		Entries:       uint64(c.entries),
		Commits:       d.commits.Load(),
		Updates:       d.updates.Load(),
	}
}
