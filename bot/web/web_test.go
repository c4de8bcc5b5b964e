package web

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
)

func TestPagesNeedLogin(t *testing.T) {
	db := openDB(t)
	seed(t, db)
	base := startServer(t, newServer(t, db))
	c := client(t)
	for _, path := range []string{Prefix + "/", Prefix + "/incidents", Prefix + "/incidents/1", Prefix + "/incidents/1/postmortem.md", Prefix + "/overview?days=90"} {
		t.Run(path, func(t *testing.T) {
			resp, body := get(t, c, base, path)
			assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
			loc := resp.Header.Get("Location")
			assert.True(t, strings.HasPrefix(loc, Prefix+"/login?next="), loc)
			next, err := url.QueryUnescape(strings.TrimPrefix(loc, Prefix+"/login?next="))
			require.NoError(t, err)
			assert.Equal(t, path, next)
			assert.NotContains(t, body, "HighErrorRate")
		})
	}
	resp, body := get(t, c, base, Prefix+"/login?next="+url.QueryEscape(Prefix+"/incidents/1"))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, `name="password"`)
	assert.Contains(t, body, `value="/web/incidents/1"`)
	assert.NotContains(t, body, testPassword)
}

func TestLogin(t *testing.T) {
	db := openDB(t)
	base := startServer(t, newServer(t, db))
	tests := []struct {
		name, password, next string
		status               int
		location             string
		cookie               bool
	}{
		{"right password", testPassword, Prefix + "/overview", http.StatusSeeOther, Prefix + "/overview", true},
		{"next outside the view", testPassword, "https://evil.example.com/", http.StatusSeeOther, Prefix + "/", true},
		{"protocol-relative next", testPassword, "//evil.example.com" + Prefix + "/", http.StatusSeeOther, Prefix + "/", true},
		{"wrong password", "correct horse battery!", Prefix + "/", http.StatusUnauthorized, "", false},
		{"empty password", "", Prefix + "/", http.StatusUnauthorized, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client(t)
			resp, err := c.PostForm(base+Prefix+"/login", url.Values{"password": {tt.password}, "next": {tt.next}})
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.location, resp.Header.Get("Location"))
			var session *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == sessionCookie {
					session = ck
				}
			}
			if !tt.cookie {
				assert.Nil(t, session)
				return
			}
			require.NotNil(t, session)
			assert.True(t, session.HttpOnly)
			assert.Equal(t, http.SameSiteStrictMode, session.SameSite)
			assert.Positive(t, session.MaxAge)
			assert.NotContains(t, session.Value, testPassword)
			resp2, _ := get(t, c, base, Prefix+"/incidents")
			assert.Equal(t, http.StatusOK, resp2.StatusCode)
		})
	}
}

func TestLogout(t *testing.T) {
	db := openDB(t)
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	resp, _ := get(t, c, base, Prefix+"/incidents")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err := c.PostForm(base+Prefix+"/logout", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, Prefix+"/login", resp.Header.Get("Location"))
	resp, _ = get(t, c, base, Prefix+"/incidents")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "signed out")
}

func TestCrossSiteFormsRefused(t *testing.T) {
	db := openDB(t)
	base := startServer(t, newServer(t, db))
	for _, path := range []string{"/login", "/logout"} {
		t.Run(path, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, base+Prefix+path, strings.NewReader(url.Values{"password": {testPassword}}.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := client(t).Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
			assert.Empty(t, resp.Cookies())
		})
	}
}

