package webhook

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanAlertmanager decodes an Alertmanager webhook payload written the way
// Alertmanager writes it, without reflection: every name one of amPayload's
// or amAlert's spelled exactly, or one they lack (skipped, as encoding/json
// ignores it); strings of valid UTF-8. That is every payload of a storm,
// and it decodes at a fraction of a generic decoder's CPU. For anything
// else (invalid UTF-8, a differently cased name, a number where a string
// belongs, malformed JSON...) it returns false having decided nothing, and
// ParseAlertmanager decodes the payload with decodeJSON, whose rules and
// errors apply unchanged.
//
// Where it succeeds it reads what encoding/json would: duplicate names
// behave as there (the last string wins, label and annotation objects
// merge, a null leaves a string as it was and empties a map), and
// FuzzDecodeMatchesEncodingJSON holds it to that. scanGrafana and
// scanGeneric do the same for the other two shapes.
func scanAlertmanager(body []byte, p *amPayload) bool {
	s := scanner{b: body}
	alertsSeen := false
	ok := s.object(func(name []byte) bool {
		if string(name) == "alerts" {
			if alertsSeen {
				return false // encoding/json would decode into the first array's elements
			}
			alertsSeen = true
			return array(&s, &p.Alerts, `"labels"`, s.amAlert)
		}
		return s.amPayload(p, name)
	})
	if !ok || !s.end() {
		*p = amPayload{}
		return false
	}
	return true
}

// amPayload reads the member name of an Alertmanager payload, but alerts.
func (s *scanner) amPayload(p *amPayload, name []byte) bool {
	switch string(name) {
	case "version":
		return s.str(&p.Version)
	case "groupKey":
		return s.str(&p.GroupKey)
	case "truncatedAlerts":
		return s.int(&p.TruncatedAlerts)
	case "status":
		return s.word(&p.Status)
	case "receiver":
		return s.str(&p.Receiver)
	case "groupLabels":
		return s.strMap(&p.GroupLabels)
	case "commonLabels":
		return s.strMap(&p.CommonLabels)
	case "commonAnnotations":
		return s.strMap(&p.CommonAnnotations)
	case "externalURL":
		return s.str(&p.ExternalURL)
	}
	return s.unknown(name, "version", "groupKey", "truncatedAlerts", "status", "receiver",
		"groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts")
}

// amAlert reads the member name of an entry of alerts[].
func (s *scanner) amAlert(a *amAlert, name []byte) bool {
	switch string(name) {
	case "status":
		return s.word(&a.Status)
	case "labels":
		return s.strMap(&a.Labels)
	case "annotations":
		return s.strMap(&a.Annotations)
	case "startsAt":
		return s.str(&a.StartsAt)
	case "endsAt":
		return s.word(&a.EndsAt)
	case "generatorURL":
		return s.str(&a.GeneratorURL)
	case "fingerprint":
		return s.str(&a.Fingerprint)
	}
	return s.unknown(name, "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint")
}

// scanGrafana is scanAlertmanager for Grafana's payload. The query values
// must be numbers; a legacy payload (evalMatches) is left to decodeJSON.
func scanGrafana(body []byte, p *grafanaPayload) bool {
	s := scanner{b: body}
	alertsSeen := false
	ok := s.object(func(name []byte) bool {
		switch string(name) {
		case "alerts":
			if alertsSeen {
				return false
			}
			alertsSeen = true
			// Grafana's alerts shadow the Alertmanager ones, as in encoding/json.
			return array(&s, &p.Alerts, `"labels"`, s.grafanaAlert)
		case "orgId":
			return s.int(&p.OrgID)
		case "title":
			return s.str(&p.Title)
		case "state":
			return s.str(&p.State)
		case "message":
			return s.str(&p.Message)
		case "ruleName":
			return s.str(&p.RuleName)
		case "evalMatches":
			return false // a legacy payload: decodeJSON's path refuses it
		}
		if foldsTo(name, "orgId", "title", "state", "message", "ruleName", "evalMatches") {
			return false
		}
		return s.amPayload(&p.amPayload, name)
	})
	if !ok || !s.end() {
		*p = grafanaPayload{}
		return false
	}
	return true
}

