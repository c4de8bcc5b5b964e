package storage_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

// openSchema2Copy unpacks testdata/schema2.db.gz (written by the schema 2
// Firebreak, see TestWriteSchema2Fixture) into a temporary file.
func openSchema2Copy(t *testing.T) (string, schema2Fixture) {
	t.Helper()
	path, fx := openFixtureCopy(t, "schema2")
	require.Len(t, fx.Incidents, 4)
	return path, fx
}

// openFixtureCopy unpacks testdata/<name>.db.gz into a temporary file and
// reads <name>.json.
func openFixtureCopy(t *testing.T, name string) (string, schema2Fixture) {
	t.Helper()
	f, err := os.Open("testdata/" + name + ".db.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "firebreak.db")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = io.Copy(out, zr)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	js, err := os.ReadFile("testdata/" + name + ".json")
	require.NoError(t, err)
	var fx schema2Fixture
	require.NoError(t, json.Unmarshal(js, &fx))
	return path, fx
}

// A database written by the schema 2 Firebreak opens in place: every
// incident, every alert's count and every timeline entry is still there,
// the alerts now as records of their own, and intake carries on with them.
func TestSchema2UpgradesInPlace(t *testing.T) {
	ctx := context.Background()
	path, fx := openSchema2Copy(t)
	db := open(t, path)
	for _, want := range fx.Incidents {
		n := want.Incident.Number
		got := readBoth(t, db, n)
		assert.Equal(t, want.Incident.AlertCount, got.AlertCount, "#%d", n)
		assert.Equal(t, len(want.Incident.Alerts), got.DistinctAlerts, "#%d", n)
		firing := 0
		wantAlerts := map[string]incidents.AlertState{}
		for _, a := range want.Incident.Alerts {
			wantAlerts[a.Fingerprint] = a
			if a.Firing {
				firing++
			}
		}
		assert.Equal(t, firing, got.FiringAlerts, "#%d", n)
		assert.LessOrEqual(t, len(got.Alerts), incidents.MaxCardAlerts)
		require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
			seen := 0
			err := tx.Alerts(n, func(a incidents.AlertState) error {
				seen++
				w, ok := wantAlerts[a.Fingerprint]
				if assert.True(t, ok, "#%d: alert %s", n, a.Fingerprint) {
					assert.Equal(t, w.Name, a.Title, "schema 2 kept the title in Name")
					assert.Equal(t, w.Count, a.Count)
					assert.Equal(t, w.Firing, a.Firing)
					assert.True(t, w.FirstSeen.Equal(a.FirstSeen))
					assert.True(t, w.LastSeen.Equal(a.LastSeen))
				}
				return nil
			})
			assert.Equal(t, len(wantAlerts), seen, "#%d", n)
			return err
		}))
		// Everything but the alert fields is exactly what schema 2 read.
		w, g := *want.Incident, *got
		w.Alerts, g.Alerts = nil, nil
		g.DistinctAlerts, g.FiringAlerts = 0, 0
		g.FirstAlertAt, g.LastAlertAt = w.FirstAlertAt, w.LastAlertAt
		assert.Equal(t, w, g, "#%d", n)

		var entries []incidents.Entry
		require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
			return tx.Entries(n, 0, func(e incidents.Entry) error {
				entries = append(entries, e)
				return nil
			})
		}))
		assert.Equal(t, want.Timeline, entries, "timeline of #%d", n)
	}
	assert.Equal(t, uint64(4), db.Stats().Incidents)

	// Intake goes on with the upgraded records: a repeat counts on its
	// record, and once every alert of #4 resolves it is mitigated.
	svc := service(t, db)
	o := incidents.Origin{Actor: incidents.Bot, Home: home, EventID: "after-upgrade"}
	var four schema2Incident
	for _, si := range fx.Incidents {
		if si.Incident.Number == 4 {
			four = si
		}
	}
	var alerts []incidents.Alert
	for _, a := range four.Incident.Alerts {
		alerts = append(alerts, incidents.Alert{Title: a.Name, Fingerprint: a.Fingerprint, Status: incidents.AlertResolved})
	}
	outs, err := svc.ReceiveAlerts(ctx, o, alerts)
	require.NoError(t, err)
	assert.Equal(t, incidents.StatusMitigated, outs[len(outs)-1].Incident.Status)
	require.NoError(t, db.Close())

	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer bdb.Close()
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7}, tx.Bucket([]byte("meta")).Get([]byte("schema")))
		assert.Nil(t, tx.Bucket([]byte("alert_counts")), "replaced by alert records")
		assert.NotNil(t, tx.Bucket([]byte("alerts")))
		return nil
	}))
}

