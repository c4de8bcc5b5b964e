package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/leader"
)

// store is what serve and the operator commands need of the state,
// whichever engine keeps it: the incidents.Store intents run on, the count
// behind the open-incidents gauge, whether it answers (for /readyz), and
// Close. The bbolt file is the default; FIREBREAK_ETCD_ENDPOINTS selects
// an etcd cluster (see docs/ha.md).
type store interface {
	incidents.Store
	// openIncidents is the number of open incidents.
	openIncidents(ctx context.Context) (int64, error)
	// ping returns nil when the store can take writes now.
	ping(ctx context.Context) error
	// describe names the store in logs and errors.
	describe() string
	Close() error
}

var (
	_ store = boltStore{}
	_ store = etcdStore{}
)

// boltStore is the embedded bbolt file: one process holds it, so it
// answers as long as the process runs.
type boltStore struct {
	*storage.DB
	path string
}

func (b boltStore) openIncidents(context.Context) (int64, error) {
	return int64(b.Stats().OpenIncidents), nil
}
func (b boltStore) ping(context.Context) error { return nil }
func (b boltStore) describe() string           { return b.path }

// etcdStore is an etcd cluster shared by every replica.
type etcdStore struct {
	*etcdstore.Store
	endpoints []string
	prefix    string // the installation's key prefix; the election lives under it
}

func (e etcdStore) openIncidents(ctx context.Context) (int64, error) {
	return e.OpenIncidents(ctx)
}
func (e etcdStore) ping(ctx context.Context) error { return e.Ping(ctx) }
func (e etcdStore) describe() string               { return fmt.Sprintf("etcd %v", e.endpoints) }

// etcdConfig reads FIREBREAK_ETCD_*; ok is false when the etcd store is
// not configured.
func etcdConfig(env environ) (etcdstore.Config, bool, error) {
	cfg, ok, err := etcdstore.ConfigFromEnv(env.getenv)
	if err != nil {
		return cfg, ok, fmt.Errorf("etcd store: %w", err)
	}
	return cfg, ok, nil
}

// openEtcd connects to the configured cluster; it fails at once (not at the
// first alert) when the cluster does not answer or refuses the credentials.
func openEtcd(ctx context.Context, cfg etcdstore.Config) (etcdStore, error) {
	s, err := etcdstore.Open(ctx, cfg)
	if err != nil {
		return etcdStore{}, err
	}
	return etcdStore{Store: s, endpoints: cfg.Endpoints, prefix: cfg.Prefix}, nil
}

// openServeStore opens the store serve runs on: etcd when
// FIREBREAK_ETCD_ENDPOINTS is set, else the bbolt file at FIREBREAK_DB.
func openServeStore(ctx context.Context, env environ, log *slog.Logger) (store, error) {
	cfg, ok, err := etcdConfig(env)
	if err != nil {
		return nil, err
	}
	if ok {
		return openEtcd(ctx, cfg)
	}
	path := dbPath(env)
	db, err := storage.Open(path, storage.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	return boltStore{DB: db, path: path}, nil
}

// gaugeTimeout bounds the store read behind a metrics scrape.
const gaugeTimeout = 2 * time.Second

// openIncidentsGauge is the open-incident count for /metrics; NaN when the
// store does not answer, so a dashboard shows a gap rather than a false zero.
func openIncidentsGauge(s store) func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), gaugeTimeout)
		defer cancel()
		n, err := s.openIncidents(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}
}

// backupTo writes a consistent copy of the store to w as a bbolt file —
// the file `firebreak serve` opens when FIREBREAK_ETCD_ENDPOINTS is unset,
// and `firebreak migrate to-etcd` reads. From bbolt it is the file's own
// copy; from etcd, the cluster is read at one revision (so the replicas
// keep running) into a temporary bbolt file, verified record by record as
// `migrate` does, and that file is streamed to w.
func backupTo(ctx context.Context, s store, w io.Writer) error {
	switch s := s.(type) {
	case boltStore:
		_, err := s.Backup(ctx, w)
		return err
	case etcdStore:
		return backupEtcd(ctx, s, w)
	}
	return fmt.Errorf("cannot back up %s", s.describe())
}

