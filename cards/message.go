package cards

// ActionStyle hints how a button is drawn.
type ActionStyle string

// Button styles.
const (
	StyleDefault ActionStyle = ""
	StylePrimary ActionStyle = "primary"
	StyleDanger  ActionStyle = "danger"
)

// Action is a button. Pressing it produces a KindAction Event with the
// same ID and Value. Value carries the incident number and step id
// ("42:validate"), so a press is the same Service call as the slash command.
type Action struct {
	ID    string
	Label string
	Style ActionStyle
	Value string
}

// Field is a labelled value shown beside the text (Severity: SEV2).
type Field struct {
	Label string
	Value string
}

// File is an attachment, such as the exported postmortem.
type File struct {
	Name    string // "incident-42-postmortem.md"
	Title   string
	Content []byte
}

// Message is what Firebreak says.
type Message struct {
	Text    string
	Fields  []Field
	Actions []Action
	// Thread posts the message as a reply in that thread.
	Thread string
	// Ephemeral replies are shown only to the user who caused the event
	// (errors, help). Only meaningful in Replier.Reply.
	Ephemeral bool
}
