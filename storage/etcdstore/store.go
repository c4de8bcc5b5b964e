package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/firebreak/firebreak/incidents"
)

var _ incidents.Store = (*Store)(nil)

var (
	// ErrUnavailable wraps errors from an etcd cluster that could not
	// answer (no quorum, unreachable, timed out). An Update that returns it
	// may or may not have committed; webhooks answer 503 so senders retry.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrTooLarge is returned when one Update would exceed the cluster's
	// per-transaction limits (Config.MaxTxnOps, Config.MaxRequestBytes).
	ErrTooLarge = errors.New("transaction too large for etcd")
	// ErrFenced is returned by UpdateFenced when its fence no longer
	// holds (this replica was deposed): nothing was written.
	ErrFenced = errors.New("fenced write refused: no longer the leader")
	// ErrConflict is returned when an Update lost maxAttempts conflicts in
	// a row to other replicas' writes.
	ErrConflict = errors.New("too many conflicting writes")
	// errDamaged marks keys or values this package cannot have written.
	errDamaged = errors.New("damaged etcd record")
)

const (
	// pageSize is how many keys one range read fetches: ranges are read
	// page by page, never whole.
	pageSize = 1024
	// maxAttempts bounds how often an Update re-runs fn after conflicts.
	maxAttempts = 64
	// opOverhead is a generous per-operation allowance for the protobuf
	// framing when the size of a Txn request is estimated.
	opOverhead = 32
)

// Store is incidents.Store on an etcd cluster. It is safe for concurrent
// use by many goroutines; several processes (replicas) may share one
// cluster and prefix.
type Store struct {
	client *clientv3.Client
	owned  bool // Close closes client
	cfg    Config
	k      keys
	// writer serialises this process's commits (a one-slot semaphore that
	// honours contexts): they would only conflict with each other. Its
	// holder commits the queued Updates as one group (group.go).
	writer chan struct{}
	mu     sync.Mutex // guards queue
	queue  []*request
	seen   seenLease
	// dieAfterCommitPoint makes a large Update return right after its
	// commit point, leaving the apply to the next snapshot: what a replica
	// killed at that moment leaves behind (tests only, export_test.go).
	dieAfterCommitPoint bool
}

// Open connects to the cluster cfg names. Close releases the connection.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		TLS:         tlsCfg,
		Username:    cfg.Username,
		Password:    cfg.Password,
		Context:     context.WithoutCancel(ctx),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w: %w", cfg.Endpoints, ErrUnavailable, err)
	}
	s := New(client, cfg)
	s.owned = true
	// Fail at start-up, not at the first alert, when the cluster cannot be
	// reached or the credentials are wrong.
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := client.Get(pctx, s.k.commit()); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("etcd %v: %w: %w", cfg.Endpoints, ErrUnavailable, err)
	}
	return s, nil
}

// New uses an existing client (tests, or a binary that shares one client
// with leader election). Only Endpoints-independent fields of cfg are used;
// Close does not close the client.
func New(client *clientv3.Client, cfg Config) *Store {
	cfg = cfg.withDefaults()
	return &Store{client: client, cfg: cfg, k: keys{p: cfg.Prefix}, writer: make(chan struct{}, 1)}
}

// Client is the connection the store uses, for leader election on the same cluster.
func (s *Store) Client() *clientv3.Client { return s.client }

// Close closes the connection if Open made it.
func (s *Store) Close() error {
	if s.owned {
		return s.client.Close()
	}
	return nil
}

// snapshot returns the current revision with a linearizable read, so a
// transaction starting now sees every write committed before.
// A large Update committed but not yet applied (see large.go) is applied
// first, so no transaction ever sees part of one.
func (s *Store) snapshot(ctx context.Context) (int64, error) {
	for range maxAttempts {
		resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(s.k.commit()), clientv3.OpGet(s.k.pending())).Commit()
		if err != nil {
			return 0, s.unavailable("read", err)
		}
		pending := resp.Responses[1].GetResponseRange().GetKvs()
		if len(pending) == 0 {
			return resp.Header.Revision, nil
		}
		if err := s.rollForward(ctx, pending[0].Value); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("etcd read: %w: large updates kept arriving (%d in a row)", ErrConflict, maxAttempts)
}

