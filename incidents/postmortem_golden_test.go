package incidents_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// requireTrigger checks that intake recorded the alert that opened
// incident n as its Trigger (the postmortem's Trigger section reads it), as
// monitoring sent it: nothing in these fixtures sets it by hand.
func requireTrigger(t *testing.T, f *fixture, n uint64, a incidents.Alert) {
	t.Helper()
	inc, err := f.svc.Get(context.Background(), n)
	require.NoError(t, err)
	got := inc.Trigger
	require.Equal(t, a.Title, got.Title, "intake fills Incident.Trigger")
	require.Equal(t, a.Name, got.Name)
	require.Equal(t, a.URL, got.URL)
	require.Equal(t, a.Labels, got.Labels)
	require.Equal(t, a.Annotations, got.Annotations)
	require.True(t, a.StartsAt.Equal(got.StartsAt), "the alert's own start time")
}

func must(t *testing.T) func(incidents.Outcome, error) incidents.Outcome {
	return func(out incidents.Outcome, err error) incidents.Outcome {
		t.Helper()
		require.NoError(t, err)
		return out
	}
}

// declaredIncident: opened by hand, comms assigned, an update, action
// items with owner and type, resolved, postmortem in review.
func declaredIncident(t *testing.T) *fixture {
	ctx := context.Background()
	f := newFixture(t, nil)
	ok := must(t)
	ok(f.svc.Declare(ctx, by(alice), "Payments: slow | checkout #2 <b>", incidents.SEV2))
	f.clock.Advance(2 * time.Minute)
	ok(f.svc.AssignRole(ctx, by(alice), 1, incidents.RoleComms, bob))
	f.clock.Advance(3 * time.Minute)
	ok(f.svc.PostUpdate(ctx, by(bob), 1, "Card payments take 20 s; we are on it.\nNext update in 30 min."))
	f.clock.Advance(time.Minute)
	ok(f.svc.StepDone(ctx, by(alice), 1, "", "p99 up on the payments DB"))
	f.clock.Advance(time.Minute)
	ok(f.svc.StepSkip(ctx, by(alice), 1, "communicate", "comms already posted the update"))
	f.clock.Advance(10 * time.Minute)
	ok(f.svc.Mitigate(ctx, by(alice), 1))
	f.clock.Advance(20 * time.Minute)
	ok(f.svc.Resolve(ctx, by(alice), 1, "Failed over the payments DB to the replica."))
	f.clock.Advance(time.Minute)
	ok(f.svc.AddActionItem(ctx, by(bob), 1, incidents.FollowUp{Text: "Alert on DB p99 latency", Owner: alice, Type: "detect"}))
	ok(f.svc.AddActionItem(ctx, by(alice), 1, incidents.FollowUp{Text: "Automate the failover | runbook"}))
	ok(f.svc.DraftPostmortem(ctx, by(alice), 1))
	ok(f.svc.SetPostmortemStatus(ctx, by(alice), 1, incidents.PostmortemInReview))
	return f
}

// stormIncident: an Alertmanager storm of 1,000 distinct alerts in one
// group, 300 of them firing again, then every one resolving.
func stormIncident(t *testing.T) *fixture {
	ctx := context.Background()
	f := newFixture(t, nil)
	ok := must(t)
	alert := func(i int, status incidents.AlertStatus) incidents.Alert {
		inst := fmt.Sprintf("api-%04d", i)
		return incidents.Alert{
			Source: "alertmanager", Status: status, Name: "HighErrorRate", Title: "HighErrorRate " + inst,
			Service: "api-gateway", Severity: incidents.SEV1, Fingerprint: fmt.Sprintf("fp%04d", i),
			Labels:      map[string]string{"alertname": "HighErrorRate", "service": "api-gateway", "instance": inst},
			Annotations: map[string]string{"description": "5xx above 5% on " + inst, "runbook_url": "https://runbooks.example.com/5xx"},
			URL:         "https://prometheus.example.com/graph?g0.expr=rate(" + inst + ")",
			StartsAt:    t0.Add(-2 * time.Minute),
		}
	}
	var batch []incidents.Alert
	for i := range 1000 {
		batch = append(batch, alert(i, incidents.AlertFiring))
	}
	outs, err := f.svc.ReceiveAlerts(ctx, by(incidents.Bot), batch)
	require.NoError(t, err)
	require.True(t, outs[0].Created)
	require.Equal(t, uint64(1), outs[999].Incident.Number, "one group, one incident")
	requireTrigger(t, f, 1, batch[0])
	f.clock.Advance(time.Minute)
	ok(f.svc.Acknowledge(ctx, by(alice), 1))
	f.clock.Advance(time.Minute)
	_, err = f.svc.ReceiveAlerts(ctx, by(incidents.Bot), batch[:300])
	require.NoError(t, err)
	f.clock.Advance(5 * time.Minute)
	var resolved []incidents.Alert
	for i := range 1000 {
		resolved = append(resolved, alert(i, incidents.AlertResolved))
	}
	_, err = f.svc.ReceiveAlerts(ctx, by(incidents.Bot), resolved)
	require.NoError(t, err)
	f.clock.Advance(10 * time.Minute)
	ok(f.svc.Resolve(ctx, by(alice), 1, "Bad config push rolled back."))
	return f
}

