package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Large Updates. etcd refuses a Txn with more than --max-txn-ops
// operations (128 by default) or a request over --max-request-bytes (1.5
// MiB); a 100-alert payload writes about 300 keys. An Update whose writes
// do not fit in one Txn is committed in three phases, and stays one atomic,
// serializable transaction to every reader:
//
//  1. Stage: its writes are encoded into a few stage/<id>/<i> keys (each
//     well under the request limit), attached to a lease so that the
//     staging of a replica that dies before phase 2 disappears by itself.
//     Nothing reads stage/ yet.
//  2. Commit: one Txn, under the same conflict check (and leader fence)
//     as a small Update, changes meta/commit, writes meta/pending naming the
//     staging, and detaches the staged keys from their lease. This is the
//     commit point: from here on the writes are part of the store.
//  3. Apply: the staged writes are copied to their keys in Txns that fit
//     the limits, each only while meta/pending still names this staging;
//     the last one deletes meta/pending and the staging.
//
// Every transaction begins with a snapshot that reads meta/pending beside
// meta/commit; if a commit is pending, it applies it first (whichever
// replica staged it, so a replica that dies during phase 3 leaves nothing
// half-visible) and takes its snapshot after. No Update commits while
// meta/pending exists (its snapshot would have applied it), and an apply
// Txn of a staging that another replica already finished fails its
// comparison and writes nothing, so the same staging applied twice writes
// the same values and never overwrites a later Update.

// stagedWrite is one write of a large Update as it is staged.
type stagedWrite struct {
	K string `json:"k"`
	V []byte `json:"v,omitempty"`
	D bool   `json:"d,omitempty"`
	// L: attached to the seen-id lease (MarkSeen). The applier attaches
	// it to its own current seen-id lease: the stager's may have expired.
	L bool `json:"l,omitempty"`
}

// pendingCommit is meta/pending's value: the staging of a committed large
// Update that is not applied yet.
type pendingCommit struct {
	ID     string `json:"id"`
	Chunks int    `json:"chunks"`
}

// stageTTL is the lease of staging keys until their commit point.
const stageTTL = 600 // seconds

// fits reports whether t's writes fit in one Txn of the cluster's limits.
func (s *Store) fits(t *txn) bool {
	if len(t.writes)+1 > s.cfg.MaxTxnOps {
		return false
	}
	size := 0
	for k, w := range t.writes {
		size += len(k) + len(w.val) + opOverhead
	}
	return size <= s.cfg.MaxRequestBytes
}

// chunkBytes bounds the payload of one staging key or one apply Txn: half
// the request limit, for base64, JSON and protobuf framing.
func (s *Store) chunkBytes() int { return s.cfg.MaxRequestBytes / 2 }

// commitLarge runs phases 1–3 for a transaction that does not fit in one
// Txn. committed=false, err=nil is a lost conflict (run fn again).
func (s *Store) commitLarge(ctx context.Context, t *txn, fence []clientv3.Cmp) (bool, error) {
	writes := make([]stagedWrite, 0, len(t.writes))
	for k, w := range t.writes {
		if n := len(k) + len(w.val) + opOverhead; n > s.chunkBytes()*3/4 {
			return false, fmt.Errorf("etcd update: %w: one value of %d bytes (%s) exceeds what fits in a request of %d bytes (raise --max-request-bytes)", ErrTooLarge, n, k, s.cfg.MaxRequestBytes)
		}
		writes = append(writes, stagedWrite{K: k, V: w.val, D: w.del, L: w.lease != clientv3.NoLease})
	}
	slices.SortFunc(writes, func(a, b stagedWrite) int { return strings.Compare(a.K, b.K) })
	chunks, err := s.stageChunks(writes)
	if err != nil {
		return false, err
	}

	// Phase 1: stage.
	lease, err := s.client.Grant(ctx, stageTTL)
	if err != nil {
		return false, s.unavailable("lease for a large update", err)
	}
	revoke := func() {
		// Best effort: the lease expires anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
		defer cancel()
		_, _ = s.client.Revoke(rctx, lease.ID)
	}
	id := strconv.FormatInt(t.rev, 10) + "-" + strconv.FormatUint(rand.Uint64(), 36)
	for i, c := range chunks {
		if _, err := s.client.Put(ctx, s.k.stage(id, i), string(c), clientv3.WithLease(lease.ID)); err != nil {
			revoke()
			return false, s.unavailable("stage a large update", err)
		}
	}

	// Phase 2: commit.
	pend, _ := json.Marshal(pendingCommit{ID: id, Chunks: len(chunks)})
	ops := []clientv3.Op{
		clientv3.OpPut(s.k.commit(), strconv.FormatInt(t.rev, 10)),
		clientv3.OpPut(s.k.pending(), string(pend)),
	}
	for i := range chunks {
		// A put that keeps the value and names no lease detaches the key
		// from the staging lease: the staging now lives until applied.
		ops = append(ops, clientv3.OpPut(s.k.stage(id, i), "", clientv3.WithIgnoreValue()))
	}
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.k.commit()), "<", t.rev+1)}, fence...)
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
	switch {
	case errors.Is(err, rpctypes.ErrKeyNotFound):
		return false, nil // the staging lease ran out first: stage again
	case err != nil:
		// Committed or not: unknown, like a small Update's failed commit.
		// If it did commit, the next snapshot applies it.
		return false, s.unavailable("commit", err)
	case !resp.Succeeded:
		revoke()
		if len(fence) > 0 {
			f, err := s.client.Txn(ctx).If(fence...).Commit()
			if err != nil {
				return false, s.unavailable("fence check", err)
			}
			if !f.Succeeded {
				return false, fmt.Errorf("etcd update: %w", ErrFenced)
			}
		}
		return false, nil
	}

	// Phase 3: apply. The Update is committed whatever happens now; if
	// this fails, the next snapshot (of any replica) applies it.
	if s.dieAfterCommitPoint {
		return true, nil
	}
	if err := s.apply(ctx, string(pend), writes); err == nil {
		// The staging is applied and gone (and was detached from the
		// lease anyway): revoking spares etcd a lease per storm payload
		// for ten minutes.
		revoke()
	}
	return true, nil
}

