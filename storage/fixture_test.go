package storage_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

// schema2Fixture is what testdata/schema2.json holds: every incident of
// testdata/schema2.db as the Firebreak that wrote it (schema version 2)
// read it back, with its timeline, so the upgrade test can check that
// nothing was lost.
type schema2Fixture struct {
	Incidents []schema2Incident `json:"incidents"`
	// Fingerprints is the grouping index (fingerprint or group key →
	// open incident), recorded from schema 5 on.
	Fingerprints map[string]uint64 `json:"fingerprints,omitempty"`
	// Alerts is every distinct alert of every incident as Alerts streams
	// them, recorded from schema 6 on.
	Alerts map[uint64][]incidents.AlertState `json:"alerts,omitempty"`
}

// fingerprintLister is what storage's read transactions offer besides
// incidents.ReadTx for `firebreak migrate`: the whole grouping index.
type fingerprintLister interface {
	Fingerprints(fn func(fp string, number uint64) error) error
}

// readFingerprints is the grouping index of db, through Fingerprints.
func readFingerprints(t *testing.T, db *storage.DB) map[string]uint64 {
	t.Helper()
	got := map[string]uint64{}
	require.NoError(t, db.View(context.Background(), func(tx incidents.ReadTx) error {
		return tx.(fingerprintLister).Fingerprints(func(fp string, n uint64) error {
			got[fp] = n
			return nil
		})
	}))
	return got
}

type schema2Incident struct {
	Incident *incidents.Incident `json:"incident"`
	Timeline []incidents.Entry   `json:"timeline"`
}

// TestWriteSchema2Fixture wrote testdata/schema2.db.gz and schema2.json with
// the code of schema version 2 (commit "storage: schema 2 fixture"). It runs
// only when FIREBREAK_WRITE_SCHEMA2 is set; the files must never be rewritten
// by later code, or the upgrade test would test nothing.
func TestWriteSchema2Fixture(t *testing.T) {
	if os.Getenv("FIREBREAK_WRITE_SCHEMA2") == "" {
		t.Skip("set FIREBREAK_WRITE_SCHEMA2=1 to rewrite the schema 2 fixture (only with schema 2 code)")
	}
	writeFixture(t, "schema2", false)
}

// TestWriteSchema3Fixture wrote testdata/schema3.db.gz and schema3.json
// with the code of schema version 3 (incident records in JSON), the same
// story as schema 2 plus an incident whose steps, roles and participants
// are filled. It runs only when FIREBREAK_WRITE_SCHEMA3 is set; the files
// must never be rewritten by later code.
func TestWriteSchema3Fixture(t *testing.T) {
	if os.Getenv("FIREBREAK_WRITE_SCHEMA3") == "" {
		t.Skip("set FIREBREAK_WRITE_SCHEMA3=1 to rewrite the schema 3 fixture (only with schema 3 code)")
	}
	writeFixture(t, "schema3", true)
}

// TestWriteSchema4Fixture wrote testdata/schema4.db.gz and schema4.json
// with the code of schema version 4 (binary incident records; timeline
// entries and alert records in their first binary form), the same story as
// schema 3. It runs only when FIREBREAK_WRITE_SCHEMA4 is set; the files must
// never be rewritten by later code.
func TestWriteSchema4Fixture(t *testing.T) {
	if os.Getenv("FIREBREAK_WRITE_SCHEMA4") == "" {
		t.Skip("set FIREBREAK_WRITE_SCHEMA4=1 to rewrite the schema 4 fixture (only with schema 4 code)")
	}
	writeFixture(t, "schema4", true)
}

// TestWriteSchema5Fixture wrote testdata/schema5.db.gz and schema5.json
// with the code of schema version 5 (before the fingerprint log), the same
// story as schema 4, and the grouping index recorded. It runs only when
// FIREBREAK_WRITE_SCHEMA5 is set; the files must never be rewritten by
// later code.
func TestWriteSchema5Fixture(t *testing.T) {
	if os.Getenv("FIREBREAK_WRITE_SCHEMA5") == "" {
		t.Skip("set FIREBREAK_WRITE_SCHEMA5=1 to rewrite the schema 5 fixture (only with schema 5 code)")
	}
	writeFixture(t, "schema5", true)
}

