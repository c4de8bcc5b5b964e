package webhook

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return v
}

func TestParseSamples(t *testing.T) {
	amURL := "http://prometheus.example.com:9090/graph?g0.expr=sum+by%28job%29+%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%2F+sum+by%28job%29+%28rate%28http_requests_total%5B5m%5D%29%29+%3E+0.01&g0.tab=1"
	type want struct {
		status      incidents.AlertStatus
		name, title string
		text        string
		service     string
		sev         incidents.Severity
		fingerprint string
		startsAt    string
		endsAt      string
		url         string
		labels      map[string]string
		annotations map[string]string
	}
	tests := []struct {
		file  string
		parse Parser
		want  []want
	}{
		{
			file: "alertmanager_firing.json", parse: ParseAlertmanager,
			want: []want{
				{
					status: incidents.AlertFiring, name: "HighErrorRate", title: "Checkout error rate above 1%",
					text: "5.2% of checkout requests failed over the last 5 minutes (threshold 1%).", service: "checkout",
					sev: incidents.SEV1, fingerprint: "4a9d2c3f7b1e8a60", startsAt: "2024-05-14T09:21:33.457Z", url: amURL,
					labels: map[string]string{
						"alertname": "HighErrorRate", "instance": "checkout-7d9f8b6c5-x2k4q:8080", "job": "checkout",
						"namespace": "shop", "severity": "critical",
					},
					annotations: map[string]string{
						"description": "5.2% of checkout requests failed over the last 5 minutes (threshold 1%).",
						"runbook_url": "https://runbooks.example.com/checkout/high-error-rate",
						"summary":     "Checkout error rate above 1%",
					},
				},
				{
					status: incidents.AlertFiring, name: "HighErrorRate", title: "Checkout error rate above 1%",
					text: "4.8% of checkout requests failed over the last 5 minutes (threshold 1%).", service: "checkout",
					sev: incidents.SEV1, fingerprint: "b07e61d2c95f3a14", startsAt: "2024-05-14T09:21:48.457Z", url: amURL,
				},
			},
		},
		{
			file: "alertmanager_resolved.json", parse: ParseAlertmanager,
			want: []want{
				{status: incidents.AlertResolved, name: "HighErrorRate", title: "Checkout error rate above 1%", service: "checkout",
					text: "5.2% of checkout requests failed over the last 5 minutes (threshold 1%).",
					sev:  incidents.SEV1, fingerprint: "4a9d2c3f7b1e8a60", startsAt: "2024-05-14T09:21:33.457Z", endsAt: "2024-05-14T09:48:03.457Z", url: amURL},
				{status: incidents.AlertResolved, name: "HighErrorRate", title: "Checkout error rate above 1%", service: "checkout",
					text: "4.8% of checkout requests failed over the last 5 minutes (threshold 1%).",
					sev:  incidents.SEV1, fingerprint: "b07e61d2c95f3a14", startsAt: "2024-05-14T09:21:48.457Z", endsAt: "2024-05-14T09:48:03.457Z", url: amURL},
			},
		},
		{
			file: "grafana_firing.json", parse: ParseGrafana,
			want: []want{
				{
					status: incidents.AlertFiring, name: "High memory usage", title: "This alert was triggered for zone us-1",
					text:        "The system has high memory usage\nValues: B=44.23943737541908, C=1",
					fingerprint: "c6eadffa33fcdf37", startsAt: "2021-10-12T09:51:03.157076+02:00",
					url:    "https://play.grafana.org/alerting/1afz29v7z/edit",
					labels: map[string]string{"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
					annotations: map[string]string{
						"description": "The system has high memory usage",
						"runbook_url": "https://myrunbook.com/runbook/1234",
						"summary":     "This alert was triggered for zone us-1",
						"silenceURL":  "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
					},
				},
				{
					status: incidents.AlertFiring, name: "High CPU usage", title: "This alert was triggered for zone eu-1",
					text:        "The system has high CPU usage\nValues: B=44.23943737541908, C=1",
					fingerprint: "bc97ff14869b13e3", startsAt: "2021-10-12T09:56:03.157076+02:00",
					url: "https://play.grafana.org/alerting/d1rdpdv7k/edit",
				},
			},
		},
		{
			file: "grafana_resolved.json", parse: ParseGrafana,
			want: []want{
				{
					status: incidents.AlertResolved, name: "High memory usage", title: "This alert was triggered for zone us-1",
					text:        "The system has high memory usage",
					fingerprint: "c6eadffa33fcdf37", startsAt: "2021-10-12T09:51:03.157076+02:00", endsAt: "2021-10-12T10:06:03.157076+02:00",
					url: "https://play.grafana.org/alerting/1afz29v7z/edit",
				},
			},
		},
		{
			file: "generic_single.json", parse: ParseGeneric,
			want: []want{
				{
					status: incidents.AlertFiring, title: "Payments API returning 502s",
					text:    "Synthetic checkout failed 4 times in a row from eu-west-1.",
					service: "payments", sev: incidents.SEV2, fingerprint: "payments-502",
					url:    "https://status.example.com/checks/payments",
					labels: map[string]string{"region": "eu-west-1", "team": "payments"},
					annotations: map[string]string{
						"runbook_url": "https://wiki.example.com/runbooks/payments-502",
						"dashboard":   "https://grafana.example.com/d/payments",
					},
				},
			},
		},
		{
			file: "generic_batch.json", parse: ParseGeneric,
			want: []want{
				{status: incidents.AlertFiring, title: "Disk 91% full on db-3", service: "postgres", sev: incidents.SEV3,
					labels: map[string]string{"host": "db-3"}},
				{status: incidents.AlertResolved, title: "Payments API returning 502s", fingerprint: "payments-502"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := tt.parse(readSample(t, tt.file))
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			source := strings.SplitN(tt.file, "_", 2)[0]
			for i, w := range tt.want {
				a := got[i]
				assert.Equal(t, source, a.Source, "alert %d source", i)
				assert.Equal(t, w.status, a.Status, "alert %d status", i)
				assert.Equal(t, w.name, a.Name, "alert %d name", i)
				assert.Equal(t, w.title, a.Title, "alert %d title", i)
				assert.Equal(t, w.text, a.Text, "alert %d text", i)
				assert.Equal(t, w.service, a.Service, "alert %d service", i)
				assert.Equal(t, w.sev, a.Severity, "alert %d severity", i)
				assert.Equal(t, w.fingerprint, a.Fingerprint, "alert %d fingerprint", i)
				assert.Equal(t, w.url, a.URL, "alert %d url", i)
				if w.startsAt == "" {
					assert.True(t, a.StartsAt.IsZero(), "alert %d startsAt", i)
				} else {
					assert.True(t, mustTime(t, w.startsAt).Equal(a.StartsAt), "alert %d startsAt %v", i, a.StartsAt)
				}
				if w.endsAt == "" {
					assert.True(t, a.EndsAt.IsZero(), "alert %d endsAt must be unknown for 0001-01-01, got %v", i, a.EndsAt)
				} else {
					assert.True(t, mustTime(t, w.endsAt).Equal(a.EndsAt), "alert %d endsAt %v", i, a.EndsAt)
				}
				if w.labels != nil {
					assert.Equal(t, w.labels, a.Labels, "alert %d labels", i)
				}
				if w.annotations != nil {
					assert.Equal(t, w.annotations, a.Annotations, "alert %d annotations", i)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		parse  Parser
		body   string
		field  string
		reason string // substring
	}{
		{"empty body", ParseAlertmanager, "  ", "", "empty body"},
		{"not JSON", ParseGeneric, "title=down", "", "malformed JSON at byte 2"},
		{"truncated JSON", ParseAlertmanager, `{"version":"4","alerts":[{"status":"firing"`, "", "malformed JSON"},
		{"trailing garbage", ParseGeneric, `{"title":"x"} {"title":"y"}`, "", "malformed JSON"},
		{"array at top", ParseGeneric, `[{"title":"x"}]`, "", "want a JSON object, got a JSON array"},
		{"wrong type", ParseAlertmanager, `{"version":"4","alerts":[{"labels":{"severity":2}}]}`, "alerts.labels", "want a string, got a JSON number"},
		{"am version", ParseAlertmanager, `{"version":"5","alerts":[{}]}`, "version", `unsupported Alertmanager webhook version "5"`},
		{"am no alerts", ParseAlertmanager, `{"version":"4","status":"firing"}`, "alerts", "missing"},
		{"am empty alerts", ParseAlertmanager, `{"version":"4","alerts":[]}`, "alerts", "empty"},
		{"am bad status", ParseAlertmanager, `{"version":"4","alerts":[{},{"status":"exploded"}]}`, "alerts[1].status", `got "exploded"`},
		{"am bad time", ParseAlertmanager, `{"version":"4","alerts":[{"startsAt":"yesterday"}]}`, "alerts[0].startsAt", "RFC 3339"},
		{"grafana legacy", ParseGrafana, `{"ruleName":"cpu","state":"alerting","evalMatches":[]}`, "alerts", "legacy Grafana"},
		{"grafana version", ParseGrafana, `{"version":"2","alerts":[{}]}`, "version", "unsupported Grafana"},
		{"generic no title", ParseGeneric, `{"severity":"SEV1"}`, "title", "required"},
		{"generic blank title", ParseGeneric, `{"title":"  \n "}`, "title", "required"},
		{"generic batch no title", ParseGeneric, `{"alerts":[{"title":"a"},{"text":"b"}]}`, "alerts[1].title", "required"},
		{"generic bad severity", ParseGeneric, `{"title":"x","severity":"sevx"}`, "severity", `"sevx" is not a severity`},
		{"generic bad status", ParseGeneric, `{"title":"x","status":"gone"}`, "status", `want "firing" or "resolved"`},
		{"generic both shapes", ParseGeneric, `{"title":"x","alerts":[{"title":"y"}]}`, "alerts", "not both"},
		{"generic empty batch", ParseGeneric, `{"alerts":[]}`, "alerts", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.body))
			require.Error(t, err)
			assert.Nil(t, got)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "want *ParseError, got %T", err)
			assert.Equal(t, tt.field, pe.Field)
			assert.Contains(t, pe.Reason, tt.reason)
		})
	}
}

func TestParseDefaultsAndLimits(t *testing.T) {
	long := strings.Repeat("é", MaxTextLen+50)
	tests := []struct {
		name  string
		parse Parser
		body  string
		check func(t *testing.T, a incidents.Alert)
	}{
		{"status from payload", ParseAlertmanager, `{"status":"resolved","alerts":[{"labels":{"alertname":"X"}}]}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, incidents.AlertResolved, a.Status)
			assert.Equal(t, "X", a.Title, "alertname when there is no summary")
		}},
		{"no summary no alertname", ParseAlertmanager, `{"alerts":[{"labels":{"zone":"b","host":"a"}}]}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, "Alert from alertmanager (host=a, zone=b)", a.Title)
		}},
		{"common labels fill in", ParseAlertmanager, `{"commonLabels":{"service":"api","severity":"warning"},"alerts":[{"labels":{"alertname":"A"}}]}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, "api", a.Service)
			assert.Equal(t, incidents.SEV3, a.Severity)
		}},
		{"unknown severity word is not an error", ParseAlertmanager, `{"alerts":[{"labels":{"alertname":"A","severity":"spicy"}}]}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, incidents.SevUnknown, a.Severity)
		}},
		{"service from app", ParseAlertmanager, `{"alerts":[{"labels":{"alertname":"A","app":"web"}}]}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, "web", a.Service)
		}},
		{"long text is cut", ParseGeneric, `{"title":"` + long + `","text":"` + long + `"}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, MaxTitleLen, utf8.RuneCountInString(a.Title))
			assert.Equal(t, MaxTextLen, utf8.RuneCountInString(a.Text))
			assert.True(t, strings.HasSuffix(a.Text, "…"))
		}},
		{"multi-line title becomes one line", ParseGeneric, `{"title":"db down\n\tagain"}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, "db down again", a.Title)
		}},
		{"generic service from labels", ParseGeneric, `{"title":"x","labels":{"job":"batch"}}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, "batch", a.Service)
			assert.Equal(t, incidents.AlertFiring, a.Status)
		}},
		{"grafana valueString", ParseGrafana, `{"alerts":[{"labels":{"alertname":"A"},"valueString":"[ var='B' value=3 ]"}]}`, func(t *testing.T, a incidents.Alert) {
			assert.Equal(t, "Values: [ var='B' value=3 ]", a.Text)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.body))
			require.NoError(t, err)
			require.Len(t, got, 1)
			tt.check(t, got[0])
		})
	}
}

