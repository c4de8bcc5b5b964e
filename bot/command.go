package bot

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// MaxCommandLen bounds what follows /incident.
const MaxCommandLen = incidents.MaxTextLen + 200

// ErrUsage marks a command that could not be understood; the message says
// how to write it.
var ErrUsage = errors.New("usage")

// Command is a parsed "/incident …".
type Command struct {
	// Name is the subcommand, canonical: declare, ack, status, step, note,
	// followup, role, severity, update, mitigate, resolve, timeline,
	// postmortem, list, help.
	Name string
	// Sub is "done" or "skip" for step; "", "draft", "review" or "final"
	// for postmortem.
	Sub string
	// Incident is the #number named in the command; 0 means the incident
	// of the channel.
	Incident uint64
	// Args is the free text (a note, a reason, a title, a summary).
	Args string
	// Step is the step id named with --step.
	Step     string
	Severity incidents.Severity
	Role     incidents.Role
	// User is the person a role goes to: a mention, a user id, a name, or "me".
	User string
	// All lists every incident, not only open ones.
	All bool
	// Type is a follow-up's action item type ("type:prevent").
	Type string
}

// usage is the help text of each subcommand, in the order help lists them.
var usage = []struct{ name, syntax, what string }{
	{"declare", "declare <title> [SEV1-4]", "open an incident by hand"},
	{"ack", "ack", "acknowledge: you are on it (stops escalation)"},
	{"status", "status", "show the incident, its current step and durations"},
	{"step", "step done [note] | step skip <reason> (--step <id> for another step)", "finish or skip the current step"},
	{"note", "note <text>", "add a note to the timeline"},
	{"followup", "followup [type:prevent|mitigate|detect|repair|process|investigate] <text> [@owner]", "add an action item for the postmortem (filed in the tracker when one is configured)"},
	{"role", "role commander|comms|responder @user|me", "assign a role"},
	{"severity", "severity SEV1-4", "change the severity"},
	{"update", "update <status text>", "post a status update for stakeholders"},
	{"mitigate", "mitigate", "the impact has stopped"},
	{"resolve", "resolve [summary]", "close the incident"},
	{"timeline", "timeline", "show the latest timeline entries"},
	{"postmortem", "postmortem [review|final]", "write the Markdown postmortem (a draft) and attach it; review and final move it on"},
	{"list", "list [all]", "open incidents (or all)"},
	{"help", "help [command]", "this help"},
}

var aliases = map[string]string{
	"acknowledge": "ack", "a": "ack",
	"sev": "severity", "action-item": "followup", "todo": "followup", "follow-up": "followup",
	"info": "status", "show": "status", "open": "declare", "new": "declare",
	"pm": "postmortem", "ls": "list", "close": "resolve", "mitigated": "mitigate", "resolved": "resolve",
}

var incidentRef = regexp.MustCompile(`^#(\d{1,18})$`)