// TestWriteSchema6Fixture wrote testdata/schema6.db.gz and schema6.json
// with the code of schema version 6 (new alerts with hashed fingerprints
// logged in alerts_recent, content and counters, then folded into alerts
// and alert_state), the same story as schema 5 plus incident #6, whose
// alerts arrived after it opened: some folded, some still in the log,
// some of both repeated. It runs only when FIREBREAK_WRITE_SCHEMA6 is
// set; the files must never be rewritten by later code.
func TestWriteSchema6Fixture(t *testing.T) {
	if os.Getenv("FIREBREAK_WRITE_SCHEMA6") == "" {
		t.Skip("set FIREBREAK_WRITE_SCHEMA6=1 to rewrite the schema 6 fixture (only with schema 6 code)")
	}
	writeFixtureWith(t, "schema6", true, true)
}

// writeFixture writes testdata/<name>.db.gz and <name>.json with the code
// of today; more adds incident #5 (steps walked, roles, a channel home).
func writeFixture(t *testing.T, name string, more bool) { writeFixtureWith(t, name, more, false) }

// writeFixtureWith is writeFixture; logged adds incident #6 (alerts
// joining an open incident, folded and logged) and records every alert.
func writeFixtureWith(t *testing.T, name string, more, logged bool) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, name+".db")
	db, err := storage.Open(path, storage.Options{SeenTTL: -1})
	require.NoError(t, err)
	storage.SetLogLimits(db, 5, 40) // some entries folded, some still in the recent log
	books := playbooks.Default()
	books.Grouping.GroupBy = []string{"alertname", "service"}
	now := t0
	svc := incidents.NewService(db, books, incidents.WithClock(func() time.Time { return now }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	o := incidents.Origin{Actor: incidents.Bot, Home: home}
	alert := func(name, service, instance string, status incidents.AlertStatus) incidents.Alert {
		return incidents.Alert{Source: "alertmanager", Status: status, Name: name, Title: name + " on " + instance,
			Service: service, Severity: incidents.SEV2, URL: "http://prometheus.example/graph",
			Labels:   map[string]string{"alertname": name, "service": service, "instance": instance},
			StartsAt: t0.Add(-time.Minute)}
	}
	ev := 0
	send := func(alerts ...incidents.Alert) {
		ev++
		now = now.Add(time.Second)
		o.EventID = fmt.Sprintf("am-%d", ev)
		_, err := svc.ReceiveAlerts(ctx, o, alerts)
		require.NoError(t, err)
	}
	// #1: a storm in one group: 12 distinct pods, repeated (alert_counts
	// records), two of them resolved, acknowledged in between.
	for round := range 4 {
		var batch []incidents.Alert
		for i := range 12 {
			batch = append(batch, alert("PodCrashLooping", "checkout", fmt.Sprintf("pod-%d", i), incidents.AlertFiring))
		}
		send(batch...)
		if round == 1 {
			_, err := svc.Acknowledge(ctx, incidents.Origin{Actor: alice, Home: home}, 1)
			require.NoError(t, err)
		}
	}
	send(alert("PodCrashLooping", "checkout", "pod-3", incidents.AlertResolved), alert("PodCrashLooping", "checkout", "pod-7", incidents.AlertResolved))
	send(alert("PodCrashLooping", "checkout", "pod-0", incidents.AlertFiring)) // counter-only change last
	// #2: one alert, all resolved: mitigated by Firebreak, then resolved.
	send(alert("DiskFull", "db", "db-1", incidents.AlertFiring))
	send(alert("DiskFull", "db", "db-1", incidents.AlertFiring))
	send(alert("DiskFull", "db", "db-1", incidents.AlertResolved))
	_, err = svc.Resolve(ctx, incidents.Origin{Actor: alice, Home: home}, 2, "disk cleaned")
	require.NoError(t, err)
	// #3: declared by hand, with a note.
	_, err = svc.Declare(ctx, incidents.Origin{Actor: alice, Home: home}, "Checkout slow", incidents.SEV3)
	require.NoError(t, err)
	_, err = svc.AddNote(ctx, incidents.Origin{Actor: alice, Home: home}, 3, "looking at the cache")
	require.NoError(t, err)
	// #4: another group, still firing.
	send(alert("HighLatency", "api", "api-1", incidents.AlertFiring), alert("HighLatency", "api", "api-2", incidents.AlertFiring))
	send(alert("HighLatency", "api", "api-1", incidents.AlertFiring))
	if more {
		// #5: opened by an alert with annotations, acknowledged, steps done
		// and skipped, roles assigned, a status update, mitigated by hand.
		a := alert("ErrorRate", "payments", "pay-1", incidents.AlertFiring)
		a.Annotations = map[string]string{"summary": "payments 5xx above 5%", "runbook_url": "https://runbooks.example/errors"}
		a.Text = "error rate 7.2%"
		send(a)
		by := incidents.Origin{Actor: alice, Home: home}
		_, err = svc.Acknowledge(ctx, by, 5)
		require.NoError(t, err)
		inc, err := svc.Get(ctx, 5)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(inc.Steps), 2)
		_, err = svc.StepDone(ctx, by, 5, inc.Steps[0].ID, "confirmed on the dashboard")
		require.NoError(t, err)
		_, err = svc.StepSkip(ctx, by, 5, inc.Steps[1].ID, "nobody to tell")
		require.NoError(t, err)
		_, err = svc.AssignRole(ctx, by, 5, incidents.RoleCommander, incidents.Actor{Platform: "slack", ID: "U2", Name: "Bo"})
		require.NoError(t, err)
		_, err = svc.AssignRole(ctx, by, 5, incidents.RoleResponder, incidents.Actor{Platform: "slack", ID: "U3", Name: "Cy"})
		require.NoError(t, err)
		_, err = svc.PostUpdate(ctx, by, 5, "rolled back; watching")
		require.NoError(t, err)
		_, err = svc.Mitigate(ctx, by, 5)
		require.NoError(t, err)
	}
	if logged {
		// #6: one alert opens it; 19 more join it in four batches. Their
		// fingerprints are hashes, so those that land between the
		// incident's keys go to the alert log; a fold every 6 leaves some
		// folded and some still logged. Then a repeat of every one.
		storage.SetAlertSpill(db, 6)
		queue := func(i int) incidents.Alert {
			a := alert("QueueBacklog", "orders", fmt.Sprintf("queue-%d", i), incidents.AlertFiring)
			a.Annotations = map[string]string{"summary": fmt.Sprintf("queue %d backlog above 10k", i)}
			return a
		}
		send(queue(0))
		for b := range 4 {
			var batch []incidents.Alert
			for i := range 5 {
				if n := 1 + 5*b + i; n < 20 {
					batch = append(batch, queue(n))
				}
			}
			send(batch...)
		}
		var again []incidents.Alert
		for i := range 20 {
			a := queue(i)
			if i%4 == 0 {
				a.Text = "still growing"
			}
			again = append(again, a)
		}
		send(again...)
		require.Positive(t, storage.LoggedAlerts(db), "some of #6's alerts still in the log")
	}

	var fx schema2Fixture
	require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			si := schema2Incident{Incident: inc}
			err := tx.Entries(inc.Number, 0, func(e incidents.Entry) error {
				si.Timeline = append(si.Timeline, e)
				return nil
			})
			fx.Incidents = append(fx.Incidents, si)
			return err
		})
	}))
	fx.Fingerprints = readFingerprints(t, db)
	if logged {
		fx.Alerts = map[uint64][]incidents.AlertState{}
		require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
			for _, si := range fx.Incidents {
				n := si.Incident.Number
				if err := tx.Alerts(n, func(a incidents.AlertState) error {
					fx.Alerts[n] = append(fx.Alerts[n], a)
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(t, db.Close())
	js, err := json.MarshalIndent(fx, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile("testdata/"+name+".json", js, 0o644))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile("testdata/"+name+".db.gz", gz.Bytes(), 0o644))
}