// probeIncident: a synthetic probe failed three times in a row.
func probeIncident(t *testing.T) *fixture {
	ctx := context.Background()
	f := newFixture(t, nil)
	ok := must(t)
	a := incidents.Alert{
		Source: "probe", Status: incidents.AlertFiring, Name: "checkout", Title: "Probe checkout failing",
		Text:     "3 consecutive failures: GET https://shop.example.com/checkout returned 503 after 2.1s",
		Service:  "shop",
		Severity: incidents.SEV2, Labels: map[string]string{"probe": "checkout"},
		Annotations: map[string]string{"description": "3 consecutive failures: GET https://shop.example.com/checkout returned 503 after 2.1s"},
		StartsAt:    t0.Add(-90 * time.Second),
	}
	ok(f.svc.ReceiveAlert(ctx, by(incidents.Bot), a))
	requireTrigger(t, f, 1, a)
	f.clock.Advance(4 * time.Minute)
	ok(f.svc.Acknowledge(ctx, by(bob), 1))
	f.clock.Advance(6 * time.Minute)
	a.Status = incidents.AlertResolved
	ok(f.svc.ReceiveAlert(ctx, by(incidents.Bot), a))
	f.clock.Advance(15 * time.Minute)
	ok(f.svc.Resolve(ctx, by(bob), 1, "Restarted the checkout pods."))
	return f
}

// flappingIncident: the alert resolves, fires again within the flap
// window (reopening the incident) twice, then stays resolved.
func flappingIncident(t *testing.T) *fixture {
	ctx := context.Background()
	f := newFixture(t, nil)
	ok := must(t)
	a := errorAlert()
	a.Source, a.Fingerprint, a.StartsAt = "alertmanager", "fpflap", t0.Add(-time.Minute)
	a.URL = "https://alertmanager.example.com/#/alerts?fp=fpflap"
	ok(f.svc.ReceiveAlert(ctx, by(incidents.Bot), a))
	requireTrigger(t, f, 1, a)
	f.clock.Advance(time.Minute)
	ok(f.svc.Acknowledge(ctx, by(alice), 1))
	for range 2 {
		f.clock.Advance(3 * time.Minute)
		a.Status = incidents.AlertResolved
		ok(f.svc.ReceiveAlert(ctx, by(incidents.Bot), a))
		f.clock.Advance(2 * time.Minute)
		a.Status = incidents.AlertFiring
		ok(f.svc.ReceiveAlert(ctx, by(incidents.Bot), a))
	}
	f.clock.Advance(4 * time.Minute)
	a.Status = incidents.AlertResolved
	ok(f.svc.ReceiveAlert(ctx, by(incidents.Bot), a))
	f.clock.Advance(30 * time.Minute)
	ok(f.svc.Resolve(ctx, by(alice), 1, ""))
	return f
}

func render(t *testing.T, f *fixture) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, f.svc.Postmortem(context.Background(), 1, &b))
	return b.String()
}

