package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

var t0 = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(pem, []byte("not checked here"), 0o600))
	tests := []struct {
		name    string
		env     map[string]string
		ok      bool
		want    etcdstore.Config
		wantErr []string
	}{
		{name: "unset means bbolt", env: map[string]string{}},
		{
			name: "endpoints and defaults",
			env:  map[string]string{etcdstore.EnvEndpoints: "10.0.0.1:2379, 10.0.0.2:2379,https://etcd-3:2379"},
			ok:   true,
			want: etcdstore.Config{
				Endpoints: []string{"10.0.0.1:2379", "10.0.0.2:2379", "https://etcd-3:2379"},
				Prefix:    etcdstore.DefaultPrefix, MaxTxnOps: etcdstore.DefaultMaxTxnOps,
				MaxRequestBytes: etcdstore.DefaultMaxRequestBytes, DialTimeout: etcdstore.DefaultDialTimeout,
				RequestTimeout: etcdstore.DefaultRequestTimeout, SeenTTL: etcdstore.DefaultSeenTTL,
			},
		},
		{
			name: "credentials and limits",
			env: map[string]string{
				etcdstore.EnvEndpoints: "etcd:2379", etcdstore.EnvUsername: "firebreak", etcdstore.EnvPassword: "s3cret",
				etcdstore.EnvCA: pem, etcdstore.EnvPrefix: "prod/firebreak/", etcdstore.EnvMaxTxnOps: "10000",
				etcdstore.EnvTimeout: "3s",
			},
			ok: true,
			want: etcdstore.Config{
				Endpoints: []string{"etcd:2379"}, Username: "firebreak", Password: "s3cret", CAFile: pem,
				Prefix: "prod/firebreak/", MaxTxnOps: 10000,
				MaxRequestBytes: etcdstore.DefaultMaxRequestBytes, DialTimeout: etcdstore.DefaultDialTimeout,
				RequestTimeout: 3 * time.Second, SeenTTL: etcdstore.DefaultSeenTTL,
			},
		},
		{
			name: "every problem at once",
			env: map[string]string{
				etcdstore.EnvEndpoints: "etcd, unix://sock:1", etcdstore.EnvUsername: "firebreak",
				etcdstore.EnvCert: filepath.Join(dir, "missing.pem"), etcdstore.EnvPrefix: "no-slash",
			},
			ok: true,
			wantErr: []string{
				`FIREBREAK_ETCD_ENDPOINTS: endpoint "etcd": want host:port`,
				`scheme "unix"`,
				"FIREBREAK_ETCD_USERNAME and FIREBREAK_ETCD_PASSWORD: set both or neither",
				"FIREBREAK_ETCD_CERT and FIREBREAK_ETCD_KEY: set both or neither",
				"FIREBREAK_ETCD_CERT: stat ",
				`FIREBREAK_ETCD_PREFIX="no-slash": must end in /`,
			},
		},
		{
			name:    "bad number",
			env:     map[string]string{etcdstore.EnvEndpoints: "etcd:2379", etcdstore.EnvMaxTxnOps: "many"},
			ok:      true,
			wantErr: []string{`FIREBREAK_ETCD_MAX_TXN_OPS="many": not a number`},
		},
		{
			name:    "bad timeout",
			env:     map[string]string{etcdstore.EnvEndpoints: "etcd:2379", etcdstore.EnvTimeout: "10"},
			ok:      true,
			wantErr: []string{`FIREBREAK_ETCD_TIMEOUT="10": not a positive duration such as 10s`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok, err := etcdstore.ConfigFromEnv(func(k string) string { return tc.env[k] })
			assert.Equal(t, tc.ok, ok)
			if len(tc.wantErr) > 0 {
				require.Error(t, err)
				for _, want := range tc.wantErr {
					assert.Contains(t, err.Error(), want)
				}
				return
			}
			require.NoError(t, err)
			if tc.ok {
				assert.Equal(t, tc.want, cfg)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	works := func(t *testing.T, cfg etcdstore.Config) {
		t.Helper()
		s, err := etcdstore.Open(ctx, cfg)
		require.NoError(t, err)
		require.NoError(t, createIncident(ctx, s))
		require.NoError(t, s.Close())
	}
	t.Run("unreachable", func(t *testing.T) {
		_, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: 500 * time.Millisecond})
		require.Error(t, err)
		assert.ErrorIs(t, err, etcdstore.ErrUnavailable)
	})
	t.Run("plain", func(t *testing.T) {
		c := etcdtest.Start(t, 1, etcdtest.Options{})
		works(t, etcdstore.Config{Endpoints: c.Endpoints})
		// host:port, as FIREBREAK_ETCD_ENDPOINTS is usually written.
		cfg, ok, err := etcdstore.ConfigFromEnv(func(k string) string {
			if k == etcdstore.EnvEndpoints {
				return strings.TrimPrefix(c.Endpoints[0], "http://")
			}
			return ""
		})
		require.NoError(t, err)
		require.True(t, ok)
		works(t, cfg)
	})
	t.Run("mutual TLS", func(t *testing.T) {
		files := etcdtest.NewTLSFiles(t)
		c := etcdtest.Start(t, 1, etcdtest.Options{TLS: &files})
		works(t, etcdstore.Config{Endpoints: c.Endpoints, CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey})
		_, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints, CAFile: files.CA, DialTimeout: time.Second})
		assert.ErrorIs(t, err, etcdstore.ErrUnavailable, "no client certificate, no access")
	})
	t.Run("username and password", func(t *testing.T) {
		c := etcdtest.Start(t, 1, etcdtest.Options{})
		cli := c.Client(t)
		_, err := cli.UserAdd(ctx, "root", "correct horse")
		require.NoError(t, err)
		_, err = cli.UserGrantRole(ctx, "root", "root")
		require.NoError(t, err)
		_, err = cli.AuthEnable(ctx)
		require.NoError(t, err)
		works(t, etcdstore.Config{Endpoints: c.Endpoints, Username: "root", Password: "correct horse"})
		_, err = etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints, Username: "root", Password: "wrong", DialTimeout: time.Second})
		assert.ErrorIs(t, err, etcdstore.ErrUnavailable, "a wrong password fails at start-up")
	})
}

