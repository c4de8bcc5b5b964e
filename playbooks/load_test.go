package playbooks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShippedPlaybooksLoadAndMatch(t *testing.T) {
	c, err := Load("../playbooks.yaml")
	require.NoError(t, err)
	assert.Equal(t, []string{"#alerts"}, c.AlertChannels)
	require.NotNil(t, c.DefaultPlaybook())
	assert.Equal(t, "outage", c.DefaultPlaybook().ID)

	tests := []struct {
		name string
		in   MatchInput
		want string
	}{
		{"alert name", MatchInput{Name: "HighErrorRate"}, "http-5xx"},
		{"text", MatchInput{Text: "[FIRING:1] something api-gateway 5xx rate 17%"}, "http-5xx"},
		{"502 in text", MatchInput{Text: "upstream returns 502 Bad Gateway"}, "http-5xx"},
		{"anything else", MatchInput{Name: "DiskFull", Text: "disk /var is 97% full"}, "outage"},
		{"empty", MatchInput{}, "outage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, c.Match(tt.in).ID)
		})
	}

	outage := c.Playbook("outage")
	require.NotNil(t, outage)
	var ids []string
	for _, s := range outage.Steps {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{"validate", "communicate", "rollback", "monitor"}, ids, "the three phases, then hand over")
	assert.Equal(t, KindStatusUpdate, outage.Steps[1].Kind)
	assert.Equal(t, 2, outage.StepIndex("rollback"))
	assert.Equal(t, -1, outage.StepIndex("nope"))

	fivexx := c.Playbook("http-5xx")
	require.NotNil(t, fivexx)
	for _, code := range []string{"500", "502", "503", "504"} {
		assert.Contains(t, fivexx.Steps[0].Instructions, code)
	}
}

