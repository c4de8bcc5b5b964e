package incidents

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ActionTypes are the kinds of action item `/incident followup type:<kind>`
// accepts, after the Google SRE workbook's postmortem template.
var ActionTypes = []string{"prevent", "mitigate", "detect", "repair", "process", "investigate"}

// FollowUp is an action item as a user files it.
type FollowUp struct {
	Text string
	// Owner is who will do it; zero when nobody was named.
	Owner Actor
	// Type is one of ActionTypes, or empty.
	Type string
}

// ActionItem is a follow-up as the postmortem and the tracker filer see it:
// the follow-up entry joined with the tracker issue filed for it.
type ActionItem struct {
	// Seq is the follow-up's timeline entry, which names it for good: the
	// tracker marker is TrackerMarker(Incident, Seq, Opened).
	Seq      uint64
	Incident uint64
	// Opened is when the incident opened; it makes the marker unique
	// across Firebreak installations that share a tracker.
	Opened time.Time
	At     time.Time
	By     Actor
	Text   string
	Owner  string
	Type   string
	// URL, Key and Status are the tracker issue's, empty until filed.
	URL, Key, Status string
	// TrackerSeq is the timeline entry that recorded URL and Status last
	// (0 before filing); RecordTrackerIssue takes it to tell a new change
	// from a repeated one.
	TrackerSeq uint64
}

// Filed reports whether a tracker issue is recorded for the item.
func (a ActionItem) Filed() bool { return a.URL != "" }

// Marker is the text Firebreak puts in the body of the tracker issue it
// files for the item, and searches for before filing, so that a retried
// command or a crash between filing and recording never files twice.
func (a ActionItem) Marker() string { return TrackerMarker(a.Incident, a.Seq, a.Opened) }

// TrackerMarker is the marker of follow-up seq of incident n, opened at
// opened: "firebreak-<n>-followup-<seq>-<opened in base 36 nanoseconds>".
// The last part keeps two databases (a reinstall, staging and production)
// whose incident numbers restart from finding each other's issues.
func TrackerMarker(n, seq uint64, opened time.Time) string {
	m := fmt.Sprintf("firebreak-%d-followup-%d", n, seq)
	if !opened.IsZero() {
		m += "-" + strconv.FormatInt(opened.UnixNano(), 36)
	}
	return m
}

// MaxActionItems bounds the action items a postmortem lists and the filer
// files per incident; more are still on the timeline.
const MaxActionItems = 500

// AddActionItem records a follow-up with its owner and type, also after
// the incident resolved. The entry's Seq (in the Outcome) names the item.
func (s *Service) AddActionItem(ctx context.Context, o Origin, n uint64, f FollowUp) (Outcome, error) {
	text, err := cleanText(n, "the follow-up", f.Text, true, MaxTextLen)
	if err != nil {
		return Outcome{}, err
	}
	f.Type = strings.ToLower(strings.TrimSpace(f.Type))
	if f.Type != "" && !slices.Contains(ActionTypes, f.Type) {
		return Outcome{}, fmt.Errorf("incident #%d: unknown action item type %q (want one of %s)", n, f.Type, strings.Join(ActionTypes, ", "))
	}
	data := map[string]string{}
	if !f.Owner.IsZero() {
		data["owner"] = f.Owner.String()
		if f.Owner.ID != "" {
			data["owner_id"] = f.Owner.ID
		}
	}
	if f.Type != "" {
		data["type"] = f.Type
	}
	if len(data) == 0 {
		data = nil
	}
	return s.apply(ctx, o, n, "follow-up", func(c *change) error {
		return c.add(Entry{Kind: EntryFollowUp, Text: text, Data: data})
	})
}

// TrackerIssue is an issue filed in the team's tracker for an action item.
type TrackerIssue struct {
	URL    string
	Key    string // "owner/repo#12", "OPS-42"
	Status string // "open", "closed", "To Do", "Done"…
}

// RecordTrackerIssue puts the tracker issue of follow-up seq on incident
// n's timeline: the first time as "filed" (after = 0), later when its
// status changed (after = the item's TrackerSeq when the change was read).
// The same (item, after) is recorded once, so two filers racing, or a
// filer retrying after a crash, leave one entry.
func (s *Service) RecordTrackerIssue(ctx context.Context, n, seq, after uint64, ti TrackerIssue) (Outcome, error) {
	return s.RecordTrackerIssueSaying(ctx, n, seq, after, ti, nil)
}

