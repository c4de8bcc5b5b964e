// Package etcdstore keeps Firebreak's state in an etcd cluster, so that
// several Firebreak replicas share one store and survive the loss of a
// machine. Store implements incidents.Store with the guarantees that
// interface documents; the bbolt store (package storage) stays the embedded
// default, and both pass the same conformance suite (incidents/storetest).
//
// Data comes from incidents.Service (every intent is one Update) and goes to
// etcd through go.etcd.io/etcd/client/v3 only: the production binary never
// links the etcd server.
//
// # Transactions
//
// etcd's own STM (concurrency.NewSTM) has no range reads, and timelines,
// listings, the home index and timers are ranges, so Update runs its own
// optimistic, serializable transaction:
//
//  1. A linearizable read of the commit key fixes a revision R; every read
//     of the attempt (point or range) is made at R, so fn sees one snapshot.
//  2. fn's writes are buffered in the transaction and read back by fn
//     (read-your-writes, ranges included).
//  3. One etcd Txn commits them all, if the commit key was not changed
//     since R, and changes the commit key. Every writing Update changes it,
//     so two Updates that overlap in time never both commit: the loser runs
//     fn again on a fresh snapshot (fn may run again, as the contract says).
//
// An Update returns nil only when etcd has answered the Txn, that is after
// a quorum of members has the write in its fsynced log. Updates of one
// process are serialised before they reach etcd, so they never conflict
// with each other; conflicts (and re-runs) only happen between replicas.
// Concurrent Updates of one process are committed in groups (group.go):
// their fns run one after the other on one snapshot and one transaction,
// committed by one Txn within etcd's limits, so a storm of webhook
// requests costs one quorum round per group rather than per request.
//
// An error from etcd other than a lost conflict (unavailable cluster,
// timeout) is returned wrapped in ErrUnavailable and fn is not run again:
// the Txn may or may not have committed, and re-running a non-idempotent fn
// after a commit would apply it twice. Callers answer 503 and let the
// sender retry; event ids (MarkSeen) make redeliveries harmless.
//
// # Limits
//
// etcd refuses a Txn with more than --max-txn-ops operations (128 by
// default) or a request over --max-request-bytes (1.5 MiB by default); a
// 100-alert payload writes about 300 keys. An Update that fits is one Txn;
// one that does not is staged, committed by one small Txn and applied in
// parts, and stays atomic to every reader (see large.go). Only a single
// value no request can carry, or a cluster with lower limits than
// configured, is refused with ErrTooLarge, naming the flag to raise.
// Reads are paginated (pageSize keys per request), so a 100,000-entry
// timeline streams without being held in memory and no response nears the
// size limit. Every range is read in ascending key order, the only order
// etcd serves a page of without reading the whole range first: indexes
// that are read newest first (open/, home/, homeopen/) store inverted numbers, and
// the full incident list walks number windows downwards.
//
// # Layout
//
// Under Config.Prefix (default "firebreak/"), numbers are 20-digit decimals
// so that etcd's byte order is numeric order:
//
//	meta/commit                     → revision of the snapshot the last Update read (changed by every Update)
//	meta/last                       → highest incident number handed out
//	inc/<n>                         → JSON incidents.Incident (Entries is filled from seq/<n> on read)
//	open/<^n>                       → "" while incident n is open (^n: inverted, so the newest comes first)
//	seq/<n>                         → last Seq of incident n's timeline
//	tl/<n>/<seq>                    → JSON incidents.Entry (Incident and Seq come from the key)
//	fp/<fingerprint>                → n: the open incident the fingerprint is grouped into
//	home/<len>:<platform><len>:<channel><len>:<thread><^n> → "" (length-prefixed: no home is a prefix of another)
//	homeopen/<len>:<platform><len>:<channel><^n> → "" while incident n is open and homed in the channel or a thread of it
//	alert/<n>/<fingerprint>         → JSON incidents.AlertState: one record per distinct alert of incident n
//	timer/<due>/<n>/<key>           → JSON incidents.Timer (due: Unix ns with the sign bit flipped)
//	timerinc/<n>/<key>/<due>        → the timer/ key, so one incident's timers with a key prefix are a range
//	seen/<event id>                 → when it was seen, attached to a lease (see seen.go)
//	meta/pending                    → the staging of a committed large Update not yet applied (see large.go)
//	stage/<id>/<i>                  → staged writes of a large Update, JSON
//	meta/outbox                     → highest effect id handed out (see outbox.go)
//	outbox/p/<id>                   → JSON incidents.Effect waiting for delivery (watched by the leader's worker)
//	outbox/s/<id>                   → JSON incidents.Effect once settled (delivered, coalesced, given up)
//	outbox/ref/<key>                → id of the latest delivered post with that Key
package etcdstore
