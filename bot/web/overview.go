package web

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// metric names one of the durations the overview charts.
type metric struct {
	Name, Long string
	of         func(*summary) time.Duration
}

var metrics = []metric{
	{"MTTA", "time to acknowledge", func(s *summary) time.Duration { return between(s.OpenedAt, s.AckAt) }},
	{"MTTM", "time to mitigate", func(s *summary) time.Duration { return between(s.OpenedAt, s.MitAt) }},
	{"MTTR", "time to resolve", func(s *summary) time.Duration { return between(s.OpenedAt, s.ResAt) }},
}

func between(from, to time.Time) time.Duration {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return 0
	}
	return to.Sub(from)
}

type metricCharts struct {
	Name, Long           string
	Median, P90          time.Duration
	Count                int
	Weekly, BySev, BySvc chart
	SevRows, SvcRows     []bucket
}

type countRow struct {
	Name   string
	Count  int
	Alerts int
}

type overviewData struct {
	Days     int
	From, To time.Time
	Total    int
	Open     int
	PerWeek  chart
	Metrics  []metricCharts
	Sources  []countRow
	Noisiest []countRow
}

// maxGroups bounds the services drawn in the overview.
const maxGroups = 10

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	days := 30
	switch r.URL.Query().Get("days") {
	case "", "30":
	case "90":
		days = 90
	default:
		s.fail(w, r, http.StatusBadRequest, "The overview covers the last 30 or 90 days (days=30 or days=90).")
		return
	}
	snap, err := s.index.get(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "overview", "Overview", snap.overview(s.now(), days))
}

// buildOverview computes the overview of incidents opened in the last
// days: one pass to select, then sorting per group for the quantiles.
func buildOverview(all []summary, now time.Time, days int) overviewData {
	to := now.UTC()
	from := to.AddDate(0, 0, -days)
	d := overviewData{Days: days, From: from, To: to}
	// Weeks end at now: week 0 is the oldest.
	weeks := (days + 6) / 7
	weekOf := func(t time.Time) int {
		return weeks - 1 - int(to.Sub(t)/(7*24*time.Hour))
	}
	var sel []*summary
	for i := range all {
		s := &all[i]
		if s.OpenedAt.Before(from) || s.OpenedAt.After(to) {
			continue
		}
		sel = append(sel, s)
	}
	d.Total = len(sel)
	perWeek := make([]bucket, weeks)
	for i := range perWeek {
		perWeek[i].Label = to.Add(-time.Duration(weeks-i) * 7 * 24 * time.Hour).Format("Jan 2")
	}
	sources := map[string]*countRow{}
	svcs := map[string]*countRow{}
	for _, s := range sel {
		if s.Status.Open() {
			d.Open++
		}
		if w := weekOf(s.OpenedAt); w >= 0 && w < weeks {
			perWeek[w].Count++
		}
		src := sources[s.Source]
		if src == nil {
			src = &countRow{Name: s.Source}
			sources[s.Source] = src
		}
		src.Count++
		src.Alerts += s.AlertCount
		name := s.Service
		if name == "" {
			name = "(no service)"
		}
		sv := svcs[name]
		if sv == nil {
			sv = &countRow{Name: name}
			svcs[name] = sv
		}
		sv.Count++
		sv.Alerts += s.AlertCount
	}
	d.PerWeek = countChart("opened-chart", "Incidents opened per week, last "+strconv.Itoa(days)+" days", perWeek)
	d.Sources = sortedRows(sources, 0)
	d.Noisiest = sortedRows(svcs, maxGroups)
	slices.SortStableFunc(d.Noisiest, func(a, b countRow) int { return b.Alerts - a.Alerts })

	topSvcs := sortedRows(svcs, maxGroups)
	for _, m := range metrics {
		mc := metricCharts{Name: m.Name, Long: m.Long}
		var allD []time.Duration
		weekly := make([][]time.Duration, weeks)
		bySev := make([][]time.Duration, 5)
		bySvc := map[string][]time.Duration{}
		for _, s := range sel {
			v := m.of(s)
			if v <= 0 {
				continue
			}
			allD = append(allD, v)
			if w := weekOf(s.OpenedAt); w >= 0 && w < weeks {
				weekly[w] = append(weekly[w], v)
			}
			if int(s.Severity) >= 0 && int(s.Severity) < 5 {
				bySev[s.Severity] = append(bySev[s.Severity], v)
			}
			name := s.Service
			if name == "" {
				name = "(no service)"
			}
			bySvc[name] = append(bySvc[name], v)
		}
		mc.Count = len(allD)
		mc.Median, mc.P90 = quantiles(allD)
		wb := make([]bucket, weeks)
		for i := range wb {
			wb[i] = stat(perWeek[i].Label, weekly[i])
		}
		mc.Weekly = durationChart(lower(m.Name)+"-weekly", m.Name+" by week: median bar, p90 tick", wb)
		for sev := incidents.SEV1; sev <= incidents.SEV4; sev++ {
			mc.SevRows = append(mc.SevRows, stat(sev.String(), bySev[sev]))
		}
		if len(bySev[0]) > 0 {
			mc.SevRows = append(mc.SevRows, stat("unknown", bySev[0]))
		}
		for _, row := range topSvcs {
			mc.SvcRows = append(mc.SvcRows, stat(row.Name, bySvc[row.Name]))
		}
		mc.BySev = groupChart(lower(m.Name)+"-severity", m.Name+" by severity", mc.SevRows)
		mc.BySvc = groupChart(lower(m.Name)+"-service", m.Name+" by service", mc.SvcRows)
		d.Metrics = append(d.Metrics, mc)
	}
	return d
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func stat(label string, ds []time.Duration) bucket {
	b := bucket{Label: label, Count: len(ds)}
	b.Median, b.P90 = quantiles(ds)
	return b
}

// quantiles returns the median and the 90th percentile (nearest rank).
// It reorders ds: a selection, not a sort, so 100,000 durations cost
// linear time.
func quantiles(ds []time.Duration) (median, p90 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	rank := func(q float64) int {
		i := int(q*float64(len(ds))+0.999999) - 1
		return min(max(i, 0), len(ds)-1)
	}
	i90, i50 := rank(0.9), rank(0.5)
	p90 = selectKth(ds, i90)
	// Everything before i90 is now <= p90, so the median is among them.
	median = selectKth(ds[:i90+1], i50)
	return median, p90
}

// selectKth reorders ds so that ds[k] is the k-th smallest, everything
// before it no larger and everything after no smaller, and returns it
// (Hoare's quickselect, median-of-three pivot).
func selectKth(ds []time.Duration, k int) time.Duration {
	lo, hi := 0, len(ds)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if ds[mid] < ds[lo] {
			ds[mid], ds[lo] = ds[lo], ds[mid]
		}
		if ds[hi] < ds[lo] {
			ds[hi], ds[lo] = ds[lo], ds[hi]
		}
		if ds[hi] < ds[mid] {
			ds[hi], ds[mid] = ds[mid], ds[hi]
		}
		pivot := ds[mid]
		i, j := lo, hi
		for i <= j {
			for ds[i] < pivot {
				i++
			}
			for ds[j] > pivot {
				j--
			}
			if i <= j {
				ds[i], ds[j] = ds[j], ds[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return ds[k]
		}
	}
	return ds[k]
}

func sortedRows(m map[string]*countRow, limit int) []countRow {
	out := make([]countRow, 0, len(m))
	for _, r := range m {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b countRow) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
