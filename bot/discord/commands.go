package discord

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/incidents"
)

// commandName is the one application command Firebreak registers.
const commandName = "incident"

// maxIncident bounds the incident option to what a float64 carries exactly.
const maxIncident = 1 << 53

// commandDefinition is /incident with one subcommand per core command.
// Discord shows options as typed fields (severity and role as choices, the
// user as a member picker), so users cannot mistype them; the adapter turns
// them back into the text the core parser reads.
func commandDefinition() *discordgo.ApplicationCommand {
	incident := func() *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{
			Type: discordgo.ApplicationCommandOptionInteger, Name: "incident",
			Description: "Incident number (default: this channel's or thread's incident)",
			MinValue:    ptr(1.0), MaxValue: maxIncident,
		}
	}
	text := func(name, desc string, required bool) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{
			Type: discordgo.ApplicationCommandOptionString, Name: name, Description: desc,
			Required: required, MaxLength: incidents.MaxTextLen,
		}
	}
	severity := func(name, desc string, required bool) *discordgo.ApplicationCommandOption {
		o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: name, Description: desc, Required: required}
		for _, s := range []string{"SEV1", "SEV2", "SEV3", "SEV4"} {
			o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: s, Value: s})
		}
		return o
	}
	sub := func(name, desc string, opts ...*discordgo.ApplicationCommandOption) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand, Name: name, Description: desc, Options: opts}
	}
	role := &discordgo.ApplicationCommandOption{
		Type: discordgo.ApplicationCommandOptionString, Name: "role", Description: "Role to assign", Required: true,
		Choices: []*discordgo.ApplicationCommandOptionChoice{
			{Name: "commander", Value: "commander"}, {Name: "comms", Value: "comms"}, {Name: "responder", Value: "responder"},
		},
	}
	user := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionUser, Name: "user", Description: "Who takes the role", Required: true}
	all := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionBoolean, Name: "all", Description: "Include resolved incidents"}
	return &discordgo.ApplicationCommand{
		Type:        discordgo.ChatApplicationCommand,
		Name:        commandName,
		Description: "Declare and run incidents with Firebreak",
		Contexts:    &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild},
		Options: []*discordgo.ApplicationCommandOption{
			sub("declare", "Open an incident by hand", text("title", "What is wrong, in a few words", true), severity("severity", "How bad (default: the playbook's)", false)),
			sub("ack", "Acknowledge: you are on it", incident()),
			sub("status", "Show the incident's state and current step", incident()),
			sub("step-done", "Mark the current step done", text("note", "What you did", false), incident()),
			sub("step-skip", "Skip the current step", text("reason", "Why it does not apply", true), incident()),
			sub("note", "Add a note to the timeline", text("text", "The note", true), incident()),
			sub("followup", "Record an action item for the postmortem", text("text", "The action item", true), incident()),
			sub("role", "Give someone an incident role", role, user, incident()),
			sub("severity", "Change the severity", severity("level", "New severity", true), incident()),
			sub("update", "Post a status update for stakeholders", text("text", "The update", true), incident()),
			sub("mitigate", "Impact has stopped (the cause may remain)", incident()),
			sub("resolve", "Close the incident", text("summary", "What happened and how it was fixed", false), incident()),
			sub("timeline", "Show the timeline", incident()),
			sub("postmortem", "Attach the postmortem as a Markdown file", incident()),
			sub("list", "List open incidents", all),
			sub("help", "How to use Firebreak"),
		},
	}
}

func ptr[T any](v T) *T { return &v }

// errUnknownCommand means the interaction names a command or subcommand this
// version does not know (a stale registration, or another application's).
var errUnknownCommand = errors.New("unknown command")

