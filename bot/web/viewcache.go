package web

import (
	"fmt"
	"html/template"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// viewCache keeps, for the most recently viewed incidents, what is costly
// to compute on every view of a storm: the aggregate of its alert records
// (50,000 records read per view otherwise) and the postmortem rendered to
// HTML. An entry is valid while the incident record is unchanged — intake
// rewrites it (UpdatedAt, counters) whenever an alert record changes — and
// the postmortem for a minute at most, since it quotes the time it was
// generated.
type viewCache struct{ r *recent[*cachedView] }

type cachedView struct {
	key    string
	sum    incidents.AlertSummary
	pm     template.HTML
	pmNote string
	pmAt   time.Time // zero: not rendered yet
}

// pmTTL is how long a rendered postmortem is shown before it is rendered
// again from an unchanged incident.
const pmTTL = time.Minute

func newViewCache(size int) *viewCache {
	return &viewCache{r: newRecent[*cachedView](size)}
}

// viewKey changes whenever anything the cached views read changes: every
// intent adds a timeline entry, and every change to an alert record
// rewrites the incident's counters and UpdatedAt.
func viewKey(inc *incidents.Incident) string {
	return fmt.Sprintf("%d/%d/%d/%d/%d/%s/%s", inc.Entries, inc.AlertCount, inc.DistinctAlerts, inc.FiringAlerts,
		inc.UpdatedAt.UnixNano(), inc.LastAlertAt.Format(time.RFC3339Nano), inc.PostmortemStatus)
}

// get returns the cached view of inc when it is current, else nil.
func (c *viewCache) get(inc *incidents.Incident) *cachedView {
	key := viewKey(inc)
	v, ok := c.r.get(inc.Number, func(v *cachedView) bool { return v != nil && v.key == key })
	if !ok {
		return nil
	}
	cp := *v
	return &cp
}

// put stores v as the view of inc.
func (c *viewCache) put(inc *incidents.Incident, v cachedView) {
	v.key = viewKey(inc)
	c.r.put(inc.Number, &v)
}