func TestSessionCookieChecks(t *testing.T) {
	db := openDB(t)
	s := newServer(t, db)
	base := startServer(t, s)
	good := s.sessions.issue(now).Value
	expired := s.sessions.issue(now.Add(-13 * time.Hour)).Value
	other := sessions{key: []byte("another key, another process...."), ttl: time.Hour}
	exp, sig, _ := strings.Cut(good, ".")
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"issued now", good, true},
		{"expired", expired, false},
		{"signed with another key", other.issue(now).Value, false},
		{"signature cut", exp + "." + sig[:10], false},
		{"no signature", exp, false},
		{"garbage", "%%%.%%%", false},
		{"expiry pushed forward", other.issue(now.Add(1000 * time.Hour)).Value[:11] + "." + sig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, base+Prefix+"/incidents", nil)
			require.NoError(t, err)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tt.value})
			resp, err := client(t).Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			if tt.ok {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			} else {
				assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
			}
		})
	}
}

func TestFailedLoginsAreRateLimited(t *testing.T) {
	db := openDB(t)
	clock := now
	s := newServer(t, db)
	s.now = func() time.Time { return clock }
	s.cfg.FailDelay = 50 * time.Millisecond
	base := startServer(t, s)
	c := client(t)
	post := func(pw string) *http.Response {
		resp, err := c.PostForm(base+Prefix+"/login", url.Values{"password": {pw}})
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	for i := range 5 {
		start := time.Now()
		resp := post("wrong password " + strconv.Itoa(i))
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "attempt %d", i+1)
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "a refused login is slowed")
		clock = clock.Add(time.Second)
	}
	resp := post("wrong again")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "55", resp.Header.Get("Retry-After"), "the first failure leaves the window 55s later")
	// Even the right password waits: the limit is on the address.
	resp = post(testPassword)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Empty(t, resp.Cookies())
	// Once the first failure is a minute old, one more try is allowed.
	clock = now.Add(time.Minute)
	resp = post(testPassword)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestSecurityHeaders(t *testing.T) {
	db := openDB(t)
	seed(t, db)
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	for _, path := range []string{Prefix + "/login", Prefix + "/incidents", Prefix + "/incidents/1", Prefix + "/overview", Prefix + "/static/style.css", Prefix + "/nope"} {
		t.Run(path, func(t *testing.T) {
			resp, body := get(t, c, base, path)
			csp := resp.Header.Get("Content-Security-Policy")
			assert.Contains(t, csp, "default-src 'self'")
			assert.Contains(t, csp, "frame-ancestors 'none'")
			assert.Contains(t, csp, "script-src 'none'")
			assert.NotContains(t, csp, "unsafe-inline")
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
			assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
			// No inline script or style for the CSP to block.
			assert.NotContains(t, body, "<script")
			assert.NotContains(t, body, "<style")
			assert.NotRegexp(t, `\sstyle=`, body)
			assert.NotContains(t, body, testPassword)
		})
	}
}

func TestListFilters(t *testing.T) {
	db := openDB(t)
	seed(t, db)
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	tests := []struct {
		query string
		want  []int // incident numbers in order
	}{
		{"", []int{3, 2, 1}},
		{"status=open", []int{3, 2}},
		{"status=resolved", []int{1}},
		{"status=acknowledged", []int{3}},
		{"severity=SEV1", []int{1}},
		{"severity=sev-2", []int{2}},
		{"service=API-Gateway", []int{1}},
		{"q=checkout", []int{3}},
		{"q=%233", []int{3}},
		{"q=ERRORRATE&status=resolved", []int{1}},
		{"q=no+such+thing", nil},
		{"status=open&severity=SEV1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := get(t, c, base, Prefix+"/incidents?"+tt.query)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, tt.want, rowNumbers(body))
			if tt.want == nil {
				assert.Contains(t, body, "No incident matches.")
			}
		})
	}
	for _, bad := range []string{"status=sleeping", "severity=SEV9"} {
		resp, _ := get(t, c, base, Prefix+"/incidents?"+bad)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, bad)
	}
}

var rowLink = regexp.MustCompile(`<td><a href="/web/incidents/(\d+)">#`)

