// Package alerttext recognises alerts in chat messages: what Alertmanager,
// Grafana, Datadog and PagerDuty post into alert channels with their default
// templates, and plain "… is down" messages people type. It is deliberately
// conservative: ordinary chat must never open an incident.
package alerttext

import (
	"regexp"
	"strings"

	"github.com/firebreak/firebreak/incidents"
)

// MaxInput bounds the text examined; alert messages are short, and the
// parser must stay fast on anything pasted into a channel.
const MaxInput = 16 << 10

// Every regexp here is RE2 (linear time) and anchored or bounded.
var (
	// [FIRING:3] HighErrorRate api-gateway (severity=critical) …  — Alertmanager and Grafana.
	amTitle = regexp.MustCompile(`^\[(FIRING|RESOLVED)(?::(\d+))?\]\s*(.*)$`)
	// [Alerting] / [OK] / [No Data] — Grafana legacy.
	grafanaLegacy = regexp.MustCompile(`(?i)^\[(alerting|ok|no data)\]\s*(.+)$`)
	// Datadog: "Triggered: …", "Recovered: …", "[P1] Triggered: …", "Re-Triggered: …", "[Triggered on {host:x}] …".
	datadog = regexp.MustCompile(`(?i)^(?:\[(P[1-5])\]\s*)?(triggered|re-triggered|recovered|warn|alert)(?:\s+on\s+\{([^}]{0,200})\})?\s*:\s*(.+)$`)
	// PagerDuty: "[Triggered] …", "[Resolved] …", "Incident #123 … triggered".
	pagerduty     = regexp.MustCompile(`(?i)^\[(triggered|acknowledged|resolved)\]\s*(?:#\d+\s*)?(.+)$`)
	pagerdutyLine = regexp.MustCompile(`(?i)^incident\s+#\d+\s+(.+?)\s+(triggered|resolved)\b`)
	// key=value labels inside parentheses or free text.
	kvPair = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]{0,63})\s*[=:]\s*"?([^\s,;)"]{1,200})"?`)
	// Slack/Discord Alertmanager template detail lines: "• *severity:* `critical`", "- severity = critical".
	bulletLabel = regexp.MustCompile("^(?:[•*\\-]\\s*)?\\*?([A-Za-z_][A-Za-z0-9_]{0,63}):?\\*?:?\\s*`([^`]{1,200})`\\s*$")
	// "*Alert:* HighErrorRate - `critical`", "*Description:* …"
	starField = regexp.MustCompile(`^\*([A-Za-z ]{1,30}):\*\s*(.*)$`)
	// Free text: strong alert words at the start, or outage phrases.
	freeStart = regexp.MustCompile(`(?i)^(?:🔥|🚨|‼️|:rotating_light:|:fire:)?\s*(alert|alarm|critical|firing|outage|incident|down)\b\s*[:!\-–]?\s*(.+)$`)
	freeDown  = regexp.MustCompile(`(?i)^(.{1,80}?)\s+(?:is|are|went|looks)\s+(?:down|offline|unreachable|unavailable|(?:returning|throwing)\s+(?:5\d\d|5xx)(?:s|'s)?(?:\s+errors?)?|on fire)(?:$|[.!,:;]|\s+(?:for|since|again|in|on|now|right now|completely|everywhere)\b)`)
	emojiOnly = regexp.MustCompile(`^(?:🔥|🚨)\s*(.+)$`)
	question  = regexp.MustCompile(`\?\s*$`)
	// "- alertname = Disk usage": a label line of Grafana and Discord templates.
	dashLabel = regexp.MustCompile(`^[-•]\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*=\s*(.{1,200})$`)
	// A line made only of k=v / k:v pairs.
	labelLine = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*\s*[=:]\s*"?[^\s,;"]+"?[\s,;]*)+$`)
	// "[P1] " at the start of a Datadog title.
	priority = regexp.MustCompile(`(?i)^\[(P[1-5])\]\s*`)
)

