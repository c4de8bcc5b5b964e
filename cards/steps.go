package cards

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// Button action ids of automated steps.
const (
	// ActionRunStep runs the action of an http, probe or command step; for
	// steps marked confirm: true this is the confirmation.
	ActionRunStep = "run_step"
	// ActionPostUpdate posts the status update a status_update step
	// suggests, rendered from its template.
	ActionPostUpdate = "post_update"
)

// StepData flattens an incident for step templates.
func StepData(inc *incidents.Incident, step string, now time.Time) actions.Data {
	d := actions.Data{Number: inc.Number, Title: inc.Title, Severity: inc.Severity.String(), Status: string(inc.Status),
		Service: inc.Service, Playbook: inc.Playbook, Summary: inc.Summary, LastUpdate: inc.LastUpdate,
		Labels: inc.Labels, OpenedAt: inc.OpenedAt, Step: step, Now: now}
	if inc.Commander != nil {
		d.Commander = inc.Commander.String()
	}
	return d
}

// SuggestedUpdate renders a status_update step's template. Without a
// template it proposes the headline facts, so the button is never empty.
func SuggestedUpdate(inc *incidents.Incident, ps *playbooks.Step, now time.Time) (string, error) {
	src := ps.Template
	if strings.TrimSpace(src) == "" {
		src = "{{.Title}} ({{.Severity}}) is {{.Status}}. We are working on it."
	}
	text, err := RenderText(ps.ID, src, StepData(inc, ps.ID, now))
	if err != nil {
		return "", fmt.Errorf("template of step %s: %w", ps.ID, err)
	}
	return text, nil
}

// RenderText executes a template from playbooks.yaml over data with the
// functions step templates may use.
func RenderText(name, src string, data actions.Data) (string, error) {
	t, err := template.New(name).Funcs(actions.Funcs()).Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// DescribeAction says what an automated step will do for inc, for its
// card: the call or command as it will run, its templates rendered with the
// incident's data ("POST https://deploy.example.com/rollback/checkout", not
// "{{.Service}}"). ${SECRET} references stay references: secrets are
// expanded only when the action runs, never shown.
func DescribeAction(ps *playbooks.Step, data actions.Data) string {
	switch ps.Kind {
	case playbooks.KindHTTP:
		if ps.HTTP != nil {
			method := ps.HTTP.Method
			if method == "" {
				method = "POST"
			}
			return CodeSpan(method + " " + renderOr(ps.ID+".url", ps.HTTP.URL, data))
		}
	case playbooks.KindProbe:
		return "probe " + CodeSpan(ps.Probe)
	case playbooks.KindCommand:
		argv := make([]string, len(ps.Command))
		for i, a := range ps.Command {
			argv[i] = renderOr(ps.ID+".command", a, data)
		}
		return CodeSpan(strings.Join(argv, " "))
	}
	return ps.Kind
}

// renderOr renders a step template, or returns it as written when it does
// not render (the run itself reports that error).
func renderOr(name, src string, data actions.Data) string {
	if out, err := RenderText(name, src, data); err == nil {
		return out
	}
	return src
}

// CodeSpan shows s as code: incident data rendered into it cannot close the
// span or mention anyone.
func CodeSpan(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "`", "\u02cb"), "\n", " ")
	return "`" + incidents.DefuseMentions(codeDefuser.Replace(s)) + "`"
}

// Truncate shortens s to n runes, marking the cut with "…".
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
