package incidents

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxTitleLen bounds incident titles, which are shown on every card.
const MaxTitleLen = 200

// cleanText trims s and checks it against the limits every free text on the
// timeline obeys. what names the text in errors ("the note", "the reason").
func cleanText(n uint64, what, s string, required bool, limit int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			return "", Refuse(ErrEmpty, TextIsEmpty, capitalize(what))
		}
		return "", nil
	}
	if l := utf8.RuneCountInString(s); l > limit {
		return "", Refuse(ErrTooLong, TextTooLong, capitalize(what), l, limit)
	}
	return s, nil
}

// Truncate shortens s to at most limit characters (runes), the last being
// "…" when it cut, for text that comes from machines (alerts, action
// output) and must not be refused for its length. Adapters use it too for
// their platforms' length limits.
func Truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	cut := 0
	for i := range s {
		if cut == limit-1 {
			return s[:i] + "…"
		}
		cut++
	}
	return s
}

// firstLine returns s up to its first line break, for titles.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// humanDuration is HumanDuration, for the callers inside this package.
func humanDuration(d time.Duration) string { return HumanDuration(d) }

// HumanDuration renders a duration the way responders read it, the same in
// chat and in postmortems: "45s", "4m12s", "2h5m" (seconds dropped past an
// hour), "3d4h". Anything under a second is "<1s", never a string of
// milliseconds: a responder reads minutes, not clock noise.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		return "<1s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	d = d.Round(time.Hour)
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
}

// Refusal is an intent Firebreak declined for a reason the person can see
// and act on. Its Error is the sentence chat shows as it is — written for
// people, never with a Go sentinel appended — and errors.Is still finds
// Kind (ErrInvalidTransition, ErrEmpty, …) behind it.
type Refusal struct {
	// Text is one of the Text… sentences below, filled in.
	Text string
	// Kind is the sentinel callers test with errors.Is.
	Kind error
}

// Error returns the sentence for people.
func (r *Refusal) Error() string { return r.Text }

// Unwrap returns Kind, so errors.Is(err, ErrInvalidTransition) holds.
func (r *Refusal) Unwrap() error { return r.Kind }

// Refuse builds a Refusal of kind from one of the Text… formats.
func Refuse(kind error, format string, args ...any) error {
	return &Refusal{Text: fmt.Sprintf(format, args...), Kind: kind}
}

// UserText is what chat shows for err when it is a refusal: the Refusal's
// sentence even when callers wrapped it in context meant for logs. ok is
// false for errors people did not cause.
func UserText(err error) (text string, ok bool) {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Text, true
	}
	var u userError
	if errors.As(err, &u) {
		return u.msg, true
	}
	return "", false
}

// What Firebreak answers when it refuses an intent, in one list so they
// read alike and docs/commands.md can quote them (TestRefusalTextsDocumented
// keeps the two in step). Each is a sentence for people: it says what is
// wrong and, where it helps, what to do instead.
const (
	TextNeedsTitle          = "An incident needs a title: `/incident declare <title> [SEV1-4]`."
	TextTitleTooLong        = "The title is %d characters; the limit is %d."
	TextNotASeverity        = "%q is not a severity: use SEV1, SEV2, SEV3 or SEV4."
	TextIsEmpty             = "%s is empty."
	TextTooLong             = "%s is %d characters; the limit is %d."
	TextAlreadyAcked        = "Incident #%d was already acknowledged by %s at %s."
	TextYouAlreadyAcked     = "You already acknowledged #%d at %s."
	TextAlreadyMitigated    = "Incident #%d was already mitigated by %s at %s."
	TextAlreadyResolved     = "Incident #%d is already resolved (by %s at %s)."
	TextNoSteps             = "Incident #%d has no playbook steps."
	TextAllStepsFinished    = "All steps of #%d are finished: mitigate or resolve it when the impact is over."
	TextNoSuchStep          = "Incident #%d has no step %q; its steps are %s."
	TextStepAlready         = "The step %q of #%d was already %s by %s at %s."
	TextStepRunning         = "The step %q of #%d is already running since %s."
	TextNoStatusUpdate      = "The step %q of #%d suggests no status update; write one with `/incident update <text>`."
	TextNotCurrentStep      = "The step %q is not the current step of #%d any more."
	TextNoAction            = "The step %q of #%d has no action to run."
	TextActionsStopped      = "Incident #%d is %s; its actions no longer run."
	TextWhoGetsRole         = "Say who gets the %s role of #%d: @user or me."
	TextAlreadyResponder    = "%s is already a responder on #%d."
	TextYouAlreadyResponder = "You are already a responder on #%d."
	TextAlreadyRole         = "%s is already %s of #%d."
	TextYouAlreadyRole      = "You are already %s of #%d."
	TextAlreadySeverity     = "Incident #%d is already %s."
	TextNoSuchIncident      = "There is no incident #%d: `/incident list all` shows them all."
	TextForbidden           = "%s may not %s #%d: `permissions.%s` in playbooks.yaml says who may."
	TextPinEmpty            = "The pinned message has no text and no link."
	TextNoOpenIncident      = "No incident is open in this channel: name one with `/incident #<number> …` (`/incident list all` shows them all) or declare one."
)

// at is how refusals say when something happened: "14:32 UTC".
func at(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format("15:04 UTC")
}

// capitalize starts a sentence made of a phrase ("the note").
func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}
