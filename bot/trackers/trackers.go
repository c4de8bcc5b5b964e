// Package trackers files an incident's follow-ups (`/incident followup`) as
// issues in the team's tracker and keeps their links and status on the
// incident's timeline, where the postmortem's action-items table reads them.
//
// Data comes from incidents.Service (the action items recorded on the
// timeline) and goes to a tracker through one small Filer interface, with
// one implementation per tracker in its own package (github, jira). Filing
// is idempotent: every issue carries the item's marker
// (firebreak-<incident>-followup-<seq>-<opened>), and Worker searches the tracker for
// it before creating, so a retried command, two Firebreak processes or a
// crash between the tracker's 201 and the recorded link never file twice.
//
// `/incident followup` does not call the tracker: it records a tracker
// effect (incidents.FileFollowUp) with the follow-up's timeline entry, and
// the outbox worker delivers it through Worker.Send, which files the item
// and records its link, with the "Filed as …" post, in one transaction.
// A crash between the command and the filing loses nothing: the effect
// stays pending and the next worker files it. The postmortem command still
// calls Refresh directly, since it needs the statuses before it writes.
package trackers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Issue is what Firebreak asks a tracker to create.
type Issue struct {
	Title string
	// Body is plain text, Markdown-light; it always ends with the marker.
	Body string
	// Labels are the configured labels plus "followup-<type>".
	Labels []string
	// Marker identifies the action item; the filer must make it findable
	// (GitHub: in the body; Jira: in the description and as a label).
	Marker string
}

// Filed is an issue as the tracker knows it.
type Filed struct {
	URL    string
	Key    string // "acme/ops#12", "OPS-42"
	Status string // "open", "closed", "To Do", "Done"…
	// Ref is what the filer needs to read the issue again (API URL, id).
	Ref string
}

// Filer is one tracker's API, as Worker needs it. Errors say whether
// retrying could help by wrapping ErrPermanent when it cannot.
type Filer interface {
	// Find returns the issue whose body carries marker, if any.
	Find(ctx context.Context, marker string) (Filed, bool, error)
	// Create files an issue and returns it.
	Create(ctx context.Context, issue Issue) (Filed, error)
	// Status reads the current status of an issue filed before.
	Status(ctx context.Context, url string) (string, error)
}

// ErrPermanent marks tracker errors retrying cannot fix (bad credentials,
// no access, no such repository or project, a refused field).
var ErrPermanent = errors.New("the tracker refused")

// Service is what Worker needs from incidents.Service.
type Service interface {
	Get(ctx context.Context, n uint64) (*incidents.Incident, error)
	ActionItems(ctx context.Context, n uint64) ([]incidents.ActionItem, error)
	RecordTrackerIssue(ctx context.Context, n, seq, after uint64, ti incidents.TrackerIssue) (incidents.Outcome, error)
	RecordTrackerIssueSaying(ctx context.Context, n, seq, after uint64, ti incidents.TrackerIssue, say incidents.EffectsFunc) (incidents.Outcome, error)
	Say(ctx context.Context, effects ...incidents.Effect) error
}

var _ Service = (*incidents.Service)(nil)

// Options configure a Worker.
type Options struct {
	// Name is the tracker's name in the effects that file follow-ups
	// ("github", "jira"; default "tracker"): the outbox routes them to the
	// sender registered as "tracker/<Name>".
	Name string
	// Labels go on every issue.
	Labels []string
	// IncidentURL links an issue back to its incident; "{number}" is
	// replaced by the incident number. Empty: the issue names the incident.
	IncidentURL string
	Logger      *slog.Logger
}

// Worker files follow-ups through a Filer and records the issues. It is
// safe for concurrent use; filing is serialised per Worker so two commands
// at once do not both create the same item's issue.
type Worker struct {
	svc   Service
	filer Filer
	opts  Options
	log   *slog.Logger
	mu    sync.Mutex
}

// NewWorker returns a Worker filing through filer.
func NewWorker(svc Service, filer Filer, opts Options) *Worker {
	w := &Worker{svc: svc, filer: filer, opts: opts, log: opts.Logger}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w
}

// File files every action item of incident n that has no issue recorded:
// the tracker is searched for the item's marker first, and only when
// nothing carries it is an issue created. Each issue is then recorded on
// the timeline. It goes on after an item fails and returns every error.
func (w *Worker) File(ctx context.Context, n uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	inc, err := w.svc.Get(ctx, n)
	if err != nil {
		return err
	}
	items, err := w.svc.ActionItems(ctx, n)
	if err != nil {
		return err
	}
	var errs []error
	for _, it := range items {
		if it.Filed() {
			continue
		}
		if err := w.file(ctx, inc, it, nil); err != nil {
			errs = append(errs, fmt.Errorf("follow-up %d of incident #%d: %w", it.Seq, n, err))
		}
	}
	return errors.Join(errs...)
}