func TestEmbeddedDefaultIsTheShippedFile(t *testing.T) {
	shipped, err := os.ReadFile("../playbooks.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(shipped), string(DefaultYAML()), "playbooks/default.yaml must be a copy of ../playbooks.yaml: cp playbooks.yaml playbooks/default.yaml")
	c := Default()
	assert.Equal(t, "", c.Path)
	assert.Equal(t, "outage", c.DefaultPlaybook().ID)
}

func TestDefaults(t *testing.T) {
	c, err := Parse("p.yaml", []byte(`
playbooks:
  - id: only
    steps:
      - id: a
        title: A
      - id: b
        title: Call
        kind: http
        http: {url: "https://deploy.example.com/rollback/{{.Service}}"}
probes:
  - name: web
    url: http://127.0.0.1:8080/healthz
`))
	require.NoError(t, err)
	assert.True(t, c.Playbooks[0].Default, "a single playbook is the default")
	assert.Equal(t, "only", c.Playbooks[0].Name)
	assert.Equal(t, KindManual, c.Playbooks[0].Steps[0].Kind)
	assert.Equal(t, "POST", c.Playbooks[0].Steps[1].HTTP.Method)
	assert.Equal(t, DefaultActionTimeout, c.Playbooks[0].Steps[1].Timeout.D())
	assert.Equal(t, "pushpin", c.Incidents.PinEmoji)
	assert.Equal(t, "inc", c.Incidents.ChannelPrefix)
	assert.Equal(t, 30*time.Minute, c.Incidents.UpdateInterval.D())
	assert.Equal(t, "SEV3", c.Incidents.DefaultSeverity)
	assert.Equal(t, "postmortems", c.Postmortem.Directory)
	assert.Equal(t, 5*time.Minute, c.Grouping.GroupWindow.D())
	assert.Equal(t, time.Minute, c.Grouping.RepeatInterval.D())
	assert.Equal(t, 15*time.Minute, c.Grouping.FlapWindow.D())
	p := c.Probe("web")
	require.NotNil(t, p)
	assert.Equal(t, "GET", p.Method)
	assert.Equal(t, 30*time.Second, p.Interval.D())
	assert.Equal(t, 5*time.Second, p.Timeout.D())
	assert.Equal(t, 3, p.FailureThreshold)
	assert.Equal(t, 2, p.SuccessThreshold)
	assert.Nil(t, c.Probe("nope"))
}

// base is a valid file that each error case breaks in one place.
const base = `alert_channels: ["#alerts"]
playbooks:
  - id: outage
    default: true
    steps:
      - id: validate
        title: Validate
`

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each a full "file:line: field: message" prefix
	}{
		{"unknown top-level key with suggestion", "alert_chanels: []\n" + strings.TrimPrefix(base, "alert_channels: [\"#alerts\"]\n"),
			[]string{`p.yaml:1: alert_chanels: unknown key "alert_chanels" (did you mean "alert_channels"?)`}},
		{"unknown step key", base + "        kinds: manual\n",
			[]string{`p.yaml:8: playbooks[0].steps[0].kinds: unknown key "kinds" (did you mean "kind"?)`}},
		{"unknown step kind", base + "        kind: mnaual\n",
			[]string{`p.yaml:8: playbooks[0].steps[0].kind: unknown step kind "mnaual" (want manual, checklist, status_update, http, probe, command)`}},
		{"duplicate step id", base + "      - id: validate\n        title: Again\n",
			[]string{`p.yaml:8: playbooks[0].steps[1].id: duplicate step id "validate" (also at playbooks[0].steps[0].id)`}},
		{"missing title", base + "      - id: second\n",
			[]string{`p.yaml:8: playbooks[0].steps[1].title: title is required`}},
		{"bad step id", base + "      - id: Roll Back\n        title: R\n",
			[]string{`p.yaml:8: playbooks[0].steps[1].id: "Roll Back": use lower-case letters`}},
		{"bad regex", base + "match:\n  - playbook: outage\n    text: \"5xx(\"\n",
			[]string{`p.yaml:10: match[0].text: bad regular expression "5xx(": missing closing ): ` + "`5xx(`"}},
		{"unknown playbook in rule", base + "match:\n  - playbook: nope\n    alertname: X\n",
			[]string{`p.yaml:9: match[0].playbook: no playbook with id "nope"`}},
		{"unknown severity", base + "incidents:\n  default_severity: SEV9\n",
			[]string{`p.yaml:9: incidents.default_severity: unknown severity "SEV9" (want SEV1, SEV2, SEV3 or SEV4)`}},
		{"rule severity", base + "match:\n  - playbook: outage\n    severity: [critical, urgent]\n",
			[]string{`p.yaml:10: match[0].severity[1]: unknown severity "urgent"`}},
		{"bad duration", base + "grouping:\n  group_window: 5 minutes\n",
			[]string{`p.yaml:9: grouping.group_window: want a duration like 30s, 5m or 1h30m, got "5 minutes"`}},
		{"negative duration", base + "grouping:\n  flap_window: -5m\n",
			[]string{`p.yaml:9: grouping.flap_window: must not be negative, got -5m`}},
		{"wrong type", base + "alert_channels: 5\n",
			[]string{`p.yaml:8: alert_channels: key "alert_channels" appears twice`}},
		{"list expected", "alert_channels: \"#alerts\"\nplaybooks:\n  - id: a\n    steps: []\n",
			[]string{`p.yaml:1: alert_channels: want a list, got "#alerts"`}},
		{"http without url", base + "      - id: call\n        title: Call\n        kind: http\n",
			[]string{`p.yaml:8: playbooks[0].steps[1].http: http steps need http: with at least url`}},
		{"http bad url", base + "      - id: call\n        title: Call\n        kind: http\n        http:\n          url: ftp://x\n",
			[]string{`p.yaml:12: playbooks[0].steps[1].http.url: "ftp://x" is not an http:// or https:// URL`}},
		{"probe step names an unknown probe", base + "      - id: check\n        title: Check\n        kind: probe\n        probe: web\n",
			[]string{`p.yaml:11: playbooks[0].steps[1].probe: no probe named "web" in probes`}},
		{"bad template", base + "      - id: tell\n        title: Tell\n        kind: status_update\n        template: \"{{.Title\"\n",
			[]string{`p.yaml:11: playbooks[0].steps[1].template: bad template`}},
		{"two defaults", base + "  - id: other\n    default: true\n",
			[]string{`p.yaml:2: playbooks: 2 playbooks have default: true; exactly one may`}},
		{"no default among two", strings.Replace(base, "    default: true\n", "", 1) + "  - id: other\n",
			[]string{`p.yaml:2: playbooks: no playbook has default: true`}},
		{"escalation order and notifier", base + "escalation:\n  levels:\n    - after: 10m\n      notify: [\"@here\"]\n    - after: 5m\n      notifiers: [pager]\n",
			[]string{`p.yaml:12: escalation.levels[1].after: 5m0s is not later than the level before (10m0s)`,
				`p.yaml:13: escalation.levels[1].notifiers[0]: no notifier named "pager" in notifiers`}},
		{"probe threshold", base + "probes:\n  - name: web\n    url: http://127.0.0.1/\n    failure_threshold: -1\n",
			[]string{`p.yaml:11: probes[0].failure_threshold: must be at least 1`}},
		{"missing template file", base + "postmortem:\n  template: nope.tmpl\n",
			[]string{`p.yaml:9: postmortem.template: cannot read nope.tmpl`}},
		{"syntax error", "playbooks:\n  - id: a\n   steps: [\n",
			[]string{`p.yaml:1: invalid YAML: did not find expected '-' indicator`}},
		{"several problems at once", base + "        kind: mnaual\nalert_chanels: []\n",
			[]string{`p.yaml:8: playbooks[0].steps[0].kind: unknown step kind`, `p.yaml:9: alert_chanels: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.yaml))
			require.Error(t, err)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "error is a *ValidationError: %v", err)
			lines := strings.Split(err.Error(), "\n")
			require.Len(t, lines, len(tt.want), "problems:\n%s", err)
			for i, w := range tt.want {
				assert.True(t, strings.HasPrefix(lines[i], w), "problem %d\n got: %s\nwant: %s…", i, lines[i], w)
			}
		})
	}
}

func TestCustomTemplatePathIsRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pm.tmpl"), []byte("# {{.Incident.Title}}\n"), 0o600))
	path := filepath.Join(dir, "playbooks.yaml")
	require.NoError(t, os.WriteFile(path, []byte(base+"postmortem:\n  template: pm.tmpl\n"), 0o600))
	c, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "pm.tmpl"), c.TemplatePath())
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	assert.ErrorContains(t, err, "reading playbooks")

	big := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxFileSize)), 0o600))
	_, err = Load(big)
	assert.ErrorContains(t, err, "larger than")
}

func TestRuleConditionsAllMustMatch(t *testing.T) {
	c, err := Parse("p.yaml", []byte(base+`  - id: db
    steps: []
match:
  - playbook: db
    service: "^postgres"
    labels: {team: "data|storage"}
    severity: [SEV1, sev2]
`))
	require.NoError(t, err)
	tests := []struct {
		in   MatchInput
		want string
	}{
		{MatchInput{Service: "postgres-main", Labels: map[string]string{"team": "Data"}, Severity: "SEV2"}, "db"},
		{MatchInput{Service: "postgres-main", Labels: map[string]string{"team": "data"}, Severity: "SEV3"}, "outage"},
		{MatchInput{Service: "postgres-main", Severity: "SEV1"}, "outage"},
		{MatchInput{Service: "mysql", Labels: map[string]string{"team": "data"}, Severity: "SEV1"}, "outage"},
	}
	for i, tt := range tests {
		assert.Equal(t, tt.want, c.Match(tt.in).ID, "case %d", i)
	}
}

func TestIsAlertChannel(t *testing.T) {
	c := &Config{AlertChannels: []string{"#alerts", "C0123ABC", "1234567890"}}
	for in, want := range map[string]bool{"#alerts": true, "alerts": true, "#ALERTS": true, "c0123abc": true, "1234567890": true, "#general": false, "": false} {
		assert.Equal(t, want, c.IsAlertChannel(in), in)
	}
}

func TestEscalationFor(t *testing.T) {
	top := &Escalation{Levels: []EscalationLevel{{After: Duration(time.Minute)}}}
	own := &Escalation{Levels: []EscalationLevel{{After: Duration(2 * time.Minute)}}}
	sev1 := &Escalation{Levels: []EscalationLevel{{After: Duration(30 * time.Second)}}}
	c := &Config{Escalation: top, EscalationBySeverity: map[string]*Escalation{"SEV1": sev1}}
	tests := []struct {
		name     string
		pb       *Playbook
		severity string
		want     *Escalation
	}{
		{"top level", &Playbook{}, "SEV3", top},
		{"no playbook", nil, "SEV2", top},
		{"by severity", &Playbook{}, "SEV1", sev1},
		{"the playbook's own wins", &Playbook{Escalation: own}, "SEV1", own},
	}
	for _, tt := range tests {
		assert.Same(t, tt.want, c.EscalationFor(tt.pb, tt.severity), tt.name)
	}
}

func TestNormalizeSeverity(t *testing.T) {
	for in, want := range map[string]string{"sev1": "SEV1", "SEV-2": "SEV2", "critical": "SEV1", "warning": "SEV3", "P4": "SEV4", "info": "SEV4"} {
		got, ok := NormalizeSeverity(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	_, ok := NormalizeSeverity("urgent")
	assert.False(t, ok)
}

func FuzzParse(f *testing.F) {
	shipped, err := os.ReadFile("../playbooks.yaml")
	require.NoError(f, err)
	f.Add(shipped)
	f.Add([]byte(base))
	f.Add([]byte(base + "match:\n  - playbook: outage\n    text: \"(\"\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("playbooks: {id: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error is not a ValidationError with problems: %v", err)
			}
			return
		}
		if c.DefaultPlaybook() == nil {
			t.Fatal("a valid config has a default playbook")
		}
		_ = c.Match(MatchInput{Name: "x", Text: "y"})
	})
}

func BenchmarkMatch(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(base + "match:\n")
	for i := range 50 {
		fmt.Fprintf(&sb, "  - playbook: outage\n    alertname: \"^Alert%d$\"\n    labels: {team: \"t%d\"}\n", i, i)
	}
	c, err := Parse("bench.yaml", []byte(sb.String()))
	require.NoError(b, err)
	in := MatchInput{Name: "Alert49", Labels: map[string]string{"team": "t49"}, Text: "something broke"}
	b.ReportAllocs()
	for b.Loop() {
		if c.Match(in) == nil {
			b.Fatal("no playbook")
		}
	}
}

// TestUnquotedHashHints reproduces issue 12 item 11: an unquoted #alerts
// is a YAML comment, and nothing said so — "[#alerts]" failed with "did not
// find expected node content" and "alert_channels: #alerts" loaded as no
// alert channel at all.
func TestUnquotedHashHints(t *testing.T) {
	const rest = "\nplaybooks:\n  - id: x\n    default: true\n    steps:\n      - {id: a, title: A}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"flow list", "alert_channels: [#alerts]", "test.yaml:1: invalid YAML"},
		{"scalar", "alert_channels: #alerts", "test.yaml:1: alert_channels: empty: \"#alerts\" is a comment here"},
		{"block list", "alert_channels:\n  - ops\n  - #alerts", "test.yaml:3: alert_channels[1]: empty"},
		{"nested", "incidents:\n  stakeholder_channels: #status", "test.yaml:2: incidents.stakeholder_channels: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.yaml+rest))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), `"#" starts a comment in YAML, so write channel names in quotes: "#alerts"`)
		})
	}
	// Comments proper (a space after #) and quoted names are fine.
	_, err := Parse("test.yaml", []byte("alert_channels: [\"#alerts\"] # where alerts land\nprobes: # none yet\n"+rest))
	assert.NoError(t, err)
}
