package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/firebreak/firebreak/incidents"
)

// Limits on what one alert may put on the timeline. Longer text is cut
// rather than refused: a monitoring system cannot fix its payload at 3 a.m.,
// and a truncated alert is worth more than a rejected one.
const (
	// MaxTitleLen bounds an alert title in runes.
	MaxTitleLen = 300
	// MaxTextLen bounds an alert's text in runes (the service's own limit).
	MaxTextLen = incidents.MaxTextLen
)

// ParseError says what is wrong with a payload and where, so the sender's
// operator can fix it from the 400 response alone.
type ParseError struct {
	// Field is the JSON path of the offending value ("alerts[2].status"),
	// empty when the problem is the document as a whole.
	Field  string
	Reason string
}

// Error reads "field: reason".
func (e *ParseError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func fieldErr(field, format string, args ...any) error {
	return &ParseError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// path names a field of a payload for a ParseError ("alerts[2].status").
// It is spelled out only when there is an error, so an alert that parses
// costs no string building.
type path struct {
	index int // into alerts[]; negative for a field of the payload itself
	name  string
}

func (p path) String() string {
	if p.index < 0 {
		return p.name
	}
	return "alerts[" + strconv.Itoa(p.index) + "]." + p.name
}

// decodeJSON unmarshals body into v and turns encoding/json's errors into a
// ParseError that names the byte offset or the field. The parsers call it
// for a payload their scanner (scanAlertmanager and the others) declines.
//
// A well-formed payload is decoded by JSON v2
// (github.com/go-json-experiment/json, the future encoding/json/v2), which
// takes about half of encoding/json's CPU and fewer allocations, configured
// for encoding/json's semantics so that a sender sees no difference: object
// names match case-insensitively ("Title" fills title), the last of
// duplicate names wins, unknown names are ignored, and invalid UTF-8 is
// replaced rather than refused. A payload that v2 refuses is decoded again
// by encoding/json, whose error is the one the sender reads: a bad payload
// is answered exactly as before, and it is the rare case, so the second
// decoding costs nothing in a storm.
func decodeJSON[T any](body []byte, v *T) error {
	if len(bytes.TrimSpace(body)) == 0 { // no string(body): that would copy it
		return &ParseError{Reason: "empty body: want a JSON object"}
	}
	if decodeFast(body, v) == nil {
		return nil
	}
	var zero T
	*v = zero // drop what v2 decoded before it stopped
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &ParseError{Reason: fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &ParseError{Reason: fmt.Sprintf("want a JSON object, got a JSON %s", typ.Value)}
		}
		return &ParseError{Field: typ.Field, Reason: fmt.Sprintf("want %s, got a JSON %s", jsonKind(typ.Type.String()), typ.Value)}
	}
	return &ParseError{Reason: "malformed JSON: " + err.Error()}
}

// decodeFast is decodeJSON's fast path: JSON v2 with encoding/json's
// semantics. Its errors are not for senders (decodeJSON asks encoding/json
// for those).
func decodeFast(body []byte, v any) error {
	return jsonv2.Unmarshal(body, v, jsonv1.DefaultOptionsV1())
}

// jsonKind names a Go type the way the sender thinks of it.
func jsonKind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "map["):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	}
	return "an object"
}

// clip trims s and cuts it to max runes, marking the cut with "…".
func clip(s string, max int) string { return incidents.Truncate(strings.TrimSpace(s), max) }

// oneLine keeps a title on one line: chat cards and timelines show it so.
func oneLine(s string) string {
	for i := 0; i < len(s); i++ { // not strings.ContainsAny: this runs for every alert
		if c := s[i]; c == '\r' || c == '\n' || c == '\t' {
			return strings.Join(strings.Fields(s), " ")
		}
	}
	return s
}

func first(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(m[k]); v != "" {
			return v
		}
	}
	return ""
}

// severityOf reads the severity label. Monitoring systems use words of
// their own; anything ParseSeverity does not know is left unknown so the
// playbook's default applies, rather than refusing the alert.
func severityOf(labels map[string]string) incidents.Severity {
	v := first(labels, "severity", "priority")
	if v == "" {
		return incidents.SevUnknown
	}
	s, err := incidents.ParseSeverity(v)
	if err != nil {
		return incidents.SevUnknown
	}
	return s
}

func serviceOf(labels map[string]string) string {
	return clip(oneLine(first(labels, "service", "job", "app")), MaxTitleLen)
}

// parseTime reads an RFC 3339 time; "" and Go's zero time ("0001-01-01…",
// what senders put in endsAt of a firing alert) both mean unknown.
func parseTime(at path, s string) (time.Time, error) {
	if s == "" || s == "0001-01-01T00:00:00Z" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fieldErr(at.String(), "want an RFC 3339 time like 2024-05-14T09:21:33Z, got %q", clip(s, 40))
	}
	if t.Year() <= 1 {
		return time.Time{}, nil
	}
	return t, nil
}

// parseStatus reads an alert status, falling back to the payload's.
func parseStatus(at path, s, fallback string) (incidents.AlertStatus, error) {
	if s == "" {
		s = fallback
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "firing", "alerting", "problem", "triggered":
		return incidents.AlertFiring, nil
	case "resolved", "ok":
		return incidents.AlertResolved, nil
	}
	return "", fieldErr(at.String(), `want "firing" or "resolved", got %q`, clip(s, 40))
}

// union returns primary with the keys of fallback it lacks, or nil when
// both are empty (so stored alerts carry no empty maps). When fallback is
// empty, as Alertmanager's commonLabels usually are in a storm, it is
// primary itself, not a copy: the maps come from a payload decoded for this
// one alert, so the alert may own them. Otherwise it is a new map, so alerts
// never share fallback's.
func union(primary, fallback map[string]string) map[string]string {
	if len(fallback) == 0 {
		if len(primary) == 0 {
			return nil
		}
		return primary
	}
	out := make(map[string]string, len(primary)+len(fallback))
	maps.Copy(out, fallback)
	maps.Copy(out, primary)
	return out
}