// A database written by the schema 3 Firebreak (JSON incident records)
// opens in place: every incident reads exactly as schema 3 read it, with
// its alerts and timeline; a change writes the incident in binary, and
// after a reopen both kinds of record still read the same.
func TestSchema3UpgradesInPlace(t *testing.T) {
	ctx := context.Background()
	path, fx := openFixtureCopy(t, "schema3")
	require.Len(t, fx.Incidents, 5)
	db := open(t, path)
	check := func(db *storage.DB, changed uint64) {
		t.Helper()
		for _, want := range fx.Incidents {
			n := want.Incident.Number
			got := readBoth(t, db, n)
			if n == changed {
				assert.Equal(t, incidents.StatusAcknowledged, got.Status)
				continue
			}
			assert.Equal(t, want.Incident, got, "#%d", n)
			alerts, entries := alertsAndTimeline(t, db, n)
			assert.Equal(t, want.Incident.DistinctAlerts, alerts, "#%d", n)
			assert.Equal(t, want.Timeline, entries, "timeline of #%d", n)
		}
	}
	check(db, 0)
	assert.Equal(t, uint64(5), db.Stats().Incidents)
	svc := service(t, db)
	_, err := svc.Acknowledge(ctx, incidents.Origin{Actor: alice, Home: home}, 4)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7}, tx.Bucket([]byte("meta")).Get([]byte("schema")))
		b := tx.Bucket([]byte("incidents"))
		assert.Equal(t, byte('{'), b.Get([]byte{0, 0, 0, 0, 0, 0, 0, 5})[0], "untouched records are not rewritten")
		assert.NotEqual(t, byte('{'), b.Get([]byte{0, 0, 0, 0, 0, 0, 0, 4})[0], "a changed incident is written in binary")
		return nil
	}))
	require.NoError(t, bdb.Close())
	db = open(t, path)
	defer db.Close()
	check(db, 4)
}