func backupEtcd(ctx context.Context, e etcdStore, w io.Writer) error {
	snap, err := e.Snapshot(ctx)
	if err != nil {
		return err
	}
	src := etcdSnapshot{etcdStore: e, snap: snap}
	dir, err := os.MkdirTemp("", "firebreak-backup-")
	if err != nil {
		return fmt.Errorf("backup of %s: %w", src.describe(), err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "firebreak.db")
	db, err := storage.Open(path, storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer db.Close()
	dst := boltStore{DB: db, path: path}
	if _, err := copyAll(ctx, src, dst); err != nil {
		return fmt.Errorf("backup of %s: %w", src.describe(), err)
	}
	_, err = db.Backup(ctx, w)
	return err
}

// etcdSnapshot is the etcd store frozen at one revision, as a store to
// copy from: every View reads that revision, Update refuses.
type etcdSnapshot struct {
	etcdStore
	snap *etcdstore.Snapshot
}

func (s etcdSnapshot) View(ctx context.Context, fn func(incidents.ReadTx) error) error {
	return s.snap.View(ctx, fn)
}

func (s etcdSnapshot) Update(ctx context.Context, fn func(incidents.Tx) error) error {
	return s.snap.Update(ctx, fn)
}

func (s etcdSnapshot) describe() string {
	return fmt.Sprintf("%s at revision %d", s.etcdStore.describe(), s.snap.Revision())
}

// readyTimeout bounds the store check behind /readyz.
const readyTimeout = 2 * time.Second

// readyz answers 200 while the store can take writes and 503 while it
// cannot (an etcd cluster without quorum), so a load balancer sends alerts
// to a replica that can record them. /healthz only says the process runs.
func readyz(s store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain")
		if err := s.ping(ctx); err != nil {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "storage unavailable: %v\n", err)
			return
		}
		_, _ = fmt.Fprintln(w, "ready")
	}
}

// replicaID names this replica in the leader election: FIREBREAK_REPLICA
// if set (a pod name), else host name and process id.
func replicaID(env environ) string {
	if id := env.getenv("FIREBREAK_REPLICA"); id != "" {
		return id
	}
	host, err := os.Hostname()
	if err != nil {
		host = "firebreak"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

// elect starts the leader election on the etcd store and returns whether
// this replica leads now. work is what only the leader runs: it is called
// for each term this replica wins with a context that ends as soon as the
// term does (the elector steps down on its own clock before the lease can
// expire) and a store whose Updates are fenced by the term, and it must
// return promptly once its context ends. With bbolt there is one process,
// always leading: work runs once, on the plain store, until shutdown.
func elect(ctx context.Context, g *group, s store, env environ, log *slog.Logger, work func(context.Context, incidents.Store)) (func() bool, error) {
	e, ok := s.(etcdStore)
	if !ok {
		g.start(ctx, "leader work", func(ctx context.Context) error { work(ctx, s); return nil })
		return func() bool { return true }, nil
	}
	id := replicaID(env)
	ttl, err := leaderTTL(env)
	if err != nil {
		return nil, err
	}
	el, err := leader.New(e.Client(), leader.Config{Prefix: e.prefix + "leader", ID: id, Logger: log, TTL: ttl})
	if err != nil {
		return nil, err
	}
	g.start(ctx, "leader election", func(ctx context.Context) error {
		return el.Run(ctx, func(ctx context.Context, term leader.Term) {
			log.Info("this replica leads: running timers and probes", "replica", id, "term", term.Rev)
			work(ctx, fencedStore{Store: e.Store, fence: []clientv3.Cmp{term.Cmp()}})
			log.Info("this replica no longer leads: timers and probes stopped", "replica", id, "term", term.Rev)
		})
	})
	return func() bool { _, ok := el.Leading(); return ok }, nil
}

// leaderTTL is FIREBREAK_LEADER_TTL, the leader lease (default
// leader.DefaultTTL): a killed leader is replaced about one lease later.
func leaderTTL(env environ) (time.Duration, error) {
	v := env.getenv("FIREBREAK_LEADER_TTL")
	if v == "" {
		return leader.DefaultTTL, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("FIREBREAK_LEADER_TTL %q: want a duration of at least 1s, such as 5s", v)
	}
	return d, nil
}

// fencedStore is the etcd store as the leader writes to it during one
// term: every Update is UpdateFenced on the term, so once another replica
// was elected the write is refused (etcdstore.ErrFenced) and nothing of it
// is stored, however long this process was paused.
type fencedStore struct {
	*etcdstore.Store
	fence []clientv3.Cmp
}

var _ incidents.Store = fencedStore{}

func (f fencedStore) Update(ctx context.Context, fn func(incidents.Tx) error) error {
	return f.UpdateFenced(ctx, f.fence, fn)
}

// leaderGauge is firebreak_leader: 1 on the replica that leads, else 0.
func leaderGauge(leading func() bool) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "firebreak_leader",
		Help: "1 on the replica that holds the leader lease (always 1 with the bbolt store), else 0.",
	}, func() float64 {
		if leading() {
			return 1
		}
		return 0
	})
}

