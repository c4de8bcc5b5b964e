// Package etcdtest starts embedded etcd members inside a test process, on
// 127.0.0.1 ports picked free, with fsync off and data in t.TempDir(), so
// the etcd store and leader election are tested against a real etcd server
// (one member or a three-member cluster) without any outside service.
//
// It imports go.etcd.io/etcd/server/v3, which the production binary must
// never link: import it from _test.go files only (a test in etcdstore
// checks `go list -deps ./cmd/firebreak`).
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// MaxTxnOps is the --max-txn-ops the test members run with, as the example
// cluster in docs/ha.md does (etcd's default is 128).
const MaxTxnOps = 4096

// Options tune the members.
type Options struct {
	// MaxTxnOps overrides the members' --max-txn-ops (default MaxTxnOps).
	MaxTxnOps uint
	// Fsync keeps etcd's fsync on (benchmarks); tests run without it.
	Fsync bool
	// TLS, when set, makes the members serve clients over https and
	// require a client certificate signed by TLS.CA.
	TLS *TLSFiles
}

// Cluster is embedded etcd members of one cluster.
type Cluster struct {
	t         testing.TB
	members   []*embed.Etcd
	configs   []*embed.Config
	Endpoints []string // client URLs, one per member
	tls       *TLSFiles
	mu        sync.Mutex
	stopped   []bool
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before etcd binds it; that shows as a start-up error.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs an n-member cluster until the test ends and waits until it
// has a leader. Ports are picked free and bound a moment later, so another
// test process may take one in between (test packages run in parallel,
// several of them start etcd): a start that finds a port taken is tried
// again on fresh ports and data directories, a few times.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.MaxTxnOps == 0 {
		opts.MaxTxnOps = MaxTxnOps
	}
	var c *Cluster
	for try := 1; ; try++ {
		var err error
		c, err = startOnce(t, n, opts)
		if err == nil {
			break
		}
		inUse := errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
		if !inUse || try == 5 {
			t.Fatalf("etcdtest: %v", err)
		}
	}
	t.Cleanup(c.Close)
	for _, e := range c.members {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			t.Fatalf("etcdtest: member failed: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("etcdtest: the cluster had no leader after 30s")
		}
	}
	return c
}

// startOnce configures n members on free ports and starts them; on an
// error every member it started is stopped again.
func startOnce(t testing.TB, n int, opts Options) (*Cluster, error) {
	c := &Cluster{t: t, stopped: make([]bool, n), tls: opts.TLS}
	var initial []string
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		scheme := "http"
		if opts.TLS != nil {
			scheme = "https"
			cfg.ClientTLSInfo = transport.TLSInfo{
				CertFile: opts.TLS.ServerCert, KeyFile: opts.TLS.ServerKey,
				TrustedCAFile: opts.TLS.CA, ClientCertAuth: true,
			}
		}
		client, _ := url.Parse(fmt.Sprintf("%s://127.0.0.1:%d", scheme, freePort(t)))
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
		cfg.UnsafeNoFsync = !opts.Fsync
		cfg.TickMs, cfg.ElectionMs = 50, 500
		cfg.MaxTxnOps = opts.MaxTxnOps
		cfg.InitialClusterToken = "firebreak-test"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		initial = append(initial, cfg.Name+"="+peer.String())
		c.configs = append(c.configs, cfg)
		c.Endpoints = append(c.Endpoints, client.String())
	}
	for _, cfg := range c.configs {
		cfg.InitialCluster = strings.Join(initial, ",")
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("start member %s: %w", cfg.Name, err)
		}
		c.members = append(c.members, e)
	}
	return c, nil
}

// Client connects to every member; it is closed when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return c.ClientOf(t, c.Endpoints...)
}

// ClientOf connects to the given members only (to cut a replica off with
// them); it is closed when the test ends.
func (c *Cluster) ClientOf(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cfg := clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	}
	if c.tls != nil {
		info := transport.TLSInfo{CertFile: c.tls.ClientCert, KeyFile: c.tls.ClientKey, TrustedCAFile: c.tls.CA}
		tlsCfg, err := info.ClientConfig()
		if err != nil {
			t.Fatalf("etcdtest: client TLS: %v", err)
		}
		cfg.TLS = tlsCfg
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, "etcdtest/ping"); err != nil {
		t.Fatalf("etcdtest: client cannot read: %v", err)
	}
	return cli
}

// Stop stops member i (as a crashed machine would be); the others go on.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped[i] {
		c.stopped[i] = true
		c.members[i].Close()
	}
}

// Restart starts a stopped member i again on its data directory and
// ports, as a rebooted machine would rejoin.
func (c *Cluster) Restart(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped[i] {
		return
	}
	// The member must come back on the ports the others know it by; the
	// kernel may hold one of them for a moment after the stop, so retry a
	// bind that fails with "address already in use" for a bounded time.
	deadline := time.Now().Add(15 * time.Second)
	for {
		e, err := embed.StartEtcd(c.configs[i])
		if err == nil {
			c.members[i], c.stopped[i] = e, false
			return
		}
		inUse := errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
		if !inUse || time.Now().After(deadline) {
			c.t.Fatalf("etcdtest: restart member %d: %v", i, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Close stops every member still running.
func (c *Cluster) Close() {
	for i := range c.members {
		c.Stop(i)
	}
}