// A database written by the schema 4 Firebreak (strings as length + bytes)
// opens in place: every incident, alert and timeline entry reads exactly as
// schema 4 read it; records written after the upgrade use words, records
// never touched stay as they were, and after a reopen both read the same.
func TestSchema4UpgradesInPlace(t *testing.T) {
	ctx := context.Background()
	path, fx := openFixtureCopy(t, "schema4")
	require.Len(t, fx.Incidents, 5)
	type alertsOf map[string]incidents.AlertState
	readAlerts := func(db *storage.DB, n uint64) alertsOf {
		got := alertsOf{}
		require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
			return tx.Alerts(n, func(a incidents.AlertState) error {
				got[a.Fingerprint] = a
				return nil
			})
		}))
		return got
	}
	db := open(t, path)
	before := map[uint64]alertsOf{}
	for _, want := range fx.Incidents {
		n := want.Incident.Number
		assert.Equal(t, want.Incident, readBoth(t, db, n), "#%d", n)
		before[n] = readAlerts(db, n)
		assert.Len(t, before[n], want.Incident.DistinctAlerts, "#%d", n)
	}
	one := fx.Incidents[len(fx.Incidents)-1] // sorted newest first: #1
	require.Equal(t, uint64(1), one.Incident.Number)
	repeated := one.Incident.Alerts[0]

	// After the upgrade: a repeat of one of #1's alerts (its record is
	// rewritten), an acknowledgement and a note on #4 (a new-form incident
	// record and entry).
	svc := service(t, db)
	o := incidents.Origin{Actor: incidents.Bot, Home: home, EventID: "after-upgrade"}
	_, err := svc.ReceiveAlert(ctx, o, incidents.Alert{Source: repeated.Source, Title: repeated.Title, Name: repeated.Name,
		Fingerprint: repeated.Fingerprint, Labels: repeated.Labels})
	require.NoError(t, err)
	_, err = svc.Acknowledge(ctx, incidents.Origin{Actor: alice, Home: home}, 4)
	require.NoError(t, err)
	_, err = svc.AddNote(ctx, incidents.Origin{Actor: alice, Home: home}, 4, "starts_at 2026-12-04T12:00:00Z on pod-1, alertmanager")
	require.NoError(t, err)

	check := func(db *storage.DB) {
		t.Helper()
		for _, want := range fx.Incidents {
			n := want.Incident.Number
			got := readBoth(t, db, n)
			var entries []incidents.Entry
			require.NoError(t, db.View(ctx, func(tx incidents.ReadTx) error {
				return tx.Entries(n, 0, func(e incidents.Entry) error {
					entries = append(entries, e)
					return nil
				})
			}))
			alerts := readAlerts(db, n)
			switch n {
			case 1:
				assert.Equal(t, want.Incident.AlertCount+1, got.AlertCount)
				was := before[1][repeated.Fingerprint]
				r := alerts[repeated.Fingerprint]
				assert.Equal(t, was.Count+1, r.Count)
				r.Count, r.LastSeen = was.Count, was.LastSeen
				assert.Equal(t, was, r, "the rewritten alert record holds what it held")
				alerts[repeated.Fingerprint] = was
				assert.Equal(t, before[1], alerts)
				assert.Equal(t, want.Timeline, entries, "a repeat adds no entry")
			case 4:
				assert.Equal(t, incidents.StatusAcknowledged, got.Status)
				require.Len(t, entries, len(want.Timeline)+2)
				assert.Equal(t, want.Timeline, entries[:len(want.Timeline)])
				assert.Equal(t, "starts_at 2026-12-04T12:00:00Z on pod-1, alertmanager", entries[len(entries)-1].Text)
				assert.Equal(t, before[n], alerts)
			default:
				assert.Equal(t, want.Incident, got, "#%d", n)
				assert.Equal(t, want.Timeline, entries, "timeline of #%d", n)
				assert.Equal(t, before[n], alerts)
			}
		}
	}
	check(db)
	require.NoError(t, db.Close())

	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7}, tx.Bucket([]byte("meta")).Get([]byte("schema")))
		b := tx.Bucket([]byte("incidents"))
		assert.Equal(t, byte(1), b.Get([]byte{0, 0, 0, 0, 0, 0, 0, 5})[0], "untouched records are not rewritten")
		assert.Equal(t, byte(2), b.Get([]byte{0, 0, 0, 0, 0, 0, 0, 4})[0], "a changed incident is written with words")
		k := append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, repeated.Fingerprint...)
		assert.Equal(t, byte(2), tx.Bucket([]byte("alerts")).Get(k)[0], "a repeated alert's record is rewritten with words")
		return nil
	}))
	require.NoError(t, bdb.Close())
	db = open(t, path)
	defer db.Close()
	check(db)
}

