package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// TestServeOnEtcd runs the real binary with FIREBREAK_ETCD_ENDPOINTS set,
// as docs/ha.md shows: an alert posted to the webhook opens an incident in
// etcd, the incident survives a restart of the bot, the same alert after
// the restart is grouped into it, `firebreak incidents` reads it from the
// cluster, and no bbolt file is created.
func TestServeOnEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts an embedded etcd")
	}
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(crashConfig), 0o600))
	etcdEnv := []string{
		"FIREBREAK_ETCD_ENDPOINTS=" + cluster.Endpoints[0],
		"FIREBREAK_ETCD_MAX_TXN_OPS=4096",
		"FIREBREAK_ETCD_PREFIX=serve-test/",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	list := func() []*incidents.Incident {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, "incidents", "-all", "-json")
		cmd.Dir = dir
		cmd.Env = append([]string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
			"FIREBREAK_DB=" + filepath.Join(dir, "firebreak.db"),
			"FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml"),
		}, etcdEnv...)
		out, err := cmd.Output()
		require.NoError(t, err, "firebreak incidents: %s", out)
		var got []*incidents.Incident
		require.NoError(t, json.Unmarshal(out, &got), "%s", out)
		return got
	}
	stop := func(b *botProc) {
		t.Helper()
		require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, b.cmd.Wait())
	}

	addr := freeAddr(t)
	b := startBotEnv(t, bin, dir, addr, etcdEnv, "-headless")
	waitHealthy(t, addr)
	ok, err := postAlert(ctx, addr, "etcd-disk-full")
	require.NoError(t, err)
	require.True(t, ok, "the webhook accepted the alert")
	stop(b)

	got := list()
	require.Len(t, got, 1, "one incident in etcd")
	assert.Equal(t, "Drill etcd-disk-full", got[0].Title)
	assert.True(t, got[0].Status.Open())
	_, err = os.Stat(filepath.Join(dir, "firebreak.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no bbolt file when the etcd store is configured")

	addr = freeAddr(t)
	b = startBotEnv(t, bin, dir, addr, etcdEnv, "-headless")
	waitHealthy(t, addr)
	ok, err = postAlert(ctx, addr, "etcd-disk-full")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = postAlert(ctx, addr, "etcd-cpu")
	require.NoError(t, err)
	require.True(t, ok)
	stop(b)

	got = list()
	require.Len(t, got, 2, "the repeat was grouped into the incident opened before the restart")
	assert.Equal(t, "Drill etcd-cpu", got[0].Title)
	assert.Equal(t, "Drill etcd-disk-full", got[1].Title)
	assert.Equal(t, uint64(1), got[1].Number)
}