// file files one item and records its issue, with the effects say builds
// (nil: none), in one transaction.
func (w *Worker) file(ctx context.Context, inc *incidents.Incident, it incidents.ActionItem, say func(f Filed) incidents.EffectsFunc) error {
	marker := it.Marker()
	f, found, err := w.filer.Find(ctx, marker)
	if err != nil {
		return fmt.Errorf("search the tracker for %s: %w", marker, err)
	}
	if found {
		w.log.InfoContext(ctx, "follow-up already filed; recording it", "incident", inc.Number, "followup", it.Seq, "issue", f.Key)
	} else {
		if f, err = w.filer.Create(ctx, w.issue(inc, it)); err != nil {
			return fmt.Errorf("file it: %w", err)
		}
		w.log.InfoContext(ctx, "follow-up filed", "incident", inc.Number, "followup", it.Seq, "issue", f.Key)
	}
	var effects incidents.EffectsFunc
	if say != nil {
		effects = say(f)
	}
	if _, err := w.svc.RecordTrackerIssueSaying(ctx, inc.Number, it.Seq, 0, incidents.TrackerIssue{URL: f.URL, Key: f.Key, Status: f.Status}, effects); err != nil {
		return fmt.Errorf("record %s on the timeline: %w", f.Key, err)
	}
	return nil
}

// Refresh brings the postmortem's view of incident n's follow-ups up to
// date before it is written. Follow-ups still unfiled (their filing gave
// up earlier, or they predate the tracker) are filed through the outbox,
// the one path to the tracker: Refresh records a tracker effect for each
// and waits, until ctx ends, for the outbox to record their links — the
// effect's sender is Send, idempotent by the item's marker, so a follow-up
// already queued is not filed twice. Then it reads the status of every
// filed issue (reading changes nothing outside) and records changes on the
// timeline, so the action-items table shows them as they are.
func (w *Worker) Refresh(ctx context.Context, n uint64) error {
	ferr := w.refile(ctx, n)
	if ctx.Err() != nil {
		return ferr // no time left to read statuses
	}
	items, err := w.svc.ActionItems(ctx, n)
	if err != nil {
		return errors.Join(ferr, err)
	}
	errs := []error{ferr}
	for _, it := range items {
		if !it.Filed() {
			continue
		}
		st, err := w.filer.Status(ctx, it.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("status of %s: %w", it.Key, err))
			continue
		}
		if st == it.Status {
			continue
		}
		if _, err := w.svc.RecordTrackerIssue(ctx, n, it.Seq, it.TrackerSeq, incidents.TrackerIssue{URL: it.URL, Key: it.Key, Status: st}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// refilePoll is how often Refresh looks whether the outbox has filed what
// it asked for.
const refilePoll = 50 * time.Millisecond

// refile asks the outbox to file incident n's unfiled follow-ups (in the
// incident's home, where their links are said) and waits for their links.
func (w *Worker) refile(ctx context.Context, n uint64) error {
	inc, err := w.svc.Get(ctx, n)
	if err != nil {
		return err
	}
	items, err := w.svc.ActionItems(ctx, n)
	if err != nil {
		return err
	}
	var effs []incidents.Effect
	for _, it := range items {
		if !it.Filed() {
			effs = append(effs, incidents.FileFollowUp(n, it.Seq, w.Name(), inc.Home, it.Text))
		}
	}
	if len(effs) == 0 {
		return nil
	}
	if err := w.svc.Say(ctx, effs...); err != nil {
		return fmt.Errorf("ask the outbox to file the follow-ups of incident #%d: %w", n, err)
	}
	// Whether the deadline is seen waiting or inside a read, the answer
	// is the same sentence.
	notYet := func() error {
		return fmt.Errorf("%d follow-ups of incident #%d are not filed yet (the outbox keeps trying): %w", len(effs), n, ctx.Err())
	}
	t := time.NewTicker(refilePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return notYet()
		case <-t.C:
		}
		items, err := w.svc.ActionItems(ctx, n)
		if err != nil {
			if ctx.Err() != nil {
				return notYet()
			}
			return err
		}
		if !slices.ContainsFunc(items, func(it incidents.ActionItem) bool { return !it.Filed() }) {
			return nil
		}
	}
}

// issue writes the tracker issue of an action item: its text as the title,
// who asked and owns it, the link back to the incident, and the marker.
func (w *Worker) issue(inc *incidents.Incident, it incidents.ActionItem) Issue {
	title := incidents.Truncate(strings.Join(strings.Fields(it.Text), " "), 200)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", it.Text)
	fmt.Fprintf(&b, "Follow-up of incident #%d: %s (%s).\n", inc.Number, inc.Title, inc.Severity)
	if u := w.opts.IncidentURL; u != "" {
		fmt.Fprintf(&b, "Incident: %s\n", strings.ReplaceAll(u, "{number}", strconv.FormatUint(inc.Number, 10)))
	}
	fmt.Fprintf(&b, "Added by %s", it.By)
	if it.Owner != "" {
		fmt.Fprintf(&b, "; owner: %s", it.Owner)
	}
	if it.Type != "" {
		fmt.Fprintf(&b, "; type: %s", it.Type)
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "Filed by Firebreak. Marker (keep it; Firebreak uses it to never file this twice): %s\n", it.Marker())
	labels := append([]string(nil), w.opts.Labels...)
	if it.Type != "" {
		labels = append(labels, "followup-"+it.Type)
	}
	return Issue{Title: title, Body: b.String(), Labels: labels, Marker: it.Marker()}
}
