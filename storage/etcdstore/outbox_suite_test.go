package etcdstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// TestEtcdOutboxStoreSuite runs the outbox store guarantees shared by
// every store (bot/outbox/outboxtest) on an embedded etcd member, each
// case under a prefix of its own.
func TestEtcdOutboxStoreSuite(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	var n atomic.Int32
	outboxtest.RunStoreSuite(t, func(t *testing.T) outboxtest.Subject {
		s := etcdstore.New(c.Client(t), etcdstore.Config{Prefix: fmt.Sprintf("suite-%d/", n.Add(1))})
		return outboxtest.Subject{Outbox: newOutbox(t, s), Update: s.Update}
	})
}

// TestEtcdOutboxPruneFitsTheTxnLimit: a batch larger than the cluster's
// --max-txn-ops (128 by default, as Config says) is cut to fit, so the
// worker's default batch of 500 never fails on a default cluster.
func TestEtcdOutboxPruneFitsTheTxnLimit(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	s := etcdstore.New(c.Client(t), etcdstore.Config{})
	o := newOutbox(t, s)
	const n = 300
	old := t0.Add(-30 * 24 * time.Hour)
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		for i := range n {
			e := post(fmt.Sprint(i))
			e.CreatedAt = old
			if err := tx.Enqueue(e); err != nil {
				return err
			}
		}
		return nil
	}))
	for id := uint64(1); id <= n; id++ {
		require.NoError(t, o.Settle(ctx, id, incidents.EffectResult{Status: incidents.EffectDelivered, At: old}))
	}
	var after uint64
	var batches []int
	for {
		last, deleted, err := o.Prune(ctx, t0, after, 500)
		require.NoError(t, err)
		batches = append(batches, deleted)
		if last == 0 {
			break
		}
		after = last
	}
	assert.Equal(t, []int{126, 126, 48}, batches, "batches cut to --max-txn-ops less the commit key and a spare")
	all, _, err := o.Counts(ctx)
	require.NoError(t, err)
	assert.Zero(t, all)
}