func TestPostmortemGoldens(t *testing.T) {
	tests := []struct {
		name    string
		build   func(*testing.T) *fixture
		maxRows int
		checks  []string
	}{
		{"declared", declaredIncident, 30, []string{
			"| Postmortem status | in review |",
			"| Authors | alice, bob |",
			"Declared by alice at 2026-11-25 14:00:00 UTC: Payments: slow \\| checkout #2 \\<b\\>.",
			"| 8 | Alert on DB p99 latency | alice | detect | — | open |",
			"| bob | comms | yes |",
			"> Card payments take 20 s; we are on it.\n> Next update in 30 min.",
			"~~Communicate~~ — skipped by alice at 2026-11-25 14:07:00 UTC, because: comms already posted the update",
			"Impact from 2026-11-25 14:00:00 UTC (Firebreak clock) to 2026-11-25 14:17:00 UTC (mitigated, Firebreak's clock): **17m0s**.\n",
			"    title Incident 1 Payments slow checkout 2 b\n",
		}},
		{"storm", stormIncident, 20, []string{
			"| 2026-11-25 14:00:00 UTC | Firebreak | ×1000 alerts grouped in: first alert: HighErrorRate api-0000 … last alert: HighErrorRate api-0999 |",
			"1300 received from 1000 distinct alerts (0 still firing)",
			"_… and 980 more distinct alerts._",
			"×1000 alerts resolved",
			"- Labels: alertname=HighErrorRate, instance=api-0000, service=api-gateway",
			"- Runbook: [runbook](https://runbooks.example.com/5xx)",
			"> 5xx above 5% on api-0000",
			"- HighErrorRate / api-0000 — [source](https://prometheus.example.com/graph?g0.expr=rate%28api-0000%29) — [runbook](https://runbooks.example.com/5xx)",
			"- … and 980 more alerts with links",
			"Alerts received: 1300 from 1000 distinct alerts.",
			"Impact from 2026-11-25 13:58:00 UTC (monitoring clock)",
		}},
		{"probe", probeIncident, 12, []string{
			"**Probe checkout failing** from probe (SEV2), started 2026-11-25 13:58:30 UTC (monitoring clock).",
			"### Probe explanations",
			"> 3 consecutive failures: GET https://shop.example.com/checkout returned 503 after 2.1s",
			"Mitigated at 2026-11-25 14:10:00 UTC by Firebreak.",
		}},
		{"flapping", flappingIncident, 20, []string{
			"reopened the incident 2 times.",
			"Reopened, alert fired again :crit, milestone",
			"- Source: [alert in the source](https://alertmanager.example.com/#/alerts?fp=fpflap)",
			"- HighErrorRate — [source](https://alertmanager.example.com/#/alerts?fp=fpflap)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, tt.build(t))
			golden := filepath.Join("testdata", "postmortem-"+tt.name+".golden.md")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(doc), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./incidents -run Golden -update to create it")
			assert.Equal(t, string(want), doc)
			for _, c := range tt.checks {
				assert.Contains(t, doc, c)
			}
			_, table, _ := strings.Cut(doc, "| Time | Who | Event |\n|---|---|---|\n")
			table, _, _ = strings.Cut(table, "\n\n")
			assert.LessOrEqual(t, strings.Count(table, "\n")+1, tt.maxRows, "timeline rows a person reads")
			assert.Less(t, len(doc), 20_000, "one readable page")
		})
	}
}

