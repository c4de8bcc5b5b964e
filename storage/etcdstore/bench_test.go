package etcdstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// BenchmarkReceiveAlerts sends distinct alerts of one group (as in a
// storm) with fsync on, on one member and on three, one alert per intent
// and 100 per intent (one Alertmanager payload, one etcd Txn).
func BenchmarkReceiveAlerts(b *testing.B) {
	for _, members := range []int{1, 3} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("members=%d/batch=%d", members, batch), func(b *testing.B) {
				ctx := context.Background()
				c := etcdtest.Start(b, members, etcdtest.Options{Fsync: true})
				cfg, err := playbooks.Parse("grouping.yaml", []byte("grouping:\n  group_by: [alertname]\n  group_window: 1h\nplaybooks:\n  - id: outage\n    steps: [{id: look, title: Look}]\n"))
				require.NoError(b, err)
				store := etcdstore.New(c.Client(b), etcdstore.Config{Prefix: "bench/", MaxTxnOps: etcdtest.MaxTxnOps})
				svc := incidents.NewService(store, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler)))
				i := 0
				for b.Loop() {
					alerts := make([]incidents.Alert, batch)
					for j := range alerts {
						i++
						alerts[j] = incidents.Alert{
							Source: "alertmanager", Status: incidents.AlertFiring, Name: "DiskFull",
							Labels: map[string]string{"alertname": "DiskFull", "instance": fmt.Sprintf("db-%d", i)},
						}
					}
					if _, err := svc.ReceiveAlerts(ctx, incidents.Origin{Actor: incidents.Bot}, alerts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "alerts/s")
			})
		}
	}
}

// BenchmarkStreamLongTimeline streams a 100,000-entry timeline, a page of
// entries per etcd request. (The heap is not reported: the embedded etcd
// server shares this process and its allocations would be counted too.)
func BenchmarkStreamLongTimeline(b *testing.B) {
	const entries, perUpdate = 100_000, 2_000
	ctx := context.Background()
	c := etcdtest.Start(b, 1, etcdtest.Options{})
	store := etcdstore.New(c.Client(b), etcdstore.Config{Prefix: "long/", MaxTxnOps: etcdtest.MaxTxnOps})
	require.NoError(b, store.Update(ctx, func(tx incidents.Tx) error {
		return tx.CreateIncident(&incidents.Incident{Title: "long", Status: incidents.StatusTriggered})
	}))
	for done := 0; done < entries; done += perUpdate {
		require.NoError(b, store.Update(ctx, func(tx incidents.Tx) error {
			for i := range perUpdate {
				e := incidents.Entry{Incident: 1, Kind: incidents.EntryAlertRepeat, Text: "DiskFull db-042 is still firing",
					Data: map[string]string{"fingerprint": fmt.Sprintf("%016x", done+i), "count": "7"}}
				if err := tx.AppendEntry(&e); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for b.Loop() {
		n := 0
		require.NoError(b, store.View(ctx, func(tx incidents.ReadTx) error {
			return tx.Entries(1, 0, func(incidents.Entry) error { n++; return nil })
		}))
		require.Equal(b, entries, n)
	}
	b.ReportMetric(float64(entries*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// countingKV counts the requests a store sends to etcd, by kind, and the
// conditional Txns etcd refused (lost conflicts).
type countingKV struct {
	clientv3.KV
	gets, txns, refused atomic.Int64
}

type countingTxn struct {
	clientv3.Txn
	kv  *countingKV
	cmp bool
}

func (t *countingTxn) If(cs ...clientv3.Cmp) clientv3.Txn {
	t.cmp = len(cs) > 0
	t.Txn = t.Txn.If(cs...)
	return t
}

func (t *countingTxn) Then(ops ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Then(ops...); return t }

func (t *countingTxn) Commit() (*clientv3.TxnResponse, error) {
	resp, err := t.Txn.Commit()
	if err == nil && t.cmp && !resp.Succeeded {
		t.kv.refused.Add(1)
	}
	return resp, err
}

func (c *countingKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	c.gets.Add(1)
	return c.KV.Get(ctx, key, opts...)
}

func (c *countingKV) Txn(ctx context.Context) clientv3.Txn {
	c.txns.Add(1)
	return &countingTxn{Txn: c.KV.Txn(ctx), kv: c}
}

// BenchmarkConcurrentIntents is one replica, or two sharing the senders,
// under a storm of webhook requests: 16 senders at once, each request one
// intent of `batch` distinct alerts (shape one-group: one incident;
// own-group: every alert its own incident), three members with fsync on,
// etcd's default 128 operations per Txn. Besides alerts/s it reports the
// etcd requests per intent (point reads, Txns — snapshot reads, read-ahead,
// commits and the phases of large Updates) and the commits etcd refused
// because another replica committed first (conflicts: the group runs
// again), the figures that show where an intent's time goes.
func BenchmarkConcurrentIntents(b *testing.B) {
	const senders = 16
	for _, replicas := range []int{1, 2} {
		for _, shape := range []string{"one-group", "own-group"} {
			for _, batch := range []int{1, 10} {
				b.Run(fmt.Sprintf("replicas=%d/%s/batch=%d", replicas, shape, batch), func(b *testing.B) {
					ctx := context.Background()
					c := etcdtest.Start(b, 3, etcdtest.Options{Fsync: true, MaxTxnOps: 128})
					cfg, err := playbooks.Parse("grouping.yaml", []byte("grouping:\n  group_by: [alertname]\n  group_window: 1h\nplaybooks:\n  - id: outage\n    steps: [{id: look, title: Look}]\n"))
					require.NoError(b, err)
					// Each replica its own client and store, as two processes.
					var kvs []*countingKV
					var svcs []*incidents.Service
					for range replicas {
						cli := c.Client(b)
						kv := &countingKV{KV: cli.KV}
						cli.KV = kv
						kvs = append(kvs, kv)
						store := etcdstore.New(cli, etcdstore.Config{Prefix: "bench/", MaxTxnOps: 128})
						svcs = append(svcs, incidents.NewService(store, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler))))
					}
					var next, sender atomic.Int64
					b.SetParallelism((senders + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						svc := svcs[int(sender.Add(1))%len(svcs)] // senders share the replicas
						for pb.Next() {
							alerts := make([]incidents.Alert, batch)
							for j := range alerts {
								i := next.Add(1)
								name := "DiskFull"
								if shape == "own-group" {
									name = fmt.Sprintf("DiskFull%d", i)
								}
								alerts[j] = incidents.Alert{
									Source: "alertmanager", Status: incidents.AlertFiring, Name: name,
									Labels: map[string]string{"alertname": name, "instance": fmt.Sprintf("db-%d", i)},
								}
							}
							if _, err := svc.ReceiveAlerts(ctx, incidents.Origin{Actor: incidents.Bot}, alerts); err != nil {
								b.Error(err)
								return
							}
						}
					})
					var gets, txns, refused int64
					for _, kv := range kvs {
						gets, txns, refused = gets+kv.gets.Load(), txns+kv.txns.Load(), refused+kv.refused.Load()
					}
					b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "alerts/s")
					b.ReportMetric(float64(gets)/float64(b.N), "gets/intent")
					b.ReportMetric(float64(txns)/float64(b.N), "txns/intent")
					b.ReportMetric(float64(refused)/float64(b.N), "conflicts/intent")
				})
			}
		}
	}
}
