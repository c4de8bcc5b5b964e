package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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
// where every string is uvarint length + bytes. Incident and Seq live in
// the key. Data keys are written sorted, so equal entries encode equally.
const entryVersion = 1

func encodeEntry(e *incidents.Entry) []byte {
	n := 16 + len(e.Kind) + len(e.Actor.Platform) + len(e.Actor.ID) + len(e.Actor.Name) + len(e.Text) + len(e.Step)
	for k, v := range e.Data {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, entryVersion)
	var at int64
	if !e.At.IsZero() {
		at = e.At.UnixNano()
	}
	b = binary.AppendVarint(b, at)
	for _, s := range []string{string(e.Kind), e.Actor.Platform, e.Actor.ID, e.Actor.Name, e.Text, e.Step} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Data)))
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, e.Data[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShortEntry = errors.New("truncated timeline entry")

type entryReader struct {
	b   []byte
	err error
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
	if len(v) == 0 || v[0] != entryVersion {
		return fmt.Errorf("timeline entry format %v is unknown: %w", v[:min(len(v), 1)], errDamaged)
	}
	r := entryReader{b: v[1:]}
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
