package incidents

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/firebreak/firebreak/playbooks"
)

// The short way (withinBounds) must keep exactly what the long way keeps.
func TestBoundAnnotationsShortcutKeepsWhatTheLongWayKeeps(t *testing.T) {
	long := strings.Repeat("x", maxAnnotationValue)
	many := map[string]string{}
	for i := range maxAnnotations + 1 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	tests := []struct {
		name   string
		in     map[string]string
		within bool
	}{
		{"usual", map[string]string{"summary": "disk almost full", "runbook_url": "https://runbooks/disk"}, true},
		{"value at its bound", map[string]string{"description": long}, true},
		{"value over its bound", map[string]string{"description": long + "y"}, false},
		{"untrimmed value", map[string]string{"summary": " disk "}, false},
		{"blank value", map[string]string{"summary": "  ", "description": "d"}, false},
		{"empty value", map[string]string{"summary": ""}, false},
		{"blank key", map[string]string{" ": "v"}, false},
		{"key over its bound", map[string]string{strings.Repeat("k", maxAnnotationKey+1): "v"}, false},
		{"too many", many, false},
		{"over the total", map[string]string{"a": long, "b": long, "c": long, "d": long, "e": long}, false},
		{"multibyte at the total", map[string]string{"a": strings.Repeat("é", maxAnnotationValue/2), "b": strings.Repeat("é", maxAnnotationValue/2)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.within, withinBounds(tt.in))
			assert.Equal(t, boundSorted(tt.in), boundAnnotations(tt.in))
		})
	}
}

func TestGroupKey(t *testing.T) {
	a := Alert{Name: "DiskFull", Service: "db", Labels: map[string]string{"instance": "db-1", "team": `a"b`}}
	tests := []struct {
		by   []string
		want string
	}{
		{nil, ""},
		{[]string{"alertname", "service"}, `group:alertname="DiskFull",service="db"`},
		{[]string{"team", "zone"}, `group:team="a\"b",zone=""`},
		{[]string{"zone"}, ""},
		{[]string{"instance", strings.Repeat("x", 200)}, `group:instance="db-1",` + strings.Repeat("x", 200) + `=""`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, GroupKey(a, tt.by), tt.by)
	}
}

func TestSeverityNames(t *testing.T) {
	for sev, want := range map[Severity]string{SevUnknown: "SEV?", SEV1: "SEV1", SEV2: "SEV2", SEV3: "SEV3", SEV4: "SEV4", 5: "SEV?", -1: "SEV?"} {
		assert.Equal(t, want, sev.String())
		if sev >= SEV1 && sev <= SEV4 {
			back, err := ParseSeverity(want)
			assert.NoError(t, err)
			assert.Equal(t, sev, back)
		}
	}
}

// An unset severity falls through to the next setting without being
// parsed; a set but unknown one still does.
func TestSeverityForSkipsUnsetSettings(t *testing.T) {
	books := playbooks.Default()
	books.Incidents.DefaultSeverity = ""
	s := NewService(nil, books)
	pb := &playbooks.Playbook{}
	assert.Equal(t, SEV3, s.severityFor(SevUnknown, pb))
	pb.Severity = "bogus"
	assert.Equal(t, SEV3, s.severityFor(SevUnknown, pb))
	pb.Severity = "critical"
	assert.Equal(t, SEV1, s.severityFor(SevUnknown, pb))
	assert.Equal(t, SEV4, s.severityFor(SEV4, pb))
	books.Incidents.DefaultSeverity = "high"
	pb.Severity = ""
	assert.Equal(t, SEV2, s.severityFor(SevUnknown, pb))
}
