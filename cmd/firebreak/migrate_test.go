package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// TestMigrateBboltToEtcdAndBack fills a bbolt file the way users do (the
// console, a storm of distinct alerts in one group, a long timeline, a
// resolved incident), migrates it to etcd with `firebreak migrate
// to-etcd`, reads it there with `firebreak incidents`, and migrates it
// back into a new file with `firebreak migrate to-bbolt`: each run checks
// every incident, entry, alert record, grouped fingerprint and timer, and
// the listings agree everywhere. A changed copy fails the check.
func TestMigrateBboltToEtcdAndBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded etcd")
	}
	e := newTestEnv(t)
	code, out, errOut := e.run(alertLine + "\n/incident step done\n/incident note rolled back the canary\n")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)

	ctx := context.Background()
	cfg, err := loadConfig(e.env["FIREBREAK_CONFIG"], true)
	require.NoError(t, err)
	db, err := storage.Open(e.env["FIREBREAK_DB"], storage.Options{})
	require.NoError(t, err)
	svc := incidents.NewService(db, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler)))
	o := incidents.Origin{Actor: incidents.Actor{Platform: "console", ID: "alice", Name: "alice"}, Home: incidents.Home{Platform: "console", Channel: "#alerts"}}
	var storm []incidents.Alert
	for i := range 150 {
		storm = append(storm, incidents.Alert{
			Source: "alertmanager", Status: incidents.AlertFiring, Name: "DiskFull", Title: "DiskFull",
			Labels: map[string]string{"alertname": "DiskFull", "instance": fmt.Sprintf("db-%03d", i)},
		})
	}
	_, err = svc.ReceiveAlerts(ctx, o, storm)
	require.NoError(t, err)
	out2, err := svc.Declare(ctx, o, "checkout slow", incidents.SEV2)
	require.NoError(t, err)
	n := out2.Incident.Number
	for i := range 130 {
		_, err := svc.AddNote(ctx, o, n, fmt.Sprintf("note %d", i))
		require.NoError(t, err)
	}
	_, err = svc.Resolve(ctx, o, n, "fixed")
	require.NoError(t, err)
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		for i := range 3 {
			t := incidents.Timer{Due: time.Date(2030, 1, 1, 0, i, 0, 0, time.UTC), Incident: 1, Key: fmt.Sprintf("remind/%d", i), Data: map[string]string{"i": "x"}}
			if err := tx.PutTimer(t); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())

	code, before, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)

	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128}) // etcd's default limit
	e.env["FIREBREAK_ETCD_ENDPOINTS"] = cluster.Endpoints[0]
	code, out, errOut = e.run("", "migrate", "to-etcd")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "verified record by record")
	assert.Contains(t, out, "151 alert records") // the console's alert and the storm's 150
	assert.Contains(t, out, "3 timers")
	code, onEtcd, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, before, onEtcd, "the etcd store lists what the bbolt file did")

	code, _, errOut = e.run("", "migrate", "to-etcd")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "already holds incidents")

	back := filepath.Join(e.dir, "back.db")
	code, out, errOut = e.run("", "migrate", "to-bbolt", back)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "verified record by record")
	delete(e.env, "FIREBREAK_ETCD_ENDPOINTS")
	e.env["FIREBREAK_DB"] = back
	code, after, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, before, after, "bbolt → etcd → bbolt keeps every incident")

	// The check is not a formality: one more note in the copy is found.
	backDB, err := storage.Open(back, storage.Options{})
	require.NoError(t, err)
	defer backDB.Close()
	orig, err := storage.Open(filepath.Join(e.dir, "firebreak.db"), storage.Options{})
	require.NoError(t, err)
	defer orig.Close()
	src, dst := boltStore{DB: orig, path: "original"}, boltStore{DB: backDB, path: "copy"}
	require.NoError(t, verifyCopy(ctx, src, dst))
	_, err = incidents.NewService(backDB, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler))).AddNote(ctx, o, n, "only in the copy")
	require.NoError(t, err)
	err = verifyCopy(ctx, src, dst)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("incident #%d", n))
}

// enqueuer is the method incidents.Tx gains with the outbox; asserted so
// this test compiles before and after the interface has it.
type enqueuer interface {
	Enqueue(e *incidents.Effect) error
}