// commandText turns a slash command into the text the core command parser
// reads, as if typed after "/incident": "#4 step skip no access",
// "role commander <@123>". The data comes from Discord, so every option is
// type-checked instead of trusted.
func commandText(data discordgo.ApplicationCommandInteractionData) (string, error) {
	if data.Name != commandName {
		return "", fmt.Errorf("%w /%s", errUnknownCommand, data.Name)
	}
	if len(data.Options) != 1 || data.Options[0] == nil || data.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
		return "", fmt.Errorf("%w: /%s needs a subcommand", errUnknownCommand, data.Name)
	}
	sub := data.Options[0]
	o := options(sub.Options)
	n, err := o.integer("incident")
	if err != nil {
		return "", err
	}
	var words []string
	if n > 0 {
		words = append(words, "#"+strconv.FormatInt(n, 10))
	}
	arg := func(name string, required bool) (string, error) {
		v, err := o.str(name)
		if err == nil && required && v == "" {
			err = fmt.Errorf("%s is required", name)
		}
		return v, err
	}
	var rest []string
	switch sub.Name {
	case "ack", "status", "mitigate", "timeline", "postmortem", "help":
		rest = []string{sub.Name}
	case "declare":
		title, err := arg("title", true)
		if err != nil {
			return "", err
		}
		sev, err := arg("severity", false)
		if err != nil {
			return "", err
		}
		rest = []string{"declare", title}
		if sev != "" {
			// The flag form, so a title that happens to end in "sev…" is
			// not read as the severity.
			rest = append(rest, "--sev", sev)
		}
	case "step-done", "step-skip":
		name, verb := "note", "done"
		if sub.Name == "step-skip" {
			name, verb = "reason", "skip"
		}
		v, err := arg(name, verb == "skip")
		if err != nil {
			return "", err
		}
		rest = []string{"step", verb, v}
	case "note", "followup", "update":
		v, err := arg("text", true)
		if err != nil {
			return "", err
		}
		rest = []string{sub.Name, v}
	case "severity":
		v, err := arg("level", true)
		if err != nil {
			return "", err
		}
		rest = []string{"severity", v}
	case "resolve":
		v, err := arg("summary", false)
		if err != nil {
			return "", err
		}
		rest = []string{"resolve", v}
	case "role":
		role, err := arg("role", true)
		if err != nil {
			return "", err
		}
		user, err := o.user("user")
		if err != nil {
			return "", err
		}
		rest = []string{"role", role, "<@" + user + ">"}
	case "list":
		all, err := o.boolean("all")
		if err != nil {
			return "", err
		}
		rest = []string{"list"}
		if all {
			rest = append(rest, "all")
		}
	default:
		return "", fmt.Errorf("%w /%s %s", errUnknownCommand, data.Name, sub.Name)
	}
	for _, w := range rest {
		if w != "" {
			words = append(words, w)
		}
	}
	return strings.Join(words, " "), nil
}

// options looks up a subcommand's options by name.
type options []*discordgo.ApplicationCommandInteractionDataOption

func (o options) find(name string) *discordgo.ApplicationCommandInteractionDataOption {
	for _, opt := range o {
		if opt != nil && opt.Name == name {
			return opt
		}
	}
	return nil
}

// str returns a string option as one clean line ("" when absent): the core
// parser reads a command as one line, so control characters become spaces.
func (o options) str(name string) (string, error) {
	opt := o.find(name)
	if opt == nil {
		return "", nil
	}
	s, ok := opt.Value.(string)
	if !ok || opt.Type != discordgo.ApplicationCommandOptionString {
		return "", fmt.Errorf("option %s is not text", name)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return strings.Join(strings.Fields(s), " "), nil
}

// integer returns a positive whole-number option (0 when absent).
func (o options) integer(name string) (int64, error) {
	opt := o.find(name)
	if opt == nil {
		return 0, nil
	}
	f, ok := opt.Value.(float64)
	if !ok || opt.Type != discordgo.ApplicationCommandOptionInteger || f != math.Trunc(f) || f < 1 || f > maxIncident {
		return 0, fmt.Errorf("option %s must be a whole number from 1", name)
	}
	return int64(f), nil
}

func (o options) boolean(name string) (bool, error) {
	opt := o.find(name)
	if opt == nil {
		return false, nil
	}
	b, ok := opt.Value.(bool)
	if !ok || opt.Type != discordgo.ApplicationCommandOptionBoolean {
		return false, fmt.Errorf("option %s is not true or false", name)
	}
	return b, nil
}

// user returns a user option's id (required).
func (o options) user(name string) (string, error) {
	opt := o.find(name)
	if opt == nil {
		return "", fmt.Errorf("%s is required", name)
	}
	id, ok := opt.Value.(string)
	if !ok || opt.Type != discordgo.ApplicationCommandOptionUser || !snowflake.MatchString(id) {
		return "", fmt.Errorf("option %s is not a user", name)
	}
	return id, nil
}