func (s *Store) unavailable(what string, err error) error {
	return fmt.Errorf("etcd %s: %w: %w", what, ErrUnavailable, err)
}

// View runs fn on a snapshot at the current revision. Reads are
// linearizable: fn sees every Update that returned before View began.
func (s *Store) View(ctx context.Context, fn func(incidents.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd view: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	rev, err := s.snapshot(sctx)
	cancel()
	if err != nil {
		return err
	}
	return fn(&txn{ctx: ctx, s: s, rev: rev})
}

// Update runs fn in one serializable transaction and returns nil only once
// etcd has committed it to a quorum of members. If fn returns an error,
// nothing fn wrote is kept. fn runs again, on a fresh snapshot, when
// another replica committed in the meantime (see the package comment).
func (s *Store) Update(ctx context.Context, fn func(incidents.Tx) error) error {
	return s.UpdateFenced(ctx, nil, fn)
}

// UpdateFenced is Update for writes only the leader may make: the commit
// also requires every comparison in fence (leader.Term.Cmp) to hold, in
// the same etcd Txn, so a deposed leader's write is refused by etcd even
// if the deposed process has not noticed yet. It returns an error wrapping
// ErrFenced, with nothing written, once the fence fails.
func (s *Store) UpdateFenced(ctx context.Context, fence []clientv3.Cmp, fn func(incidents.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd update: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	r := &request{ctx: ctx, fence: fence, fn: fn, done: make(chan error, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	for {
		select {
		case err := <-r.done:
			return err
		case s.writer <- struct{}{}:
			// This caller commits for everyone waiting (group.go); its own
			// request is in the group, or in a later one.
			if g := s.takeGroup(); len(g) > 0 {
				s.commitGroup(g)
			}
			<-s.writer
		case <-ctx.Done():
			if s.withdraw(r) {
				return fmt.Errorf("etcd update: waiting for this replica's previous write: %w: %w", ErrUnavailable, ctx.Err())
			}
			return <-r.done // already in a group being committed: its outcome comes
		}
	}
}

// commitTxn commits t's writes in one etcd Txn, on the conflict check and
// the fence, or in phases when they do not fit (large.go). committed=false,
// err=nil is a lost conflict (run the fns again).
func (s *Store) commitTxn(ctx context.Context, t *txn, fence []clientv3.Cmp) (bool, error) {
	if len(t.writes) == 0 {
		return true, nil // read-only: nothing to commit
	}
	if !s.fits(t) {
		return s.commitLarge(ctx, t, fence)
	}
	ops, err := s.ops(t)
	if err != nil {
		return false, err
	}
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.k.commit()), "<", t.rev+1)}, fence...)
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
	switch {
	case err == nil && !resp.Succeeded && len(fence) > 0:
		// A conflict, or a deposed leader? Ask about the fence alone.
		f, err := s.client.Txn(ctx).If(fence...).Commit()
		if err != nil {
			return false, s.unavailable("fence check", err)
		}
		if !f.Succeeded {
			return false, fmt.Errorf("etcd update: %w", ErrFenced)
		}
		return false, nil
	case err == nil:
		return resp.Succeeded, nil
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		// The seen-id lease expired or was revoked: take a new one and
		// run again (nothing was committed).
		s.seen.reset()
		return false, nil
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return false, fmt.Errorf("etcd update: %w: the cluster refused %d operations: %w (raise the cluster's --max-txn-ops/--max-request-bytes and set %s to match)", ErrTooLarge, len(ops), err, EnvMaxTxnOps)
	}
	return false, s.unavailable("commit", err)
}

