package webhook

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/firebreak/firebreak/incidents"
)

// grafanaPayload is Grafana unified alerting's webhook payload (version
// "1"): Alertmanager's document plus Grafana's own fields.
type grafanaPayload struct {
	amPayload
	OrgID   int64  `json:"orgId"`
	Title   string `json:"title"`
	State   string `json:"state"`
	Message string `json:"message"`
	// Alerts shadows amPayload.Alerts to read Grafana's per-alert fields.
	Alerts []grafanaAlert `json:"alerts"`

	// Legacy (pre-unified) alerting sent these instead of alerts[].
	RuleName    string          `json:"ruleName"`
	EvalMatches json.RawMessage `json:"evalMatches"`
}

type grafanaAlert struct {
	amAlert
	SilenceURL   string                     `json:"silenceURL"`
	DashboardURL string                     `json:"dashboardURL"`
	PanelURL     string                     `json:"panelURL"`
	ImageURL     string                     `json:"imageURL"`
	Values       map[string]json.RawMessage `json:"values"`
	ValueString  string                     `json:"valueString"`
}

// ParseGrafana reads Grafana unified alerting's webhook payload (version
// "1") into one Alert per entry of alerts[], in order. Fields map as in
// ParseAlertmanager; in addition the query values that triggered the alert
// ("values", or "valueString" from older versions) are appended to Text,
// and silenceURL, dashboardURL, panelURL and imageURL are kept as
// annotations of the same names so the incident links back to Grafana.
// Legacy (pre-unified) Grafana alerting payloads are refused with a
// *ParseError that says so.
func ParseGrafana(body []byte) ([]incidents.Alert, error) {
	var p grafanaPayload
	if !scanGrafana(body, &p) {
		if err := decodeJSON(body, &p); err != nil {
			return nil, err
		}
	}
	if p.Alerts == nil && (p.RuleName != "" || len(p.EvalMatches) > 0) {
		return nil, fieldErr("alerts", "missing: this is a legacy Grafana alerting payload (ruleName/evalMatches); use a unified alerting contact point")
	}
	if p.Version != "" && p.Version != "1" {
		return nil, fieldErr("version", `unsupported Grafana webhook version %q (want "1")`, clip(p.Version, 20))
	}
	// Convert through the Alertmanager shape, then add Grafana's extras.
	p.amPayload.Alerts = nil
	if p.Alerts != nil {
		p.amPayload.Alerts = make([]amAlert, len(p.Alerts))
		for i := range p.Alerts {
			p.amPayload.Alerts[i] = p.Alerts[i].amAlert
		}
	}
	return p.convert(incidents.Alert{Source: "grafana"}, func(i int, a *incidents.Alert) error {
		g := &p.Alerts[i]
		links := [...]struct{ k, v string }{
			{"silenceURL", g.SilenceURL},
			{"dashboardURL", g.DashboardURL},
			{"panelURL", g.PanelURL},
			{"imageURL", g.ImageURL},
		}
		for _, l := range links {
			if k, v := l.k, strings.TrimSpace(l.v); v != "" {
				if a.Annotations == nil {
					a.Annotations = map[string]string{}
				}
				a.Annotations[k] = v
			}
		}
		if v := grafanaValues(g); v != "" {
			text := "Values: " + v
			if a.Text != "" {
				text = a.Text + "\n" + text
			}
			a.Text = clip(text, MaxTextLen)
		}
		return nil
	})
}

// grafanaValues renders the query values as "B=44.23943737541908, C=1",
// in a stable order.
func grafanaValues(g *grafanaAlert) string {
	if len(g.Values) == 0 {
		return oneLine(strings.TrimSpace(g.ValueString))
	}
	keys := slices.Sorted(maps.Keys(g.Values))
	parts := make([]string, 0, len(keys))
	var buf bytes.Buffer
	for _, k := range keys {
		buf.Reset()
		if err := json.Compact(&buf, g.Values[k]); err != nil {
			continue
		}
		parts = append(parts, k+"="+buf.String())
	}
	return strings.Join(parts, ", ")
}
