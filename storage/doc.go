// Package storage keeps Firebreak's state in one bbolt file: incidents,
// their timelines, the indexes that find an incident from an alert
// fingerprint or a chat channel, timers that must survive a restart, and the
// platform event ids already handled. DB implements incidents.Store.
//
// # Durability
//
// Update returns nil only after the transaction that holds the caller's
// writes has been committed and fsynced (unless Options.NoSync, which is for
// tests and benchmarks). Concurrent Update calls share one write transaction
// and one fsync (group commit), so an alert storm costs one disk flush per
// batch rather than one per alert, while a lone caller is committed at once.
//
// # Alert storms
//
// The committer is the one serial step of every write, so what a commit
// costs per alert bounds intake. Four things keep it small and flat (see
// alerts.go, cache.go, seen.go and timeline.go):
//
//   - every distinct alert of an incident is a record of its own (alerts
//     for what monitoring said, alert_state for its counters), so a repeat
//     rewrites a few dozen bytes and a new alert adds two records, whatever
//     the incident holds; the incident record stays small and fixed-size;
//   - decoded incidents are cached for the committer, and an incident put
//     several times in a group commit is stored once, at the end;
//   - new timeline entries, seen event ids, and new alerts and their
//     fingerprint index keys whose keys land between existing keys are
//     appended to logs (events_recent, seen_recent, alerts_recent with
//     alert_states_recent, fingerprints_recent) on their right-most pages,
//     and moved into their keyed buckets in bulk, thousands at a time (a
//     logged alert's content is never moved, only its counters), so a
//     commit writes a few pages rather than one per incident, one per
//     event id and three per hashed fingerprint (and fsync time grows with
//     every separate page written);
//   - records write their strings as words (words.go): a dictionary, back
//     references and times, so storm records are about half the bytes.
//
// The logs are written in the same transactions as everything else and
// read together with the buckets they feed, so none of this changes what a
// commit guarantees.
//
// What needs no store is kept out of the committer: DB implements
// incidents.Encoder, so a new alert's record and timeline entry are
// encoded by the goroutine that received it and written as bytes
// (incidents.EncodedTx).
//
// # Layout
//
// All keys are big-endian so that bbolt's byte order is numeric order:
//
//	incidents           number(8)                       → incidents.Incident (binary, incident.go; JSON before schema 4)
//	alerts              number(8) fingerprint           → one distinct alert as sent (alerts.go), written in place
//	alert_state         number(8) fingerprint           → its counters: firing, count, first/last seen
//	                                                      (and the log seq of its content, for a logged one)
//	alerts_recent       0 number(8) log seq(8)          → number(8) fingerprint content: a logged alert, for good
//	alert_states_recent log seq(8)                      → number(8) fingerprint counters: not yet folded into alert_state
//	events              number(8) seq(8)                → incidents.Entry, compact binary (entry.go)
//	events_recent       log seq(8)                      → number(8) seq(8) entry: not yet folded into events
//	seq                 number(8)                       → last seq(8) of that timeline
//	open                number(8)                       → (empty) for every open incident
//	open_by_fingerprint fingerprint                     → number(8)
//	fingerprints_recent log seq(8)                      → number(8) fingerprint: not yet in open_by_fingerprint
//	home                len+platform len+channel len+thread number(8) → (empty): one key per
//	                    (home, incident); a prefix scan of len+platform len+channel finds
//	                    a channel's incidents and its threads' (InChannel)
//	timers              due(8) number(8) key            → JSON incidents.Timer
//	timers_by_incident  number(8) key due(8)            → (empty)
//	seen_events         event id                        → seen at(8)
//	seen_by_time        seen at(8) event id             → (empty)
//	seen_recent         log seq(8)                      → seen at(8) event id: not yet in the two above
//	meta                "schema", "incidents", "open_incidents", "entries" → uint64(8)
//
// The schema version is 7; Open upgrades files of versions 1 and 2 in place
// (upgrade.go); versions 3 to 6 need no rewrite: JSON incident records
// and records without words (version byte 1) are still read, a version 5
// file only gains fingerprints_recent (which a version 5 Firebreak would
// not read, hence the new version), and the counters waiting in a version
// 6 file's alerts_recent move to alert_states_recent.
//
// Times in keys are Unix nanoseconds with the sign bit flipped, so that they
// sort in time order. Home components are length-prefixed (uvarint) so that
// no home's key is a prefix of another's, whatever bytes chat ids contain.
//
// The incident record's Entries field is not trusted on write: the seq
// bucket is the timeline's counter, and every read fills Entries from it, so
// a caller writing back an incident it loaded before appending entries can
// never rewind the counter and overwrite timeline entries.
package storage
