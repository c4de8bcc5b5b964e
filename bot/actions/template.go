package actions

import (
	"fmt"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// Data is what step templates (http url/body/headers, command arguments,
// status updates, notifications) can use, e.g. `{{.Number}}`, `{{.Service}}`.
// It is a flat copy so templates cannot reach into the incident's internals.
type Data struct {
	Number     uint64
	Title      string
	Severity   string
	Status     string
	Service    string
	Playbook   string
	Commander  string
	Summary    string
	LastUpdate string
	Labels     map[string]string
	OpenedAt   time.Time
	// Step is the id of the step whose action runs ("" elsewhere).
	Step string
	// NextUpdate is when the next status update is due (status update
	// templates; zero when none is scheduled).
	NextUpdate time.Time
	Now        time.Time
}

// Funcs are the functions step templates may use; playbooks validates
// templates against the same names.
//
//	upper, lower, title  change case
//	join LIST SEP        join strings
//	default DEF VALUE    VALUE, or DEF when VALUE is empty
//	since TIME           time elapsed, e.g. "12m30s"
//	utc TIME             "2006-01-02 15:04 UTC"
func Funcs() template.FuncMap {
	return template.FuncMap{
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"title": func(s string) string {
			prev := ' '
			return strings.Map(func(r rune) rune {
				defer func() { prev = r }()
				if unicode.IsSpace(prev) {
					return unicode.ToTitle(r)
				}
				return r
			}, s)
		},
		"join": func(list []string, sep string) string { return strings.Join(list, sep) },
		"default": func(def string, v any) string {
			if s := fmt.Sprint(v); v != nil && s != "" {
				return s
			}
			return def
		},
		"since": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
		"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	}
}
