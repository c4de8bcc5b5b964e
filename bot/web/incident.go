package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/yuin/goldmark"

	"github.com/firebreak/firebreak/incidents"
)

// entriesPerPage is how many timeline rows the incident page shows at once.
const entriesPerPage = 100

// maxInlinePostmortem bounds the postmortem rendered into the incident
// page; a longer one (a huge timeline) is offered as a download only.
const maxInlinePostmortem = 1 << 20

// maxFollowUps bounds the action items kept per incident.
const maxFollowUps = 500

// marks is what the phase chart and the action items need from a whole
// timeline: the times of notes, updates and steps, and the follow-ups.
// Timelines only grow, so a cached marks continues from seq instead of
// reading 100,000 entries again.
type marks struct {
	seq       uint64
	notes     []time.Time
	updates   []time.Time
	steps     []time.Time
	followUps []incidents.Entry
	kinds     map[incidents.EntryKind]int
}

func (m *marks) add(e incidents.Entry) {
	m.seq = e.Seq
	m.kinds[e.Kind]++
	switch e.Kind {
	case incidents.EntryNote, incidents.EntryPinned:
		m.notes = append(m.notes, e.At)
	case incidents.EntryStatusUpdate:
		m.updates = append(m.updates, e.At)
	case incidents.EntryStepDone, incidents.EntryStepSkipped:
		m.steps = append(m.steps, e.At)
	case incidents.EntryFollowUp:
		if len(m.followUps) < maxFollowUps {
			m.followUps = append(m.followUps, e.Clone())
		}
	}
}

func (m *marks) clone() *marks {
	c := *m
	c.notes = append([]time.Time(nil), m.notes...)
	c.updates = append([]time.Time(nil), m.updates...)
	c.steps = append([]time.Time(nil), m.steps...)
	c.followUps = append([]incidents.Entry(nil), m.followUps...)
	c.kinds = make(map[incidents.EntryKind]int, len(m.kinds))
	for k, v := range m.kinds {
		c.kinds[k] = v
	}
	return &c
}

// markCache keeps the marks of the most recently viewed incidents.
type markCache struct{ r *recent[*marks] }

func newMarkCache(size int) *markCache { return &markCache{r: newRecent[*marks](size)} }

func (c *markCache) get(n uint64) *marks {
	m, _ := c.r.get(n, func(m *marks) bool { return m != nil })
	return m
}

func (c *markCache) put(n uint64, m *marks) { c.r.put(n, m) }

// alertRows bounds the distinct alerts the incident page lists: a storm of
// 50,000 reads as the aggregate, these rows and "and N more".
const alertRows = 50

// alertRow is one distinct alert as the page shows it; Runbook and
// SourceURL are empty when the link is not http(s), and the text is then
// shown inert.
type alertRow struct {
	Label, Fingerprint, Status string
	Count                      int
	FirstSeen, LastSeen        time.Time
	Runbook, RunbookText       string
	SourceURL, SourceText      string
}

func newAlertRow(a incidents.AlertState) alertRow {
	r := alertRow{Label: a.Label(), Fingerprint: a.Fingerprint, Status: "resolved", Count: a.Count,
		FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, RunbookText: a.Runbook(), SourceText: a.URL}
	if a.Firing {
		r.Status = "firing"
	}
	r.Runbook, r.SourceURL = safeLink(r.RunbookText), safeLink(r.SourceText)
	return r
}

type incidentData struct {
	Inc         *incidents.Incident
	Now         time.Time
	Chart       chart
	Entries     []incidents.Entry
	After       uint64
	PrevURL     string
	NextURL     string
	LastURL     string
	FirstURL    string
	Kinds       map[incidents.EntryKind]int
	FollowUps   []incidents.Entry
	Alerts      []alertRow
	AlertSum    incidents.AlertSummary
	Runbook     string
	RunbookText string
	SourceURL   string
	SourceText  string
	Annotations map[string]string
	Postmortem  template.HTML
	PMNote      string
	HasPM       bool
}