// ops turns a transaction's writes into Txn operations, in key order, with
// the commit key last, after checking them against the cluster's limits.
func (s *Store) ops(t *txn) ([]clientv3.Op, error) {
	if n := len(t.writes) + 1; n > s.cfg.MaxTxnOps {
		return nil, fmt.Errorf("etcd update: %w: it writes %d keys, the cluster allows %d per transaction (raise --max-txn-ops on every member and set %s to match)", ErrTooLarge, n, s.cfg.MaxTxnOps, EnvMaxTxnOps)
	}
	names := make([]string, 0, len(t.writes))
	for k := range t.writes {
		names = append(names, k)
	}
	slices.Sort(names)
	ops := make([]clientv3.Op, 0, len(names)+1)
	size := 0
	for _, k := range names {
		w := t.writes[k]
		size += len(k) + len(w.val) + opOverhead
		switch {
		case w.del:
			ops = append(ops, clientv3.OpDelete(k))
		case w.lease != clientv3.NoLease:
			ops = append(ops, clientv3.OpPut(k, string(w.val), clientv3.WithLease(w.lease)))
		default:
			ops = append(ops, clientv3.OpPut(k, string(w.val)))
		}
	}
	if size > s.cfg.MaxRequestBytes {
		return nil, fmt.Errorf("etcd update: %w: it writes about %d bytes, the cluster accepts %d per request (raise --max-request-bytes)", ErrTooLarge, size, s.cfg.MaxRequestBytes)
	}
	return append(ops, clientv3.OpPut(s.k.commit(), strconv.FormatInt(t.rev, 10))), nil
}

// seenLease hands out the lease seen event ids are attached to. One lease
// serves every id marked during a slice of SeenTTL/8, so marking an id
// costs no extra round trip, and ids are remembered between SeenTTL and
// 9/8 SeenTTL.
type seenLease struct {
	mu      sync.Mutex
	id      clientv3.LeaseID
	granted time.Time
	// restored are the leases of ids copied in with an earlier time
	// (RestoreSeen), by the end of the SeenTTL/8 slice they expire in.
	restored map[int64]clientv3.LeaseID
}

func (l *seenLease) reset() {
	l.mu.Lock()
	l.id = clientv3.NoLease
	l.restored = nil
	l.mu.Unlock()
}

func (s *Store) seenLeaseID(ctx context.Context) (clientv3.LeaseID, error) {
	l := &s.seen
	l.mu.Lock()
	defer l.mu.Unlock()
	slice := s.cfg.SeenTTL / 8
	if l.id != clientv3.NoLease && time.Since(l.granted) < slice {
		return l.id, nil
	}
	resp, err := s.client.Grant(ctx, int64((s.cfg.SeenTTL+slice)/time.Second))
	if err != nil {
		return clientv3.NoLease, s.unavailable("lease for seen event ids", err)
	}
	l.id, l.granted = resp.ID, time.Now()
	return l.id, nil
}

// restoredSeenLeaseID is the lease for an id seen at `at` and copied in
// from elsewhere: it runs out at the end of the SeenTTL/8 slice in which
// at+SeenTTL falls, so the id is forgotten when it would have been had it
// been marked here, not a whole SeenTTL after the copy. ok is false when
// the id has already expired.
func (s *Store) restoredSeenLeaseID(ctx context.Context, at time.Time) (id clientv3.LeaseID, ok bool, err error) {
	l := &s.seen
	l.mu.Lock()
	defer l.mu.Unlock()
	slice := s.cfg.SeenTTL / 8
	end := at.Add(s.cfg.SeenTTL).Truncate(slice).Add(slice)
	left := time.Until(end)
	if at.Add(s.cfg.SeenTTL).Before(time.Now()) || left < time.Second {
		return clientv3.NoLease, false, nil
	}
	if id, ok := l.restored[end.Unix()]; ok {
		return id, true, nil
	}
	resp, err := s.client.Grant(ctx, int64((left+time.Second-1)/time.Second))
	if err != nil {
		return clientv3.NoLease, false, s.unavailable("lease for seen event ids", err)
	}
	if l.restored == nil {
		l.restored = make(map[int64]clientv3.LeaseID)
	}
	l.restored[end.Unix()] = resp.ID
	return resp.ID, true, nil
}

// OpenIncidents counts the open incidents with one count-only range read
// of open/, so a metrics scrape costs the same however many are open.
func (s *Store) OpenIncidents(ctx context.Context) (int64, error) {
	p := s.k.opens()
	resp, err := s.client.Get(ctx, p, clientv3.WithRange(prefixEnd(p)), clientv3.WithCountOnly())
	if err != nil {
		return 0, s.unavailable("count open incidents", err)
	}
	return resp.Count, nil
}

// Ping is a linearizable read of one key: it succeeds only while the
// cluster has a quorum that answers, which is when Updates can commit.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.snapshot(ctx)
	return err
}
