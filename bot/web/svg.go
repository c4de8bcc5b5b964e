package web

import (
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// shape is one SVG element of a chart. Charts are drawn in Go into
// shapes and written by the "svg" template, so every label passes through
// html/template's escaping like the rest of the page.
type shape struct {
	Kind       string // "rect", "circle", "line" or "text"
	Class      string
	X, Y, W, H float64
	X2, Y2, R  float64
	Text, Tip  string
	Anchor     string // text-anchor for text: start, middle, end
}

// chart is one drawn SVG.
type chart struct {
	ID            string
	Width, Height int
	Label         string // aria-label: what the chart shows, for screen readers
	Shapes        []shape
	Empty         string // said instead of drawing when there is no data
}

func (c *chart) add(s shape) { c.Shapes = append(c.Shapes, s) }

func f1(v float64) float64 { return math.Round(v*10) / 10 }

// phaseNames are the incident's phases in order, as drawn.
var phaseNames = [...]string{"detect", "respond", "mitigate", "recover"}

// phaseChart draws the incident's phases on a time axis (started →
// opened → acknowledged → mitigated → resolved) with notes, status updates
// and steps marked on lanes below.
func phaseChart(inc *incidents.Incident, m *marks, now time.Time) chart {
	const width, left, right = 960.0, 110.0, 20.0
	c := chart{ID: "phase-chart", Width: int(width), Height: 190,
		Label: "Phases of incident #" + strconv.FormatUint(inc.Number, 10)}
	start := inc.OpenedAt
	started := inc.DetectedAt
	if started.IsZero() {
		started = inc.Trigger.StartsAt
	}
	if !started.IsZero() && started.Before(start) {
		start = started
	}
	end := inc.ResolvedAt
	if end.IsZero() {
		end = now
	}
	if !end.After(start) {
		end = start.Add(time.Minute)
	}
	span := end.Sub(start).Seconds()
	x := func(t time.Time) float64 {
		v := t.Sub(start).Seconds() / span
		return f1(left + math.Max(0, math.Min(1, v))*(width-left-right))
	}
	// Milestones in order; a missing one ends its phase at the next known one.
	type stone struct {
		name string
		at   time.Time
	}
	stones := []stone{{"started", started}, {"opened", inc.OpenedAt}, {"acknowledged", inc.AcknowledgedAt}, {"mitigated", inc.MitigatedAt}, {"resolved", inc.ResolvedAt}}
	if started.IsZero() || !started.Before(inc.OpenedAt) {
		stones[0].at = time.Time{}
	}
	const laneY = 30.0
	c.add(shape{Kind: "text", Class: "lane", X: 8, Y: laneY + 14, Text: "phases"})
	for i := range 4 {
		from := stones[i].at
		if from.IsZero() {
			continue
		}
		to := time.Time{}
		for _, s := range stones[i+1:] {
			if !s.at.IsZero() {
				to = s.at
				break
			}
		}
		open := to.IsZero()
		if open {
			to = end
		}
		cls := "phase phase-" + phaseNames[i]
		if open {
			cls += " ongoing"
		}
		w := math.Max(1, x(to)-x(from))
		c.add(shape{Kind: "rect", Class: cls, X: x(from), Y: laneY, W: f1(w), H: 20,
			Tip: phaseNames[i] + ": " + duration(to.Sub(from))})
	}
	// Labels go in the first of three rows (one above the bar, two below)
	// where they do not overlap the previous label of that row.
	rows := []float64{laneY - 8, laneY + 36, laneY + 50}
	rowEnd := []float64{-1, -1, -1}
	for _, s := range stones {
		if s.at.IsZero() {
			continue
		}
		px := x(s.at)
		c.add(shape{Kind: "circle", Class: "milestone", X: px, Y: laneY + 10, R: 6, Tip: s.name + " " + stamp(s.at)})
		w := 7 * float64(len(s.name))
		from, anchor := px-w/2, "middle"
		switch {
		case from < left-40:
			from, anchor = px-6, "start"
		case px+w/2 > width-4:
			from, anchor = px-w, "end"
		}
		tx := px
		if anchor == "start" {
			tx = px - 6
		}
		for r := range rows {
			if from > rowEnd[r]+6 {
				rowEnd[r] = from + w
				c.add(shape{Kind: "text", Class: "milestone-label", X: f1(tx), Y: rows[r], Text: s.name, Anchor: anchor})
				break
			}
		}
	}
	lanes := []struct {
		name, class string
		ts          []time.Time
	}{{"notes", "mark-note", m.notes}, {"updates", "mark-update", m.updates}, {"steps", "mark-step", m.steps}}
	for i, lane := range lanes {
		y := 90.0 + float64(i)*26
		c.add(shape{Kind: "text", Class: "lane", X: 8, Y: y + 12, Text: lane.name})
		c.add(shape{Kind: "line", Class: "lane-rule", X: left, Y: y + 8, X2: width - right, Y2: y + 8})
		// One mark per pixel column: 100,000 notes draw as at most ~830 marks.
		last, count := -1.0, 0
		flush := func() {
			if last >= 0 {
				tip := strconv.Itoa(count) + " " + lane.name
				if count == 1 {
					tip = "1 " + lane.name[:len(lane.name)-1]
				}
				c.add(shape{Kind: "rect", Class: "mark " + lane.class, X: last - 1, Y: y, W: 3, H: 16, Tip: tip})
			}
		}
		for _, t := range lane.ts {
			px := math.Round(x(t))
			if px != last {
				flush()
				last, count = px, 0
			}
			count++
		}
		flush()
	}
	c.add(shape{Kind: "text", Class: "axis", X: left, Y: 180, Text: stamp(start), Anchor: "start"})
	c.add(shape{Kind: "text", Class: "axis", X: width - right, Y: 180, Text: stamp(end), Anchor: "end"})
	return c
}

// bucket is one bar or row of an overview chart.
type bucket struct {
	Label  string
	Count  int
	Median time.Duration
	P90    time.Duration
}

// countChart draws one bar per bucket (incidents opened per week).
func countChart(id, label string, bs []bucket) chart {
	const width, height, left, bottom, top = 960.0, 220.0, 50.0, 40.0, 15.0
	c := chart{ID: id, Width: int(width), Height: int(height), Label: label}
	maxV := 0
	for _, b := range bs {
		maxV = max(maxV, b.Count)
	}
	if maxV == 0 {
		c.Empty = "No incidents in this period."
		return c
	}
	// A multiple of four, so the four grid lines fall on whole numbers.
	scale := math.Max(4, math.Ceil(niceCeil(float64(maxV))/4)*4)
	plotH := height - bottom - top
	axis(&c, left, width, top, plotH, scale, func(v float64) string { return strconv.Itoa(int(v)) })
	slot := (width - left - 10) / float64(len(bs))
	for i, b := range bs {
		h := float64(b.Count) / scale * plotH
		x := left + float64(i)*slot + slot*0.15
		c.add(shape{Kind: "rect", Class: "bar", X: f1(x), Y: f1(top + plotH - h), W: f1(slot * 0.7), H: f1(h),
			Tip: b.Label + ": " + strconv.Itoa(b.Count) + " incidents"})
		c.add(shape{Kind: "text", Class: "axis", X: f1(x + slot*0.35), Y: height - bottom + 16, Text: b.Label, Anchor: "middle"})
	}
	return c
}

// durationChart draws, per bucket with data, a bar for the median and a
// tick for the 90th percentile (MTTA/MTTM/MTTR by week).
func durationChart(id, label string, bs []bucket) chart {
	const width, height, left, bottom, top = 960.0, 220.0, 60.0, 40.0, 15.0
	c := chart{ID: id, Width: int(width), Height: int(height), Label: label}
	var maxD time.Duration
	for _, b := range bs {
		if b.Count > 0 {
			maxD = max(maxD, b.P90, b.Median)
		}
	}
	if maxD == 0 {
		c.Empty = "No data in this period."
		return c
	}
	scale := niceCeil(maxD.Minutes())
	plotH := height - bottom - top
	axis(&c, left, width, top, plotH, scale, axisDuration)
	slot := (width - left - 10) / float64(len(bs))
	for i, b := range bs {
		x := left + float64(i)*slot + slot*0.2
		c.add(shape{Kind: "text", Class: "axis", X: f1(x + slot*0.3), Y: height - bottom + 16, Text: b.Label, Anchor: "middle"})
		if b.Count == 0 {
			continue
		}
		h := b.Median.Minutes() / scale * plotH
		c.add(shape{Kind: "rect", Class: "median", X: f1(x), Y: f1(top + plotH - h), W: f1(slot * 0.6), H: f1(math.Max(h, 1)),
			Tip: b.Label + ": median " + duration(b.Median) + ", p90 " + duration(b.P90) + " (" + strconv.Itoa(b.Count) + " incidents)"})
		y := f1(top + plotH - b.P90.Minutes()/scale*plotH)
		c.add(shape{Kind: "line", Class: "p90", X: f1(x - 2), Y: y, X2: f1(x + slot*0.6 + 2), Y2: y, Tip: b.Label + ": p90 " + duration(b.P90)})
	}
	return c
}

// groupChart draws one row per group (severity or service): a bar for the
// median and a tick for p90.
func groupChart(id, label string, bs []bucket) chart {
	const width, left, row = 460.0, 120.0, 26.0
	c := chart{ID: id, Width: int(width), Height: int(row*float64(len(bs)) + 30), Label: label}
	var maxD time.Duration
	for _, b := range bs {
		maxD = max(maxD, b.P90, b.Median)
	}
	if maxD == 0 {
		c.Empty = "No data in this period."
		c.Height = 0
		return c
	}
	scale := niceCeil(maxD.Minutes())
	plotW := width - left - 125 // room for the "median / p90" label
	for i, b := range bs {
		y := 10 + float64(i)*row
		c.add(shape{Kind: "text", Class: "axis", X: left - 8, Y: y + 14, Text: b.Label, Anchor: "end"})
		if b.Count == 0 {
			continue
		}
		w := b.Median.Minutes() / scale * plotW
		c.add(shape{Kind: "rect", Class: "median", X: left, Y: y + 3, W: f1(math.Max(w, 1)), H: 14,
			Tip: b.Label + ": median " + duration(b.Median) + ", p90 " + duration(b.P90) + " (" + strconv.Itoa(b.Count) + ")"})
		px := f1(left + b.P90.Minutes()/scale*plotW)
		c.add(shape{Kind: "line", Class: "p90", X: px, Y: y, X2: px, Y2: y + 20, Tip: "p90 " + duration(b.P90)})
		c.add(shape{Kind: "text", Class: "value", X: f1(px + 6), Y: y + 14, Text: duration(b.Median) + " / " + duration(b.P90)})
	}
	return c
}

// axis draws four horizontal grid lines labelled by format.
func axis(c *chart, left, width, top, plotH, scale float64, format func(float64) string) {
	for i := 0; i <= 4; i++ {
		v := scale * float64(i) / 4
		y := f1(top + plotH - plotH*float64(i)/4)
		c.add(shape{Kind: "line", Class: "grid", X: left, Y: y, X2: width - 10, Y2: y})
		c.add(shape{Kind: "text", Class: "axis", X: left - 6, Y: y + 4, Text: format(v), Anchor: "end"})
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so axis labels
// are round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// axisDuration labels a duration axis given in minutes.
func axisDuration(minutes float64) string {
	if minutes == 0 {
		return "0"
	}
	return duration(time.Duration(minutes * float64(time.Minute)))
}

// SVG writes the chart as markup. It is built in Go rather than by the
// template because a chart may hold a thousand marks and the template's
// reflection costs more than the rest of the page; every text and
// attribute value still goes through html.EscapeString.
func (c chart) SVG() template.HTML {
	var b strings.Builder
	b.Grow(128 + 110*len(c.Shapes))
	b.WriteString(`<svg id="` + esc(c.ID) + `" class="chart" role="img" aria-label="` + esc(c.Label) +
		`" viewBox="0 0 ` + strconv.Itoa(c.Width) + " " + strconv.Itoa(c.Height) + `" width="` + strconv.Itoa(c.Width) +
		`" height="` + strconv.Itoa(c.Height) + `" xmlns="http://www.w3.org/2000/svg">` + "\n")
	for _, s := range c.Shapes {
		switch s.Kind {
		case "rect":
			b.WriteString(`<rect class="` + esc(s.Class) + `" x="` + num(s.X) + `" y="` + num(s.Y) + `" width="` + num(s.W) + `" height="` + num(s.H) + `">`)
			tip(&b, s.Tip)
			b.WriteString("</rect>\n")
		case "circle":
			b.WriteString(`<circle class="` + esc(s.Class) + `" cx="` + num(s.X) + `" cy="` + num(s.Y) + `" r="` + num(s.R) + `">`)
			tip(&b, s.Tip)
			b.WriteString("</circle>\n")
		case "line":
			b.WriteString(`<line class="` + esc(s.Class) + `" x1="` + num(s.X) + `" y1="` + num(s.Y) + `" x2="` + num(s.X2) + `" y2="` + num(s.Y2) + `">`)
			tip(&b, s.Tip)
			b.WriteString("</line>\n")
		case "text":
			b.WriteString(`<text class="` + esc(s.Class) + `" x="` + num(s.X) + `" y="` + num(s.Y) + `"`)
			if s.Anchor != "" {
				b.WriteString(` text-anchor="` + esc(s.Anchor) + `"`)
			}
			b.WriteString(">" + esc(s.Text) + "</text>\n")
		}
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

func esc(s string) string { return html.EscapeString(s) }

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func tip(b *strings.Builder, t string) {
	if t != "" {
		b.WriteString("<title>" + esc(t) + "</title>")
	}
}
