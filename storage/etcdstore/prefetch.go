package etcdstore

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/incidents"
)

var _ incidents.Prefetcher = (*txn)(nil)

// PrefetchFingerprints implements incidents.Prefetcher: the grouping index
// entries of keys, read in Txns of up to MaxTxnOps Gets at the snapshot's
// revision, into the transaction's read cache.
func (t *txn) PrefetchFingerprints(keys []string) error {
	ks := make([]string, 0, len(keys))
	for _, fp := range keys {
		if fp != "" {
			ks = append(ks, t.s.k.fingerprint(fp))
		}
	}
	return t.prefetch(ks)
}

// PrefetchAlerts implements incidents.Prefetcher for alert records; those
// of incidents this attempt created cannot be stored yet and are skipped.
func (t *txn) PrefetchAlerts(refs []incidents.AlertRef) error {
	ks := make([]string, 0, len(refs))
	for _, r := range refs {
		if r.Fingerprint != "" && !t.created[r.Incident] {
			ks = append(ks, t.s.k.alert(r.Incident, r.Fingerprint))
		}
	}
	return t.prefetch(ks)
}

// prefetch reads the keys not yet read or written by this transaction, at
// its revision, many per request (a serializable Txn of Gets, answered by
// the member the client talks to), and caches them as get would.
func (t *txn) prefetch(keys []string) error {
	need := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if _, ok := t.writes[k]; ok || seen[k] {
			continue
		}
		if _, ok := t.reads[k]; ok {
			continue
		}
		seen[k] = true
		need = append(need, k)
	}
	if t.reads == nil && len(need) > 0 {
		t.reads = make(map[string]read, len(need))
	}
	per := max(1, t.s.cfg.MaxTxnOps)
	for len(need) > 0 {
		chunk := need[:min(per, len(need))]
		need = need[len(chunk):]
		resp, err := t.getMany(chunk, true)
		if errors.Is(err, rpctypes.ErrFutureRev) {
			resp, err = t.getMany(chunk, false)
		}
		if err != nil {
			return t.s.unavailable("read ahead", err)
		}
		for i, k := range chunk {
			var r read
			if kvs := resp.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
				r = read{val: kvs[0].Value, ok: true}
			}
			t.reads[k] = r
		}
	}
	return nil
}

func (t *txn) getMany(keys []string, serializable bool) (*clientv3.TxnResponse, error) {
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		opts := []clientv3.OpOption{clientv3.WithRev(t.rev)}
		if serializable {
			opts = append(opts, clientv3.WithSerializable())
		}
		ops[i] = clientv3.OpGet(k, opts...)
	}
	return t.s.client.Txn(t.ctx).Then(ops...).Commit()
}
