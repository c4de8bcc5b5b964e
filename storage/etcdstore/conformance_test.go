package etcdstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/storetest"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// storeOn returns a function giving each test a fresh store: a new key
// prefix on one shared cluster, so the suite starts etcd once.
func storeOn(cli *clientv3.Client) func(t *testing.T) incidents.Store {
	var n atomic.Int64
	return func(t *testing.T) incidents.Store {
		return etcdstore.New(cli, etcdstore.Config{
			Prefix:    fmt.Sprintf("conformance/%d/", n.Add(1)),
			MaxTxnOps: etcdtest.MaxTxnOps,
		})
	}
}

func TestConformanceOneMember(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	storetest.Run(t, storeOn(c.Client(t)))
}

func TestConformanceThreeMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("three embedded members: skipped with -short")
	}
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	storetest.Run(t, storeOn(c.Client(t)))
}

// TestConformanceLargeUpdates runs the suite with limits so small (16
// operations, 64 KiB per request) that most writing Updates are
// committed in parts (large.go): staged, committed by one small Txn,
// applied in several, each staging split over several keys. The store's
// contract must hold all the same.
func TestConformanceLargeUpdates(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	cli := c.Client(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) incidents.Store {
		return etcdstore.New(cli, etcdstore.Config{
			Prefix:    fmt.Sprintf("conformance-large/%d/", n.Add(1)),
			MaxTxnOps: 16, MaxRequestBytes: 64 << 10,
		})
	})
}