// gateway is a chat connection that receives events: Slack Socket Mode or
// the Discord gateway. Only the leader holds them, so each event reaches
// one replica (Discord sends every event to every session of a bot).
// Posting needs no gateway: every replica posts through the platforms'
// web APIs.
type gateway struct {
	name string
	run  func(context.Context) error
}

// runGateways runs the chat gateways for one term of leadership, once
// ready is closed (serve creates them after the election starts), until
// ctx ends (the term or the process). The adapters' Run may be called
// again for the next term. A gateway that fails (a refused token) fails
// the bot as it did before leadership existed.
func runGateways(ctx context.Context, ready <-chan struct{}, gateways *[]gateway, g *group, log *slog.Logger) {
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	var wg sync.WaitGroup
	for _, gw := range *gateways {
		wg.Go(func() {
			log.Info("this replica leads: opening the chat gateway", "gateway", gw.name)
			if err := gw.run(ctx); err != nil && ctx.Err() == nil {
				g.fail(gw.name, err)
			}
		})
	}
	wg.Wait()
}

// termOutbox is the etcd outbox as serve's one worker sees it across
// leader terms: reads and the wake-up come from the process's one
// etcdstore.Outbox (one watch), and Settle goes through the current
// term's fenced view, so a deposed leader cannot record a delivery after
// another replica was elected. While this replica does not lead, Settle
// fails (the worker does not run then).
type termOutbox struct {
	*etcdstore.Outbox
	mu   sync.Mutex
	term *etcdstore.Outbox
}

// Settle implements outbox.Store, fenced by the current term.
func (t *termOutbox) Settle(ctx context.Context, id uint64, r incidents.EffectResult) error {
	t.mu.Lock()
	cur := t.term
	t.mu.Unlock()
	if cur == nil {
		return fmt.Errorf("settle effect %d: %w", id, etcdstore.ErrFenced)
	}
	return cur.Settle(ctx, id, r)
}

// runOutboxTerm runs the outbox worker for one term of leadership on the
// etcd store (once ready is closed: serve builds the worker after the
// election starts), until ctx ends. A new leader's worker starts from what
// is pending, including what the previous leader sent but had not
// recorded: at most one duplicate post per channel per failover.
func runOutboxTerm(ctx context.Context, ready <-chan struct{}, worker **outbox.Worker, box outbox.Store, fenced incidents.Store, log *slog.Logger) {
	t, ok := box.(*termOutbox)
	f, fok := fenced.(fencedStore)
	if !ok || !fok {
		return
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	t.mu.Lock()
	t.term = t.Fenced(f.fence...)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.term = nil
		t.mu.Unlock()
	}()
	log.Info("this replica leads: delivering the outbox")
	if err := (*worker).Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("outbox worker stopped", "err", err)
	}
}

// waitToLead holds the console of a replica that does not lead until it
// does, saying so on the console, so that the console neither looks hung
// nor takes commands whose replies another replica would print: on etcd
// the outbox worker that prints the console's replies (and the
// escalations) runs on the leader only (runOutboxTerm). With bbolt the
// process always leads and nothing is printed. It reports false when ctx
// ends first.
func waitToLead(ctx context.Context, out io.Writer, s store, env environ, leading func() bool) bool {
	// A lone replica (or the first of several) is elected within a
	// round trip or two of starting: give it that before saying anything.
	quiet := time.NewTimer(2 * time.Second)
	defer quiet.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	said := false
	for !leading() {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		case <-quiet.C:
			who := "another replica"
			if e, ok := s.(etcdStore); ok {
				if id, _, ok, err := leader.Leader(ctx, e.Client(), e.prefix+"leader"); err == nil && ok {
					who = fmt.Sprintf("replica %q", id)
				}
			}
			fmt.Fprintf(out, "⏳ This Firebreak replica (%s) is waiting to lead: %s leads now, and the console starts on the leader only, since the leader prints its replies. Alert webhooks are taken meanwhile. Use the leader's console, or stop it and this one takes over (about FIREBREAK_LEADER_TTL after a crash).\n",
				replicaID(env), who)
			said = true
		}
	}
	if said {
		fmt.Fprintln(out, "✅ This replica leads now: the console is ready.")
	}
	return true
}