func TestCollapseRows(t *testing.T) {
	e := func(kind incidents.EntryKind, text string) incidents.Entry {
		return incidents.Entry{Kind: kind, Text: text, Actor: alice}
	}
	tests := []struct {
		name string
		in   []incidents.Entry
		want []int // counts of the rows
	}{
		{"empty", nil, nil},
		{"two alike stay two rows", []incidents.Entry{e("note", "x"), e("note", "x")}, []int{1, 1}},
		{"three alike collapse", []incidents.Entry{e("note", "x"), e("note", "x"), e("note", "x")}, []int{3}},
		{"different notes do not", []incidents.Entry{e("note", "x"), e("note", "y"), e("note", "z")}, []int{1, 1, 1}},
		{"distinct alerts do", []incidents.Entry{e("alert", "a"), e("alert", "b"), e("alert", "c"), e("note", "n")}, []int{3, 1}},
		{"runs split by other entries", []incidents.Entry{e("alert", "a"), e("alert", "b"), e("note", "n"), e("alert", "c"), e("alert", "d"), e("alert", "e")}, []int{1, 1, 1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for r := range incidents.CollapseRows(func(yield func(incidents.Entry) bool) {
				for _, x := range tt.in {
					if !yield(x) {
						return
					}
				}
			}) {
				got = append(got, r.Count)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPostmortemStatusMovesForward(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	ok := must(t)
	ok(f.svc.Declare(ctx, by(alice), "x", incidents.SEV3))
	_, err := f.svc.SetPostmortemStatus(ctx, by(alice), 1, incidents.PostmortemInReview)
	assert.ErrorIs(t, err, incidents.ErrInvalidTransition, "open incident")
	ok(f.svc.Resolve(ctx, by(alice), 1, ""))
	_, err = f.svc.SetPostmortemStatus(ctx, by(alice), 1, incidents.PostmortemFinal)
	assert.ErrorContains(t, err, "no postmortem yet")
	out := ok(f.svc.DraftPostmortem(ctx, by(alice), 1))
	assert.Equal(t, incidents.PostmortemDraft, out.Incident.PostmortemStatus)
	ok(f.svc.SetPostmortemStatus(ctx, by(alice), 1, incidents.PostmortemFinal))
	out = ok(f.svc.DraftPostmortem(ctx, by(alice), 1))
	assert.Equal(t, incidents.PostmortemFinal, out.Incident.PostmortemStatus, "writing again never moves it back")
	_, err = f.svc.SetPostmortemStatus(ctx, by(alice), 1, incidents.PostmortemInReview)
	assert.ErrorIs(t, err, incidents.ErrInvalidTransition)
	assert.Equal(t, []incidents.EntryKind{"declared", "resolved", "postmortem", "postmortem"}, kinds(t, f.svc, 1))
}

func TestReviewBy(t *testing.T) {
	tests := map[string]string{
		"2026-11-25": "2026-12-02", // Wednesday → next Wednesday
		"2026-11-27": "2026-12-04", // Friday → next Friday
		"2026-11-28": "2026-12-04", // Saturday → Friday
		"2026-11-29": "2026-12-04", // Sunday → Friday
	}
	for in, want := range tests {
		d, err := time.Parse("2006-01-02", in)
		require.NoError(t, err)
		assert.Equal(t, want, incidents.ReviewBy(d).Format("2006-01-02"), in)
	}
	assert.True(t, incidents.ReviewBy(time.Time{}).IsZero())
}

// TestCustomTemplateSeesEverything renders the example of docs/incidents.md
// and a template touching every field the default one uses.
func TestCustomTemplateSeesEverything(t *testing.T) {
	f := declaredIncident(t)
	dir := t.TempDir()
	tmpl := "# {{md .Incident.Title}} ({{.Incident.Severity}}) — {{.Status}}\n\n```mermaid\n{{.Gantt}}```\n\n" +
		"{{range .Rows}}{{row .}}{{end}}\n" +
		"{{range .ActionItems}}- {{md .Text}} ({{.Owner}}) {{if .URL}}{{link .Key .URL}}{{end}}\n{{end}}" +
		"authors={{range .Authors}}{{actor .}};{{end}} date={{date .Date}} impact={{duration .Impact.Duration}} {{.Impact.StartClock}} mixed={{.Impact.MixedClocks}}\n" +
		"trigger={{if .Trigger}}yes{{else}}none{{end}} reopened={{.Reopened}} review={{date .ReviewBy}} keys={{len .KeyEvents}}+{{.MoreKeyEvents}}\n" +
		"{{range .Responders}}{{.Name}}:{{roles .Roles}}:{{.Acted}} {{end}}\n" +
		"{{range .SkippedSteps}}skipped {{md .Title}}: {{md .Note}}{{end}} links={{len .AlertLinks}} probes={{len .Probes}} pm={{.Incident.PostmortemStatus}} diagram={{diagram \"a: b\"}}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pm.tmpl"), []byte(tmpl), 0o600))
	path := filepath.Join(dir, "playbooks.yaml")
	require.NoError(t, os.WriteFile(path, []byte(testConfig+"postmortem:\n  template: pm.tmpl\n"), 0o600))
	cfg, err := playbooks.Load(path)
	require.NoError(t, err)
	svc := incidents.NewService(f.store, cfg, incidents.WithClock(f.clock.Now))
	var b bytes.Buffer
	require.NoError(t, svc.Postmortem(context.Background(), 1, &b))
	doc := b.String()
	for _, want := range []string{
		"# Payments: slow \\| checkout #2 \\<b\\> (SEV2) — in review",
		"```mermaid\ngantt\n    title Incident 1 Payments slow checkout 2 b\n",
		"- Alert on DB p99 latency (alice) \n",
		"authors=alice;bob; date=2026-11-25 (Wednesday) impact=17m0s Firebreak mixed=false",
		"trigger=none reopened=0 review=2026-12-02 (Wednesday) keys=5+0",
		"alice:commander, responder, declared:true bob:comms:true",
		"skipped Communicate: comms already posted the update links=0 probes=0 pm=in review diagram=a b",
	} {
		assert.Contains(t, doc, want)
	}
}

func TestTrackerMarker(t *testing.T) {
	assert.Equal(t, "firebreak-4-followup-9", incidents.TrackerMarker(4, 9, time.Time{}))
	a := incidents.TrackerMarker(4, 9, t0)
	b := incidents.TrackerMarker(4, 9, t0.Add(time.Nanosecond))
	assert.True(t, strings.HasPrefix(a, "firebreak-4-followup-9-"), a)
	assert.NotEqual(t, a, b, "another database's incident #4 has another marker")
	assert.NotContains(t, a, " ", "a Jira label")
}

// TestCustomTemplateSeesAlertRecords renders the storm with a template
// using the alert aggregate fields docs/incidents.md lists.
func TestCustomTemplateSeesAlertRecords(t *testing.T) {
	f := stormIncident(t)
	dir := t.TempDir()
	tmpl := "total={{.Alerts.Total}} distinct={{.Alerts.Distinct}} firing={{.Alerts.Firing}} more={{.Alerts.More}} linked={{len .Alerts.Linked}}+{{.Alerts.MoreLinked}}\n" +
		"{{range .Alerts.Names}}name={{.Name}}:{{.Distinct}}:{{.Firing}}:{{.Count}} {{end}}more-names={{.Alerts.MoreNames}}\n" +
		"{{with index .Alerts.Top 0}}top={{.Label}} {{.Name}} {{.Instance}} {{.Fingerprint}} {{.Firing}} {{.Count}} {{utc .FirstSeen}} {{utc .LastSeen}} {{.URL}} {{.Runbook}}{{end}}\n" +
		"{{with index .AlertLinks 0}}link={{.Name}} {{.URL}} {{.Runbook}}{{end}} more-links={{.MoreAlertLinks}}\n" +
		"incident={{.Incident.DistinctAlerts}}/{{.Incident.FiringAlerts}}/{{len .Incident.Alerts}}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pm.tmpl"), []byte(tmpl), 0o600))
	path := filepath.Join(dir, "playbooks.yaml")
	require.NoError(t, os.WriteFile(path, []byte(testConfig+"postmortem:\n  template: pm.tmpl\n"), 0o600))
	cfg, err := playbooks.Load(path)
	require.NoError(t, err)
	svc := incidents.NewService(f.store, cfg, incidents.WithClock(f.clock.Now))
	var b bytes.Buffer
	require.NoError(t, svc.Postmortem(context.Background(), 1, &b))
	assert.Equal(t, "total=1300 distinct=1000 firing=0 more=980 linked=20+980\n"+
		"name=HighErrorRate:1000:0:1300 more-names=0\n"+
		"top=HighErrorRate / api-0000 HighErrorRate api-0000 fp0000 false 2 2026-11-25 14:00:00 UTC 2026-11-25 14:02:00 UTC https://prometheus.example.com/graph?g0.expr=rate(api-0000) https://runbooks.example.com/5xx\n"+
		"link=HighErrorRate / api-0000 https://prometheus.example.com/graph?g0.expr=rate(api-0000) https://runbooks.example.com/5xx more-links=980\n"+
		"incident=1000/0/5\n", b.String())
}
