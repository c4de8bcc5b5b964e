package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Timeline entries, alert records and incident records repeat the same
// few strings over and over: data keys ("fingerprint", "starts_at"…),
// label names, the webhook actor, the severity, the alert's title again as
// its summary annotation, the group key again in the incident. In a storm
// those records are most of what each commit writes (a new distinct alert
// wrote a 343-byte timeline entry twice — once to events_recent, once when
// the log is folded into events — plus a 230-byte alert record), so from
// record version 2 on every string of a record is written as one tagged
// uvarint:
//
//	tag&3 == 0  literal: tag>>2 bytes follow
//	tag&3 == 1  word tag>>2 of the fixed dictionary below
//	tag&3 == 2  the same as the record's (tag>>2)-th literal string of at
//	            least minRefLen bytes (an earlier string of this record)
//	tag&3 == 3  a time in RFC 3339 at whole seconds in UTC
//	            ("2026-12-04T12:00:00Z"): varint Unix seconds follow
//
// A string is written as a word, a reference or a time only when it reads
// back byte for byte the same, so every record decodes to exactly what was
// stored. Literals shorter than 32 bytes still take one byte of length.
const (
	tagLiteral = 0
	tagWord    = 1
	tagRef     = 2
	tagTime    = 3
	// minRefLen is the shortest literal a later string may refer to: a
	// reference takes one or two bytes.
	minRefLen = 3
	// maxRefs bounds the strings a record remembers for references, so an
	// alert with thousands of labels costs no quadratic search.
	maxRefs = 64
)

// words is the dictionary of tagWord. It is part of the file format: never
// reorder or remove a word, only append. The first 32 fit a one-byte tag.
var words = [...]string{
	// 0–31: one byte.
	"alert", "fingerprint", "source", "name", "url", "service", "severity", "group",
	"text", "starts_at", "annotation.summary", "annotation.description", "webhook", "alertmanager", "firebreak", "Firebreak",
	"alertname", "instance", "summary", "description", "SEV1", "SEV2", "SEV3", "SEV4",
	"critical", "warning", "pending", "firing", "resolved", "triggered", "acknowledged", "mitigated",
	// 32–: two bytes.
	"alert_repeat", "alert_resolved", "declared", "step_done", "step_skipped", "note", "follow_up", "role",
	"status_update", "action", "escalation", "reopened", "pinned", "refused", "channel", "count",
	"alert_count", "after", "status", "grafana", "generic", "slack", "discord", "console",
	"job", "pod", "namespace", "cluster", "container", "node", "host", "runbook_url",
	"annotation.runbook_url", "dashboard", "annotation.dashboard", "prometheus", "env", "region", "team", "page",
	"info", "done", "skipped", "draft", "final",
}

// wordsByFirst lists, for each byte, the dictionary's words that start
// with it (as indexes into words), so that a string that may be a word is
// found by comparing it with the few of its first byte: hashing it for a
// map cost a third of writing a string, and records of a storm write a
// few dozen strings each that may be words (label names, statuses, data
// keys). It is built once and only read.
var wordsByFirst = func() (by [256][]uint16) {
	for i, w := range words {
		by[w[0]] = append(by[w[0]], uint16(i))
	}
	return by
}()

// wordOf returns s's index in words.
func wordOf(s string) (uint64, bool) {
	for _, i := range wordsByFirst[s[0]] {
		if words[i] == s {
			return uint64(i), true
		}
	}
	return 0, false
}

// maxWordLen is the longest word: longer strings skip the dictionary's
// hash lookup.
var maxWordLen = func() int {
	n := 0
	for _, w := range words {
		n = max(n, len(w))
	}
	return n
}()

// wordShapes has bit n of entry c set when a word of n bytes starts with
// byte c. Most strings of a storm's records are not words (fingerprints,
// instances, titles, times), and this one look-up rules nearly all of them
// out without hashing them for the dictionary (a record of a new alert
// has a dozen such strings).
var wordShapes = func() (shapes [256]uint64) {
	for _, w := range words {
		shapes[w[0]] |= 1 << len(w)
	}
	return shapes
}()