// ParseCommand reads the text after "/incident" (a leading "/incident" is
// accepted too). "#<n>" right before or after the subcommand names the
// incident: "/incident #4 ack", "/incident ack #4".
func ParseCommand(text string) (Command, error) {
	if len(text) > MaxCommandLen {
		return Command{}, refuseUsage(TextCommandTooLong, utf8.RuneCountInString(text), MaxCommandLen)
	}
	text = strings.TrimSpace(text)
	if rest, ok := strings.CutPrefix(text, "/incident"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n') {
		text = strings.TrimSpace(rest)
	}
	var c Command
	word, rest := cut(text)
	if n, ok := ref(word); ok {
		c.Incident = n
		word, rest = cut(rest)
	}
	name := strings.ToLower(word)
	if a, ok := aliases[name]; ok {
		name = a
	}
	if name == "" {
		name = "help"
	}
	if !slices.ContainsFunc(usage, func(u struct{ name, syntax, what string }) bool { return u.name == name }) {
		if s := closest(name); s != "" {
			return Command{}, refuseUsage(TextDidYouMean, truncate(word, 40), s)
		}
		return Command{}, refuseUsage(TextUnknownCommand, truncate(word, 40))
	}
	c.Name = name
	if next, after := cut(rest); c.Incident == 0 {
		if n, ok := ref(next); ok {
			c.Incident, rest = n, after
		}
	}
	var err error
	switch name {
	case "declare":
		err = c.parseDeclare(rest)
	case "step":
		err = c.parseStep(rest)
	case "followup":
		err = c.parseFollowUp(rest)
	case "postmortem":
		err = c.parsePostmortem(rest)
	case "note", "update":
		c.Args = strings.TrimSpace(rest)
		if c.Args == "" {
			err = usageErr(name, "needs some text")
		}
	case "role":
		err = c.parseRole(rest)
	case "severity":
		c.Severity, err = incidents.ParseSeverity(rest)
		if strings.TrimSpace(rest) == "" {
			err = usageErr(name, "needs a severity")
		} else if err != nil {
			err = refuseUsage("%s", err.Error())
		}
	case "resolve":
		c.Args = strings.TrimSpace(rest)
	case "list":
		switch a := strings.ToLower(strings.TrimSpace(rest)); a {
		case "":
		case "all", "--all", "-a":
			c.All = true
		default:
			err = usageErr(name, fmt.Sprintf("takes only \"all\", not %q", a))
		}
	case "help":
		c.Args = strings.ToLower(strings.TrimSpace(rest))
	default: // ack, status, mitigate, timeline
		if strings.TrimSpace(rest) != "" {
			err = usageErr(name, fmt.Sprintf("takes no text (got %q); name an incident with #<number>", truncate(strings.TrimSpace(rest), 40)))
		}
	}
	if err != nil {
		return Command{}, err
	}
	return c, nil
}

func (c *Command) parseDeclare(rest string) error {
	words := strings.Fields(rest)
	for i := 0; i < len(words); i++ {
		if words[i] == "--sev" || words[i] == "--severity" {
			if i+1 >= len(words) {
				return usageErr("declare", "--sev needs a severity")
			}
			sev, err := incidents.ParseSeverity(words[i+1])
			if err != nil {
				return refuseUsage("%s", err.Error())
			}
			c.Severity = sev
			words = append(words[:i], words[i+2:]...)
			i--
		}
	}
	if len(words) > 1 && c.Severity == incidents.SevUnknown {
		last := words[len(words)-1]
		if strings.HasPrefix(strings.ToLower(last), "sev") {
			sev, err := incidents.ParseSeverity(last)
			if err != nil {
				return refuseUsage("%s", err.Error())
			}
			c.Severity = sev
			words = words[:len(words)-1]
		}
	}
	if len(words) == 1 && strings.HasPrefix(strings.ToLower(words[0]), "sev") {
		if _, err := incidents.ParseSeverity(words[0]); err == nil {
			words = nil
		}
	}
	c.Args = strings.Join(words, " ")
	if c.Args == "" {
		return usageErr("declare", "needs a title")
	}
	return nil
}

func (c *Command) parseStep(rest string) error {
	sub, rest := cut(rest)
	switch strings.ToLower(sub) {
	case "done", "complete", "finish", "ok":
		c.Sub = "done"
	case "skip", "skipped":
		c.Sub = "skip"
	case "":
		return usageErr("step", "needs done or skip")
	default:
		return usageErr("step", fmt.Sprintf("needs done or skip, not %q", sub))
	}
	if n, after := cut(rest); c.Incident == 0 {
		if num, ok := ref(n); ok {
			c.Incident, rest = num, after
		}
	}
	if flag, after := cut(rest); flag == "--step" {
		id, after2 := cut(after)
		if id == "" {
			return usageErr("step", "--step needs a step id")
		}
		c.Step, rest = id, after2
	}
	c.Args = strings.TrimSpace(rest)
	if c.Sub == "skip" && c.Args == "" {
		return usageErr("step", "skip needs a reason: `/incident step skip <why>`")
	}
	return nil
}

func (c *Command) parseRole(rest string) error {
	role, rest := cut(rest)
	if role == "" {
		return usageErr("role", "needs a role and a person")
	}
	r, err := incidents.ParseRole(role)
	if err != nil {
		return refuseUsage(TextUnknownRole, truncate(role, 40))
	}
	c.Role = r
	user, extra := cut(rest)
	if user == "" {
		return usageErr("role", "needs a person: @user or me")
	}
	if strings.TrimSpace(extra) != "" {
		return usageErr("role", "takes one person")
	}
	c.User = user
	return nil
}