// checkParsed holds for any payload a parser accepts.
func checkParsed(t *testing.T, alerts []incidents.Alert, err error) {
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error is %T, want *ParseError: %v", err, err)
		}
		if alerts != nil {
			t.Fatalf("alerts returned with an error")
		}
		return
	}
	if len(alerts) == 0 {
		t.Fatalf("no alerts and no error")
	}
	for i, a := range alerts {
		if a.Status != incidents.AlertFiring && a.Status != incidents.AlertResolved {
			t.Fatalf("alert %d: status %q", i, a.Status)
		}
		if strings.TrimSpace(a.Title) == "" || strings.ContainsAny(a.Title, "\r\n") {
			t.Fatalf("alert %d: title %q", i, a.Title)
		}
		if utf8.RuneCountInString(a.Title) > MaxTitleLen || utf8.RuneCountInString(a.Text) > MaxTextLen {
			t.Fatalf("alert %d: title or text over the limit", i)
		}
		if a.Source == "" {
			t.Fatalf("alert %d: no source", i)
		}
	}
}

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		f.Add(readSample(f, name))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"alerts":[{}]}`))
	f.Add([]byte(`{"title":"x"}`))
	f.Add([]byte(`null`))
}

func FuzzParseAlertmanager(f *testing.F) {
	addSeeds(f, "alertmanager_firing.json", "alertmanager_resolved.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := ParseAlertmanager(body)
		checkParsed(t, alerts, err)
	})
}

func FuzzParseGrafana(f *testing.F) {
	addSeeds(f, "grafana_firing.json", "grafana_resolved.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := ParseGrafana(body)
		checkParsed(t, alerts, err)
	})
}

func FuzzParseGeneric(f *testing.F) {
	addSeeds(f, "generic_single.json", "generic_batch.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := ParseGeneric(body)
		checkParsed(t, alerts, err)
	})
}
