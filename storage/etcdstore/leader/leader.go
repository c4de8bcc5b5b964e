// Package leader elects the one Firebreak replica that runs what must be
// singular (the outbox, chat gateways, escalation timers, probes), on the
// etcd cluster the replicas already share, with etcd's concurrency.Election.
//
// A lease alone is not mutual exclusion (etcd's "why" notes, and Jepsen's
// etcd issue 11456): a paused leader can wake up after its lease expired and
// a new leader was chosen. So leadership here has two parts:
//
//   - Leading and the context handed to lead say whether this replica should
//     act as leader. They turn false, and the context is canceled, as soon as
//     the replica cannot prove its lease is alive: the session ends, the
//     leader key is deleted, or ValidFor passes without a renewed keepalive
//     (measured from when the keepalive was sent, so a slow answer counts
//     against us, never for us).
//   - Writes only the leader may make carry a fence: Term.Cmp compares the
//     leader key's creation revision (Term.Rev) inside the same etcd Txn, so
//     a deposed leader's write is refused by etcd itself, whatever the
//     deposed process believes (Fenced, or etcdstore.Store.UpdateFenced).
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// ErrDeposed is returned by Fenced when the term it was given is no longer
// the leader's: nothing was written.
var ErrDeposed = errors.New("no longer the leader")

// DefaultTTL is the lease of a leader: a leader that dies is replaced after
// at most about this long (plus one campaign round trip).
const DefaultTTL = 5 * time.Second

// Term is one leadership: the leader key and its creation revision, which
// increases with every new leader and is the fencing token.
type Term struct {
	Key   string
	Rev   int64
	Lease clientv3.LeaseID
}

// Cmp is the comparison that holds only while t is the current term: add
// it to every leader-only Txn.
func (t Term) Cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(t.Key), "=", t.Rev)
}

// Fenced commits ops only while term is the leader's; otherwise nothing is
// written and the error is ErrDeposed.
func Fenced(ctx context.Context, client *clientv3.Client, term Term, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	resp, err := client.Txn(ctx).If(term.Cmp()).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("fenced write: %w", err)
	}
	if !resp.Succeeded {
		return resp, fmt.Errorf("fenced write of term %d: %w", term.Rev, ErrDeposed)
	}
	return resp, nil
}

// Config names the election and this replica.
type Config struct {
	// Prefix is the election's key prefix, e.g. "firebreak/leader"
	// (etcd's election adds "/" and the lease id).
	Prefix string
	// ID names this replica (host name, pod name) for logs and Leader.
	ID string
	// TTL is the leader lease (default DefaultTTL; etcd rounds to seconds,
	// at least 1 s).
	TTL time.Duration
	// Logger receives elections and losses (default: discard).
	Logger *slog.Logger
}

// Elector campaigns for one replica. Use Run once.
type Elector struct {
	client *clientv3.Client
	cfg    Config

	mu         sync.Mutex
	term       Term
	leading    bool
	validUntil time.Time
}