func createIncident(ctx context.Context, s incidents.Store) error {
	return s.Update(ctx, func(tx incidents.Tx) error {
		return tx.CreateIncident(&incidents.Incident{Title: "x", Status: incidents.StatusTriggered, OpenedAt: t0})
	})
}

// Two replicas writing the same incident at once: every increment and
// every entry lands once (conflicts are detected and fn re-run).
func TestTwoReplicasNeverLoseAWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	cfg := etcdstore.Config{Prefix: "replicas/", MaxTxnOps: etcdtest.MaxTxnOps}
	a, b := etcdstore.New(c.Client(t), cfg), etcdstore.New(c.Client(t), cfg)
	require.NoError(t, createIncident(ctx, a))
	const perWriter, writers = 10, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	runs := 0
	for w := range writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range perWriter {
				assert.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
					mu.Lock()
					runs++
					mu.Unlock()
					inc, err := tx.Incident(1)
					if err != nil {
						return err
					}
					inc.AlertCount++
					if err := tx.PutIncident(inc); err != nil {
						return err
					}
					return tx.AppendEntry(&incidents.Entry{Incident: 1, Kind: incidents.EntryAlertRepeat})
				}))
			}
		})
	}
	wg.Wait()
	require.NoError(t, b.View(ctx, func(tx incidents.ReadTx) error {
		inc, err := tx.Incident(1)
		require.NoError(t, err)
		assert.Equal(t, writers*perWriter, inc.AlertCount)
		assert.Equal(t, uint64(writers*perWriter), inc.Entries)
		return nil
	}))
	t.Logf("%d commits took %d runs of fn", writers*perWriter, runs)
}