// RecordTrackerIssueSaying is RecordTrackerIssue that also records the
// effects say builds from the outcome (the "Filed as …" post of the
// outbox's tracker sender) in the same transaction, so the link and its
// announcement are kept together or not at all. A repeat of the same
// (item, after) records neither again.
func (s *Service) RecordTrackerIssueSaying(ctx context.Context, n, seq, after uint64, ti TrackerIssue, say EffectsFunc) (Outcome, error) {
	if strings.TrimSpace(ti.URL) == "" {
		return Outcome{}, fmt.Errorf("incident #%d: the tracker issue of follow-up %d has no URL: %w", n, seq, ErrEmpty)
	}
	o := Origin{Actor: Bot, EventID: fmt.Sprintf("tracker/%d/%d/%d", n, seq, after), Effects: say}
	return s.apply(ctx, o, n, "tracker issue", func(c *change) error {
		text := fmt.Sprintf("follow-up filed as %s", ti.Key)
		if ti.Key == "" {
			text = "follow-up filed as " + ti.URL
		}
		if after != 0 {
			text = fmt.Sprintf("%s is now %s", ti.Key, ti.Status)
		}
		data := map[string]string{"followup": strconv.FormatUint(seq, 10), "url": Truncate(ti.URL, MaxTextLen), "key": Truncate(ti.Key, 200), "status": Truncate(ti.Status, 200)}
		return c.add(Entry{Kind: EntryTrackerIssue, Text: text, Data: data})
	})
}

// ActionItems returns incident n's action items (at most MaxActionItems)
// with the latest tracker issue and status recorded for each, in the order
// they were added.
func (s *Service) ActionItems(ctx context.Context, n uint64) ([]ActionItem, error) {
	var items []ActionItem
	err := s.store.View(ctx, func(tx ReadTx) error {
		inc, err := loadIncident(tx, n)
		if err != nil {
			return err
		}
		col := actionCollector{opened: inc.OpenedAt}
		err = tx.Entries(n, 0, func(e Entry) error {
			col.add(e)
			return ctx.Err()
		})
		items = col.items
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("action items of incident #%d: %w", n, err)
	}
	return items, nil
}

// actionCollector joins follow-up entries with their tracker entries in one
// pass over a timeline.
type actionCollector struct {
	opened time.Time
	items  []ActionItem
}

func (c *actionCollector) add(e Entry) {
	switch e.Kind {
	case EntryFollowUp:
		if len(c.items) >= MaxActionItems {
			return
		}
		c.items = append(c.items, ActionItem{
			Seq: e.Seq, Incident: e.Incident, Opened: c.opened, At: e.At, By: e.Actor, Text: e.Text,
			Owner: e.Data["owner"], Type: e.Data["type"],
		})
	case EntryTrackerIssue:
		seq, err := strconv.ParseUint(e.Data["followup"], 10, 64)
		if err != nil {
			return
		}
		for i := range c.items {
			if c.items[i].Seq == seq {
				it := &c.items[i]
				it.URL, it.Key, it.Status, it.TrackerSeq = e.Data["url"], e.Data["key"], e.Data["status"], e.Seq
				return
			}
		}
	}
}

// effectFollowUp is the Data key of a tracker effect that names the
// follow-up (its timeline entry) to file.
const effectFollowUp = "followup"

// FileFollowUp is the effect that files follow-up seq of incident n as an
// issue in the tracker named tracker ("github", "jira"). The follow-up
// intent records it with the follow-up's timeline entry; the outbox's
// tracker sender delivers it and says the link in home (where the
// follow-up was added). text is the follow-up, for logs and the record.
func FileFollowUp(n, seq uint64, tracker string, home Home, text string) Effect {
	return Effect{Kind: EffectTracker, Incident: n, Notifier: tracker, Home: home,
		Message: EffectMessage{Text: text},
		Data:    map[string]string{effectFollowUp: strconv.FormatUint(seq, 10)}}
}

// FollowUp is the follow-up (timeline entry) a FileFollowUp effect files;
// false for any other effect.
func (e *Effect) FollowUp() (uint64, bool) {
	if e.Kind != EffectTracker {
		return 0, false
	}
	seq, err := strconv.ParseUint(e.Data[effectFollowUp], 10, 64)
	return seq, err == nil && seq > 0
}
