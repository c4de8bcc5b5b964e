package incidents

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// What an incident keeps of the alert that opened it (Incident.Trigger) and
// of every alert on its timeline: what monitoring said — annotations such
// as runbook_url and description, the source link — bounded, because
// monitoring sends what it likes and every stored byte is read back.

// AnnotationPrefix marks an alert's annotations in a timeline entry's Data
// ("annotation.runbook_url"), beside the entry's own keys.
const AnnotationPrefix = "annotation."

// Bounds on what an alert's annotations may store: monitoring sends what it
// likes, and every stored byte is read back with the incident.
const (
	maxAnnotations     = 32
	maxAnnotationKey   = 100
	maxAnnotationValue = 2000
	// maxAnnotationTotal bounds all of one alert's annotations together, so
	// a storm of distinct alerts cannot make every timeline entry huge.
	maxAnnotationTotal = 8000
)

// boundAnnotations keeps at most maxAnnotations annotations (the well-known
// ones first, then by name), each key and value cut to its bound, and stops
// once maxAnnotationTotal characters are kept; nil when there are none.
func boundAnnotations(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	if withinBounds(in) {
		return maps.Clone(in)
	}
	return boundSorted(in)
}

// boundSorted is boundAnnotations the long way: ranked, cut, counted.
func boundSorted(in map[string]string) map[string]string {
	keys := make([]string, 0, len(in))
	for k, v := range in {
		if strings.TrimSpace(k) != "" && strings.TrimSpace(v) != "" {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		for i, w := range []string{"summary", "description", "runbook_url", "runbook", "dashboard", "dashboardURL", "panelURL", "message"} {
			if k == w {
				return i
			}
		}
		return 100
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if len(keys) > maxAnnotations {
		keys = keys[:maxAnnotations]
	}
	out := make(map[string]string, len(keys))
	total := 0
	for _, k := range keys {
		key, v := Truncate(k, maxAnnotationKey), Truncate(strings.TrimSpace(in[k]), maxAnnotationValue)
		if total += utf8.RuneCountInString(key) + utf8.RuneCountInString(v); total > maxAnnotationTotal {
			break
		}
		out[key] = v
	}
	return out
}

// withinBounds reports whether boundAnnotations would keep in as it is:
// few enough annotations, none blank, each key and value within its bound
// and trimmed, all of them within the total (counted in bytes, which are
// never fewer than characters). Nearly every alert's are, and then
// neither their order nor a copy is needed to bound them.
func withinBounds(in map[string]string) bool {
	if len(in) > maxAnnotations {
		return false
	}
	total := 0
	for k, v := range in {
		if len(k) > maxAnnotationKey || len(v) > maxAnnotationValue || strings.TrimSpace(k) == "" ||
			v == "" || strings.TrimSpace(v) != v {
			return false
		}
		total += len(k) + len(v)
	}
	return total <= maxAnnotationTotal
}

// annotationKey is k as a timeline entry's Data names it, without
// building the string for the usual annotations.
func annotationKey(k string) string {
	switch k {
	case "summary":
		return AnnotationPrefix + "summary"
	case "description":
		return AnnotationPrefix + "description"
	case "runbook_url":
		return AnnotationPrefix + "runbook_url"
	case "message":
		return AnnotationPrefix + "message"
	}
	return AnnotationPrefix + k
}

// triggerOf is the alert that opens an incident as it is kept on the
// incident: what monitoring said, with its text and annotations bounded.
// labels are its labels: the incident's copy of the alert's.
func triggerOf(p *incomingAlert, labels map[string]string) Alert {
	a := p.Alert
	a.Title = p.title
	a.Text = p.text // trimmed and bounded as a trigger's text is
	a.Labels = labels
	a.Annotations = boundAnnotations(a.Annotations)
	a.URL = Truncate(strings.TrimSpace(a.URL), maxAnnotationValue)
	a.Fingerprint = p.fp
	a.Status = AlertFiring
	a.StartsAt = p.StartsAt
	return a
}
