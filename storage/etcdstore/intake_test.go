package etcdstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// A 100-alert payload is one intent, so one etcd Txn: it passes on a
// cluster run with the documented --max-txn-ops, and on etcd's default it
// is refused whole with the flag named (never half-stored).
func TestHundredAlertPayload(t *testing.T) {
	ctx := context.Background()
	cfg, err := playbooks.Parse("grouping.yaml", []byte("grouping:\n  group_by: [alertname]\n  group_window: 5m\nplaybooks:\n  - id: outage\n    steps: [{id: look, title: Look}]\n"))
	require.NoError(t, err)
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	cli := c.Client(t)
	payload := func(groups int) []incidents.Alert {
		alerts := make([]incidents.Alert, 100)
		for i := range alerts {
			alerts[i] = incidents.Alert{
				Source: "alertmanager", Status: incidents.AlertFiring, Name: fmt.Sprintf("DiskFull%d", i%groups),
				Labels: map[string]string{"alertname": fmt.Sprintf("DiskFull%d", i%groups), "instance": fmt.Sprintf("db-%03d", i)},
			}
		}
		return alerts
	}
	origin := incidents.Origin{Actor: incidents.Bot, EventID: "am:payload"}
	for _, tc := range []struct {
		name      string
		groups    int
		incidents int
	}{
		{"one group of 100 distinct alerts", 1, 1},
		{"100 groups", 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			small := etcdstore.New(cli, etcdstore.Config{Prefix: fmt.Sprintf("small/%d/", tc.groups)})
			_, err := incidents.NewService(small, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler))).ReceiveAlerts(ctx, origin, payload(tc.groups))
			require.ErrorIs(t, err, etcdstore.ErrTooLarge)
			t.Log(err)

			store := etcdstore.New(cli, etcdstore.Config{Prefix: fmt.Sprintf("large/%d/", tc.groups), MaxTxnOps: etcdtest.MaxTxnOps})
			svc := incidents.NewService(store, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler)))
			outs, err := svc.ReceiveAlerts(ctx, origin, payload(tc.groups))
			require.NoError(t, err)
			require.Len(t, outs, 100)
			list, err := svc.List(ctx, incidents.ListQuery{})
			require.NoError(t, err)
			assert.Len(t, list, tc.incidents)
			total := 0
			for _, inc := range list {
				total += inc.AlertCount
			}
			assert.Equal(t, 100, total, "every alert counted once")
			again, err := svc.ReceiveAlerts(ctx, origin, payload(tc.groups))
			require.NoError(t, err)
			assert.True(t, again[0].Duplicate, "the redelivered payload changes nothing")
		})
	}
}
