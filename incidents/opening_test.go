package incidents_test

import (
	"context"
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// An alert that opens an incident and what follows it in the same batch:
// the batch keeps the opening alert's record outside its map of records
// (touchedIncident.first), and every later alert of the batch must still
// find it.
func TestOpeningAlertLaterInItsBatch(t *testing.T) {
	crash := func(instance string, status incidents.AlertStatus) incidents.Alert {
		return incidents.Alert{Source: "alertmanager", Status: status, Name: "PodCrashLooping", Title: "checkout pod crash-looping",
			Service: "checkout", Labels: map[string]string{"alertname": "PodCrashLooping", "service": "checkout", "instance": instance}}
	}
	tests := []struct {
		name                         string
		batch                        []incidents.Alert
		alertCount, distinct, firing int
		status                       incidents.Status
		firstCount                   int
		firstFiring                  bool
		wantKinds                    []incidents.EntryKind
		created, repeats             int
	}{
		{name: "opened alone", batch: []incidents.Alert{crash("a", "")},
			alertCount: 1, distinct: 1, firing: 1, status: incidents.StatusTriggered, firstCount: 1, firstFiring: true,
			wantKinds: []incidents.EntryKind{incidents.EntryAlert}, created: 1},
		{name: "repeated", batch: []incidents.Alert{crash("a", ""), crash("a", ""), crash("a", "")},
			alertCount: 3, distinct: 1, firing: 1, status: incidents.StatusTriggered, firstCount: 3, firstFiring: true,
			wantKinds: []incidents.EntryKind{incidents.EntryAlert}, created: 1, repeats: 2},
		{name: "joined by another of its group", batch: []incidents.Alert{crash("a", ""), crash("b", ""), crash("a", "")},
			alertCount: 3, distinct: 2, firing: 2, status: incidents.StatusTriggered, firstCount: 2, firstFiring: true,
			wantKinds: []incidents.EntryKind{incidents.EntryAlert, incidents.EntryAlert}, created: 1, repeats: 2},
		{name: "resolved", batch: []incidents.Alert{crash("a", ""), crash("a", incidents.AlertResolved)},
			alertCount: 1, distinct: 1, firing: 0, status: incidents.StatusMitigated, firstCount: 1, firstFiring: false,
			wantKinds: []incidents.EntryKind{incidents.EntryAlert, incidents.EntryAlertResolved, incidents.EntryMitigated}, created: 1},
		{name: "resolved and fired again", batch: []incidents.Alert{crash("a", ""), crash("a", incidents.AlertResolved), crash("a", "")},
			alertCount: 2, distinct: 1, firing: 1, status: incidents.StatusTriggered, firstCount: 2, firstFiring: true,
			wantKinds: []incidents.EntryKind{incidents.EntryAlert, incidents.EntryAlertResolved, incidents.EntryMitigated,
				incidents.EntryAlertRepeat, incidents.EntryReopened}, created: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, nil)
			outs, err := f.svc.ReceiveAlerts(ctx, by(incidents.Bot), tt.batch)
			require.NoError(t, err)
			require.Len(t, outs, len(tt.batch))
			created, repeats := 0, 0
			for _, out := range outs {
				if out.Created {
					created++
				}
				if out.Repeat {
					repeats++
				}
			}
			assert.Equal(t, tt.created, created, "created")
			assert.Equal(t, tt.repeats, repeats, "repeats")

			inc, err := f.svc.Get(ctx, 1)
			require.NoError(t, err)
			assert.Equal(t, tt.alertCount, inc.AlertCount, "alert count")
			assert.Equal(t, tt.distinct, inc.DistinctAlerts, "distinct alerts")
			assert.Equal(t, tt.firing, inc.FiringAlerts, "firing alerts")
			assert.Equal(t, tt.status, inc.Status)
			require.NotEmpty(t, inc.Alerts)
			first := inc.Alerts[0]
			assert.Equal(t, "a", first.Instance)
			assert.Equal(t, tt.firstCount, first.Count, "the opening alert's count")
			assert.Equal(t, tt.firstFiring, first.Firing, "the opening alert fires")
			assert.Equal(t, tt.wantKinds, kinds(t, f.svc, 1))
			assert.Equal(t, *inc, *outs[len(outs)-1].Incident, "the outcome is what was stored")

			_, err = f.svc.Get(ctx, 2)
			assert.ErrorIs(t, err, incidents.ErrNotFound, "one incident only")
		})
	}
}

// An incident keeps a copy of the labels of the alert that opened it,
// shared by its trigger: the caller may change its alert afterwards.
func TestOpenedIncidentKeepsItsOwnLabels(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a := errorAlert()
	a.Text = "  5xx rate 17%  \n"
	a.Labels = map[string]string{"alertname": "HighErrorRate", "env": "prod"}
	a.Annotations = map[string]string{"summary": "errors"}
	want := maps.Clone(a.Labels)
	out, err := f.svc.ReceiveAlert(ctx, by(incidents.Bot), a)
	require.NoError(t, err)
	require.True(t, out.Created)
	a.Labels["env"] = "changed by the caller"
	a.Annotations["summary"] = "changed by the caller"

	stored, err := f.svc.Get(ctx, out.Incident.Number)
	require.NoError(t, err)
	for name, inc := range map[string]*incidents.Incident{"outcome": out.Incident, "stored": stored} {
		assert.Equal(t, want, inc.Labels, name)
		assert.Equal(t, want, inc.Trigger.Labels, name+": the trigger's labels")
		assert.Equal(t, map[string]string{"summary": "errors"}, inc.Trigger.Annotations, name)
		assert.Equal(t, "5xx rate 17%", inc.Trigger.Text, name+": the trigger's text is trimmed")
	}
	c := out.Incident.Clone()
	c.Labels["env"] = "staging"
	assert.Equal(t, "prod", c.Trigger.Labels["env"], "a clone's labels and trigger labels are copies of their own")
	assert.Equal(t, "prod", out.Incident.Labels["env"])
}

// A batch that opens several incidents, as a storm of alerts that each
// open one does, between repeats of them: each alert lands on its own.
func TestBatchOpeningSeveralIncidents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	alert := func(name string) incidents.Alert {
		return incidents.Alert{Source: "alertmanager", Name: name, Title: name + " fires", Service: "svc-" + name,
			Labels: map[string]string{"alertname": name, "service": "svc-" + name}}
	}
	batch := []incidents.Alert{alert("A"), alert("B"), alert("A"), alert("C"), alert("B"), alert("A")}
	outs, err := f.svc.ReceiveAlerts(ctx, by(incidents.Bot), batch)
	require.NoError(t, err)
	want := []struct {
		number  uint64
		created bool
	}{{1, true}, {2, true}, {1, false}, {3, true}, {2, false}, {1, false}}
	for i, w := range want {
		assert.Equal(t, w.number, outs[i].Incident.Number, "alert %d", i)
		assert.Equal(t, w.created, outs[i].Created, "alert %d", i)
	}
	for n, count := range map[uint64]int{1: 3, 2: 2, 3: 1} {
		inc, err := f.svc.Get(ctx, n)
		require.NoError(t, err)
		assert.Equal(t, count, inc.AlertCount, "incident #%d", n)
		assert.Equal(t, []incidents.EntryKind{incidents.EntryAlert}, kinds(t, f.svc, n), "incident #%d", n)
	}
}
