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
		// etcd checks the password with bcrypt, which takes seconds under
		// -race on a loaded 2-core machine: a generous start-up timeout.
		works(t, etcdstore.Config{Endpoints: c.Endpoints, Username: "root", Password: "correct horse", DialTimeout: 60 * time.Second})
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

// bigUpdate opens an incident with n grouped fingerprints and n timeline
// entries: 2n+4 keys, far over etcd's default 128 operations for n = 500.
func bigUpdate(ctx context.Context, s incidents.Store, n int, text string) error {
	return s.Update(ctx, func(tx incidents.Tx) error {
		inc := &incidents.Incident{Title: "storm", Status: incidents.StatusTriggered, OpenedAt: t0}
		if err := tx.CreateIncident(inc); err != nil {
			return err
		}
		for i := range n {
			if err := tx.SetOpenFingerprint(fmt.Sprintf("fp%d", i), inc.Number); err != nil {
				return err
			}
			if err := tx.AppendEntry(&incidents.Entry{Incident: inc.Number, Kind: incidents.EntryAlert, Text: text}); err != nil {
				return err
			}
		}
		return nil
	})
}

func countKeys(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	return resp.Count
}

// An Update larger than one etcd Txn allows (a storm's payload) is
// committed in parts on etcd's default limits and stays atomic: every
// reader sees all of it or none, even when the replica that wrote it is
// killed after its commit point. Only what no request can carry, or a
// cluster whose limit is lower than configured, is refused whole, naming
// the flag.
func TestLargeUpdates(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128}) // etcd's default
	cli, other := c.Client(t), c.Client(t)
	entries := func(s incidents.Store, n uint64) uint64 {
		var got uint64
		require.NoError(t, s.View(ctx, func(tx incidents.ReadTx) error {
			inc, err := tx.Incident(n)
			if err != nil {
				return err
			}
			got = inc.Entries
			return nil
		}))
		return got
	}

	t.Run("commits whole on etcd's defaults", func(t *testing.T) {
		s := etcdstore.New(cli, etcdstore.Config{Prefix: "big/"})
		require.NoError(t, bigUpdate(ctx, s, 500, "disk full"))
		assert.Equal(t, uint64(500), entries(s, 1))
		assert.Equal(t, int64(500), countKeys(t, cli, "big/fp/"))
		assert.Zero(t, countKeys(t, cli, "big/stage/"), "staging removed")
		assert.Zero(t, countKeys(t, cli, "big/meta/pending"))
		leases, err := cli.Leases(ctx)
		require.NoError(t, err)
		assert.Empty(t, leases.Leases, "the staging lease is revoked")
	})

	t.Run("a failing fn commits nothing", func(t *testing.T) {
		s := etcdstore.New(cli, etcdstore.Config{Prefix: "failed/"})
		boom := fmt.Errorf("boom")
		err := s.Update(ctx, func(tx incidents.Tx) error {
			for i := range 500 {
				if err := tx.SetOpenFingerprint(fmt.Sprintf("fp%d", i), 1); err != nil {
					return err
				}
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.Zero(t, countKeys(t, cli, "failed/"))
	})

	t.Run("a replica killed after the commit point", func(t *testing.T) {
		killed := etcdstore.New(cli, etcdstore.Config{Prefix: "killed/"})
		etcdstore.DieAfterCommitPoint(killed)
		require.NoError(t, bigUpdate(ctx, killed, 500, "disk full"))
		require.Equal(t, int64(1), countKeys(t, cli, "killed/meta/pending"), "committed, not applied")
		require.Less(t, countKeys(t, cli, "killed/fp/"), int64(500))
		// The commit point detached the staging from its lease: revoking
		// every lease (or letting them expire) loses nothing committed.
		leases, err := cli.Leases(ctx)
		require.NoError(t, err)
		for _, l := range leases.Leases {
			_, err := cli.Revoke(ctx, l.ID)
			require.NoError(t, err)
		}
		require.Positive(t, countKeys(t, cli, "killed/stage/"), "the staging outlives its lease")

		survivor := etcdstore.New(other, etcdstore.Config{Prefix: "killed/"})
		assert.Equal(t, uint64(500), entries(survivor, 1), "the other replica's first read applies it")
		assert.Equal(t, int64(500), countKeys(t, cli, "killed/fp/"))
		assert.Zero(t, countKeys(t, cli, "killed/stage/"))
		assert.Zero(t, countKeys(t, cli, "killed/meta/pending"))
		require.NoError(t, createIncident(ctx, survivor))
		assert.Equal(t, uint64(0), entries(survivor, 2), "numbers go on after it")
	})

	t.Run("a value no request can carry", func(t *testing.T) {
		s := etcdstore.New(cli, etcdstore.Config{Prefix: "huge/"})
		err := bigUpdate(ctx, s, 1, strings.Repeat("x", 2<<20))
		require.ErrorIs(t, err, etcdstore.ErrTooLarge)
		assert.Contains(t, err.Error(), "--max-request-bytes")
		assert.Zero(t, countKeys(t, cli, "huge/"))
	})

	t.Run("a cluster with a lower limit than configured", func(t *testing.T) {
		s := etcdstore.New(cli, etcdstore.Config{Prefix: "refused/", MaxTxnOps: 10000})
		err := bigUpdate(ctx, s, 100, "")
		require.ErrorIs(t, err, etcdstore.ErrTooLarge)
		assert.Contains(t, err.Error(), "the cluster refused")
		assert.Zero(t, countKeys(t, cli, "refused/"), "nothing committed")
		require.NoError(t, createIncident(ctx, s), "small updates still pass")
	})
}

// Large and small Updates of two replicas on the same incident at once:
// each is serializable (no increment or entry lost or doubled) and a large
// one is never seen in part.
func TestLargeAndSmallUpdatesInterleave(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	cli := c.Client(t)
	a := etcdstore.New(cli, etcdstore.Config{Prefix: "mix/"})
	b := etcdstore.New(c.Client(t), etcdstore.Config{Prefix: "mix/"})
	require.NoError(t, createIncident(ctx, a))
	add := func(s incidents.Store, n int) error {
		return s.Update(ctx, func(tx incidents.Tx) error {
			inc, err := tx.Incident(1)
			if err != nil {
				return err
			}
			if n == 1 {
				inc.AlertCount++ // small ones count ones, large ones thousands
			} else {
				inc.AlertCount += 1000
			}
			if err := tx.PutIncident(inc); err != nil {
				return err
			}
			for range n {
				if err := tx.AppendEntry(&incidents.Entry{Incident: 1, Kind: incidents.EntryAlertRepeat}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	const large, small = 4, 20
	// A reader never sees a large Update in part: the entries and the
	// count written in the same Update always agree.
	stop := make(chan struct{})
	var reader sync.WaitGroup
	var reads int
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			assert.NoError(t, b.View(ctx, func(tx incidents.ReadTx) error {
				inc, err := tx.Incident(1)
				if err != nil {
					return err
				}
				larges, smalls := inc.AlertCount/1000, inc.AlertCount%1000
				assert.Equal(t, uint64(larges*150+smalls), inc.Entries, "a partial large update was visible")
				reads++
				return nil
			}))
		}
	})
	var writers sync.WaitGroup
	writers.Go(func() {
		for range large {
			assert.NoError(t, add(a, 150))
		}
	})
	writers.Go(func() {
		for range small {
			assert.NoError(t, add(b, 1))
		}
	})
	writers.Wait()
	close(stop)
	reader.Wait()
	require.NoError(t, a.View(ctx, func(tx incidents.ReadTx) error {
		inc, err := tx.Incident(1)
		require.NoError(t, err)
		assert.Equal(t, large*1000+small, inc.AlertCount)
		assert.Equal(t, uint64(large*150+small), inc.Entries)
		return nil
	}))
	assert.Zero(t, countKeys(t, cli, "mix/stage/"), "no staging left behind, even of lost conflicts")
	t.Logf("%d consistent reads during the writes", reads)
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

// An id copied in by `firebreak migrate` (RestoreSeen) expires when it
// would have in the store it came from — SeenTTL after it was seen, not
// after the copy — and one already expired is not written.
func TestRestoredSeenIDsKeepTheirExpiry(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	cli := c.Client(t)
	const ttl = 16 * time.Second // slices of 2 s
	s := etcdstore.New(cli, etcdstore.Config{Prefix: "restore/", SeenTTL: ttl})
	type restorer interface {
		RestoreSeen(id string, at time.Time) (bool, error)
	}
	now := time.Now()
	restore := func(id string, at time.Time) bool {
		var ok bool
		require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
			r, is := tx.(restorer)
			require.True(t, is, "the etcd store's transactions restore seen ids")
			var err error
			ok, err = r.RestoreSeen(id, at)
			return err
		}))
		return ok
	}
	leaseLeft := func(id string) time.Duration {
		resp, err := cli.Get(ctx, "restore/seen/"+id)
		require.NoError(t, err)
		require.Len(t, resp.Kvs, 1, "%s is stored", id)
		l, err := cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
		require.NoError(t, err)
		return time.Duration(l.TTL) * time.Second
	}
	tests := []struct {
		id       string
		seenAgo  time.Duration
		restored bool
		min, max time.Duration // lease left
	}{
		{"expired", ttl + time.Second, false, 0, 0},
		{"old", ttl - 6*time.Second, true, 4 * time.Second, 9 * time.Second},
		{"fresh", 0, true, ttl - time.Second, ttl + 3*time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			assert.Equal(t, tc.restored, restore(tc.id, now.Add(-tc.seenAgo)))
			if !tc.restored {
				resp, err := cli.Get(ctx, "restore/seen/"+tc.id)
				require.NoError(t, err)
				assert.Zero(t, resp.Count, "an expired id is not written")
				return
			}
			left := leaseLeft(tc.id)
			assert.GreaterOrEqual(t, left, tc.min)
			assert.LessOrEqual(t, left, tc.max)
			assert.False(t, restore(tc.id, now), "restored once")
			var seen bool
			require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
				var err error
				seen, err = tx.MarkSeen(tc.id, time.Now())
				return err
			}))
			assert.True(t, seen, "a restored id is a duplicate")
		})
	}
	assert.Eventually(t, func() bool {
		resp, err := cli.Get(ctx, "restore/seen/old")
		return err == nil && resp.Count == 0
	}, 15*time.Second, 100*time.Millisecond, "the old id is forgotten on its original schedule")
	resp, err := cli.Get(ctx, "restore/seen/fresh")
	require.NoError(t, err)
	assert.EqualValues(t, 1, resp.Count, "the fresh one is still remembered")
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