// A database written by the schema 5 Firebreak (before the fingerprint
// log) opens in place: the file gains fingerprints_recent and records
// schema 6; every incident, alert count, timeline entry and grouped
// fingerprint reads exactly as schema 5 read it. New alerts grouped after
// the upgrade (hashed fingerprints, so they wait in the log) and the old
// ones are all found, also after a reopen, and a repeat of an old alert
// still counts on its incident.
func TestSchema5UpgradesInPlace(t *testing.T) {
	ctx := context.Background()
	path, fx := openFixtureCopy(t, "schema5")
	require.Len(t, fx.Incidents, 5)
	require.NotEmpty(t, fx.Fingerprints)
	db := open(t, path)
	check := func(db *storage.DB) {
		t.Helper()
		for _, want := range fx.Incidents {
			n := want.Incident.Number
			got := readBoth(t, db, n)
			if n == 4 {
				assert.Equal(t, want.Incident.AlertCount+1, got.AlertCount)
				got.AlertCount, got.UpdatedAt, got.LastAlertAt = want.Incident.AlertCount, want.Incident.UpdatedAt, want.Incident.LastAlertAt
				got.Alerts = want.Incident.Alerts
			}
			assert.Equal(t, want.Incident, got, "#%d", n)
			alerts, entries := alertsAndTimeline(t, db, n)
			assert.Equal(t, want.Incident.DistinctAlerts, alerts, "#%d", n)
			assert.Equal(t, want.Timeline, entries, "timeline of #%d", n)
		}
	}
	for _, want := range fx.Incidents {
		n := want.Incident.Number
		assert.Equal(t, want.Incident, readBoth(t, db, n), "#%d", n)
	}
	assert.Equal(t, fx.Fingerprints, readFingerprints(t, db), "the grouping index as schema 5 left it")
	assert.Equal(t, uint64(5), db.Stats().Incidents)

	// A new group of hashed fingerprints (they land between the index's
	// keys, so they wait in the log), and a repeat of one of #4's alerts.
	storage.SetFingerprintSpill(db, 1000)
	storage.SetFingerprintEdge(db, 0)
	svc := service(t, db)
	want := maps.Clone(fx.Fingerprints)
	var newest uint64
	for i := range 30 {
		out, err := svc.ReceiveAlert(ctx, incidents.Origin{Actor: incidents.Bot, Home: home, EventID: fmt.Sprintf("after-upgrade-%d", i)},
			incidents.Alert{Source: "alertmanager", Name: "QueueBacklog", Service: "orders", Fingerprint: hashedFingerprint(i),
				Labels: map[string]string{"alertname": "QueueBacklog", "service": "orders", "instance": fmt.Sprintf("q-%d", i)}})
		require.NoError(t, err)
		newest = out.Incident.Number
		want[hashedFingerprint(i)] = newest
	}
	assert.Equal(t, uint64(6), newest)
	assert.Positive(t, storage.LoggedFingerprints(db), "new hashed fingerprints wait in the log")
	var four incidents.AlertState
	for _, si := range fx.Incidents {
		if si.Incident.Number == 4 {
			four = si.Incident.Alerts[0]
		}
	}
	out, err := svc.ReceiveAlert(ctx, incidents.Origin{Actor: incidents.Bot, Home: home, EventID: "repeat-after-upgrade"},
		incidents.Alert{Source: four.Source, Title: four.Title, Name: four.Name, Fingerprint: four.Fingerprint, Labels: four.Labels})
	require.NoError(t, err)
	assert.Equal(t, uint64(4), out.Incident.Number, "an old alert still finds its incident")
	got := readFingerprints(t, db)
	for fp := range got {
		if _, ok := want[fp]; !ok {
			want[fp] = got[fp] // the new group's key
		}
	}
	assert.Len(t, got, len(fx.Fingerprints)+31)
	assert.Equal(t, want, got)
	check(db)
	require.NoError(t, db.Close())

	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7}, tx.Bucket([]byte("meta")).Get([]byte("schema")))
		assert.NotNil(t, tx.Bucket([]byte("fingerprints_recent")))
		return nil
	}))
	require.NoError(t, bdb.Close())
	db = open(t, path)
	defer db.Close()
	assert.Equal(t, want, readFingerprints(t, db))
	check(db)
}

