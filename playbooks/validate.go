package playbooks

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Defaults filled in by Parse when a key is absent.
const (
	DefaultPinEmoji        = "pushpin"
	DefaultChannelPrefix   = "inc"
	DefaultUpdateInterval  = 30 * time.Minute
	DefaultSeverity        = "SEV3"
	DefaultPostmortemDir   = "postmortems"
	DefaultGroupWindow     = 5 * time.Minute
	DefaultRepeatInterval  = time.Minute
	DefaultFlapWindow      = 15 * time.Minute
	DefaultProbeInterval   = 30 * time.Second
	DefaultProbeTimeout    = 5 * time.Second
	DefaultFailures        = 3
	DefaultSuccesses       = 2
	DefaultActionTimeout   = 10 * time.Second
	DefaultHTTPMethod      = "POST"
	DefaultProbeHTTPMethod = "GET"
)

// TemplateFuncs names the functions step templates may call (status update
// templates, http url/body/headers, command arguments). The bot provides
// them when it renders; here they only let Parse check templates early.
//
//	upper, lower, title   change case
//	join LIST SEP         join strings
//	default DEF VALUE     VALUE, or DEF when VALUE is empty
//	since TIME            time elapsed, e.g. "12m30s"
//	utc TIME              "2006-01-02 15:04 UTC"
var TemplateFuncs = []string{"upper", "lower", "title", "join", "default", "since", "utc"}

var (
	idPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	stepKinds   = []string{KindManual, KindChecklist, KindStatusUpdate, KindHTTP, KindProbe, KindCommand}
	notifyKinds = []string{"webhook", "email"}
)

// NormalizeSeverity turns the ways people write a severity ("sev2",
// "critical", "P1") into "SEV1"…"SEV4"; ok is false for anything else.
// It mirrors incidents.ParseSeverity, which this package cannot import.
func NormalizeSeverity(s string) (string, bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(strings.TrimPrefix(t, "sev"), "-")
	switch t {
	case "1", "critical", "crit", "page", "emergency", "disaster", "p1":
		return "SEV1", true
	case "2", "high", "error", "err", "major", "p2":
		return "SEV2", true
	case "3", "warning", "warn", "medium", "minor", "average", "p3":
		return "SEV3", true
	case "4", "info", "informational", "low", "notice", "p4", "p5":
		return "SEV4", true
	}
	return "", false
}

type validator struct {
	*decoder
	cfg *Config
}

func (v *validator) problem(field, format string, args ...any) {
	v.addf(v.lineOf(field), field, format, args...)
}

