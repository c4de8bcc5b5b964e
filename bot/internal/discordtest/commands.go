package discordtest

import (
	"regexp"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
)

// commandName is Discord's rule for command and option names (lower case).
var commandName = regexp.MustCompile(`^[-_\p{Ll}\p{N}\p{Devanagari}\p{Thai}]{1,32}$`)

// validateCommands applies the rules Discord checks on a bulk overwrite, so
// a definition that Discord would refuse fails in tests too.
func validateCommands(cmds []*discordgo.ApplicationCommand) error {
	if len(cmds) > 100 {
		return errorf(400, codeInvalidFormBody, "Invalid Form Body: Must be 100 or fewer in length.")
	}
	names := map[string]bool{}
	for i, c := range cmds {
		if !commandName.MatchString(c.Name) {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: %d.name: Command name is invalid", i)
		}
		if names[c.Name] {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: %d.name: Application command names must be unique", i)
		}
		names[c.Name] = true
		if c.Type == 0 || c.Type == discordgo.ChatApplicationCommand {
			if n := utf8.RuneCountInString(c.Description); n < 1 || n > 100 {
				return errorf(400, codeInvalidFormBody, "Invalid Form Body: %d.description: Must be between 1 and 100 in length.", i)
			}
		}
		if err := validateOptions(c.Options, 0); err != nil {
			return err
		}
	}
	return nil
}

func validateOptions(opts []*discordgo.ApplicationCommandOption, depth int) error {
	if len(opts) > 25 {
		return errorf(400, codeInvalidFormBody, "Invalid Form Body: options: Must be 25 or fewer in length.")
	}
	names := map[string]bool{}
	optional := false
	for _, o := range opts {
		if !commandName.MatchString(o.Name) {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: options.%s.name: name is invalid", o.Name)
		}
		if names[o.Name] {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: options.%s: option names must be unique", o.Name)
		}
		names[o.Name] = true
		if n := utf8.RuneCountInString(o.Description); n < 1 || n > 100 {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: options.%s.description: Must be between 1 and 100 in length.", o.Name)
		}
		if len(o.Choices) > 25 {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: options.%s.choices: Must be 25 or fewer in length.", o.Name)
		}
		switch o.Type {
		case discordgo.ApplicationCommandOptionSubCommand, discordgo.ApplicationCommandOptionSubCommandGroup:
			if depth > 1 || (o.Type == discordgo.ApplicationCommandOptionSubCommandGroup && depth > 0) {
				return errorf(400, codeInvalidFormBody, "Invalid Form Body: options.%s: subcommands nest too deep", o.Name)
			}
			if o.Required {
				return errorf(400, codeInvalidFormBody, "Invalid Form Body: options.%s.required: subcommands cannot be required", o.Name)
			}
			if err := validateOptions(o.Options, depth+1); err != nil {
				return err
			}
			continue
		}
		if len(o.Options) > 0 {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: options.%s.options: only subcommands hold options", o.Name)
		}
		if o.Required && optional {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: options.%s: Required options must be placed before non-required options", o.Name)
		}
		optional = optional || !o.Required
	}
	return nil
}