// An Update larger than the cluster accepts fails with ErrTooLarge naming
// the flag, and commits nothing; whether the store's own check or the
// server catches it.
func TestTooLargeUpdateIsRefusedWhole(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128}) // etcd's default
	cli := c.Client(t)
	bigUpdate := func(s incidents.Store) error {
		return s.Update(ctx, func(tx incidents.Tx) error {
			inc := &incidents.Incident{Title: "storm", Status: incidents.StatusTriggered, OpenedAt: t0}
			if err := tx.CreateIncident(inc); err != nil {
				return err
			}
			for i := range 100 { // a 100-alert payload: 200 keys
				if err := tx.SetOpenFingerprint(fmt.Sprintf("fp%d", i), inc.Number); err != nil {
					return err
				}
				if err := tx.AppendEntry(&incidents.Entry{Incident: inc.Number, Kind: incidents.EntryAlert}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, tc := range []struct {
		name string
		cfg  etcdstore.Config
		want string
	}{
		{"the store's check", etcdstore.Config{Prefix: "checked/"}, "the cluster allows 128 per transaction (raise --max-txn-ops"},
		{"the server's refusal", etcdstore.Config{Prefix: "refused/", MaxTxnOps: 10000}, "the cluster refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := etcdstore.New(cli, tc.cfg)
			err := bigUpdate(s)
			require.ErrorIs(t, err, etcdstore.ErrTooLarge)
			assert.Contains(t, err.Error(), tc.want)
			resp, err := cli.Get(ctx, tc.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			require.NoError(t, err)
			assert.Zero(t, resp.Count, "nothing committed")
			require.NoError(t, createIncident(ctx, s), "small updates still pass")
		})
	}
}

// Seen event ids are forgotten by etcd itself once their lease expires,
// and a lease revoked behind the store's back costs a re-run, not an error.
func TestSeenIDsExpireWithTheirLease(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	cli := c.Client(t)
	s := etcdstore.New(cli, etcdstore.Config{Prefix: "seen/", SeenTTL: 2 * time.Second})
	mark := func(id string) bool {
		var seen bool
		require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
			var err error
			seen, err = tx.MarkSeen(id, t0)
			return err
		}))
		return seen
	}
	require.False(t, mark("slack:Ev1"))
	require.True(t, mark("slack:Ev1"))
	assert.Eventually(t, func() bool {
		resp, err := cli.Get(ctx, "seen/seen/slack:Ev1")
		return err == nil && resp.Count == 0
	}, 15*time.Second, 100*time.Millisecond, "etcd deletes the id when its lease expires")
	assert.False(t, mark("slack:Ev1"), "an expired id is new again")

	leases, err := cli.Leases(ctx)
	require.NoError(t, err)
	for _, l := range leases.Leases {
		_, err := cli.Revoke(ctx, l.ID)
		require.NoError(t, err)
	}
	assert.False(t, mark("slack:Ev2"), "a revoked lease is replaced")
	assert.True(t, mark("slack:Ev2"))
}

// With a majority of members stopped, Updates fail with ErrUnavailable
// within their context and nothing is half-applied; once the members are
// back, writes continue from where they were.
func TestQuorumLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("three embedded members: skipped with -short")
	}
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	cli := c.Client(t)
	s := etcdstore.New(cli, etcdstore.Config{Prefix: "quorum/", MaxTxnOps: etcdtest.MaxTxnOps})
	ctx := context.Background()
	require.NoError(t, createIncident(ctx, s))
	c.Stop(1)
	c.Stop(2)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := createIncident(short, s)
	require.Error(t, err)
	assert.ErrorIs(t, err, etcdstore.ErrUnavailable)
	c.Restart(1)
	c.Restart(2)
	require.EventuallyWithT(t, func(t *assert.CollectT) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		assert.NoError(t, createIncident(ctx, s))
	}, 30*time.Second, 200*time.Millisecond)
	var numbers []uint64
	require.NoError(t, s.View(ctx, func(tx incidents.ReadTx) error {
		numbers = numbers[:0]
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error { numbers = append(numbers, inc.Number); return nil })
	}))
	assert.Equal(t, []uint64{2, 1}, numbers, "the failed write left no number behind")
}
