package web

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

const testPassword = "correct horse battery"

// now is the fixtures' clock: a fixed Friday afternoon.
var now = time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)

var (
	ana = incidents.Actor{Platform: "slack", ID: "U1", Name: "Ana"}
	bo  = incidents.Actor{Platform: "discord", ID: "2", Name: "Bo"}
)

// xssTitle and friends are alert text an attacker controls.
const (
	xssTitle   = `<script>alert("title")</script>`
	xssNote    = `<img src=x onerror=alert("note")>`
	xssRunbook = `javascript:alert("runbook")`
	xssSource  = `javascript:alert("source")`
)

// openDB opens a fresh bbolt database in a temporary directory.
func openDB(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "firebreak.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// create stores inc with its entries in one transaction and returns its number.
func create(t testing.TB, db incidents.Store, inc *incidents.Incident, entries ...incidents.Entry) uint64 {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), func(tx incidents.Tx) error {
		inc.Entries = 0
		if err := tx.CreateIncident(inc); err != nil {
			return err
		}
		// Every distinct alert has a record of its own, as intake keeps them.
		for _, a := range inc.Alerts {
			if err := tx.PutAlert(inc.Number, a); err != nil {
				return err
			}
		}
		for _, e := range entries {
			e.Incident = inc.Number
			if err := tx.AppendEntry(&e); err != nil {
				return err
			}
			inc.Entries++
		}
		return tx.PutIncident(inc)
	}))
	return inc.Number
}

