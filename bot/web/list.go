package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// pageSize is how many incidents one list page shows.
const pageSize = 50

type listData struct {
	Filter     filter
	Severity   string
	Statuses   []string
	Severities []string
	Services   []string
	Rows       []*summary
	Total      int
	Page       int
	Pages      int
	PrevURL    string
	NextURL    string
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := filter{Status: q.Get("status"), Service: q.Get("service"), Text: q.Get("q")}
	switch f.Status {
	case "", "open", "triggered", "acknowledged", "mitigated", "resolved":
	default:
		s.fail(w, r, http.StatusBadRequest, "Unknown status filter: want open, triggered, acknowledged, mitigated or resolved.")
		return
	}
	if v := q.Get("severity"); v != "" {
		sev, err := incidents.ParseSeverity(v)
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
		f.Severity = sev
	}
	pg, _ := strconv.Atoi(q.Get("page"))
	pg = max(pg, 1)
	snap, err := s.index.get(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	rows, total := query(snap.all, f, (pg-1)*pageSize, pageSize)
	d := listData{
		Filter: f, Statuses: []string{"open", "triggered", "acknowledged", "mitigated", "resolved"},
		Severities: []string{"SEV1", "SEV2", "SEV3", "SEV4"}, Services: snap.services,
		Rows: rows, Total: total, Page: pg, Pages: max(1, (total+pageSize-1)/pageSize),
	}
	if f.Severity != incidents.SevUnknown {
		d.Severity = f.Severity.String()
	}
	link := func(p int) string {
		v := url.Values{}
		for _, k := range []string{"status", "severity", "service", "q"} {
			if q.Get(k) != "" {
				v.Set(k, q.Get(k))
			}
		}
		v.Set("page", strconv.Itoa(p))
		return Prefix + "/incidents?" + v.Encode()
	}
	if pg > 1 {
		d.PrevURL = link(pg - 1)
	}
	if pg < d.Pages {
		d.NextURL = link(pg + 1)
	}
	s.render(w, r, http.StatusOK, "list", "Incidents", d)
}

// funcs are the template helpers shared by every page.
func funcs() template.FuncMap {
	return template.FuncMap{
		"stamp":    stamp,
		"duration": duration,
		"since": func(from, to time.Time) string {
			if from.IsZero() || to.IsZero() || to.Before(from) {
				return "—"
			}
			return duration(to.Sub(from))
		},
		"lower":    strings.ToLower,
		"kindName": func(k incidents.EntryKind) string { return strings.ReplaceAll(string(k), "_", " ") },
		"sevClass": func(s incidents.Severity) string { return "sev" + strconv.Itoa(int(s)) },
	}
}

// stamp is how times read on every page: UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// duration reads like "4m12s", "3h05m", "2d4h"; "—" for zero.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m" + pad2(int(d.Seconds())%60) + "s"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h" + pad2(int(d.Minutes())%60) + "m"
	}
	return strconv.Itoa(int(d.Hours())/24) + "d" + strconv.Itoa(int(d.Hours())%24) + "h"
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// safeLink returns u when it is an absolute http or https URL, else "".
// Alert annotations are attacker-controlled: a javascript: or data: URL
// must never become a link.
func safeLink(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return p.String()
}