func (s *scanner) grafanaAlert(a *grafanaAlert, name []byte) bool {
	switch string(name) {
	case "silenceURL":
		return s.str(&a.SilenceURL)
	case "dashboardURL":
		return s.str(&a.DashboardURL)
	case "panelURL":
		return s.str(&a.PanelURL)
	case "imageURL":
		return s.str(&a.ImageURL)
	case "valueString":
		return s.str(&a.ValueString)
	case "values":
		if s.null() { // what Grafana sends for a resolved alert
			a.Values = nil
			return true
		}
		if a.Values == nil {
			a.Values = make(map[string]json.RawMessage)
		}
		return s.object(func(name []byte) bool {
			k := string(name)
			v, ok := s.number()
			if ok {
				a.Values[k] = json.RawMessage(string(v)) // a copy, as encoding/json makes
			}
			return ok
		})
	}
	if foldsTo(name, "silenceURL", "dashboardURL", "panelURL", "imageURL", "valueString", "values") {
		return false
	}
	return s.amAlert(&a.amAlert, name)
}

// scanGeneric is scanAlertmanager for Firebreak's generic shape.
func scanGeneric(body []byte, p *genericPayload) bool {
	s := scanner{b: body}
	alertsSeen := false
	ok := s.object(func(name []byte) bool {
		if string(name) == "alerts" {
			if alertsSeen {
				return false
			}
			alertsSeen = true
			return array(&s, &p.Alerts, `"title"`, s.genericAlert)
		}
		return s.genericAlert(&p.genericAlert, name)
	})
	if !ok || !s.end() {
		*p = genericPayload{}
		return false
	}
	return true
}

func (s *scanner) genericAlert(g *genericAlert, name []byte) bool {
	switch string(name) {
	case "title":
		return s.str(&g.Title)
	case "severity":
		return s.str(&g.Severity)
	case "service":
		return s.str(&g.Service)
	case "text":
		return s.str(&g.Text)
	case "fingerprint":
		return s.str(&g.Fingerprint)
	case "status":
		return s.word(&g.Status)
	case "labels":
		return s.strMap(&g.Labels)
	case "url":
		return s.str(&g.URL)
	case "annotations":
		return s.strMap(&g.Annotations)
	case "runbook_url":
		return s.str(&g.RunbookURL)
	}
	return s.unknown(name, "title", "severity", "service", "text", "fingerprint", "status",
		"labels", "url", "annotations", "runbook_url", "alerts")
}

// array reads an array of objects into *out, each object's members with
// member. every is a quoted name nearly every element has: counting it in
// the rest of the body sizes the slice once instead of growing it through
// every power of two (a wrong count costs only that).
func array[T any](s *scanner, out *[]T, every string, member func(e *T, name []byte) bool) bool {
	if s.null() {
		*out = nil
		return true
	}
	if !s.next('[') {
		return false
	}
	elems := make([]T, 0, bytes.Count(s.b[s.i:], []byte(every)))
	if !s.next(']') {
		for {
			elems = append(elems, *new(T))
			e := &elems[len(elems)-1]
			if !s.object(func(name []byte) bool { return member(e, name) }) {
				return false
			}
			if s.next(',') {
				continue
			}
			if !s.next(']') {
				return false
			}
			break
		}
	}
	*out = elems
	return true
}