// lineOf finds the line of a field, or of its closest written parent.
func (v *validator) lineOf(field string) int {
	for f := field; f != ""; {
		if l, ok := v.lines[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

func (v *validator) run() {
	c := v.cfg
	v.incidents()
	v.grouping()
	probes := v.probes()
	notifiers := v.notifiers()
	for i, n := range c.Incidents.UpdateNotifiers {
		if !notifiers[n] {
			v.problem(fmt.Sprintf("incidents.update_notifiers[%d]", i), "no notifier named %q in notifiers", n)
		}
	}
	playbookIDs := v.playbooks(probes)
	v.match(playbookIDs)
	if c.Escalation != nil {
		v.escalation(c.Escalation, "escalation", notifiers)
	}
	if len(c.EscalationBySeverity) > 0 {
		bySev := make(map[string]*Escalation, len(c.EscalationBySeverity))
		for key, e := range c.EscalationBySeverity {
			f := "escalation_by_severity." + key
			sev, ok := NormalizeSeverity(key)
			switch {
			case !ok:
				v.problem(f, "%q is not a severity (want SEV1, SEV2, SEV3 or SEV4)", key)
				continue
			case bySev[sev] != nil:
				v.problem(f, "%s is given twice", sev)
				continue
			case e == nil:
				v.problem(f, "an escalation needs at least one level")
				continue
			}
			v.escalation(e, f, notifiers)
			bySev[sev] = e
		}
		c.EscalationBySeverity = bySev
	}
	for i := range c.Playbooks {
		if c.Playbooks[i].Escalation != nil {
			v.escalation(c.Playbooks[i].Escalation, fmt.Sprintf("playbooks[%d].escalation", i), notifiers)
		}
	}
	v.postmortem()
}

func (v *validator) incidents() {
	in := &v.cfg.Incidents
	if in.PinEmoji == "" {
		in.PinEmoji = DefaultPinEmoji
	}
	in.PinEmoji = strings.Trim(in.PinEmoji, ":")
	if in.ChannelPrefix == "" {
		in.ChannelPrefix = DefaultChannelPrefix
	} else if !idPattern.MatchString(in.ChannelPrefix) {
		v.problem("incidents.channel_prefix", "%q: use lower-case letters, digits, '-' and '_' (channel names allow nothing else)", in.ChannelPrefix)
	}
	if in.UpdateInterval == 0 {
		in.UpdateInterval = Duration(DefaultUpdateInterval)
	}
	if in.DefaultSeverity == "" {
		in.DefaultSeverity = DefaultSeverity
	} else {
		in.DefaultSeverity = v.severity(in.DefaultSeverity, "incidents.default_severity")
	}
	v.template(in.UpdateTemplate, "incidents.update_template")
	for k := range in.Announce {
		if !slices.Contains([]string{"slack", "discord", "console"}, k) {
			v.problem("incidents.announce."+k, "unknown platform %q (want slack, discord or console)", k)
		}
	}
}

func (v *validator) severity(s, field string) string {
	n, ok := NormalizeSeverity(s)
	if !ok {
		v.problem(field, "unknown severity %q (want SEV1, SEV2, SEV3 or SEV4)", s)
		return s
	}
	return n
}

func (v *validator) grouping() {
	g := &v.cfg.Grouping
	if g.GroupWindow == 0 {
		g.GroupWindow = Duration(DefaultGroupWindow)
	}
	if g.RepeatInterval == 0 {
		g.RepeatInterval = Duration(DefaultRepeatInterval)
	}
	if g.FlapWindow == 0 {
		g.FlapWindow = Duration(DefaultFlapWindow)
	}
	for i, l := range g.GroupBy {
		if strings.TrimSpace(l) == "" {
			v.problem(fmt.Sprintf("grouping.group_by[%d]", i), "empty label name")
		}
	}
}

func (v *validator) unique(kind, field, id string, seen map[string]string) {
	if id == "" {
		v.problem(field, "%s is required", kind)
		return
	}
	if prev, dup := seen[id]; dup {
		v.problem(field, "duplicate %s %q (also at %s)", kind, id, prev)
		return
	}
	seen[id] = field
}

func (v *validator) probes() map[string]bool {
	names := map[string]bool{}
	seen := map[string]string{}
	for i := range v.cfg.Probes {
		p := &v.cfg.Probes[i]
		f := fmt.Sprintf("probes[%d]", i)
		v.unique("probe name", f+".name", p.Name, seen)
		names[p.Name] = true
		v.url(p.URL, f+".url")
		if p.Method == "" {
			p.Method = DefaultProbeHTTPMethod
		}
		p.Method = strings.ToUpper(p.Method)
		if p.Interval == 0 && !p.OnDemand {
			p.Interval = Duration(DefaultProbeInterval)
		}
		if p.Timeout == 0 {
			p.Timeout = Duration(DefaultProbeTimeout)
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = DefaultFailures
		} else if p.FailureThreshold < 1 {
			v.problem(f+".failure_threshold", "must be at least 1")
		}
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = DefaultSuccesses
		} else if p.SuccessThreshold < 1 {
			v.problem(f+".success_threshold", "must be at least 1")
		}
		if p.Severity != "" {
			p.Severity = v.severity(p.Severity, f+".severity")
		}
		v.statuses(p.ExpectStatus, f+".expect_status")
	}
	return names
}

func (v *validator) statuses(list []int, field string) {
	for i, s := range list {
		if s < 100 || s > 599 {
			v.problem(fmt.Sprintf("%s[%d]", field, i), "%d is not an HTTP status", s)
		}
	}
}

func (v *validator) url(s, field string) {
	if s == "" {
		v.problem(field, "url is required")
		return
	}
	// ${NAME} references are expanded at run time; check the rest.
	u, err := url.Parse(envRefPattern.ReplaceAllString(s, "x"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.problem(field, "%q is not an http:// or https:// URL", s)
	}
}

var envRefPattern = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

func (v *validator) notifiers() map[string]bool {
	names := map[string]bool{}
	seen := map[string]string{}
	for i := range v.cfg.Notifiers {
		n := &v.cfg.Notifiers[i]
		f := fmt.Sprintf("notifiers[%d]", i)
		v.unique("notifier name", f+".name", n.Name, seen)
		names[n.Name] = true
		switch n.Kind {
		case "webhook":
			v.url(n.URL, f+".url")
		case "email":
			if n.SMTP == "" {
				v.problem(f+".smtp", "email notifiers need smtp: host:port")
			}
			if n.From == "" {
				v.problem(f+".from", "email notifiers need a from address")
			}
			if len(n.To) == 0 {
				v.problem(f+".to", "email notifiers need at least one recipient")
			}
		case "":
			v.problem(f+".kind", "kind is required (%s)", strings.Join(notifyKinds, " or "))
		default:
			v.problem(f+".kind", "unknown notifier kind %q (want %s)", n.Kind, strings.Join(notifyKinds, " or "))
		}
	}
	return names
}

func (v *validator) playbooks(probes map[string]bool) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]string{}
	defaults := 0
	if len(v.cfg.Playbooks) == 0 {
		v.problem("playbooks", "at least one playbook is required")
		return ids
	}
	for i := range v.cfg.Playbooks {
		p := &v.cfg.Playbooks[i]
		f := fmt.Sprintf("playbooks[%d]", i)
		v.unique("playbook id", f+".id", p.ID, seen)
		if p.ID != "" && !idPattern.MatchString(p.ID) {
			v.problem(f+".id", "%q: use lower-case letters, digits, '-' and '_'", p.ID)
		}
		ids[p.ID] = true
		if p.Name == "" {
			p.Name = p.ID
		}
		if p.Default {
			defaults++
		}
		if p.Severity != "" {
			p.Severity = v.severity(p.Severity, f+".severity")
		}
		steps := map[string]string{}
		for j := range p.Steps {
			v.step(&p.Steps[j], fmt.Sprintf("%s.steps[%d]", f, j), steps, probes)
		}
	}
	switch {
	case defaults == 0 && len(v.cfg.Playbooks) == 1:
		v.cfg.Playbooks[0].Default = true
	case defaults == 0:
		v.problem("playbooks", "no playbook has default: true — mark the one used when no match rule applies")
	case defaults > 1:
		v.problem("playbooks", "%d playbooks have default: true; exactly one may", defaults)
	}
	return ids
}

func (v *validator) step(s *Step, f string, seen map[string]string, probes map[string]bool) {
	v.unique("step id", f+".id", s.ID, seen)
	if s.ID != "" && !idPattern.MatchString(s.ID) {
		v.problem(f+".id", "%q: use lower-case letters, digits, '-' and '_' (it goes into button values and commands)", s.ID)
	}
	if s.Title == "" {
		v.problem(f+".title", "title is required")
	}
	if s.Kind == "" {
		s.Kind = KindManual
	}
	switch s.Kind {
	case KindManual:
	case KindChecklist:
		if len(s.Checklist) == 0 {
			v.problem(f+".checklist", "checklist steps need at least one item")
		}
	case KindStatusUpdate:
		v.template(s.Template, f+".template")
	case KindHTTP:
		if s.HTTP == nil {
			v.problem(f+".http", "http steps need http: with at least url")
			break
		}
		v.template(s.HTTP.URL, f+".http.url")
		v.url(stripTemplates(s.HTTP.URL), f+".http.url")
		v.template(s.HTTP.Body, f+".http.body")
		if s.HTTP.Method == "" {
			s.HTTP.Method = DefaultHTTPMethod
		}
		s.HTTP.Method = strings.ToUpper(s.HTTP.Method)
		if s.HTTP.Retries < 0 {
			v.problem(f+".http.retries", "must not be negative")
		}
		v.statuses(s.HTTP.ExpectStatus, f+".http.expect_status")
	case KindProbe:
		if s.Probe == "" {
			v.problem(f+".probe", "probe steps name a probe from the probes list")
		} else if !probes[s.Probe] {
			v.problem(f+".probe", "no probe named %q in probes", s.Probe)
		}
	case KindCommand:
		if len(s.Command) == 0 || strings.TrimSpace(s.Command[0]) == "" {
			v.problem(f+".command", "command steps need the program and its arguments, e.g. [\"./rollback.sh\", \"{{.Service}}\"]")
		}
		for i, a := range s.Command {
			v.template(a, fmt.Sprintf("%s.command[%d]", f, i))
		}
	default:
		v.problem(f+".kind", "unknown step kind %q (want %s)", s.Kind, strings.Join(stepKinds, ", "))
	}
	if s.Kind != KindHTTP && s.HTTP != nil {
		v.problem(f+".http", "only steps of kind http take http:")
	}
	if s.Confirm && !slices.Contains([]string{KindHTTP, KindCommand, KindProbe}, s.Kind) {
		v.problem(f+".confirm", "confirm applies to http, command and probe steps")
	}
	if (s.Kind == KindHTTP || s.Kind == KindCommand) && s.Timeout == 0 {
		s.Timeout = Duration(DefaultActionTimeout)
	}
}

// stripTemplates replaces {{…}} with a placeholder so a templated URL can be
// checked for its scheme and host.
func stripTemplates(s string) string { return templatePattern.ReplaceAllString(s, "x") }

var templatePattern = regexp.MustCompile(`\{\{.*?\}\}`)

func (v *validator) template(text, field string) {
	if text == "" {
		return
	}
	funcs := template.FuncMap{}
	for _, n := range TemplateFuncs {
		funcs[n] = func(...any) string { return "" }
	}
	if _, err := template.New(field).Funcs(funcs).Parse(text); err != nil {
		v.problem(field, "bad template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
}

func (v *validator) match(playbooks map[string]bool) {
	for i := range v.cfg.Rules {
		r := &v.cfg.Rules[i]
		f := fmt.Sprintf("match[%d]", i)
		switch {
		case r.Playbook == "":
			v.problem(f+".playbook", "playbook is required")
		case !playbooks[r.Playbook]:
			v.problem(f+".playbook", "no playbook with id %q", r.Playbook)
		}
		r.alertName = v.regex(r.AlertName, f+".alertname")
		r.text = v.regex(r.Text, f+".text")
		r.service = v.regex(r.Service, f+".service")
		if len(r.Labels) > 0 {
			r.labels = map[string]*pattern{}
			for k, expr := range r.Labels {
				r.labels[k] = v.regex(expr, f+".labels."+k)
			}
		}
		for j, s := range r.Severity {
			r.Severity[j] = v.severity(s, fmt.Sprintf("%s.severity[%d]", f, j))
		}
		if r.AlertName == "" && r.Text == "" && r.Service == "" && len(r.Labels) == 0 && len(r.Severity) == 0 {
			v.problem(f, "rule has no condition (alertname, text, service, labels or severity); use default: true on the playbook instead")
		}
	}
}

func (v *validator) regex(expr, field string) *pattern {
	if expr == "" {
		return nil
	}
	re, err := compilePattern(expr)
	if err != nil {
		v.problem(field, "bad regular expression %q: %s", expr, strings.Replace(strings.TrimPrefix(err.Error(), "error parsing regexp: "), "`(?i)", "`", 1))
		return nil
	}
	return re
}

func (v *validator) escalation(e *Escalation, f string, notifiers map[string]bool) {
	if len(e.Levels) == 0 {
		v.problem(f+".levels", "an escalation needs at least one level")
	}
	if e.Repeat < 0 {
		v.problem(f+".repeat", "must not be negative")
	}
	var prev Duration
	for i, l := range e.Levels {
		lf := fmt.Sprintf("%s.levels[%d]", f, i)
		if l.After <= 0 {
			v.problem(lf+".after", "after is required: how long unacknowledged before this level is paged")
		} else if i > 0 && l.After <= prev {
			v.problem(lf+".after", "%s is not later than the level before (%s)", l.After.D(), prev.D())
		}
		prev = l.After
		if len(l.Notify) == 0 && len(l.Notifiers) == 0 {
			v.problem(lf, "a level needs notify (chat mentions) or notifiers")
		}
		for j, n := range l.Notifiers {
			if !notifiers[n] {
				v.problem(fmt.Sprintf("%s.notifiers[%d]", lf, j), "no notifier named %q in notifiers", n)
			}
		}
	}
}

func (v *validator) postmortem() {
	pm := &v.cfg.Postmortem
	if pm.Directory == "" {
		pm.Directory = DefaultPostmortemDir
	}
	v.tracker()
	if pm.Template == "" {
		return
	}
	p := v.cfg.TemplatePath()
	info, err := os.Stat(p)
	switch {
	case err != nil:
		v.problem("postmortem.template", "cannot read %s: %v", p, err)
	case info.IsDir():
		v.problem("postmortem.template", "%s is a directory", p)
	}
}

// TemplatePath is the custom postmortem template's path, relative to the
// playbooks file; "" when the built-in template is used.
func (c *Config) TemplatePath() string {
	t := c.Postmortem.Template
	if t == "" || filepath.IsAbs(t) || c.Path == "" {
		return t
	}
	return filepath.Join(filepath.Dir(c.Path), t)
}