// New prepares an Elector; nothing happens until Run.
func New(client *clientv3.Client, cfg Config) (*Elector, error) {
	if cfg.Prefix == "" || cfg.ID == "" {
		return nil, errors.New("leader election: Prefix and ID are required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("leader election: TTL %v is under etcd's 1 s minimum", cfg.TTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Elector{client: client, cfg: cfg}, nil
}

// Leading reports whether this replica leads right now, and its term. It
// turns false the moment the lease can no longer be shown alive.
func (e *Elector) Leading() (Term, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leading || !time.Now().Before(e.validUntil) {
		return Term{}, false
	}
	return e.term, true
}

// Run campaigns until ctx ends. Each time this replica wins, lead runs
// with a context canceled as soon as leadership is lost; when lead
// returns, the replica resigns (so another takes over at once) and
// campaigns again. Run returns ctx's error.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context, term Term)) error {
	for {
		err := e.once(ctx, lead)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			e.cfg.Logger.Warn("leader election: campaign failed; trying again", "replica", e.cfg.ID, "err", err)
		}
		select {
		case <-time.After(e.cfg.TTL / 5):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// once is one session: campaign, lead until lost, resign.
func (e *Elector) once(ctx context.Context, lead func(context.Context, Term)) error {
	ttl := e.cfg.TTL
	e.mu.Lock()
	e.validUntil = time.Time{}
	e.mu.Unlock()
	grant, err := e.client.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	session, err := concurrency.NewSession(e.client, concurrency.WithLease(grant.ID), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	// Closing the session revokes the lease: a follower takes over at once.
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
		defer cancel()
		_, _ = e.client.Revoke(cctx, grant.ID)
		_ = session.Close()
	}()

	// sessionCtx ends when the session's lease is lost, so a campaign
	// blocked waiting for the current leader does not outlive its own lease
	// (Campaign alone does not notice).
	sessionCtx, cancelSession := context.WithCancel(ctx)
	defer cancelSession()
	go func() {
		select {
		case <-session.Done():
			cancelSession()
		case <-sessionCtx.Done():
		}
	}()
	// Renewals measured from when they were sent: validUntil is a lower
	// bound of the server's expiry, minus a tenth for clock rate drift.
	renewed := make(chan time.Time, 1)
	go e.renew(sessionCtx, cancelSession, grant.ID, renewed)

	election := concurrency.NewElection(session, e.cfg.Prefix)
	if err := election.Campaign(sessionCtx, e.cfg.ID); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	term := Term{Key: election.Key(), Rev: election.Rev(), Lease: grant.ID}
	// Campaign may return after our own lease expired (etcd issue 11456):
	// check, in etcd, that our key still stands before acting as leader.
	if _, err := Fenced(sessionCtx, e.client, term); err != nil {
		return fmt.Errorf("after the campaign: %w", err)
	}

	// And prove the lease alive now, so validUntil starts from this moment.
	if _, err := e.prove(sessionCtx, grant.ID); err != nil {
		return fmt.Errorf("after the campaign: %w", err)
	}

	leadCtx, stop := context.WithCancel(sessionCtx)
	defer stop()
	e.mu.Lock()
	e.term, e.leading = term, true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.leading = false
		e.mu.Unlock()
	}()
	e.cfg.Logger.Info("leader election: this replica leads", "replica", e.cfg.ID, "term", term.Rev)
	go e.watchKey(leadCtx, stop, term)
	go e.watchValidity(leadCtx, stop, renewed)

	lead(leadCtx, term)
	stop()
	if sessionCtx.Err() == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
		defer cancel()
		_ = election.Resign(rctx)
	}
	e.cfg.Logger.Info("leader election: this replica stopped leading", "replica", e.cfg.ID, "term", term.Rev)
	return nil
}

// renew sends a keepalive every TTL/4 and records, on success, how long
// the lease is certainly alive. A refused keepalive (lease gone) ends the
// session.
func (e *Elector) renew(ctx context.Context, lost context.CancelFunc, id clientv3.LeaseID, renewed chan<- time.Time) {
	ttl := e.cfg.TTL
	for {
		until, err := e.prove(ctx, id)
		switch {
		case err == nil:
			select {
			case renewed <- until:
			default:
			}
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			// Slow answer: try again; validUntil runs out meanwhile.
		default:
			e.cfg.Logger.Warn("leader election: lease lost", "replica", e.cfg.ID, "err", err)
			lost()
			return
		}
		select {
		case <-time.After(ttl / 4):
		case <-ctx.Done():
			return
		}
	}
}

// prove renews the lease once and moves validUntil to a time the lease is
// certainly alive until: the server's expiry is at least the time the
// request was sent plus the TTL it answers, less a tenth of the TTL for
// clock rate differences.
func (e *Elector) prove(ctx context.Context, id clientv3.LeaseID) (time.Time, error) {
	sent := time.Now()
	kctx, cancel := context.WithTimeout(ctx, e.cfg.TTL/4)
	defer cancel()
	resp, err := e.client.KeepAliveOnce(kctx, id)
	if err != nil {
		return time.Time{}, err
	}
	until := sent.Add(time.Duration(resp.TTL)*time.Second - e.cfg.TTL/10)
	e.mu.Lock()
	if until.After(e.validUntil) {
		e.validUntil = until
	}
	e.mu.Unlock()
	return until, nil
}

// watchValidity stops leading when the lease outlives its last proof.
func (e *Elector) watchValidity(ctx context.Context, stop context.CancelFunc, renewed <-chan time.Time) {
	for {
		e.mu.Lock()
		until := e.validUntil
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-renewed:
		case <-time.After(time.Until(until)):
			e.mu.Lock()
			expired := !time.Now().Before(e.validUntil)
			e.mu.Unlock()
			if expired {
				e.cfg.Logger.Warn("leader election: lease not renewed in time; stepping down", "replica", e.cfg.ID)
				stop()
				return
			}
		}
	}
}

// watchKey stops leading when the leader key is deleted or replaced
// (lease revoked, resigned by an operator, or the key removed by hand).
func (e *Elector) watchKey(ctx context.Context, stop context.CancelFunc, term Term) {
	for resp := range e.client.Watch(ctx, term.Key, clientv3.WithRev(term.Rev+1)) {
		if resp.Err() != nil {
			stop()
			return
		}
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete || ev.Kv.CreateRevision != term.Rev {
				stop()
				return
			}
		}
	}
}

// Leader names the replica that currently leads (its Config.ID), for
// /readyz and logs; ok is false when no replica leads.
func Leader(ctx context.Context, client *clientv3.Client, prefix string) (id string, rev int64, ok bool, err error) {
	resp, err := client.Get(ctx, prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return "", 0, false, fmt.Errorf("leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, false, nil
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].CreateRevision, true, nil
}
