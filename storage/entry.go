package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Timeline entries are the bulk of the database and are read by the
// hundred thousand when a long incident's postmortem is rendered, so they
// are stored in a compact binary form instead of JSON (decoding is several
// times faster and the file smaller):
//
//	version(1) at(varint unix ns) kind actor.platform actor.id actor.name text step
//	len(data)(uvarint) [key value]…
//
// Incident and Seq live in the key. Data keys are written sorted, so equal
// entries encode equally. In version 1 every string is uvarint length +
// bytes; version 2 (schema 5) writes them as words (words.go), which takes
// the entry of a new alert in a storm from 343 to about 150 bytes. Both are
// read.
const (
	entryVersion1 = 1
	entryVersion  = 2
)

func encodeEntry(e *incidents.Entry) []byte { return appendEntry(nil, e) }

// appendEntry encodes e after a copy of head, in one allocation:
// AppendEntry writes the events_recent record's header and the entry
// together.
func appendEntry(head []byte, e *incidents.Entry) []byte {
	n := len(head) + 16 + len(e.Text)
	for k, v := range e.Data {
		n += len(k) + len(v) + 4
	}
	w := wordWriter{b: append(make([]byte, 0, n), head...)}
	w.b = append(w.b, entryVersion)
	var at int64
	if !e.At.IsZero() {
		at = e.At.UnixNano()
	}
	w.b = binary.AppendVarint(w.b, at)
	for _, s := range []string{string(e.Kind), e.Actor.Platform, e.Actor.ID, e.Actor.Name, e.Text, e.Step} {
		w.str(s)
	}
	w.b = binary.AppendUvarint(w.b, uint64(len(e.Data)))
	var buf [16]string
	for _, k := range sortedKeys(e.Data, buf[:]) {
		w.str(k)
		w.str(e.Data[k])
	}
	return w.b
}

var errShortEntry = errors.New("truncated timeline entry")

type entryReader struct {
	b   []byte
	err error
	// words: strings are written as words (record version 2); refs are
	// the literals read so far, which later strings may refer to (an
	// array, so a reader on the stack allocates nothing for them).
	words bool
	refs  [maxRefs]string
	nrefs int
}

func (r *entryReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortEntry
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) str() string {
	if r.words {
		return r.word()
	}
	l := r.uvarint()
	if r.err != nil {
		return ""
	}
	if l > uint64(len(r.b)) {
		r.err = errShortEntry
		return ""
	}
	s := string(r.b[:l])
	r.b = r.b[l:]
	return s
}

func decodeEntry(v []byte, e *incidents.Entry) error {
	if len(v) == 0 || (v[0] != entryVersion && v[0] != entryVersion1) {
		return fmt.Errorf("timeline entry format %v is unknown: %w", v[:min(len(v), 1)], errDamaged)
	}
	r := entryReader{b: v[1:], words: v[0] == entryVersion}
	at, n := binary.Varint(r.b)
	if n <= 0 {
		return fmt.Errorf("timeline entry time: %w", errDamaged)
	}
	r.b = r.b[n:]
	if at != 0 {
		e.At = time.Unix(0, at).UTC()
	}
	e.Kind = incidents.EntryKind(r.str())
	e.Actor.Platform, e.Actor.ID, e.Actor.Name = r.str(), r.str(), r.str()
	e.Text, e.Step = r.str(), r.str()
	if cnt := r.uvarint(); cnt > 0 && r.err == nil {
		if cnt > uint64(len(r.b)) {
			return fmt.Errorf("timeline entry data: %w", errDamaged)
		}
		e.Data = make(map[string]string, cnt)
		for range cnt {
			k := r.str()
			e.Data[k] = r.str()
		}
	}
	if r.err != nil {
		return fmt.Errorf("timeline entry: %w (%w)", r.err, errDamaged)
	}
	return nil
}
