package bot

import "github.com/firebreak/firebreak/incidents"

// What Firebreak answers when it cannot understand a command or a button,
// in one list beside incidents' Text… refusals, so they read alike and
// docs/commands.md can quote them (TestRefusalTextsDocumented keeps the two
// in step). Each is a sentence for people, never a Go error chain.
const (
	TextCommandTooLong   = "The command is %d characters; the limit is %d."
	TextUnknownCommand   = "There is no command %q. Try `/incident help`."
	TextDidYouMean       = "There is no command %q — did you mean `/incident %s`? (`/incident help` lists them all.)"
	TextUsage            = "`/incident %s` %s. Usage: `/incident %s`"
	TextNamePerson       = "Name a person: @user or me."
	TextRoleToOnePerson  = "A role goes to one person, not %q."
	TextNotAMention      = "%q is not a mention of a person."
	TextNotAPerson       = "%q is not a person: name them as @user, or me."
	TextUnknownRole      = "%q is not a role: use commander, comms or responder."
	TextButtonNoIncident = "This button names no incident; use `/incident` commands instead."
	TextButtonNoCommand  = "This button names no command; use `/incident` commands instead."
	TextButtonNoStep     = "This button names no step; use `/incident step done` instead."
	TextUnknownButton    = "Firebreak does not know the button %q; use `/incident` commands instead."
	TextNoAutomation     = "This Firebreak runs no automated steps; do the step by hand."
	TextNotHandled       = "The command %q is not handled here."
	TextPinWhichIncident = "Not pinned: several incidents are open in this channel (%s). Pin inside the incident's thread, or add it with `/incident #%d note <text>`."
	TextNamePostmortem   = "No incident is open in this channel, so name the one whose postmortem moves on: `/incident #%d %s` (the last one resolved here)."
	TextAlreadyPicked    = "This question was already answered with #%d. To run the command again, name the incident: `/incident #%d %s`."
)

// refuseUsage is a command or button Firebreak could not understand.
func refuseUsage(format string, args ...any) error {
	return incidents.Refuse(ErrUsage, format, args...)
}