func rowNumbers(body string) []int {
	var out []int
	for _, m := range rowLink.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func TestListPaginatesOpenFirst(t *testing.T) {
	db := openDB(t)
	for i := range 120 {
		st := incidents.StatusResolved
		if i%10 == 0 {
			st = incidents.StatusTriggered
		}
		create(t, db, &incidents.Incident{Title: "incident " + strconv.Itoa(i+1), Status: st, OpenedAt: now.Add(-time.Duration(120-i) * time.Hour)})
	}
	s := newServer(t, db)
	base := startServer(t, s)
	c := client(t)
	login(t, c, base)
	_, body := get(t, c, base, Prefix+"/incidents")
	first := rowNumbers(body)
	require.Len(t, first, pageSize)
	assert.Equal(t, []int{111, 101, 91, 81, 71, 61, 51, 41, 31, 21, 11, 1, 120, 119}, first[:14], "open incidents first, newest first, then history")
	assert.Contains(t, body, "120 incidents · page 1 of 3")
	_, body = get(t, c, base, Prefix+"/incidents?page=3")
	assert.Len(t, rowNumbers(body), 20)
	assert.Contains(t, body, `rel="prev"`)
	assert.NotContains(t, body, `rel="next"`)

	// A new incident and a resolved one show up on the next refresh.
	create(t, db, &incidents.Incident{Title: "brand new", Status: incidents.StatusTriggered, OpenedAt: now})
	require.NoError(t, db.Update(t.Context(), func(tx incidents.Tx) error {
		inc, err := tx.Incident(111)
		if err != nil {
			return err
		}
		inc.Status, inc.ResolvedAt = incidents.StatusResolved, now
		return tx.PutIncident(inc)
	}))
	_, body = get(t, c, base, Prefix+"/incidents?status=open")
	assert.Equal(t, []int{121, 101, 91, 81, 71, 61, 51, 41, 31, 21, 11, 1}, rowNumbers(body))
}

func TestIncidentPage(t *testing.T) {
	db := openDB(t)
	seed(t, db)
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	resp, body := get(t, c, base, Prefix+"/incidents/1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{
		"HighErrorRate api-gateway", "SEV1", "resolved", "api-gateway", "default", // card
		"2m00s", "30m00s", "45m00s", "by Ana", // durations
		`id="phase-chart"`, `class="phase phase-detect"`, `class="phase phase-recover"`, // chart
		"Triage the alert", "internal only", // steps
		`href="https://runbooks.example.com/high-error-rate"`, `href="https://prometheus.example.com/graph?g0.expr=errors"`,
		// the alert records: one row per distinct alert with its links
		"3 received from 1 distinct alert (0 still firing)", "HighErrorRate / api-gateway-7",
		`<a class="runbook" href="https://runbooks.example.com/high-error-rate"`, `<a class="source" href="https://prometheus.example.com/graph?g0.expr=errors"`,
		"add a canary stage to deploys",                                     // action item
		"error rate follows the 13:50 deploy", "status update", "step done", // timeline
		`href="/web/incidents/1/postmortem.md"`, `<article class="markdown">`, "<h1", // postmortem
	} {
		assert.Contains(t, body, want)
	}
	assert.Equal(t, 5, strings.Count(body, `class="milestone"`), "started, opened, acknowledged, mitigated, resolved")
	assert.Equal(t, 1, strings.Count(body, `class="mark mark-note"`))
	assert.Equal(t, 1, strings.Count(body, `class="mark mark-update"`))
	assert.Equal(t, 2, strings.Count(body, `class="mark mark-step"`))

	resp, _ = get(t, c, base, Prefix+"/incidents/99")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = get(t, c, base, Prefix+"/incidents/abc")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestXSSPayloadsRenderInert(t *testing.T) {
	db := openDB(t)
	seed(t, db)
	// A service name ends up in chart labels and tooltips (SVG drawn in Go).
	opened := now.Add(-time.Hour)
	create(t, db, &incidents.Incident{Title: "svg", Service: `"><script>alert("svc")</script>`, Status: incidents.StatusResolved,
		OpenedAt: opened, AcknowledgedAt: opened.Add(time.Minute), MitigatedAt: opened.Add(2 * time.Minute), ResolvedAt: opened.Add(3 * time.Minute)})
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	for _, path := range []string{Prefix + "/incidents", Prefix + "/incidents/2", Prefix + "/overview", Prefix + "/incidents?q=" + url.QueryEscape(xssTitle)} {
		t.Run(path, func(t *testing.T) {
			resp, body := get(t, c, base, path)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.NotContains(t, body, "<script")
			assert.NotContains(t, body, "<img")
			assert.NotContains(t, body, `href="javascript:`)
		})
	}
	_, body := get(t, c, base, Prefix+"/overview")
	assert.Contains(t, section(body, `id="mttr-service"`), `&#34;&gt;&lt;script&gt;alert(&#34;svc&#34;)&lt;/script&gt;`, "the service is a chart label, as text")
	_, body = get(t, c, base, Prefix+"/incidents/2")
	assert.Contains(t, body, "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;", "the title is shown as text")
	assert.Contains(t, body, `<span class="unsafe-link" id="runbook">javascript:alert(&#34;runbook&#34;)</span>`)
	assert.Contains(t, body, `<span class="unsafe-link" id="source">javascript:alert(&#34;source&#34;)</span>`)
	alerts := section(body, `id="alerts-table"`)
	assert.Contains(t, alerts, `<span class="unsafe-link">runbook: javascript:alert(&#34;runbook&#34;)</span>`, "an alert record's runbook")
	assert.Contains(t, alerts, `<span class="unsafe-link">source: javascript:alert(&#34;source&#34;)</span>`)
	assert.Contains(t, alerts, "&lt;img src=x onerror=alert(&#34;note&#34;)&gt;", "the instance is text")
}

// TestIncidentPageStorm: an incident of 20,000 distinct alerts in a few
// names lists the names, the top rows with their links and "and N more",
// and the page stays small.
func TestIncidentPageStorm(t *testing.T) {
	db := openDB(t)
	opened := now.Add(-time.Hour)
	inc := &incidents.Incident{Title: "KubePodCrashLooping storm", Severity: incidents.SEV1, Status: incidents.StatusTriggered,
		OpenedAt: opened, UpdatedAt: opened, AlertCount: 20_003, DistinctAlerts: 20_000, FiringAlerts: 19_000}
	n := create(t, db, inc)
	const total = 20_000
	for start := 0; start < total; start += 5000 {
		require.NoError(t, db.Update(t.Context(), func(tx incidents.Tx) error {
			for i := start; i < start+5000; i++ {
				a := incidents.AlertState{Fingerprint: fmt.Sprintf("fp%05d", i), Name: []string{"KubePodCrashLooping", "KubePodNotReady"}[i%2],
					Instance: fmt.Sprintf("pod-%05d", i), Firing: i >= 1000, Count: 1, FirstSeen: opened, LastSeen: opened.Add(time.Minute),
					URL:         fmt.Sprintf("https://prometheus.example.com/alerts?pod=%05d", i),
					Labels:      map[string]string{"alertname": "KubePodCrashLooping", "pod": fmt.Sprintf("pod-%05d", i)},
					Annotations: map[string]string{"runbook_url": "https://runbooks.example.com/crashloop", "description": "crash looping"}}
				if i == 7 {
					a.Count, a.Firing = 4, true
				}
				if err := tx.PutAlert(n, a); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	resp, body := get(t, c, base, Prefix+"/incidents/"+strconv.FormatUint(n, 10))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "20003 received from 20000 distinct alerts (19001 still firing)")
	names := section(body, `id="alert-names"`)
	assert.Contains(t, names, "<td>KubePodCrashLooping</td><td>10000</td>")
	assert.Contains(t, names, "<td>KubePodNotReady</td><td>10000</td>")
	rows := section(body, `id="alerts-table"`)
	assert.Equal(t, alertRows, strings.Count(rows, "<tr class=\"alert-"), "bounded rows")
	assert.Equal(t, alertRows, strings.Count(rows, `href="https://runbooks.example.com/crashloop"`), "each row links its runbook")
	assert.True(t, strings.HasPrefix(rows[strings.Index(rows, "<tbody>"):], `<tbody><tr class="alert-firing"><td>KubePodNotReady / pod-00007<br>`), "the most received firing alert first")
	assert.Contains(t, rows, `<a class="source" href="https://prometheus.example.com/alerts?pod=00007"`)
	assert.Contains(t, body, "… and 19950 more distinct alerts")
	assert.Less(t, len(body), 200_000, "a storm's page stays small")
}

func TestPostmortemDownload(t *testing.T) {
	db := openDB(t)
	seed(t, db)
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	resp, body := get(t, c, base, Prefix+"/incidents/1/postmortem.md")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/markdown; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, `attachment; filename="incident-1-postmortem.md"`, resp.Header.Get("Content-Disposition"))
	assert.Contains(t, body, "HighErrorRate api-gateway")
	assert.Contains(t, body, "add a canary stage to deploys")
	resp, _ = get(t, c, base, Prefix+"/incidents/42/postmortem.md")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestTimelinePages(t *testing.T) {
	db := openDB(t)
	opened := now.Add(-10 * time.Hour)
	var entries []incidents.Entry
	for i := range 250 {
		kind := incidents.EntryNote
		if i%50 == 0 {
			kind = incidents.EntryStatusUpdate
		}
		entries = append(entries, incidents.Entry{At: opened.Add(time.Duration(i) * time.Minute), Kind: kind, Actor: ana, Text: "entry " + strconv.Itoa(i+1)})
	}
	create(t, db, &incidents.Incident{Title: "long", Status: incidents.StatusTriggered, OpenedAt: opened}, entries...)
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	tests := []struct {
		after       string
		first, last string
		rows        int
		next        bool
	}{
		{"", "entry 1<", "entry 100<", 100, true},
		{"100", "entry 101<", "entry 200<", 100, true},
		{"200", "entry 201<", "entry 250<", 50, false},
	}
	for _, tt := range tests {
		t.Run("after="+tt.after, func(t *testing.T) {
			_, body := get(t, c, base, Prefix+"/incidents/1?after="+tt.after)
			assert.Contains(t, body, tt.first)
			assert.Contains(t, body, tt.last)
			assert.Equal(t, tt.rows, strings.Count(body, `<tr class="kind-`))
			assert.Equal(t, tt.next, strings.Contains(body, `id="timeline-next"`))
		})
	}
	_, body := get(t, c, base, Prefix+"/incidents/1")
	assert.Equal(t, 5, strings.Count(body, `class="mark mark-update"`))
	assert.Contains(t, body, "<title>1 note</title>")
}

func TestOverview(t *testing.T) {
	db := openDB(t)
	seed(t, db)
	// One resolved incident per week for twelve weeks, growing slower.
	for w := range 12 {
		opened := now.Add(-time.Duration(w)*7*24*time.Hour - 48*time.Hour)
		create(t, db, &incidents.Incident{Title: "weekly " + strconv.Itoa(w), Severity: incidents.SEV2, Service: "batch",
			Status: incidents.StatusResolved, Trigger: incidents.Alert{Source: "grafana"}, AlertCount: 10,
			OpenedAt: opened, AcknowledgedAt: opened.Add(time.Duration(w+1) * time.Minute),
			MitigatedAt: opened.Add(time.Duration(w+1) * 10 * time.Minute), ResolvedAt: opened.Add(time.Duration(w+1) * time.Hour)})
	}
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	tests := []struct {
		days        string
		weeks, mttr int
		total       string
		sources     []string
	}{
		{"", 5, 5, "8 incidents opened", []string{"grafana", "alertmanager", "declared", "generic"}},
		{"90", 13, 12, "15 incidents opened", []string{"grafana"}},
	}
	for _, tt := range tests {
		t.Run("days="+tt.days, func(t *testing.T) {
			resp, body := get(t, c, base, Prefix+"/overview?days="+tt.days)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, body, tt.total)
			opened := section(body, `id="opened-chart"`)
			assert.Equal(t, tt.weeks, strings.Count(opened, `class="bar"`))
			mttr := section(body, `id="mttr-weekly"`)
			assert.Equal(t, tt.mttr, strings.Count(mttr, `class="median"`), "one MTTR bar per week with a resolved incident")
			assert.Equal(t, tt.mttr, strings.Count(mttr, `class="p90"`))
			for _, id := range []string{"mtta-weekly", "mttm-weekly", "mtta-severity", "mttr-service"} {
				assert.Contains(t, body, `id="`+id+`"`)
			}
			for _, src := range tt.sources {
				assert.Contains(t, section(body, `id="sources"`), "<td>"+src+"</td>")
			}
			assert.Contains(t, section(body, `id="noisiest"`), "<td>batch</td>")
		})
	}
	resp, _ := get(t, c, base, Prefix+"/overview?days=7")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// section returns body from marker to the next closing </svg> or </section>.
func section(body, marker string) string {
	i := strings.Index(body, marker)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	end := len(rest)
	for _, closer := range []string{"</svg>", "</section>"} {
		if j := strings.Index(rest, closer); j >= 0 && j < end {
			end = j
		}
	}
	return rest[:end]
}

func TestQuantiles(t *testing.T) {
	m := time.Minute
	tests := []struct {
		in          []time.Duration
		median, p90 time.Duration
	}{
		{nil, 0, 0},
		{[]time.Duration{5 * m}, 5 * m, 5 * m},
		{[]time.Duration{4 * m, 1 * m, 3 * m, 2 * m}, 2 * m, 4 * m},
		{[]time.Duration{10 * m, 1 * m, 2 * m, 3 * m, 4 * m, 5 * m, 6 * m, 7 * m, 8 * m, 9 * m}, 5 * m, 9 * m},
	}
	for _, tt := range tests {
		med, p90 := quantiles(tt.in)
		assert.Equal(t, tt.median, med)
		assert.Equal(t, tt.p90, p90)
	}
	// Against sorting, on inputs with many repeats and of every length.
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 300; n++ {
		ds := make([]time.Duration, n)
		for i := range ds {
			ds[i] = time.Duration(r.IntN(n/3+1)) * time.Minute
		}
		sorted := slices.Sorted(slices.Values(ds))
		med, p90 := quantiles(ds)
		assert.Equal(t, sorted[(n+1)/2-1], med, "n=%d", n)
		assert.Equal(t, sorted[int(0.9*float64(n)+0.999999)-1], p90, "n=%d", n)
	}
}

func TestSafeLink(t *testing.T) {
	tests := map[string]string{
		"https://runbooks.example.com/x": "https://runbooks.example.com/x",
		"http://grafana:3000/d/abc":      "http://grafana:3000/d/abc",
		"javascript:alert(1)":            "",
		" JavaScript:alert(1)":           "",
		"data:text/html,<script>":        "",
		"//evil.example.com":             "",
		"/relative":                      "",
		"vbscript:x":                     "",
	}
	for in, want := range tests {
		assert.Equal(t, want, safeLink(in), in)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	_, ok, err := ConfigFromEnv(env(nil))
	assert.NoError(t, err)
	assert.False(t, ok, "off until a password is set")
	_, _, err = ConfigFromEnv(env(map[string]string{"FIREBREAK_WEB_PASSWORD": "short"}))
	assert.ErrorContains(t, err, "at least 12")
	_, _, err = ConfigFromEnv(env(map[string]string{"FIREBREAK_WEB_PASSWORD": testPassword, "FIREBREAK_PUBLIC_URL": "javascript:x"}))
	assert.ErrorContains(t, err, "FIREBREAK_PUBLIC_URL")
	cfg, ok, err := ConfigFromEnv(env(map[string]string{"FIREBREAK_WEB_PASSWORD": testPassword, "FIREBREAK_PUBLIC_URL": "https://fb.example.com"}))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, cfg.SecureCookie)
	assert.Equal(t, "https://fb.example.com/web/incidents/7", IncidentURL("https://fb.example.com/")(7))
	assert.Nil(t, IncidentURL(""))
}

// A fresh database: every page renders and says there is nothing yet.
func TestEmptyDatabase(t *testing.T) {
	db := openDB(t)
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	tests := []struct{ path, want string }{
		{Prefix + "/incidents", "No incident matches."},
		{Prefix + "/overview", `id="opened-chart-empty"`},
		{Prefix + "/overview?days=90", `id="mttr-weekly-empty"`},
	}
	for _, tt := range tests {
		resp, body := get(t, c, base, tt.path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, tt.path)
		assert.Contains(t, body, tt.want, tt.path)
	}
}

// TestIncidentPageAlertsCurrent: the Alerts section is cached per incident
// but never stale: intake rewrites the incident whenever an alert record
// changes, and the next view shows the change.
func TestIncidentPageAlertsCurrent(t *testing.T) {
	db := openDB(t)
	seed(t, db)
	base := startServer(t, newServer(t, db))
	c := client(t)
	login(t, c, base)
	_, body := get(t, c, base, Prefix+"/incidents/1")
	require.Contains(t, body, "3 received from 1 distinct alert (0 still firing)")
	_, again := get(t, c, base, Prefix+"/incidents/1")
	assert.Equal(t, section(body, `id="alerts"`), section(again, `id="alerts"`), "served from the cache")

	// A second distinct alert fires, as intake records it.
	require.NoError(t, db.Update(t.Context(), func(tx incidents.Tx) error {
		inc, err := tx.Incident(1)
		if err != nil {
			return err
		}
		if err := tx.PutAlert(1, incidents.AlertState{Fingerprint: "fp9", Name: "HighLatency", Instance: "api-gateway-9", Firing: true,
			Count: 1, FirstSeen: now, LastSeen: now, URL: "https://prometheus.example.com/graph?g0.expr=latency"}); err != nil {
			return err
		}
		inc.AlertCount, inc.DistinctAlerts, inc.FiringAlerts, inc.LastAlertAt, inc.UpdatedAt = 4, 2, 1, now, now
		return tx.PutIncident(inc)
	}))
	_, body = get(t, c, base, Prefix+"/incidents/1")
	assert.Contains(t, body, "4 received from 2 distinct alerts (1 still firing)")
	assert.Contains(t, section(body, `id="alerts-table"`), `<a class="source" href="https://prometheus.example.com/graph?g0.expr=latency"`)
	assert.Contains(t, section(body, `id="postmortem"`), "HighLatency", "the postmortem is rendered again too")
}

// TestPagesOverAnotherStore: the web view reads only through
// incidents.Store, so it serves every page over a store other than bbolt
// (here the in-memory one of incidentstest; etcd's when it lands).
func TestPagesOverAnotherStore(t *testing.T) {
	store := incidentstest.NewMemStore()
	seed(t, store)
	base := startServer(t, newServer(t, store))
	c := client(t)
	login(t, c, base)
	for path, want := range map[string]string{
		Prefix + "/incidents":                 "HighErrorRate api-gateway",
		Prefix + "/incidents?severity=SEV3":   "Checkout slow for EU customers",
		Prefix + "/incidents/1":               `<a class="runbook" href="https://runbooks.example.com/high-error-rate"`,
		Prefix + "/incidents/1/postmortem.md": "HighErrorRate api-gateway",
		Prefix + "/overview":                  `id="mttr-weekly"`,
	} {
		resp, body := get(t, c, base, path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Contains(t, body, want, path)
	}
}
