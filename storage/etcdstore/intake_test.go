package etcdstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot/webhook"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// alertmanagerPayload is an Alertmanager webhook body of n distinct
// firing alerts spread over groups alertnames, with the labels and
// annotations a real rule carries.
func alertmanagerPayload(t *testing.T, n, groups int) []byte {
	t.Helper()
	type amAlert struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     string            `json:"startsAt"`
		EndsAt       string            `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	}
	alerts := make([]amAlert, n)
	for i := range alerts {
		name := fmt.Sprintf("DiskFull%d", i%groups)
		alerts[i] = amAlert{
			Status: "firing",
			Labels: map[string]string{
				"alertname": name, "instance": fmt.Sprintf("db-%04d.prod.example.com:9100", i),
				"job": "node", "severity": "critical", "service": "checkout", "mountpoint": "/var/lib/postgresql",
			},
			Annotations: map[string]string{
				"summary":     fmt.Sprintf("Disk on db-%04d is 97%% full", i),
				"description": "The filesystem /var/lib/postgresql has less than 3% space left and will be full within the hour at the current write rate.",
				"runbook_url": "https://runbooks.example.com/disk-full",
			},
			StartsAt:     t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339),
			EndsAt:       "0001-01-01T00:00:00Z",
			GeneratorURL: "http://prometheus.example.com:9090/graph?g0.expr=node_filesystem_avail_bytes",
			Fingerprint:  fmt.Sprintf("%016x", i),
		}
	}
	body, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "status": "firing", "receiver": "firebreak",
		"groupLabels": map[string]string{}, "commonLabels": map[string]string{"job": "node"}, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager.example.com:9093", "alerts": alerts,
	})
	require.NoError(t, err)
	return body
}

// A 100-alert and a 1,000-alert Alertmanager payload are one intent each,
// so one transaction, far over etcd's default 128 operations per Txn (and
// the 1,000-alert one over its 1.5 MiB per request): both are stored whole
// on an embedded member running etcd's default limits, every alert counted
// once, and a redelivery changes nothing.
func TestAlertmanagerPayloadsOnEtcdDefaults(t *testing.T) {
	ctx := context.Background()
	cfg, err := playbooks.Parse("grouping.yaml", []byte("grouping:\n  group_by: [alertname]\n  group_window: 5m\nplaybooks:\n  - id: outage\n    steps: [{id: look, title: Look}]\n"))
	require.NoError(t, err)
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128}) // etcd's defaults: 128 ops, 1.5 MiB
	cli := c.Client(t)
	for _, tc := range []struct {
		name           string
		alerts, groups int
	}{
		{"100 distinct alerts in one group", 100, 1},
		{"100 groups of one alert", 100, 100},
		{"1,000 distinct alerts in one group", 1000, 1},
		{"1,000 alerts in 50 groups", 1000, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := alertmanagerPayload(t, tc.alerts, tc.groups)
			t.Logf("payload: %d bytes", len(body))
			alerts, err := webhook.ParseAlertmanager(body)
			require.NoError(t, err)
			require.Len(t, alerts, tc.alerts)
			// Default limits; a generous timeout, since this test runs
			// under -race on a shared machine (the figures are in docs/ha.md).
			store := etcdstore.New(cli, etcdstore.Config{Prefix: fmt.Sprintf("am/%d/%d/", tc.alerts, tc.groups), RequestTimeout: 2 * time.Minute})
			svc := incidents.NewService(store, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler)))
			origin := incidents.Origin{Actor: incidents.Bot, EventID: "am:payload"}
			start := time.Now()
			outs, err := svc.ReceiveAlerts(ctx, origin, alerts)
			require.NoError(t, err)
			require.Len(t, outs, tc.alerts)
			t.Logf("stored in %v", time.Since(start).Round(time.Millisecond))
			list, err := svc.List(ctx, incidents.ListQuery{})
			require.NoError(t, err)
			assert.Len(t, list, tc.groups)
			total := 0
			for _, inc := range list {
				total += inc.AlertCount
				assert.Equal(t, tc.alerts/tc.groups, inc.DistinctAlerts)
			}
			assert.Equal(t, tc.alerts, total, "every alert counted once")
			again, err := svc.ReceiveAlerts(ctx, origin, alerts)
			require.NoError(t, err)
			assert.True(t, again[0].Duplicate, "the redelivered payload changes nothing")
			assert.Zero(t, countKeys(t, cli, fmt.Sprintf("am/%d/%d/stage/", tc.alerts, tc.groups)), "no staging left")
		})
	}
}

// A payload's keys are read ahead (incidents.Prefetcher): its
// fingerprints and group keys, then the alert records they point at, many
// per request, instead of two Gets per alert one after the other. The
// outcome is the same as without: repeats counted on their records, new
// alerts added.
func TestReceiveAlertsReadsAhead(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 4096})
	cli := c.Client(t)
	kv := &countingKV{KV: cli.KV}
	cli.KV = kv
	store := etcdstore.New(cli, etcdstore.Config{Prefix: "ahead/", MaxTxnOps: 4096})
	cfg, err := playbooks.Parse("grouping.yaml", []byte("grouping:\n  group_by: [alertname]\n  group_window: 1h\nplaybooks:\n  - id: outage\n    steps: [{id: look, title: Look}]\n"))
	require.NoError(t, err)
	svc := incidents.NewService(store, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler)))
	batch := func(from, n int) []incidents.Alert {
		alerts := make([]incidents.Alert, n)
		for i := range alerts {
			alerts[i] = incidents.Alert{Source: "alertmanager", Status: incidents.AlertFiring, Name: "DiskFull",
				Labels: map[string]string{"alertname": "DiskFull", "instance": fmt.Sprintf("db-%03d", from+i)}}
		}
		return alerts
	}
	_, err = svc.ReceiveAlerts(ctx, incidents.Origin{Actor: incidents.Bot}, batch(0, 100))
	require.NoError(t, err)
	gets, txns := kv.gets.Load(), kv.txns.Load()
	_, err = svc.ReceiveAlerts(ctx, incidents.Origin{Actor: incidents.Bot}, batch(50, 100)) // 50 repeats, 50 new
	require.NoError(t, err)
	requests := kv.gets.Load() - gets + kv.txns.Load() - txns
	t.Logf("a payload of 50 repeats and 50 new alerts: %d etcd requests", requests)
	assert.LessOrEqual(t, requests, int64(12), "a few requests, not two reads per alert")
	require.NoError(t, store.View(ctx, func(tx incidents.ReadTx) error {
		inc, err := tx.Incident(1)
		require.NoError(t, err)
		assert.Equal(t, 200, inc.AlertCount)
		assert.Equal(t, 150, inc.DistinctAlerts)
		for i := range 150 {
			a, ok, err := tx.Alert(1, incidents.Fingerprint(batch(i, 1)[0]))
			require.NoError(t, err)
			require.True(t, ok, "db-%03d", i)
			want := 1
			if i >= 50 && i < 100 {
				want = 2
			}
			assert.Equal(t, want, a.Count, "db-%03d", i)
		}
		return nil
	}))
}