// TestBackupFromEtcd: `firebreak backup FILE` with the etcd store writes
// the bbolt file `serve` opens (read at one revision, so replicas need not
// stop: TestSnapshotIsFrozen in etcdstore): the incidents, the seen event
// ids and the pending outbox effects are in it. Then
// `firebreak migrate to-etcd` takes that file back into an empty prefix,
// outbox effects with their ids and seen ids, and `migrate to-bbolt`
// copies seen ids.
func TestBackupFromEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded etcd")
	}
	ctx := context.Background()
	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128}) // etcd's default limit
	e := newTestEnv(t)
	e.env["FIREBREAK_ETCD_ENDPOINTS"] = cluster.Endpoints[0]
	e.env["FIREBREAK_ETCD_PREFIX"] = "live/"
	cfg, err := loadConfig(e.env["FIREBREAK_CONFIG"], true)
	require.NoError(t, err)
	ecfg, ok, err := etcdConfig(environ{getenv: func(k string) string { return e.env[k] }})
	require.NoError(t, err)
	require.True(t, ok)
	live, err := openEtcd(ctx, ecfg)
	require.NoError(t, err)
	defer live.Close()
	svc := incidents.NewService(live, cfg, incidents.WithLogger(slog.New(slog.DiscardHandler)))
	o := incidents.Origin{Actor: incidents.Actor{Platform: "console", ID: "alice", Name: "alice"}, Home: incidents.Home{Platform: "console", Channel: "#alerts"}, EventID: "console:storm"}
	var storm []incidents.Alert
	for i := range 150 { // over etcd's default 128 operations: a large Update
		storm = append(storm, incidents.Alert{
			Source: "alertmanager", Status: incidents.AlertFiring, Name: "DiskFull", Title: "DiskFull",
			Labels: map[string]string{"alertname": "DiskFull", "instance": fmt.Sprintf("db-%03d", i)},
		})
	}
	_, err = svc.ReceiveAlerts(ctx, o, storm)
	require.NoError(t, err)
	post := func(text string) *incidents.Effect {
		return &incidents.Effect{Kind: incidents.EffectPost, Incident: 1, Home: o.Home, Message: incidents.EffectMessage{Text: text}, CreatedAt: time.Now()}
	}
	card := post("card")
	card.Key = "card/1"
	require.NoError(t, live.Update(ctx, func(tx incidents.Tx) error {
		for _, e := range []*incidents.Effect{card, post("still firing"), post("escalated")} {
			if err := tx.(enqueuer).Enqueue(e); err != nil {
				return err
			}
		}
		return nil
	}))
	ob := etcdstore.NewOutbox(live.Store)
	defer ob.Close()
	cardRef := incidents.EffectRef{Channel: "#alerts", ID: "7"}
	require.NoError(t, ob.Settle(ctx, card.ID, incidents.EffectResult{Status: incidents.EffectDelivered, At: time.Now(), Ref: cardRef}))

	code, onEtcd, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)
	file := filepath.Join(e.dir, "backup.db")
	code, out, errOut := e.run("", "backup", file)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "backup written to "+file)

	// The file is what serve opens with bbolt.
	delete(e.env, "FIREBREAK_ETCD_ENDPOINTS")
	e.env["FIREBREAK_DB"] = file
	code, fromFile, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, onEtcd, fromFile, "the backup holds every incident")
	db, err := storage.Open(file, storage.Options{})
	require.NoError(t, err)
	var redelivered bool
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		var err error
		redelivered, err = tx.MarkSeen("console:storm", time.Now())
		return err
	}))
	assert.True(t, redelivered, "the storm's event id is remembered: a redelivery is a duplicate")
	bo, err := storage.NewOutbox(db)
	require.NoError(t, err)
	var pendingTexts []string
	require.NoError(t, bo.PendingEffects(ctx, 0, func(e incidents.Effect) error {
		pendingTexts = append(pendingTexts, e.Message.Text)
		return nil
	}))
	assert.Equal(t, []string{"still firing", "escalated"}, pendingTexts, "pending effects, in order")
	require.NoError(t, db.Close())

	// And back into etcd (an empty prefix), then out to bbolt again.
	e.env["FIREBREAK_ETCD_ENDPOINTS"] = cluster.Endpoints[0]
	e.env["FIREBREAK_ETCD_PREFIX"] = "restored/"
	code, out, errOut = e.run("", "migrate", "to-etcd")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "2 outbox effects")
	assert.Contains(t, out, "1 seen event ids", "the backup's seen ids go back into etcd")
	assert.NotContains(t, out, "were not copied")
	code, restored, errOut := e.run("", "incidents", "-all", "-json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, onEtcd, restored)

	e.env["FIREBREAK_ETCD_PREFIX"] = "live/"
	code, out, errOut = e.run("", "migrate", "to-bbolt", filepath.Join(e.dir, "again.db"))
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, "1 seen event ids")
	assert.Contains(t, out, "2 outbox effects")
	assert.Contains(t, out, "1 settled outbox effects were not copied")
}

