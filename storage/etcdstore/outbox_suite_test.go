package etcdstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
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
