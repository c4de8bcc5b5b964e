package storage

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// fill sets every exported field reachable from v to a non-zero value
// (strings, numbers and times differ by field), so a field the binary
// encoding forgets shows up as a difference after the round trip.
func fill(v reflect.Value, seed *int) {
	*seed++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeFor[incidents.Severity]() {
			v.SetInt(int64(1 + *seed%4)) // JSON refuses any other
			return
		}
		v.SetInt(int64(*seed))
	case reflect.Uint64:
		v.SetUint(uint64(*seed))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), seed)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 3 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, seed)
			fill(e, seed)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == timeType {
			zone := time.FixedZone("", (*seed%5)*3600)
			v.Set(reflect.ValueOf(time.Date(2026, 12, 4, 10, 0, *seed, *seed*1000+7, zone)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed)
			}
		}
	default:
		panic(fmt.Sprintf("fill: add a case for %s", v.Type()))
	}
}

func roundTrip(t *testing.T, inc *incidents.Incident) *incidents.Incident {
	t.Helper()
	got, err := decodeRecord(inc.Number, encodeIncident(inc))
	require.NoError(t, err)
	return got
}

// Every field of Incident (and of the types inside it) survives the
// binary record exactly as it would a JSON one. This fails when a field
// is added to Incident, StepState, Alert, AlertState, Actor or Home
// without being added to encodeIncident/decodeIncident.
func TestIncidentEncodingCoversEveryField(t *testing.T) {
	seed := 0
	inc := new(incidents.Incident)
	fill(reflect.ValueOf(inc).Elem(), &seed)
	want := inc.Clone()
	canonicalize(reflect.ValueOf(want).Elem())
	assert.Equal(t, want, roundTrip(t, inc))

	// And as JSON read it: the binary record replaces JSON without a
	// difference anyone could see.
	js, err := json.Marshal(inc)
	require.NoError(t, err)
	fromJSON, err := decodeRecord(inc.Number, js)
	require.NoError(t, err)
	assert.Equal(t, fromJSON, roundTrip(t, inc))
}

func TestIncidentEncodingCases(t *testing.T) {
	local := time.Date(2026, 12, 4, 10, 0, 0, 5, time.Local)
	labels := map[string]string{"alertname": "DiskFull", "service": "db"}
	tests := []struct {
		name string
		inc  incidents.Incident
	}{
		{"zero", incidents.Incident{Number: 1}},
		{"declared", incidents.Incident{Number: 2, Title: "Checkout slow", Severity: incidents.SEV2, Status: incidents.StatusTriggered,
			DeclaredBy: incidents.Actor{Platform: "slack", ID: "U1"}, OpenedAt: local, UpdatedAt: local.UTC(), Entries: 3}},
		{"opened by an alert: trigger labels shared", incidents.Incident{Number: 3, Labels: labels,
			Trigger: incidents.Alert{Name: "DiskFull", Labels: labels, StartsAt: time.Unix(1, 0)}}},
		{"trigger labels differ", incidents.Incident{Number: 4, Labels: labels,
			Trigger: incidents.Alert{Labels: map[string]string{"alertname": "DiskFull"}}}},
		{"trigger labels without incident labels", incidents.Incident{Number: 5,
			Trigger: incidents.Alert{Labels: labels}}},
		{"times far out", incidents.Incident{Number: 6, OpenedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
			DetectedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -7*3600))}},
		{"empty slices and maps", incidents.Incident{Number: 7, Steps: []incidents.StepState{}, Labels: map[string]string{},
			Responders: []incidents.Actor{}, Alerts: []incidents.AlertState{{Labels: map[string]string{}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, err := json.Marshal(&tt.inc)
			require.NoError(t, err)
			want, err := decodeRecord(tt.inc.Number, js)
			require.NoError(t, err)
			got := roundTrip(t, &tt.inc)
			assert.Equal(t, want, got)
			assert.True(t, want.OpenedAt.Equal(got.OpenedAt))
		})
	}
}