// TestMigrateToEtcdKeepsOutboxIDs: a bbolt file's outbox goes into etcd
// with ids and statuses kept, so a delivered card is still the one later
// updates edit.
func TestMigrateToEtcdKeepsOutboxIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded etcd")
	}
	ctx := context.Background()
	e := newTestEnv(t)
	code, out, errOut := e.run(alertLine + "\n")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	db, err := storage.Open(e.env["FIREBREAK_DB"], storage.Options{})
	require.NoError(t, err)
	o, err := storage.NewOutbox(db)
	require.NoError(t, err)
	home := incidents.Home{Platform: "console", Channel: "#alerts"}
	card := &incidents.Effect{Kind: incidents.EffectPost, Incident: 1, Home: home, Key: "card/1", Message: incidents.EffectMessage{Text: "card"}, CreatedAt: time.Now()}
	note := &incidents.Effect{Kind: incidents.EffectPost, Incident: 1, Home: home, Message: incidents.EffectMessage{Text: "note"}, CreatedAt: time.Now()}
	require.NoError(t, db.Update(ctx, func(tx incidents.Tx) error {
		if err := o.Enqueue(tx, card); err != nil {
			return err
		}
		return o.Enqueue(tx, note)
	}))
	ref := incidents.EffectRef{Channel: "#alerts", ID: "3"}
	require.NoError(t, o.Settle(ctx, card.ID, incidents.EffectResult{Status: incidents.EffectDelivered, At: time.Now(), Ref: ref}))
	all, _, err := o.Counts(ctx) // the console session's own effects too, once it records them
	require.NoError(t, err)
	require.NoError(t, db.Close())

	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	e.env["FIREBREAK_ETCD_ENDPOINTS"] = cluster.Endpoints[0]
	code, out, errOut = e.run("", "migrate", "to-etcd")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut, out)
	assert.Contains(t, out, fmt.Sprintf(" %d outbox effects", all))

	ecfg, _, err := etcdConfig(environ{getenv: func(k string) string { return e.env[k] }})
	require.NoError(t, err)
	s, err := openEtcd(ctx, ecfg)
	require.NoError(t, err)
	defer s.Close()
	eo := etcdstore.NewOutbox(s.Store)
	defer eo.Close()
	got, ok, err := eo.Ref(ctx, "card/1")
	require.NoError(t, err)
	require.True(t, ok, "the delivered card is known in etcd")
	assert.Equal(t, ref, got)
	var pending []uint64
	require.NoError(t, eo.PendingEffects(ctx, 0, func(e incidents.Effect) error { pending = append(pending, e.ID); return nil }))
	assert.Contains(t, pending, note.ID, "the pending note keeps its id")
	assert.NotContains(t, pending, card.ID, "the delivered card stays delivered")
	require.NoError(t, s.Update(ctx, func(tx incidents.Tx) error {
		next := &incidents.Effect{Kind: incidents.EffectPost, Home: home, Message: incidents.EffectMessage{Text: "next"}}
		if err := tx.(enqueuer).Enqueue(next); err != nil {
			return err
		}
		assert.Equal(t, note.ID+1, next.ID, "new effects are numbered after the copied ones")
		return nil
	}))
}