// scanner reads the subset of JSON the scanners accept; every
// method returns false on anything outside it.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c, after any white space, if it comes next.
func (s *scanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// unknown reads the value of a member whose name is none of the shape's
// (known: every one of them). encoding/json ignores such a member, so it is
// skipped; but a name that matches one case-insensitively fills that field
// there, so for those unknown declines.
func (s *scanner) unknown(name []byte, known ...string) bool {
	return !foldsTo(name, known...) && s.skip(0)
}

// foldsTo reports whether name is one of known under Unicode case folding,
// encoding/json's rule for matching a name to a field.
func foldsTo(name []byte, known ...string) bool {
	for _, k := range known {
		if bytes.EqualFold(name, []byte(k)) {
			return true
		}
	}
	return false
}

// skip reads a well-formed value of any kind and drops it.
func (s *scanner) skip(depth int) bool {
	if depth > 64 {
		return false // leave deep nesting to encoding/json's own limit
	}
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.raw()
		return ok
	case '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case '[':
		s.i++
		if s.next(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if !s.next(',') {
				return s.next(']')
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.null()
	}
	_, ok := s.number()
	return ok
}

func (s *scanner) literal(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

// null consumes a null if one comes next.
func (s *scanner) null() bool {
	s.space()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// object reads an object, calling member with each name to read its value.
func (s *scanner) object(member func(name []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		name, ok := s.raw()
		if !ok || !s.next(':') || !member(name) {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// raw reads a string and returns its value: the bytes inside the body
// when it has no escapes, else a new slice with them resolved. It declines
// (false) a string that is not valid UTF-8, has a control character, or a
// \u escape of a lone surrogate: encoding/json replaces those with U+FFFD.
func (s *scanner) raw() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[start:j]
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			s.i = j + 1
			return v, true
		case c == '\\':
			s.i = start
			return s.escaped()
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// escaped is raw for a string with escapes (Alertmanager's groupKey always
// has some), from its first byte at s.i.
func (s *scanner) escaped() ([]byte, bool) {
	out := make([]byte, 0, 64)
	j := s.i
	for j < len(s.b) {
		c := s.b[j]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return nil, false
			}
			s.i = j + 1
			return out, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(s.b) {
			return nil, false
		}
		switch e := s.b[j+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s.b[j+2:])
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one.
				if len(s.b) < j+12 || s.b[j+6] != '\\' || s.b[j+7] != 'u' {
					return nil, false
				}
				lo, ok := hex4(s.b[j+8:])
				if r = utf16.DecodeRune(r, lo); !ok || r == utf8.RuneError {
					return nil, false
				}
				j += 6
			}
			out = utf8.AppendRune(out, r)
			j += 4
		default:
			return nil, false
		}
		j += 2
	}
	return nil, false
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (s *scanner) str(dst *string) bool {
	if s.null() {
		return true // encoding/json leaves the string as it was
	}
	v, ok := s.raw()
	if ok {
		*dst = string(v)
	}
	return ok
}

// word is str for values most alerts share (a status, the zero endsAt of
// a firing alert): those are not allocated again for each alert.
func (s *scanner) word(dst *string) bool {
	if s.null() {
		return true
	}
	v, ok := s.raw()
	if !ok {
		return false
	}
	switch string(v) {
	case "firing":
		*dst = "firing"
	case "resolved":
		*dst = "resolved"
	case "0001-01-01T00:00:00Z":
		*dst = "0001-01-01T00:00:00Z"
	default:
		*dst = string(v)
	}
	return true
}

// strMap reads an object of strings into *dst, adding to it when it
// exists (as encoding/json does for a repeated name).
func (s *scanner) strMap(dst *map[string]string) bool {
	if s.null() {
		*dst = nil // as encoding/json does
		return true
	}
	if *dst == nil {
		*dst = make(map[string]string)
	}
	m := *dst
	return s.object(func(name []byte) bool {
		v, ok := s.raw()
		if ok {
			m[commonKey(name)] = string(v)
		}
		return ok
	})
}

// number reads a JSON number and returns its text, still inside the body.
func (s *scanner) number() ([]byte, bool) {
	s.space()
	b, start := s.b, s.i
	j := start
	digits := func() int {
		n := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
			n++
		}
		return n
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	first := j
	if n := digits(); n == 0 || (n > 1 && b[first] == '0') {
		return nil, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if digits() == 0 {
			return nil, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	s.i = j
	return b[start:j], true
}

// int reads an integer written without fraction or exponent.
func (s *scanner) int(dst *int64) bool {
	if s.null() {
		return true
	}
	start := s.i
	j := start
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	digits := j
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		j++
	}
	if j == digits || (s.b[digits] == '0' && j-digits > 1) {
		return false
	}
	if j < len(s.b) && (s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E') {
		return false
	}
	n, err := strconv.ParseInt(string(s.b[start:j]), 10, 64)
	if err != nil {
		return false
	}
	s.i = j
	*dst = n
	return true
}

// commonKey returns the label or annotation name, sharing one string for
// the names nearly every alert carries rather than allocating it again
// for each alert of a storm.
func commonKey(name []byte) string {
	switch string(name) {
	case "alertname":
		return "alertname"
	case "severity":
		return "severity"
	case "instance":
		return "instance"
	case "job":
		return "job"
	case "service":
		return "service"
	case "namespace":
		return "namespace"
	case "pod":
		return "pod"
	case "summary":
		return "summary"
	case "description":
		return "description"
	case "runbook_url":
		return "runbook_url"
	}
	return string(name)
}
