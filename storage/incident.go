package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Incident records are written in a compact binary form (schema 4). Every
// alert that opens an incident writes one, and a storm of alerts that each
// open their own incident is limited by how many bytes its commits write:
// the JSON record of schema 3 was about 1.4 KB (two to a page), the binary
// one is about a third of that, and encoding it costs a fraction of
// encoding/json's reflection. Records written as JSON by schema 3 are still
// read (the first byte tells them apart: '{' is never a version byte) and
// become binary the next time the incident is written.
//
//	version(1) title severity status service playbook
//	len(steps) [id title status by at note]… current
//	labels fingerprint trigger len(alerts) [alert]…
//	alert_count distinct_alerts firing_alerts first_alert_at last_alert_at
//	home mirror declared_by commander? comms? responders participants
//	detected_at opened_at acknowledged_at mitigated_at resolved_at updated_at
//	acknowledged_by mitigated_by resolved_by group_key summary last_update
//	postmortem_status entries
//
// Strings are uvarint length + bytes; integers varints; a map is its length
// and its entries, keys sorted, so equal incidents encode equally; an actor
// is platform, id, name; a home platform, channel, thread. A time is one
// byte 0 when zero, else 1, Unix seconds (varint), nanoseconds (uvarint)
// and the zone's offset in seconds (varint), so any time.Time survives the
// round trip exactly as JSON's would (same instant, same offset). The
// trigger's labels are written as "same as the incident's" (length 0 after
// a marker) when equal, which they are for every incident an alert opened.
// TestIncidentEncodingCoversEveryField fails when Incident gains a field
// this encoding does not carry. Version 1 writes strings as uvarint length
// + bytes; version 2 (schema 5) as words (words.go): an incident an alert
// opened repeats its title, name, labels and fingerprint in its trigger and
// in its card copy of the alert, which then take a byte or two each. Both
// are read.
const (
	incidentVersion1 = 1
	incidentVersion  = 2
)

// incidentEncoder appends an incident's fields to b.
type incidentEncoder struct{ wordWriter }

func (e *incidentEncoder) str(s string) { e.wordWriter.str(s) }

func (e *incidentEncoder) int(n int64) { e.b = binary.AppendVarint(e.b, n) }

func (e *incidentEncoder) uint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }

func (e *incidentEncoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
		return
	}
	e.b = append(e.b, 0)
}

func (e *incidentEncoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	_, off := t.Zone()
	e.b = append(e.b, 1)
	e.int(t.Unix())
	e.uint(uint64(t.Nanosecond()))
	e.int(int64(off))
}

func (e *incidentEncoder) actor(a incidents.Actor) {
	e.str(a.Platform)
	e.str(a.ID)
	e.str(a.Name)
}

func (e *incidentEncoder) actors(as []incidents.Actor) {
	e.uint(uint64(len(as)))
	for _, a := range as {
		e.actor(a)
	}
}

func (e *incidentEncoder) optActor(a *incidents.Actor) {
	e.bool(a != nil)
	if a != nil {
		e.actor(*a)
	}
}

func (e *incidentEncoder) home(h incidents.Home) {
	e.str(h.Platform)
	e.str(h.Channel)
	e.str(h.Thread)
}

// strMap writes len+1 and the entries (0 is kept for "same as the
// incident's labels").
func (e *incidentEncoder) strMap(m map[string]string) {
	e.uint(uint64(len(m)) + 1)
	if len(m) == 0 {
		return
	}
	if len(m) == 1 {
		for k, v := range m {
			e.str(k)
			e.str(v)
		}
		return
	}
	var buf [16]string
	for _, k := range sortedKeys(m, buf[:]) {
		e.str(k)
		e.str(m[k])
	}
}

func (e *incidentEncoder) alertState(a *incidents.AlertState) {
	e.str(a.Fingerprint)
	e.str(a.Name)
	e.str(a.Title)
	e.str(a.Instance)
	e.str(a.Source)
	e.str(a.URL)
	e.strMap(a.Labels)
	e.strMap(a.Annotations)
	e.str(a.Text)
	e.time(a.StartsAt)
	e.bool(a.Firing)
	e.int(int64(a.Count))
	e.time(a.FirstSeen)
	e.time(a.LastSeen)
	e.time(a.ResolvedAt)
}