// mayBeWord reports whether s could be in the dictionary; false means it
// is not.
func mayBeWord(s string) bool {
	return len(s) <= maxWordLen && wordShapes[s[0]]&(1<<len(s)) != 0
}

// wordWriter appends strings to a record in the tagged form above.
type wordWriter struct {
	b []byte
	// refs are where in b the literals a later string may refer to are:
	// offsets, not strings, so that remembering one stores no pointer
	// (a string would cost a GC write barrier each, a fifth of the time
	// of encoding a record while the collector runs).
	refs  [maxRefs]literalAt
	nrefs int
}

// literalAt is the place of a literal's bytes in wordWriter.b.
type literalAt struct{ off, n int32 }

func (w *wordWriter) str(s string) {
	if s == "" {
		// Most optional fields are empty: the empty literal, without
		// hashing it.
		w.b = append(w.b, tagLiteral)
		return
	}
	if mayBeWord(s) {
		if i, ok := wordOf(s); ok {
			w.b = binary.AppendUvarint(w.b, i<<2|tagWord)
			return
		}
	}
	if len(s) >= minRefLen {
		for i, r := range w.refs[:w.nrefs] {
			if int(r.n) == len(s) && string(w.b[r.off:r.off+r.n]) == s {
				w.b = binary.AppendUvarint(w.b, uint64(i)<<2|tagRef)
				return
			}
		}
	}
	if sec, ok := secondTime(s); ok {
		w.b = binary.AppendUvarint(w.b, tagTime)
		w.b = binary.AppendVarint(w.b, sec)
		return
	}
	w.b = binary.AppendUvarint(w.b, uint64(len(s))<<2|tagLiteral)
	off := len(w.b)
	w.b = append(w.b, s...)
	if len(s) >= minRefLen && w.nrefs < maxRefs && off+len(s) <= math.MaxInt32 {
		w.refs[w.nrefs] = literalAt{int32(off), int32(len(s))}
		w.nrefs++
	}
}

// sortedKeys returns m's keys in order, in buf when they fit: records are
// written with their maps' keys sorted (equal values, equal bytes), and
// for the handful of labels an alert has, collecting and sorting them on
// the stack costs a fraction of slices.Sorted(maps.Keys(m)).
func sortedKeys(m map[string]string, buf []string) []string {
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// secondTime reports the Unix seconds of s when s is a UTC time in RFC 3339
// at whole seconds that formats back to exactly s.
func secondTime(s string) (int64, bool) {
	if len(s) != len("2006-01-02T15:04:05Z") || s[19] != 'Z' || s[10] != 'T' || s[4] != '-' {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Format(time.RFC3339) != s {
		return 0, false
	}
	return t.Unix(), true
}

var errBadWord = errors.New("string refers to an unknown word or string")

// word reads one string written by wordWriter.str.
func (r *entryReader) word() string {
	tag := r.uvarint()
	if r.err != nil {
		return ""
	}
	i := tag >> 2
	switch tag & 3 {
	case tagWord:
		if i >= uint64(len(words)) {
			r.err = fmt.Errorf("%w: word %d", errBadWord, i)
			return ""
		}
		return words[i]
	case tagRef:
		if i >= uint64(r.nrefs) {
			r.err = fmt.Errorf("%w: string %d of %d", errBadWord, i, r.nrefs)
			return ""
		}
		return r.refs[i]
	case tagTime:
		sec, n := binary.Varint(r.b)
		if n <= 0 {
			r.err = errShortEntry
			return ""
		}
		r.b = r.b[n:]
		return time.Unix(sec, 0).UTC().Format(time.RFC3339)
	}
	if i > uint64(len(r.b)) {
		r.err = errShortEntry
		return ""
	}
	s := string(r.b[:i])
	r.b = r.b[i:]
	if len(s) >= minRefLen && r.nrefs < maxRefs {
		r.refs[r.nrefs] = s
		r.nrefs++
	}
	return s
}