// Parse reports whether text is an alert and extracts it. Name is the alert
// name, Title one clean line, Text the rest; Source is "chat".
func Parse(text string) (incidents.Alert, bool) {
	if len(text) > MaxInput {
		text = text[:MaxInput]
	}
	text = strings.ToValidUTF8(strings.ReplaceAll(text, "\r\n", "\n"), "")
	text = strings.TrimSpace(text)
	if text == "" {
		return incidents.Alert{}, false
	}
	first, rest, _ := strings.Cut(text, "\n")
	first = stripMarkup(first)
	a := incidents.Alert{Source: "chat", Status: incidents.AlertFiring, Labels: map[string]string{}}
	switch {
	case amTitle.MatchString(first):
		m := amTitle.FindStringSubmatch(first)
		if m[1] == "RESOLVED" {
			a.Status = incidents.AlertResolved
		}
		parseAlertmanager(&a, m[3], rest)
	case grafanaLegacy.MatchString(first):
		m := grafanaLegacy.FindStringSubmatch(first)
		if strings.EqualFold(m[1], "ok") {
			a.Status = incidents.AlertResolved
		}
		a.Title = strings.TrimSpace(m[2])
		a.Name = a.Title
		a.Text = strings.TrimSpace(rest)
	case datadog.MatchString(first):
		m := datadog.FindStringSubmatch(first)
		if strings.EqualFold(m[2], "recovered") {
			a.Status = incidents.AlertResolved
		}
		if m[1] != "" {
			a.Severity, _ = incidents.ParseSeverity(m[1])
		}
		if m[3] != "" {
			for _, kv := range strings.Split(m[3], ",") {
				if k, v, ok := strings.Cut(kv, ":"); ok {
					a.Labels[strings.TrimSpace(k)] = strings.TrimSpace(v)
				}
			}
		}
		a.Title = strings.TrimSpace(m[4])
		if p := priority.FindStringSubmatch(a.Title); p != nil {
			a.Severity, _ = incidents.ParseSeverity(p[1])
			a.Title = a.Title[len(p[0]):]
		}
		a.Name = a.Title
		a.Text = strings.TrimSpace(rest)
	case pagerduty.MatchString(first):
		m := pagerduty.FindStringSubmatch(first)
		switch strings.ToLower(m[1]) {
		case "resolved":
			a.Status = incidents.AlertResolved
		case "acknowledged":
			return incidents.Alert{}, false // a page being handled, not a new alert
		}
		a.Title = strings.TrimSpace(m[2])
		a.Name = a.Title
		a.Text = strings.TrimSpace(rest)
	case pagerdutyLine.MatchString(first):
		m := pagerdutyLine.FindStringSubmatch(first)
		if strings.EqualFold(m[2], "resolved") {
			a.Status = incidents.AlertResolved
		}
		a.Title = strings.TrimSpace(m[1])
		a.Name = a.Title
		a.Text = strings.TrimSpace(rest)
	default:
		if !parseFree(&a, first, rest) {
			return incidents.Alert{}, false
		}
	}
	collectLabels(&a, first, rest)
	finish(&a)
	if a.Title == "" {
		return incidents.Alert{}, false
	}
	return a, true
}

// parseAlertmanager reads what follows "[FIRING:N] ": "alertname
// (label values…)" in the default template, or "alertname service (k=v …)
// text" in the one-line form people paste.
func parseAlertmanager(a *incidents.Alert, title, rest string) {
	title = strings.TrimSpace(title)
	head, paren, tail := title, "", ""
	if i := strings.Index(title, "("); i >= 0 {
		if j := strings.Index(title[i:], ")"); j >= 0 {
			head, paren, tail = strings.TrimSpace(title[:i]), title[i+1:i+j], strings.TrimSpace(title[i+j+1:])
		}
	}
	words := strings.Fields(head)
	if len(words) > 0 {
		a.Name = words[0]
	}
	if len(words) > 1 && isServiceWord(words[1]) {
		a.Service = words[1]
	}
	// Label values without keys in the default template: "(api-gateway critical)".
	for _, v := range strings.Fields(paren) {
		if strings.ContainsAny(v, "=:") {
			continue
		}
		if sev, err := incidents.ParseSeverity(v); err == nil && a.Severity == incidents.SevUnknown {
			a.Severity = sev
		} else if a.Service == "" && isServiceWord(v) {
			a.Service = v
		}
	}
	a.Title = strings.TrimSpace(head + " " + tail)
	if head == "" {
		a.Title = tail
	}
	var text []string
	if tail != "" {
		text = append(text, tail)
	}
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if m := starField.FindStringSubmatch(line); m != nil {
			switch strings.ToLower(m[1]) {
			case "alert":
				if a.Name == "" {
					a.Name = strings.TrimSpace(strings.SplitN(m[2], " - ", 2)[0])
				}
				if parts := strings.SplitN(m[2], " - ", 2); len(parts) == 2 {
					if sev, err := incidents.ParseSeverity(strings.Trim(parts[1], "` ")); err == nil {
						a.Severity = sev
					}
				}
				continue
			case "details":
				continue
			}
		}
		text = append(text, stripMarkup(line))
	}
	a.Text = strings.Join(text, "\n")
}

