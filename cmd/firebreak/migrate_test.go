package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// TestMigrateBboltToEtcdAndBack fills a bbolt file the way users do (the
// console, a storm of distinct alerts in one group, a long timeline, a
// resolved incident), migrates it to etcd with `firebreak migrate
// to-etcd`, reads it there with `firebreak incidents`, and migrates it
// back into a new file with `firebreak migrate to-bbolt`: each run checks
// every incident, entry, alert record, grouped fingerprint and timer, and
// the listings agree everywhere. A changed copy fails the check.
func TestMigrateBboltToEtcdAndBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded etcd")
	}
	e := newTestEnv(t)
	code, out, errOut := e.run(alertLine + "\n/incident step done\n/incident note rolled back the canary\n")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)

	ctx := context.Background()
	cfg, err := loadConfig(e.env["FIREBREAK_CONFIG"], true)
	require.NoError(t, err)
	db, err := storage.Open(e.env["FIREBREAK_DB"], storage.Options{})
	require.NoError(t, err)
	svc := incidents.NewService(db, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler)))
	o := incidents.Origin{Actor: incidents.Actor{Platform: "console", ID: "alice", Name: "alice"}, Home: incidents.Home{Platform: "console", Channel: "#alerts"}}
	var storm []incidents.Alert
	for i := range 150 {
		storm = append(storm, incidents.Alert{
			Source: "alertmanager", Status: incidents.AlertFiring, Name: "DiskFull", Title: "DiskFull",
			Labels: map[string]string{"alertname": "DiskFull", "instance": fmt.Sprintf("db-%03d", i)},
		})
	}
	_, err = svc.ReceiveAlerts(ctx, o, storm)
	require.NoError(t, err)
	out2, err := svc.Declare(ctx, o, "checkout slow", incidents.SEV2)
	require.NoError(t, err)
	n := out2.Incident.Number
	for i := range 130 {
		_, err := svc.AddNote(ctx, o, n, fmt.Sprintf("note %d", i))
		require.NoError(t, err)
	}
	_, err = svc.Resolve(ctx, o, n, "fixed")
	require.NoError(t, err)
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		for i := range 3 {
			t := incidents.Timer{Due: time.Date(2030, 1, 1, 0, i, 0, 0, time.UTC), Incident: 1, Key: fmt.Sprintf("remind/%d", i), Data: map[string]string{"i": "x"}}
			if err := tx.PutTimer(t); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())

	code, before, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)

	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128}) // etcd's default limit
	e.env["FIREBREAK_ETCD_ENDPOINTS"] = cluster.Endpoints[0]
	code, out, errOut = e.run("", "migrate", "to-etcd")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "verified record by record")
	assert.Contains(t, out, "151 alert records") // the console's alert and the storm's 150
	assert.Contains(t, out, "3 timers")
	code, onEtcd, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, before, onEtcd, "the etcd store lists what the bbolt file did")

	code, _, errOut = e.run("", "migrate", "to-etcd")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "already holds incidents")

	back := filepath.Join(e.dir, "back.db")
	code, out, errOut = e.run("", "migrate", "to-bbolt", back)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "verified record by record")
	delete(e.env, "FIREBREAK_ETCD_ENDPOINTS")
	e.env["FIREBREAK_DB"] = back
	code, after, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, before, after, "bbolt → etcd → bbolt keeps every incident")

	// The check is not a formality: one more note in the copy is found.
	backDB, err := storage.Open(back, storage.Options{})
	require.NoError(t, err)
	defer backDB.Close()
	orig, err := storage.Open(filepath.Join(e.dir, "firebreak.db"), storage.Options{})
	require.NoError(t, err)
	defer orig.Close()
	src, dst := boltStore{DB: orig, path: "original"}, boltStore{DB: backDB, path: "copy"}
	require.NoError(t, verifyCopy(ctx, src, dst))
	_, err = incidents.NewService(backDB, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler))).AddNote(ctx, o, n, "only in the copy")
	require.NoError(t, err)
	err = verifyCopy(ctx, src, dst)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("incident #%d", n))
}