// stageChunks encodes writes into JSON arrays of at most chunkBytes each.
func (s *Store) stageChunks(writes []stagedWrite) ([][]byte, error) {
	var chunks [][]byte
	var cur []json.RawMessage
	size := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		b, err := json.Marshal(cur)
		if err != nil {
			return fmt.Errorf("etcd update: staging: %w", err)
		}
		chunks = append(chunks, b)
		cur, size = nil, 0
		return nil
	}
	for _, w := range writes {
		b, err := json.Marshal(w)
		if err != nil {
			return nil, fmt.Errorf("etcd update: staging %s: %w", w.K, err)
		}
		if size+len(b)+1 > s.chunkBytes() {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, b)
		size += len(b) + 1
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(chunks)+2 > s.cfg.MaxTxnOps {
		return nil, fmt.Errorf("etcd update: %w: it writes %d keys in %d staged parts, more than the %d operations per transaction its commit needs (raise --max-txn-ops and set %s to match)", ErrTooLarge, len(writes), len(chunks), s.cfg.MaxTxnOps, EnvMaxTxnOps)
	}
	return chunks, nil
}

// rollForward applies the pending commit pend (meta/pending's value),
// reading its staging; it returns nil also when another replica has
// finished it meanwhile.
func (s *Store) rollForward(ctx context.Context, pend []byte) error {
	var p pendingCommit
	if err := json.Unmarshal(pend, &p); err != nil || p.ID == "" {
		return fmt.Errorf("meta/pending %q: %w", pend, errDamaged)
	}
	var writes []stagedWrite
	for i := range p.Chunks {
		resp, err := s.client.Get(ctx, s.k.stage(p.ID, i))
		if err != nil {
			return s.unavailable("read a pending large update", err)
		}
		if len(resp.Kvs) == 0 {
			// Finished by another replica (it deletes the staging with
			// meta/pending), or damage: ask meta/pending.
			now, err := s.client.Get(ctx, s.k.pending())
			if err != nil {
				return s.unavailable("read a pending large update", err)
			}
			if len(now.Kvs) == 0 || string(now.Kvs[0].Value) != string(pend) {
				return nil
			}
			return fmt.Errorf("pending large update %s: staged part %d is missing: %w", p.ID, i, errDamaged)
		}
		var part []stagedWrite
		if err := json.Unmarshal(resp.Kvs[0].Value, &part); err != nil {
			return fmt.Errorf("pending large update %s part %d: %w (%w)", p.ID, i, err, errDamaged)
		}
		writes = append(writes, part...)
	}
	return s.apply(ctx, string(pend), writes)
}

// apply is phase 3: writes in Txns that fit the limits, each only while
// meta/pending is still pend; the last also deletes meta/pending and the
// staging.
func (s *Store) apply(ctx context.Context, pend string, writes []stagedWrite) error {
	var p pendingCommit
	_ = json.Unmarshal([]byte(pend), &p)
	still := clientv3.Compare(clientv3.Value(s.k.pending()), "=", pend)
	var lease clientv3.LeaseID
	for attempt := 0; ; attempt++ {
		var err error
		if lease, err = s.seenLeaseIDIfNeeded(ctx, writes); err != nil {
			return err
		}
		err = s.applyFrom(ctx, still, lease, p.ID, writes)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt < 3 {
			s.seen.reset()
			continue // every apply Txn is idempotent: start again
		}
		return err
	}
}

func (s *Store) seenLeaseIDIfNeeded(ctx context.Context, writes []stagedWrite) (clientv3.LeaseID, error) {
	for _, w := range writes {
		if w.L && !w.D {
			return s.seenLeaseID(ctx)
		}
	}
	return clientv3.NoLease, nil
}

func (s *Store) applyFrom(ctx context.Context, still clientv3.Cmp, lease clientv3.LeaseID, id string, writes []stagedWrite) error {
	var ops []clientv3.Op
	size := 0
	send := func(final bool) (bool, error) {
		if final {
			ops = append(ops, clientv3.OpDelete(s.k.pending()), clientv3.OpDelete(s.k.stages(id), clientv3.WithPrefix()))
		}
		resp, err := s.client.Txn(ctx).If(still).Then(ops...).Commit()
		ops, size = ops[:0], 0
		if err != nil {
			return false, s.unavailable("apply a large update", err)
		}
		return resp.Succeeded, nil
	}
	for _, w := range writes {
		n := len(w.K) + len(w.V) + opOverhead
		if len(ops)+1 > s.cfg.MaxTxnOps-2 || size+n > s.chunkBytes() {
			if ok, err := send(false); err != nil || !ok {
				return err // !ok: another replica finished it
			}
		}
		switch {
		case w.D:
			ops = append(ops, clientv3.OpDelete(w.K))
		case w.L && lease != clientv3.NoLease:
			ops = append(ops, clientv3.OpPut(w.K, string(w.V), clientv3.WithLease(lease)))
		default:
			ops = append(ops, clientv3.OpPut(w.K, string(w.V)))
		}
		size += n
	}
	_, err := send(true)
	return err
}