// alertsAndTimeline counts incident n's alert records and reads its
// timeline, in one read transaction.
func alertsAndTimeline(t *testing.T, db *storage.DB, n uint64) (alerts int, entries []incidents.Entry) {
	t.Helper()
	require.NoError(t, db.View(context.Background(), func(tx incidents.ReadTx) error {
		if err := tx.Alerts(n, func(incidents.AlertState) error { alerts++; return nil }); err != nil {
			return err
		}
		return tx.Entries(n, 0, func(e incidents.Entry) error {
			entries = append(entries, e)
			return nil
		})
	}))
	return alerts, entries
}

// A database written by the schema 6 Firebreak opens in place. Its
// incident #6 gathered alerts with hashed fingerprints after it opened:
// some were folded from alerts_recent into alerts and alert_state, some
// were still in the log. Every alert reads as schema 6 left it, listed
// and one by one, in read and write transactions; intake carries on with
// them (repeats of folded and of logged alerts count on the same
// records, new alerts join), and all of it survives a reopen.
func TestSchema6UpgradesInPlace(t *testing.T) {
	ctx := context.Background()
	path, fx := openFixtureCopy(t, "schema6")
	require.Len(t, fx.Incidents, 6)
	require.Len(t, fx.Alerts[6], 20)
	check := func(db *storage.DB, alerts map[uint64][]incidents.AlertState) {
		t.Helper()
		for _, si := range fx.Incidents {
			n := si.Incident.Number
			if n != 6 {
				assert.Equal(t, si.Incident, readBoth(t, db, n), "#%d", n)
				_, entries := alertsAndTimeline(t, db, n)
				assert.Equal(t, si.Timeline, entries, "timeline of #%d", n)
			}
			listed, one := readAlertsBoth(t, db, n)
			assert.Equal(t, alerts[n], listed[0], "#%d's alerts listed in a read transaction", n)
			assert.Equal(t, alerts[n], listed[1], "#%d's alerts listed in a write transaction", n)
			assert.Equal(t, alerts[n], one[0], "#%d's alerts one by one in a read transaction", n)
			assert.Equal(t, alerts[n], one[1], "#%d's alerts one by one in a write transaction", n)
		}
	}
	waiting := rawAlertLog(t, path)
	require.Positive(t, waiting.states, "the schema 6 file has counters waiting in alerts_recent")
	db := open(t, path)
	check(db, fx.Alerts)
	assert.Equal(t, fx.Fingerprints, readFingerprints(t, db))
	assert.Equal(t, waiting.states, storage.LoggedAlerts(db), "the waiting alerts are still waiting")

	// Every alert of #6 again, and five new ones.
	books := playbooks.Default()
	books.Grouping.GroupBy = []string{"alertname", "service"}
	svc := incidents.NewService(db, books, incidents.WithClock(func() time.Time { return t0.Add(2 * time.Minute) }) /* within #6's group window */, incidents.WithLogger(slog.New(slog.DiscardHandler)))
	var batch []incidents.Alert
	for _, a := range fx.Alerts[6] {
		batch = append(batch, incidents.Alert{Source: a.Source, Name: a.Name, Title: a.Title, URL: a.URL, Fingerprint: a.Fingerprint,
			Labels: a.Labels, Annotations: a.Annotations, Text: a.Text, Service: "orders", Severity: incidents.SEV2})
	}
	for i := range 5 {
		batch = append(batch, incidents.Alert{Source: "alertmanager", Name: "QueueBacklog", Service: "orders", Fingerprint: hashedFingerprint(100 + i),
			Labels: map[string]string{"alertname": "QueueBacklog", "service": "orders", "instance": fmt.Sprintf("queue-%d", 100+i)}})
	}
	outs, err := svc.ReceiveAlerts(ctx, incidents.Origin{Actor: incidents.Bot, Home: home, EventID: "after-upgrade"}, batch)
	require.NoError(t, err)
	for _, out := range outs {
		require.Equal(t, uint64(6), out.Incident.Number)
	}
	assert.Equal(t, 25, outs[0].Incident.DistinctAlerts)
	want := map[uint64][]incidents.AlertState{}
	for n, as := range fx.Alerts {
		want[n] = as
	}
	listed, _ := readAlertsBoth(t, db, 6)
	require.Len(t, listed[0], 25)
	old := map[string]incidents.AlertState{}
	for _, a := range fx.Alerts[6] {
		old[a.Fingerprint] = a
	}
	for _, a := range listed[0] {
		if was, ok := old[a.Fingerprint]; ok {
			assert.Equal(t, was.Count+1, a.Count, "%s counted on its record", a.Fingerprint)
			assert.Equal(t, was.FirstSeen, a.FirstSeen, a.Fingerprint)
			assert.Equal(t, was.Text, a.Text, a.Fingerprint)
		} else {
			assert.Equal(t, 1, a.Count, "%s is new", a.Fingerprint)
		}
	}
	want[6] = listed[0]
	check(db, want)
	require.NoError(t, db.Close())
	after := rawAlertLog(t, path)
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7}, after.schema)
	assert.Zero(t, after.states, "no counters left in alerts_recent")
	assert.Equal(t, waiting.contents+after.newStates-waiting.states, after.contents, "every content stays in alerts_recent; new logged alerts add theirs")
	db = open(t, path)
	defer db.Close()
	check(db, want)
	// Folding now moves only counters: every content stays where it is.
	storage.SetAlertSpill(db, 1)
	svc = incidents.NewService(db, books, incidents.WithClock(func() time.Time { return t0.Add(3 * time.Minute) }), incidents.WithLogger(slog.New(slog.DiscardHandler)))
	_, err = svc.ReceiveAlert(ctx, incidents.Origin{Actor: incidents.Bot, Home: home, EventID: "fold"}, batch[0])
	require.NoError(t, err)
	assert.Zero(t, storage.LoggedAlerts(db))
	i := slices.IndexFunc(want[6], func(a incidents.AlertState) bool { return a.Fingerprint == batch[0].Fingerprint })
	want[6][i].Count++
	want[6][i].LastSeen = t0.Add(3 * time.Minute)
	check(db, want)
}

