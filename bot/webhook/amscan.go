package webhook

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanAlertmanager decodes an Alertmanager webhook payload written the way
// Alertmanager writes it, without reflection: every name one of amPayload's
// or amAlert's, spelled exactly; strings of valid UTF-8; no nulls. That is
// every payload of a storm, and it decodes at a fraction of a generic
// decoder's CPU. For anything else (invalid UTF-8, an unknown or
// differently cased name, a null, a number where a string belongs,
// malformed JSON...) it returns false having decided nothing, and
// ParseAlertmanager decodes the payload with decodeJSON, whose rules and
// errors apply unchanged.
//
// Where it succeeds it reads what encoding/json would: duplicate names
// behave as there (the last string wins, label and annotation objects
// merge), and FuzzDecodeMatchesEncodingJSON holds it to that.
func scanAlertmanager(body []byte, p *amPayload) bool {
	s := scanner{b: body}
	alertsSeen := false
	ok := s.object(func(name []byte) bool {
		switch string(name) {
		case "version":
			return s.str(&p.Version)
		case "groupKey":
			return s.str(&p.GroupKey)
		case "truncatedAlerts":
			return s.int(&p.TruncatedAlerts)
		case "status":
			return s.str(&p.Status)
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
		case "alerts":
			if alertsSeen {
				return false // encoding/json would decode into the first array's elements
			}
			alertsSeen = true
			return s.alerts(&p.Alerts)
		}
		return false
	})
	if !ok || !s.end() {
		*p = amPayload{}
		return false
	}
	return true
}

func (s *scanner) alerts(out *[]amAlert) bool {
	if !s.next('[') {
		return false
	}
	// Every alert has labels: counting them sizes the slice once instead of
	// growing it through every power of two (a wrong guess costs only that).
	alerts := make([]amAlert, 0, bytes.Count(s.b[s.i:], []byte(`"labels"`)))
	if !s.next(']') {
		for {
			alerts = append(alerts, amAlert{})
			a := &alerts[len(alerts)-1]
			ok := s.object(func(name []byte) bool {
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
				return false
			})
			if !ok {
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
	*out = alerts
	return true
}

// scanner reads the plain subset of JSON scanAlertmanager accepts; every
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
	v, ok := s.raw()
	if ok {
		*dst = string(v)
	}
	return ok
}

// word is str for values most alerts share (a status, the zero endsAt of
// a firing alert): those are not allocated again for each alert.
func (s *scanner) word(dst *string) bool {
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

// int reads an integer written without fraction or exponent.
func (s *scanner) int(dst *int64) bool {
	s.space()
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
