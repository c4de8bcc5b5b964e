package webhook

import (
	"strings"

	"github.com/firebreak/firebreak/incidents"
)

// genericAlert is Firebreak's own alert shape, for senders that have none
// of their own (scripts, CI jobs, other tools' custom webhooks).
type genericAlert struct {
	Title       string            `json:"title"`
	Severity    string            `json:"severity"`
	Service     string            `json:"service"`
	Text        string            `json:"text"`
	Fingerprint string            `json:"fingerprint"`
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	URL         string            `json:"url"`
	// Annotations are free-form details kept with the alert and shown on
	// the incident's first card (runbook_url, dashboard, description…).
	Annotations map[string]string `json:"annotations"`
	RunbookURL  string            `json:"runbook_url"`
}

// genericPayload is either one alert or {"alerts": [...]}.
type genericPayload struct {
	genericAlert
	Alerts []genericAlert `json:"alerts"`
}

// ParseGeneric reads Firebreak's generic alert JSON: a single object
//
//	{"title": "...", "severity": "SEV2", "service": "...", "text": "...",
//	 "fingerprint": "...", "status": "firing", "labels": {...}, "url": "...",
//	 "runbook_url": "...", "annotations": {...}}
//
// or {"alerts": [ ...objects like that... ]}. Only title is required.
// status is "firing" (the default) or "resolved"; severity is anything
// incidents.ParseSeverity reads, and unlike the Alertmanager labels an
// unknown severity is refused, because this shape is ours and a typo should
// be caught. Without a fingerprint the service derives one. Errors are
// *ParseError.
func ParseGeneric(body []byte) ([]incidents.Alert, error) {
	var p genericPayload
	if !scanGeneric(body, &p) {
		if err := decodeJSON(body, &p); err != nil {
			return nil, err
		}
	}
	if p.Alerts == nil {
		a, err := p.genericAlert.convert(-1)
		if err != nil {
			return nil, err
		}
		return []incidents.Alert{a}, nil
	}
	if p.Title != "" || p.Text != "" {
		return nil, fieldErr("alerts", "send either one alert object or an alerts array, not both")
	}
	if len(p.Alerts) == 0 {
		return nil, fieldErr("alerts", "empty: the payload carries no alerts")
	}
	out := make([]incidents.Alert, 0, len(p.Alerts))
	for i := range p.Alerts {
		a, err := p.Alerts[i].convert(i)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// convert reads the alert at alerts[i], or the payload's single alert when
// i is negative.
func (g *genericAlert) convert(i int) (incidents.Alert, error) {
	a := incidents.Alert{Source: "generic"}
	a.Title = clip(oneLine(g.Title), MaxTitleLen)
	if a.Title == "" {
		return a, fieldErr(path{i, "title"}.String(), "required: a one-line description of the problem")
	}
	var err error
	if a.Status, err = parseStatus(path{i, "status"}, g.Status, ""); err != nil {
		return a, err
	}
	if s := strings.TrimSpace(g.Severity); s != "" {
		if a.Severity, err = incidents.ParseSeverity(s); err != nil {
			return a, fieldErr(path{i, "severity"}.String(), "%s", err.Error())
		}
	}
	a.Text = clip(g.Text, MaxTextLen)
	a.Labels = union(g.Labels, nil)
	a.Service = clip(oneLine(g.Service), MaxTitleLen)
	if a.Service == "" {
		a.Service = serviceOf(a.Labels)
	}
	a.Name = clip(oneLine(a.Labels["alertname"]), MaxTitleLen)
	a.Fingerprint = clip(oneLine(g.Fingerprint), MaxTitleLen)
	a.URL = strings.TrimSpace(g.URL)
	a.Annotations = union(g.Annotations, nil)
	if u := strings.TrimSpace(g.RunbookURL); u != "" {
		if a.Annotations == nil {
			a.Annotations = map[string]string{}
		}
		a.Annotations["runbook_url"] = u
	}
	return a, nil
}