func (s *Server) incident(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
	if err != nil || n == 0 {
		s.fail(w, r, http.StatusNotFound, "No such incident.")
		return
	}
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	d := incidentData{Now: s.now(), After: after, HasPM: s.cfg.Postmortems != nil}
	var m *marks
	var cv *cachedView
	err = s.cfg.Store.View(r.Context(), func(tx incidents.ReadTx) error {
		inc, err := tx.Incident(n)
		if err != nil {
			return err
		}
		d.Inc = inc
		d.Entries = d.Entries[:0]
		err = tx.Entries(n, after, func(e incidents.Entry) error {
			if len(d.Entries) >= entriesPerPage {
				return errStop
			}
			d.Entries = append(d.Entries, e)
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
		// The aggregate reads every distinct alert record once and keeps
		// only the top rows, so its memory does not grow with a storm; it
		// is cached until the incident changes.
		if cv = s.views.get(inc); cv == nil {
			sum, err := incidents.SummarizeAlerts(tx, inc, alertRows)
			if err != nil {
				return err
			}
			cv = &cachedView{sum: sum}
		}
		d.AlertSum = cv.sum
		m, err = s.loadMarks(r.Context(), tx, n)
		return err
	})
	if errors.Is(err, incidents.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "No incident #"+strconv.FormatUint(n, 10)+".")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	inc := d.Inc
	d.Chart = phaseChart(inc, m, d.Now)
	d.Kinds, d.FollowUps = m.kinds, m.followUps
	base := Prefix + "/incidents/" + strconv.FormatUint(n, 10)
	if after > 0 {
		d.FirstURL = base + "#timeline"
		d.PrevURL = base + "?after=" + strconv.FormatUint(after-min(after, entriesPerPage), 10) + "#timeline"
	}
	if len(d.Entries) > 0 && d.Entries[len(d.Entries)-1].Seq < inc.Entries {
		last := d.Entries[len(d.Entries)-1].Seq
		d.NextURL = base + "?after=" + strconv.FormatUint(last, 10) + "#timeline"
		d.LastURL = base + "?after=" + strconv.FormatUint(inc.Entries-min(inc.Entries, entriesPerPage), 10) + "#timeline"
	}
	for _, a := range d.AlertSum.Top {
		d.Alerts = append(d.Alerts, newAlertRow(a))
	}
	t := inc.Trigger
	for _, k := range []string{"runbook_url", "runbook"} {
		if v := t.Annotations[k]; v != "" {
			d.Runbook, d.RunbookText = safeLink(v), v
			break
		}
	}
	if t.URL != "" {
		d.SourceURL, d.SourceText = safeLink(t.URL), t.URL
	}
	d.Annotations = t.Annotations
	if s.cfg.Postmortems != nil {
		if cv.pmAt.IsZero() || d.Now.Sub(cv.pmAt) >= pmTTL || d.Now.Before(cv.pmAt) {
			cv.pm, cv.pmNote = s.inlinePostmortem(r.Context(), inc)
			cv.pmAt = d.Now
		}
		d.Postmortem, d.PMNote = cv.pm, cv.pmNote
	}
	s.views.put(inc, *cv)
	s.render(w, r, http.StatusOK, "incident", "#"+strconv.FormatUint(n, 10)+" "+inc.Title, d)
}

// loadMarks returns incident n's marks, reading only the entries added
// since they were cached.
func (s *Server) loadMarks(ctx context.Context, tx incidents.ReadTx, n uint64) (*marks, error) {
	cached := s.marks.get(n)
	var after uint64
	if cached != nil {
		after = cached.seq
	}
	// Cached marks are shared by concurrent requests and never changed:
	// new entries go into a copy, and an unchanged timeline copies nothing.
	var m *marks
	i := 0
	err := tx.Entries(n, after, func(e incidents.Entry) error {
		if i++; i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if m == nil {
			if cached != nil {
				m = cached.clone()
			} else {
				m = &marks{kinds: map[incidents.EntryKind]int{}}
			}
		}
		m.add(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if m == nil {
		if cached != nil {
			return cached, nil
		}
		m = &marks{kinds: map[incidents.EntryKind]int{}}
	}
	s.marks.put(n, m)
	return m, nil
}

// limitWriter fails once more than n bytes were written.
type limitWriter struct {
	buf bytes.Buffer
	n   int
}

var errTooLong = errors.New("postmortem too long to show inline")

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.n {
		return 0, errTooLong
	}
	return l.buf.Write(p)
}

// inlinePostmortem renders the postmortem's Markdown to HTML with
// goldmark's defaults: raw HTML is dropped and javascript: links are
// neutralised, so alert text cannot inject markup.
func (s *Server) inlinePostmortem(ctx context.Context, inc *incidents.Incident) (template.HTML, string) {
	if inc.Entries > 5000 {
		return "", fmt.Sprintf("This postmortem has %d timeline entries; download the Markdown to read it.", inc.Entries)
	}
	lw := &limitWriter{n: maxInlinePostmortem}
	if err := s.cfg.Postmortems.Postmortem(ctx, inc.Number, lw); err != nil {
		if errors.Is(err, errTooLong) {
			return "", "This postmortem is too long to show here; download the Markdown to read it."
		}
		s.log.Error("web view: postmortem", "incident", inc.Number, "err", err)
		return "", "The postmortem could not be rendered; the log says why."
	}
	var out bytes.Buffer
	if err := goldmark.Convert(lw.buf.Bytes(), &out); err != nil {
		s.log.Error("web view: postmortem markdown", "incident", inc.Number, "err", err)
		return "", "The postmortem could not be rendered; the log says why."
	}
	return template.HTML(out.String()), ""
}

// postmortemMD downloads the postmortem's Markdown.
func (s *Server) postmortemMD(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
	if err != nil || n == 0 || s.cfg.Postmortems == nil {
		s.fail(w, r, http.StatusNotFound, "No such postmortem.")
		return
	}
	// Render into memory first so a missing incident is a clean 404
	// rather than a broken download.
	var buf bytes.Buffer
	err = s.cfg.Postmortems.Postmortem(r.Context(), n, &buf)
	if errors.Is(err, incidents.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "No incident #"+strconv.FormatUint(n, 10)+".")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="incident-`+strconv.FormatUint(n, 10)+`-postmortem.md"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = buf.WriteTo(w)
}