// TestMigrateKeepsWebhookRedeliveriesDuplicates: Alertmanager sends the
// same payload again after the move (its retry of a request whose answer
// it never saw). The real binary on a bbolt file records a payload; the
// file is moved to etcd with the command docs/ha.md shows; the bot on
// etcd answers the redelivery "duplicate" and records nothing; moved back
// into a new bbolt file, the same holds there.
func TestMigrateKeepsWebhookRedeliveriesDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and starts an embedded etcd")
	}
	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128}) // etcd's default limit
	bin := buildFirebreak(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(stormConfig), 0o600)) // one group: one incident
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "FIREBREAK_CONFIG=" + filepath.Join(dir, "playbooks.yaml")}
	etcdEnv := []string{"FIREBREAK_ETCD_ENDPOINTS=" + cluster.Endpoints[0]}

	type answer struct {
		Received  int      `json:"received"`
		Incidents []uint64 `json:"incidents"`
		Duplicate bool     `json:"duplicate"`
	}
	// serve runs the bot with env, posts each body to its Alertmanager
	// webhook and stops it (SIGTERM), returning the answers.
	serve := func(env []string, bodies ...[]byte) []answer {
		t.Helper()
		addr := freeAddr(t)
		b := startBotEnv(t, bin, dir, addr, env, "-headless")
		defer func() {
			require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, b.cmd.Wait())
		}()
		waitHealthy(t, addr)
		var got []answer
		for _, body := range bodies {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/alerts/alertmanager", bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer drill-token")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
			var a answer
			require.NoError(t, json.Unmarshal(raw, &a), "%s", raw)
			got = append(got, a)
		}
		return got
	}
	firebreak := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		cmd.Env = append(append([]string{}, base...), env...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "firebreak %v: %s", args, out)
		return string(out)
	}
	alertCount := func(env []string) int {
		t.Helper()
		var list []*incidents.Incident
		require.NoError(t, json.Unmarshal([]byte(firebreak(env, "incidents", "-all", "-json")), &list))
		n := 0
		for _, inc := range list {
			n += inc.AlertCount
		}
		return n
	}

	storm := stormPayload(0, 100, 1) // 100 distinct alerts in one group
	other := stormPayload(100, 3, 1)
	onBbolt := []string{"FIREBREAK_DB=" + filepath.Join(dir, "firebreak.db")}
	got := serve(onBbolt, storm, storm)
	require.False(t, got[0].Duplicate, "the first delivery is recorded")
	require.True(t, got[1].Duplicate, "bbolt recognises the redelivery")
	require.Equal(t, 100, alertCount(onBbolt))

	// As docs/ha.md shows: FIREBREAK_DB=… FIREBREAK_ETCD_ENDPOINTS=… firebreak migrate to-etcd
	out := firebreak(append(append([]string{}, onBbolt...), etcdEnv...), "migrate", "to-etcd")
	assert.Contains(t, out, "verified record by record")
	assert.Regexp(t, `, [1-9][0-9]* seen event ids`, out)
	assert.NotContains(t, out, "were not copied")

	got = serve(etcdEnv, storm, other)
	assert.True(t, got[0].Duplicate, "the redelivery after the move is a duplicate")
	assert.False(t, got[1].Duplicate, "a new payload is not")
	assert.Equal(t, 103, alertCount(etcdEnv), "the redelivered alerts were not counted again")

	// And back: FIREBREAK_ETCD_ENDPOINTS=… firebreak migrate to-bbolt FILE,
	// into the file the bot opens (the old one put aside).
	require.NoError(t, os.Rename(filepath.Join(dir, "firebreak.db"), filepath.Join(dir, "before-etcd.db")))
	back := filepath.Join(dir, "firebreak.db")
	out = firebreak(etcdEnv, "migrate", "to-bbolt", back)
	assert.Contains(t, out, "verified record by record")
	assert.Regexp(t, `, [1-9][0-9]* seen event ids`, out)
	onBack := []string{"FIREBREAK_DB=" + back}
	got = serve(onBack, storm, other)
	assert.True(t, got[0].Duplicate, "the first payload is still a duplicate after the move back")
	assert.True(t, got[1].Duplicate, "and so is the one recorded on etcd")
	assert.Equal(t, 103, alertCount(onBack))
}
