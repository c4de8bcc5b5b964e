package webhook

import (
	"maps"
	"slices"
	"strings"

	"github.com/firebreak/firebreak/incidents"
)

// amPayload is Prometheus Alertmanager's webhook payload, version 4. Grafana
// unified alerting sends the same document with a few extra fields, so
// grafanaPayload embeds this one.
type amPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int64             `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlert         `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// ParseAlertmanager reads Prometheus Alertmanager's webhook payload
// (version "4") into one Alert per entry of alerts[], in order.
//
// Name is the alertname label; Title the summary annotation (else the
// alertname); Text the description annotation; Service the first of the
// service, job and app labels; Severity the severity label as
// incidents.ParseSeverity reads it (unknown words leave it unknown);
// Fingerprint and URL are Alertmanager's fingerprint and generatorURL.
// Common labels and annotations fill what an alert lacks. Errors are
// *ParseError.
func ParseAlertmanager(body []byte) ([]incidents.Alert, error) {
	var p amPayload
	if !scanAlertmanager(body, &p) {
		if err := decodeJSON(body, &p); err != nil {
			return nil, err
		}
	}
	if p.Version != "" && p.Version != "4" {
		return nil, fieldErr("version", `unsupported Alertmanager webhook version %q (want "4")`, clip(p.Version, 20))
	}
	return p.convert(incidents.Alert{Source: "alertmanager"}, nil)
}

// convert turns every alert of the payload into an incidents.Alert starting
// from base; extra, when set, adds source-specific details to each.
func (p *amPayload) convert(base incidents.Alert, extra func(i int, a *incidents.Alert) error) ([]incidents.Alert, error) {
	if p.Alerts == nil {
		return nil, fieldErr("alerts", "missing: the payload carries no alerts")
	}
	if len(p.Alerts) == 0 {
		return nil, fieldErr("alerts", "empty: the payload carries no alerts")
	}
	out := make([]incidents.Alert, 0, len(p.Alerts))
	for i := range p.Alerts {
		a, err := p.Alerts[i].convert(i, base, p)
		if err != nil {
			return nil, err
		}
		if extra != nil {
			if err := extra(i, &a); err != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func (in *amAlert) convert(i int, base incidents.Alert, p *amPayload) (incidents.Alert, error) {
	a := base
	var err error
	if a.Status, err = parseStatus(path{i, "status"}, in.Status, p.Status); err != nil {
		return a, err
	}
	if a.StartsAt, err = parseTime(path{i, "startsAt"}, in.StartsAt); err != nil {
		return a, err
	}
	if a.EndsAt, err = parseTime(path{i, "endsAt"}, in.EndsAt); err != nil {
		return a, err
	}
	labels := union(in.Labels, p.CommonLabels)
	annotations := union(in.Annotations, p.CommonAnnotations)
	a.Labels = labels
	a.Annotations = annotations
	a.Name = clip(oneLine(labels["alertname"]), MaxTitleLen)
	a.Title = clip(oneLine(first(annotations, "summary", "title")), MaxTitleLen)
	if a.Title == "" {
		a.Title = a.Name
	}
	if a.Title == "" {
		a.Title = "Alert from " + base.Source + labelSummary(labels)
	}
	a.Text = clip(first(annotations, "description", "message"), MaxTextLen)
	a.Service = serviceOf(labels)
	a.Severity = severityOf(labels)
	a.Fingerprint = clip(oneLine(in.Fingerprint), MaxTitleLen)
	a.URL = strings.TrimSpace(in.GeneratorURL)
	return a, nil
}

// labelSummary names an alert that has neither summary nor alertname by
// its labels, so two such alerts still read differently in chat.
func labelSummary(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(labels))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+labels[k])
	}
	return " (" + clip(oneLine(strings.Join(parts, ", ")), MaxTitleLen-40) + ")"
}