func parseFree(a *incidents.Alert, first, rest string) bool {
	if question.MatchString(first) && !emojiOnly.MatchString(first) {
		return false // "is the API down?" is a question, not an alert
	}
	switch {
	case emojiOnly.MatchString(first):
		a.Title = strings.TrimSpace(emojiOnly.FindStringSubmatch(first)[1])
	case freeStart.MatchString(first):
		m := freeStart.FindStringSubmatch(first)
		a.Title = strings.TrimSpace(m[2])
		if strings.EqualFold(m[1], "critical") {
			a.Severity = incidents.SEV1
		}
		if strings.EqualFold(m[1], "down") || strings.EqualFold(m[1], "outage") {
			a.Title = first
		}
	case freeDown.MatchString(first):
		m := freeDown.FindStringSubmatch(first)
		a.Title = first
		if w := strings.Fields(m[1]); len(w) > 0 && len(w) <= 3 {
			a.Service = strings.Trim(w[len(w)-1], "*_`'\"")
		}
	default:
		return false
	}
	if lower := strings.ToLower(first); strings.Contains(lower, "resolved") || strings.Contains(lower, "recovered") || strings.Contains(lower, "is back up") {
		a.Status = incidents.AlertResolved
		for _, p := range []string{"resolved:", "recovered:", "resolved", "recovered"} {
			if t, ok := strings.CutPrefix(strings.ToLower(a.Title), p); ok {
				a.Title = strings.TrimSpace(a.Title[len(a.Title)-len(t):])
				break
			}
		}
	}
	a.Text = strings.TrimSpace(rest)
	return a.Title != ""
}

// collectLabels gathers labels from the parenthesised part of the first
// line, from label lines ("- severity = critical", "• *service:* `x`",
// "service:web-store env:prod") and from a Grafana "Annotations:" section.
// Words followed by a colon in prose ("Alert: …") are not labels.
func collectLabels(a *incidents.Alert, first, rest string) {
	if i := strings.Index(first, "("); i >= 0 {
		if j := strings.Index(first[i:], ")"); j >= 0 {
			for _, m := range kvPair.FindAllStringSubmatch(first[i+1:i+j], 20) {
				a.Labels[m[1]] = m[2]
			}
		}
	}
	annotations := false
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSpace(line)
		switch strings.ToLower(strings.TrimSuffix(line, ":")) {
		case "labels":
			annotations = false
			continue
		case "annotations":
			annotations = true
			continue
		}
		dst := a.Labels
		if annotations {
			if a.Annotations == nil {
				a.Annotations = map[string]string{}
			}
			dst = a.Annotations
		}
		if m := bulletLabel.FindStringSubmatch(line); m != nil {
			dst[m[1]] = m[2]
			continue
		}
		if m := dashLabel.FindStringSubmatch(line); m != nil {
			dst[m[1]] = strings.TrimSpace(m[2])
			continue
		}
		if labelLine.MatchString(line) {
			for _, m := range kvPair.FindAllStringSubmatch(line, 20) {
				dst[m[1]] = m[2]
			}
		}
	}
}

// finish derives name, service and severity from labels, and tidies up.
func finish(a *incidents.Alert) {
	if v := a.Labels["alertname"]; v != "" {
		a.Name = v
	}
	for _, k := range []string{"service", "job", "app", "service_name", "host"} {
		if v := a.Labels[k]; v != "" && (a.Service == "" || k == "service") {
			a.Service = v
			break
		}
	}
	if v := a.Labels["severity"]; v != "" {
		if sev, err := incidents.ParseSeverity(v); err == nil {
			a.Severity = sev
		}
	}
	if a.Severity == incidents.SevUnknown {
		a.Severity = severityWord(a.Title + " " + a.Text)
	}
	a.Title = incidents.Truncate(strings.Join(strings.Fields(a.Title), " "), incidents.MaxTitleLen)
	if a.Name == "" {
		a.Name = firstWords(a.Title, 6)
	}
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
}

func severityWord(s string) incidents.Severity {
	lower := strings.ToLower(s)
	for _, w := range []struct {
		word string
		sev  incidents.Severity
	}{{"critical", incidents.SEV1}, {"sev1", incidents.SEV1}, {"p1", incidents.SEV1}, {"sev2", incidents.SEV2}, {"p2", incidents.SEV2}, {"major", incidents.SEV2}, {"warning", incidents.SEV3}, {"sev3", incidents.SEV3}, {"p3", incidents.SEV3}} {
		if containsWord(lower, w.word) {
			return w.sev
		}
	}
	return incidents.SevUnknown
}

func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(w)
		before := start == 0 || !isWordByte(s[start-1])
		after := end == len(s) || !isWordByte(s[end])
		if before && after {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func isServiceWord(w string) bool {
	if strings.ContainsAny(w, "=:()[]{}%") || len(w) > 63 {
		return false
	}
	if _, err := incidents.ParseSeverity(w); err == nil {
		return false
	}
	for _, r := range w {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// stripMarkup removes Slack/Discord emphasis and emoji codes from a line.
func stripMarkup(s string) string {
	s = strings.NewReplacer("**", "", "__", "", "~~", "").Replace(s)
	s = strings.Trim(s, "*_` ")
	for _, e := range []string{":fire:", ":rotating_light:", ":red_circle:", ":white_check_mark:", ":large_green_circle:", ":warning:"} {
		s = strings.ReplaceAll(s, e, "")
	}
	return strings.TrimSpace(s)
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	if len(w) > n {
		w = w[:n]
	}
	return strings.Join(w, " ")
}