func encodeIncident(inc *incidents.Incident) []byte {
	e := incidentEncoder{wordWriter{b: make([]byte, 0, 512)}}
	e.b = append(e.b, incidentVersion)
	e.str(inc.Title)
	e.int(int64(inc.Severity))
	e.str(string(inc.Status))
	e.str(inc.Service)
	e.str(inc.Playbook)
	e.uint(uint64(len(inc.Steps)))
	for i := range inc.Steps {
		s := &inc.Steps[i]
		e.str(s.ID)
		e.str(s.Title)
		e.str(string(s.Status))
		e.actor(s.By)
		e.time(s.At)
		e.str(s.Note)
	}
	e.int(int64(inc.Current))
	e.strMap(inc.Labels)
	e.str(inc.Fingerprint)

	t := &inc.Trigger
	e.str(t.Source)
	e.str(string(t.Status))
	e.str(t.Name)
	e.str(t.Title)
	e.str(t.Text)
	e.str(t.Service)
	e.int(int64(t.Severity))
	if len(t.Labels) > 0 && maps.Equal(t.Labels, inc.Labels) {
		e.uint(0)
	} else {
		e.strMap(t.Labels)
	}
	e.strMap(t.Annotations)
	e.str(t.Fingerprint)
	e.time(t.StartsAt)
	e.time(t.EndsAt)
	e.str(t.URL)

	e.uint(uint64(len(inc.Alerts)))
	for i := range inc.Alerts {
		e.alertState(&inc.Alerts[i])
	}
	e.int(int64(inc.AlertCount))
	e.int(int64(inc.DistinctAlerts))
	e.int(int64(inc.FiringAlerts))
	e.time(inc.FirstAlertAt)
	e.time(inc.LastAlertAt)
	e.home(inc.Home)
	e.home(inc.Mirror)
	e.actor(inc.DeclaredBy)
	e.optActor(inc.Commander)
	e.optActor(inc.Comms)
	e.actors(inc.Responders)
	e.actors(inc.Participants)
	for _, at := range []time.Time{inc.DetectedAt, inc.OpenedAt, inc.AcknowledgedAt, inc.MitigatedAt, inc.ResolvedAt, inc.UpdatedAt} {
		e.time(at)
	}
	e.actor(inc.AcknowledgedBy)
	e.actor(inc.MitigatedBy)
	e.actor(inc.ResolvedBy)
	e.str(inc.GroupKey)
	e.str(inc.Summary)
	e.str(inc.LastUpdate)
	e.str(string(inc.PostmortemStatus))
	e.uint(inc.Entries)
	return e.b
}

// incidentReader reads what incidentEncoder wrote; the first error sticks
// (entryReader's) and every later read returns zero values.
type incidentReader struct{ entryReader }

func (r *incidentReader) int() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortEntry
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *incidentReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = errShortEntry
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *incidentReader) time() time.Time {
	if r.byte() != 1 {
		return time.Time{}
	}
	sec, nsec, off := r.int(), r.uvarint(), r.int()
	if r.err != nil || nsec >= 1e9 {
		if r.err == nil {
			r.err = fmt.Errorf("time with %d ns", nsec)
		}
		return time.Time{}
	}
	return canonicalTime(time.Unix(sec, int64(nsec)).In(time.FixedZone("", int(off))))
}

func (r *incidentReader) actor() incidents.Actor {
	return incidents.Actor{Platform: r.str(), ID: r.str(), Name: r.str()}
}

// count reads a length and checks it against what is left (every element
// takes at least one byte), so a damaged record cannot ask for gigabytes.
func (r *incidentReader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errShortEntry
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *incidentReader) actors() []incidents.Actor {
	n := r.count()
	if n == 0 {
		return nil
	}
	as := make([]incidents.Actor, n)
	for i := range as {
		as[i] = r.actor()
	}
	return as
}

func (r *incidentReader) optActor() *incidents.Actor {
	if r.byte() != 1 {
		return nil
	}
	a := r.actor()
	return &a
}

func (r *incidentReader) home() incidents.Home {
	return incidents.Home{Platform: r.str(), Channel: r.str(), Thread: r.str()}
}