// seed stores three incidents: #1 resolved with a full story, #2 open and
// full of XSS payloads, #3 declared by hand and acknowledged.
func seed(t testing.TB, db incidents.Store) {
	t.Helper()
	opened := now.Add(-26 * time.Hour)
	create(t, db, &incidents.Incident{
		Title: "HighErrorRate api-gateway", Severity: incidents.SEV1, Status: incidents.StatusResolved,
		Service: "api-gateway", Playbook: "default", Fingerprint: "fp1", AlertCount: 3,
		Trigger: incidents.Alert{Source: "alertmanager", Name: "HighErrorRate", Title: "HighErrorRate api-gateway",
			Text: "5xx above 5% for 5m", Service: "api-gateway", Severity: incidents.SEV1,
			Labels:      map[string]string{"alertname": "HighErrorRate", "service": "api-gateway"},
			Annotations: map[string]string{"runbook_url": "https://runbooks.example.com/high-error-rate", "description": "5xx above 5%"},
			URL:         "https://prometheus.example.com/graph?g0.expr=errors", StartsAt: opened.Add(-3 * time.Minute)},
		Alerts: []incidents.AlertState{{Fingerprint: "fp1", Name: "HighErrorRate", Instance: "api-gateway-7", Count: 3, FirstSeen: opened, LastSeen: opened.Add(20 * time.Minute),
			URL: "https://prometheus.example.com/graph?g0.expr=errors", Annotations: map[string]string{"runbook_url": "https://runbooks.example.com/high-error-rate"}}},
		DistinctAlerts: 1,
		Steps:          []incidents.StepState{{ID: "triage", Title: "Triage the alert", Status: incidents.StepDone, By: ana, At: opened.Add(5 * time.Minute)}, {ID: "comms", Title: "Tell customers", Status: incidents.StepSkipped, By: bo, At: opened.Add(9 * time.Minute), Note: "internal only"}},
		Current:        2,
		Commander:      &ana,
		DetectedAt:     opened.Add(-3 * time.Minute), OpenedAt: opened,
		AcknowledgedAt: opened.Add(2 * time.Minute), AcknowledgedBy: ana,
		MitigatedAt: opened.Add(30 * time.Minute), MitigatedBy: incidents.Bot,
		ResolvedAt: opened.Add(45 * time.Minute), ResolvedBy: ana, UpdatedAt: opened.Add(45 * time.Minute),
		Summary: "rolled back the deploy",
	},
		incidents.Entry{At: opened, Kind: incidents.EntryAlert, Actor: incidents.Bot, Text: "HighErrorRate api-gateway"},
		incidents.Entry{At: opened.Add(2 * time.Minute), Kind: incidents.EntryAcknowledged, Actor: ana, Text: "acknowledged and took command"},
		incidents.Entry{At: opened.Add(4 * time.Minute), Kind: incidents.EntryNote, Actor: ana, Text: "error rate follows the 13:50 deploy"},
		incidents.Entry{At: opened.Add(5 * time.Minute), Kind: incidents.EntryStepDone, Actor: ana, Step: "triage", Text: "Triage the alert"},
		incidents.Entry{At: opened.Add(9 * time.Minute), Kind: incidents.EntryStepSkipped, Actor: bo, Step: "comms", Text: "Tell customers"},
		incidents.Entry{At: opened.Add(12 * time.Minute), Kind: incidents.EntryStatusUpdate, Actor: ana, Text: "rolling back"},
		incidents.Entry{At: opened.Add(30 * time.Minute), Kind: incidents.EntryMitigated, Actor: incidents.Bot, Text: "every alert resolved"},
		incidents.Entry{At: opened.Add(40 * time.Minute), Kind: incidents.EntryFollowUp, Actor: bo, Text: "add a canary stage to deploys"},
		incidents.Entry{At: opened.Add(45 * time.Minute), Kind: incidents.EntryResolved, Actor: ana, Text: "rolled back the deploy"},
	)
	opened2 := now.Add(-20 * time.Minute)
	create(t, db, &incidents.Incident{
		Title: xssTitle, Severity: incidents.SEV2, Status: incidents.StatusTriggered, Service: "payments-db",
		Fingerprint: "fp2", AlertCount: 1, DistinctAlerts: 1, FiringAlerts: 1,
		Trigger: incidents.Alert{Source: "generic", Title: xssTitle, Text: xssNote,
			Annotations: map[string]string{"runbook_url": xssRunbook}, URL: xssSource},
		Alerts: []incidents.AlertState{{Fingerprint: "fp2", Title: xssTitle, Instance: xssNote, Firing: true, Count: 1, FirstSeen: opened2, LastSeen: opened2,
			URL: xssSource, Annotations: map[string]string{"runbook": xssRunbook}}},
		OpenedAt: opened2, UpdatedAt: opened2, LastUpdate: xssNote,
	},
		incidents.Entry{At: opened2, Kind: incidents.EntryAlert, Actor: incidents.Bot, Text: xssTitle},
		incidents.Entry{At: opened2.Add(time.Minute), Kind: incidents.EntryNote, Actor: incidents.Actor{Name: xssNote}, Text: xssNote},
		incidents.Entry{At: opened2.Add(2 * time.Minute), Kind: incidents.EntryFollowUp, Actor: bo, Text: xssNote},
	)
	opened3 := now.Add(-3 * time.Hour)
	create(t, db, &incidents.Incident{
		Title: "Checkout slow for EU customers", Severity: incidents.SEV3, Status: incidents.StatusAcknowledged,
		Service: "checkout", DeclaredBy: bo, OpenedAt: opened3, AcknowledgedAt: opened3.Add(10 * time.Minute), AcknowledgedBy: bo, UpdatedAt: opened3,
	},
		incidents.Entry{At: opened3, Kind: incidents.EntryDeclared, Actor: bo, Text: "Checkout slow for EU customers"},
		incidents.Entry{At: opened3.Add(10 * time.Minute), Kind: incidents.EntryAcknowledged, Actor: bo, Text: "acknowledged"},
	)
}

// newServer builds a web view over db with the fixtures' clock.
func newServer(t testing.TB, db incidents.Store) *Server {
	t.Helper()
	svc := incidents.NewService(db, playbooks.Default(), incidents.WithClock(func() time.Time { return now }))
	s, err := New(Config{Store: db, Postmortems: svc, Password: testPassword, FailDelay: time.Millisecond,
		Refresh: time.Nanosecond, Now: func() time.Time { return now }})
	require.NoError(t, err)
	return s
}

// client is a browser-like client: it keeps cookies and does not follow
// redirects, so tests see them.
func client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login signs c in to the server at base.
func login(t testing.TB, c *http.Client, base string) {
	t.Helper()
	resp, err := c.PostForm(base+Prefix+"/login", url.Values{"password": {testPassword}, "next": {Prefix + "/incidents"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

// get fetches path and returns status and body.
func get(t testing.TB, c *http.Client, base, path string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(base + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// startServer serves s on a loopback port.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}