// alertLogCounts is what a file's alert log holds, read with bbolt.
type alertLogCounts struct {
	schema                      []byte
	contents, states, newStates int
}

// rawAlertLog counts the content and state records in alerts_recent and
// the records of alert_states_recent (newStates) of the file at path.
func rawAlertLog(t *testing.T, path string) alertLogCounts {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer bdb.Close()
	var c alertLogCounts
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		c.schema = bytes.Clone(tx.Bucket([]byte("meta")).Get([]byte("schema")))
		if err := tx.Bucket([]byte("alerts_recent")).ForEach(func(k, _ []byte) error {
			if k[0] == 0 {
				c.contents++
			} else {
				c.states++
			}
			return nil
		}); err != nil {
			return err
		}
		if b := tx.Bucket([]byte("alert_states_recent")); b != nil {
			c.newStates = b.Stats().KeyN
		}
		return nil
	}))
	return c
}

// readAlertsBoth reads incident n's alerts listed (Alerts) and one by one
// (Alert, in the listed order), each in a read transaction ([0]) and in a
// write transaction ([1]).
func readAlertsBoth(t *testing.T, db *storage.DB, n uint64) (listed, one [2][]incidents.AlertState) {
	t.Helper()
	read := func(tx incidents.ReadTx, i int) error {
		if err := tx.Alerts(n, func(a incidents.AlertState) error {
			listed[i] = append(listed[i], a)
			return nil
		}); err != nil {
			return err
		}
		for _, a := range listed[i] {
			got, ok, err := tx.Alert(n, a.Fingerprint)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("alert %s of #%d listed but not found", a.Fingerprint, n)
			}
			one[i] = append(one[i], got)
		}
		return nil
	}
	require.NoError(t, db.View(context.Background(), func(tx incidents.ReadTx) error { return read(tx, 0) }))
	require.NoError(t, db.Update(context.Background(), func(tx incidents.Tx) error { return read(tx, 1) }))
	return listed, one
}
