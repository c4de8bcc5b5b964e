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
			return "", fmt.Errorf("%s%s is empty: %w", incidentPrefix(n), what, ErrEmpty)
		}
		return "", nil
	}
	if l := utf8.RuneCountInString(s); l > limit {
		return "", fmt.Errorf("%s%s is %d characters; the limit is %d: %w", incidentPrefix(n), what, l, limit, ErrTooLong)
	}
	return s, nil
}

func incidentPrefix(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("incident #%d: ", n)
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

// stamp renders a time for error messages and the postmortem.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

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