func usageErr(name, problem string) error {
	for _, u := range usage {
		if u.name == name {
			return refuseUsage(TextUsage, name, problem, u.syntax)
		}
	}
	return refuseUsage("%s", problem)
}

// HelpText is the usage of every subcommand, or of one.
func HelpText(name string) string {
	if a, ok := aliases[name]; ok {
		name = a
	}
	var b strings.Builder
	for _, u := range usage {
		if name != "" && u.name != name {
			continue
		}
		fmt.Fprintf(&b, "`/incident %s` — %s\n", u.syntax, u.what)
	}
	if b.Len() == 0 {
		return fmt.Sprintf("no command %q; `/incident help` lists them", name)
	}
	if name == "" {
		b.WriteString("Name an incident with `#<number>` (`/incident #4 ack`). Without it: the incident of this thread or channel, else the one open here; when several are open, Firebreak asks which.")
	}
	return strings.TrimRight(b.String(), "\n")
}

func cut(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t\r\n")
	i := strings.IndexAny(s, " \t\r\n")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

func ref(word string) (uint64, bool) {
	m := incidentRef.FindStringSubmatch(word)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	return n, err == nil && n > 0
}

func closest(name string) string {
	best, bestD := "", 3
	for _, u := range usage {
		if d := editDistance(name, u.name); d < bestD {
			best, bestD = u.name, d
		}
		if len(name) >= 2 && strings.HasPrefix(u.name, name) {
			return u.name
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func truncate(s string, n int) string { return cards.Truncate(s, n) }

// ParseMention turns the person named in a command into an Actor on
// platform: "me"/"@me" is self; "<@U123>", "<@!123>" (Discord nickname
// form) and Slack's "<@U123|ana>" are user ids; "@name" is a name; a bare
// word that looks like a platform id (U0123ABC, a Discord snowflake) is an
// id, any other bare word a name.
func ParseMention(s string, self incidents.Actor, platform string) (incidents.Actor, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(strings.TrimPrefix(s, "@")) {
	case "me", "myself":
		return self, nil
	case "":
		return incidents.Actor{}, refuseUsage(TextNamePerson)
	case "everyone", "here", "channel":
		return incidents.Actor{}, refuseUsage(TextRoleToOnePerson, s)
	}
	if inner, ok := strings.CutPrefix(s, "<@"); ok {
		inner, ok = strings.CutSuffix(inner, ">")
		inner = strings.TrimPrefix(inner, "!")
		id, name, _ := strings.Cut(inner, "|")
		if !ok || id == "" || strings.HasPrefix(id, "&") || strings.ContainsAny(id, "<>@ \t\n") {
			return incidents.Actor{}, refuseUsage(TextNotAMention, truncate(s, 40))
		}
		return incidents.Actor{Platform: platform, ID: id, Name: name}, nil
	}
	if strings.ContainsAny(s, "<> \t\n") {
		return incidents.Actor{}, refuseUsage(TextNotAPerson, truncate(s, 40))
	}
	if name, ok := strings.CutPrefix(s, "@"); ok {
		if platform == "console" {
			// The console knows people only by name, so the name is the id.
			return incidents.Actor{Platform: platform, ID: name, Name: name}, nil
		}
		return incidents.Actor{Platform: platform, Name: name}, nil
	}
	if looksLikeID(s) {
		return incidents.Actor{Platform: platform, ID: s}, nil
	}
	if platform == "console" {
		return incidents.Actor{Platform: platform, ID: s, Name: s}, nil
	}
	return incidents.Actor{Platform: platform, Name: s}, nil
}

// looksLikeID recognises Slack user ids (U/W + upper-case letters and
// digits) and Discord snowflakes (15–20 digits).
func looksLikeID(s string) bool {
	if len(s) < 6 || len(s) > 24 {
		return false
	}
	digits := strings.Trim(s, "0123456789") == ""
	if digits {
		return len(s) >= 15
	}
	if s[0] != 'U' && s[0] != 'W' {
		return false
	}
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == "" && strings.ContainsAny(s, "0123456789")
}