// strMap reads what incidentEncoder.strMap wrote; same reports the 0
// marker.
func (r *incidentReader) strMap() (m map[string]string, same bool) {
	n := r.uvarint()
	if r.err != nil {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	n--
	if n > uint64(len(r.b)) {
		r.err = errShortEntry
		return nil, false
	}
	if n == 0 {
		return nil, false
	}
	m = make(map[string]string, n)
	for range n {
		k := r.str()
		m[k] = r.str()
	}
	return m, false
}

func (r *incidentReader) plainMap() map[string]string {
	m, same := r.strMap()
	if same && r.err == nil {
		r.err = fmt.Errorf("unexpected shared map")
	}
	return m
}

func (r *incidentReader) alertState() incidents.AlertState {
	var a incidents.AlertState
	a.Fingerprint, a.Name, a.Title, a.Instance, a.Source, a.URL = r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
	a.Labels = r.plainMap()
	a.Annotations = r.plainMap()
	a.Text = r.str()
	a.StartsAt = r.time()
	a.Firing = r.byte() == 1
	a.Count = int(r.int())
	a.FirstSeen, a.LastSeen, a.ResolvedAt = r.time(), r.time(), r.time()
	return a
}

// decodeIncident decodes a binary incident record (not its number, which
// is the key).
func decodeIncident(v []byte, inc *incidents.Incident) error {
	if len(v) == 0 || (v[0] != incidentVersion && v[0] != incidentVersion1) {
		return fmt.Errorf("incident record format %v is unknown", v[:min(len(v), 1)])
	}
	r := incidentReader{entryReader{b: v[1:], words: v[0] == incidentVersion}}
	inc.Title = r.str()
	inc.Severity = incidents.Severity(r.int())
	inc.Status = incidents.Status(r.str())
	inc.Service, inc.Playbook = r.str(), r.str()
	if n := r.count(); n > 0 {
		inc.Steps = make([]incidents.StepState, n)
		for i := range inc.Steps {
			s := &inc.Steps[i]
			s.ID, s.Title, s.Status = r.str(), r.str(), incidents.StepStatus(r.str())
			s.By, s.At, s.Note = r.actor(), r.time(), r.str()
		}
	}
	inc.Current = int(r.int())
	inc.Labels = r.plainMap()
	inc.Fingerprint = r.str()

	t := &inc.Trigger
	t.Source, t.Status, t.Name, t.Title, t.Text, t.Service = r.str(), incidents.AlertStatus(r.str()), r.str(), r.str(), r.str(), r.str()
	t.Severity = incidents.Severity(r.int())
	labels, same := r.strMap()
	if same {
		labels = maps.Clone(inc.Labels)
	}
	t.Labels = labels
	t.Annotations = r.plainMap()
	t.Fingerprint = r.str()
	t.StartsAt, t.EndsAt = r.time(), r.time()
	t.URL = r.str()

	if n := r.count(); n > 0 {
		inc.Alerts = make([]incidents.AlertState, n)
		for i := range inc.Alerts {
			inc.Alerts[i] = r.alertState()
		}
	}
	inc.AlertCount, inc.DistinctAlerts, inc.FiringAlerts = int(r.int()), int(r.int()), int(r.int())
	inc.FirstAlertAt, inc.LastAlertAt = r.time(), r.time()
	inc.Home, inc.Mirror = r.home(), r.home()
	inc.DeclaredBy = r.actor()
	inc.Commander, inc.Comms = r.optActor(), r.optActor()
	inc.Responders, inc.Participants = r.actors(), r.actors()
	inc.DetectedAt, inc.OpenedAt, inc.AcknowledgedAt = r.time(), r.time(), r.time()
	inc.MitigatedAt, inc.ResolvedAt, inc.UpdatedAt = r.time(), r.time(), r.time()
	inc.AcknowledgedBy, inc.MitigatedBy, inc.ResolvedBy = r.actor(), r.actor(), r.actor()
	inc.GroupKey, inc.Summary, inc.LastUpdate = r.str(), r.str(), r.str()
	inc.PostmortemStatus = incidents.PostmortemStatus(r.str())
	inc.Entries = r.uvarint()
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the record", len(r.b))
	}
	return r.err
}

// decodeRecord decodes an incidents bucket value: binary (schema 4) or
// JSON (written by schema 3 and earlier, until the incident is written
// again).
func decodeRecord(n uint64, v []byte) (*incidents.Incident, error) {
	inc := new(incidents.Incident)
	var err error
	if len(v) > 0 && v[0] == '{' {
		err = json.Unmarshal(v, inc)
	} else {
		err = decodeIncident(v, inc)
	}
	if err != nil {
		return nil, fmt.Errorf("incident #%d: decoding stored record: %w (%w)", n, err, errDamaged)
	}
	inc.Number = n
	return inc, nil
}