// A JSON record of schema 3 is still read, and the binary record is
// several times smaller than the JSON one of an incident an alert opened.
func TestIncidentRecordSize(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 123456789, time.UTC)
	labels := map[string]string{"alertname": "Alert0000001", "instance": "host-1", "service": "svc-0000001"}
	inc := &incidents.Incident{Number: 1, Title: "something is wrong", Severity: incidents.SEV3, Status: incidents.StatusTriggered,
		Service: "svc-0000001", Playbook: "outage", Labels: labels, Fingerprint: "0000010000000001",
		Trigger: incidents.Alert{Source: "alertmanager", Status: incidents.AlertFiring, Name: "Alert0000001", Title: "something is wrong",
			Service: "svc-0000001", Labels: labels, Annotations: map[string]string{"summary": "something is wrong"}, Fingerprint: "0000010000000001"},
		Alerts: []incidents.AlertState{{Fingerprint: "0000010000000001", Name: "Alert0000001", Title: "something is wrong", Instance: "host-1",
			Source: "alertmanager", Firing: true, Count: 1, FirstSeen: now, LastSeen: now}},
		AlertCount: 1, DistinctAlerts: 1, FiringAlerts: 1, FirstAlertAt: now, LastAlertAt: now, OpenedAt: now, UpdatedAt: now,
		GroupKey: `group:alertname="Alert0000001",service="svc-0000001"`, Entries: 1}
	for _, id := range []string{"validate", "communicate", "rollback", "monitor"} {
		inc.Steps = append(inc.Steps, incidents.StepState{ID: id, Title: "Step " + id, Status: incidents.StepPending})
	}
	js, err := json.Marshal(inc)
	require.NoError(t, err)
	bin := encodeIncident(inc)
	t.Logf("JSON %d bytes, binary %d bytes", len(js), len(bin))
	assert.Less(t, len(bin)*2, len(js))
	assert.Equal(t, byte('{'), js[0])
	fromJSON, err := decodeRecord(1, js)
	require.NoError(t, err)
	assert.Equal(t, fromJSON, roundTrip(t, inc))
}

func TestDamagedIncidentRecord(t *testing.T) {
	inc := &incidents.Incident{Number: 1, Title: "x", Labels: map[string]string{"a": "b"}}
	bin := encodeIncident(inc)
	for _, v := range [][]byte{nil, {9}, bin[:len(bin)-1], append(append([]byte{}, bin...), 0), {incidentVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		_, err := decodeRecord(1, v)
		assert.ErrorIs(t, err, errDamaged, "%x", v)
	}
}

// FuzzDecodeIncident: a damaged record is an error, never a panic or a
// huge allocation, and whatever decodes encodes back to the same incident.
func FuzzDecodeIncident(f *testing.F) {
	seed := 0
	inc := new(incidents.Incident)
	fill(reflect.ValueOf(inc).Elem(), &seed)
	f.Add(encodeIncident(inc))
	f.Add(encodeIncident(&incidents.Incident{Title: "t", Labels: map[string]string{"a": "b"}, Trigger: incidents.Alert{Labels: map[string]string{"a": "b"}}}))
	f.Add([]byte(`{"title":"json"}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := decodeRecord(1, v)
		if err != nil {
			require.ErrorIs(t, err, errDamaged)
			return
		}
		again, err := decodeRecord(1, encodeIncident(got))
		require.NoError(t, err)
		assert.Equal(t, got.Title, again.Title)
		assert.Equal(t, len(got.Steps), len(again.Steps))
		assert.Equal(t, got.Entries, again.Entries)
	})
}

// canonicalize (the committer's cached copy of an incident) makes an
// incident exactly what a JSON round trip makes it: empty omitempty
// slices and maps become nil, times lose their monotonic reading and take
// the zone their offset names, also inside steps, card alerts, the
// trigger and the pointer fields.
func TestCanonicalizeIsAJSONRoundTrip(t *testing.T) {
	now := time.Now() // monotonic reading, local zone
	east := time.FixedZone("", 3600)
	tests := []struct {
		name string
		inc  incidents.Incident
	}{
		{"empty slices and maps", incidents.Incident{Number: 1, Steps: []incidents.StepState{}, Labels: map[string]string{},
			Alerts: []incidents.AlertState{}, Responders: []incidents.Actor{}, Participants: []incidents.Actor{},
			Trigger: incidents.Alert{Labels: map[string]string{}, Annotations: map[string]string{}}}},
		{"times everywhere", incidents.Incident{Number: 2, OpenedAt: now, UpdatedAt: now.In(east), DetectedAt: now.UTC(),
			Steps:   []incidents.StepState{{ID: "a", At: now}, {ID: "b"}},
			Alerts:  []incidents.AlertState{{Fingerprint: "f", FirstSeen: now, LastSeen: now.In(east), StartsAt: now.UTC()}},
			Trigger: incidents.Alert{StartsAt: now, EndsAt: now.In(east)}, FirstAlertAt: now, LastAlertAt: now}},
		{"pointers", incidents.Incident{Number: 3, Commander: &incidents.Actor{Platform: "slack", ID: "U1"}, Comms: &incidents.Actor{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, err := json.Marshal(&tt.inc)
			require.NoError(t, err)
			want, err := decodeRecord(tt.inc.Number, js)
			require.NoError(t, err)
			got := tt.inc.Clone()
			canonicalize(reflect.ValueOf(got).Elem())
			assert.Equal(t, want, got)
		})
	}
}
