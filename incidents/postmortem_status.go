package incidents

import (
	"context"
	"fmt"
	"strings"
)

// PostmortemStatus is where an incident's written postmortem stands. It
// only moves forward: draft → in review → final.
type PostmortemStatus string

// Postmortem states. They are stored, so never rename one.
const (
	PostmortemNone     PostmortemStatus = ""
	PostmortemDraft    PostmortemStatus = "draft"
	PostmortemInReview PostmortemStatus = "in review"
	PostmortemFinal    PostmortemStatus = "final"
)

// Timeline entry kinds of the postmortem work. They are stored, so never
// rename one.
const (
	// EntryPostmortem records a postmortem status change (Data "status").
	EntryPostmortem EntryKind = "postmortem"
	// EntryTrackerIssue records the tracker issue filed for a follow-up
	// (Data "followup" = the follow-up entry's Seq, "url", "key",
	// "status"), and later status refreshes of that issue.
	EntryTrackerIssue EntryKind = "tracker_issue"
)

// rank orders the states so that status changes only move forward.
func (p PostmortemStatus) rank() int {
	switch p {
	case PostmortemDraft:
		return 1
	case PostmortemInReview:
		return 2
	case PostmortemFinal:
		return 3
	}
	return 0
}

// ParsePostmortemStatus reads what users type after `/incident postmortem`:
// "draft", "review" (or "in review", "in-review"), "final".
func ParsePostmortemStatus(s string) (PostmortemStatus, error) {
	switch strings.ToLower(strings.Join(strings.Fields(s), " ")) {
	case "draft":
		return PostmortemDraft, nil
	case "review", "in review", "in-review", "inreview":
		return PostmortemInReview, nil
	case "final", "done", "finalize", "finalise":
		return PostmortemFinal, nil
	}
	return PostmortemNone, fmt.Errorf("unknown postmortem status %q (want draft, review or final)", s)
}

// DraftPostmortem records that the postmortem of incident n exists as a
// draft. It changes nothing (and appends no entry) once a postmortem has a
// status, so writing the document again never moves it back.
func (s *Service) DraftPostmortem(ctx context.Context, o Origin, n uint64) (Outcome, error) {
	return s.apply(ctx, o, n, "postmortem draft", func(c *change) error {
		if c.inc.PostmortemStatus != PostmortemNone {
			return nil
		}
		c.inc.PostmortemStatus = PostmortemDraft
		return c.add(Entry{Kind: EntryPostmortem, Text: "postmortem draft written", Data: map[string]string{"status": string(PostmortemDraft)}})
	})
}

// SetPostmortemStatus moves the postmortem of incident n forward to st.
// Review and final need a resolved incident (the story must be over to be
// reviewed) and a draft; going back, or to the same status, is
// ErrInvalidTransition.
func (s *Service) SetPostmortemStatus(ctx context.Context, o Origin, n uint64, st PostmortemStatus) (Outcome, error) {
	if st.rank() == 0 {
		return Outcome{}, fmt.Errorf("incident #%d: unknown postmortem status %q (want draft, review or final)", n, st)
	}
	if st == PostmortemDraft {
		return s.DraftPostmortem(ctx, o, n)
	}
	return s.apply(ctx, o, n, "postmortem "+string(st), func(c *change) error {
		inc := c.inc
		switch {
		case inc.Status != StatusResolved:
			return fmt.Errorf("incident #%d is %s: resolve it before its postmortem goes %s: %w", n, inc.Status, st, ErrInvalidTransition)
		case inc.PostmortemStatus == PostmortemNone:
			return fmt.Errorf("incident #%d has no postmortem yet: write the draft with `/incident #%d postmortem` first: %w", n, n, ErrInvalidTransition)
		case inc.PostmortemStatus.rank() >= st.rank():
			return fmt.Errorf("the postmortem of incident #%d is already %s: %w", n, inc.PostmortemStatus, ErrInvalidTransition)
		}
		inc.PostmortemStatus = st
		return c.add(Entry{Kind: EntryPostmortem, Text: "postmortem " + string(st), Data: map[string]string{"status": string(st)}})
	})
}
