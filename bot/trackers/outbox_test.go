package trackers_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/bot/trackers"
	"github.com/firebreak/firebreak/bot/trackers/github"
	"github.com/firebreak/firebreak/bot/trackers/internal/trackertest"
	"github.com/firebreak/firebreak/bot/trackers/jira"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// followUpHome is where the tests' follow-ups were typed.
var followUpHome = incidents.Home{Platform: "console", Channel: "#alerts"}

// withFiledFollowUps declares incident #1 and adds follow-ups as
// `/incident followup` does with a tracker configured: each with the
// effect that files it in tracker, in the follow-up's own transaction.
func withFiledFollowUps(t *testing.T, svc *incidents.Service, tracker string, texts ...string) {
	t.Helper()
	ctx := context.Background()
	_, err := svc.Declare(ctx, incidents.Origin{Actor: ana}, "Checkout down", incidents.SEV1)
	require.NoError(t, err)
	for _, text := range texts {
		o := incidents.Origin{Actor: ana, Effects: func(outs []incidents.Outcome) ([]incidents.Effect, error) {
			e := outs[0].Entries[0]
			return []incidents.Effect{incidents.FileFollowUp(1, e.Seq, tracker, followUpHome, e.Text)}, nil
		}}
		_, err := svc.AddActionItem(ctx, o, 1, incidents.FollowUp{Text: text, Owner: ana, Type: "prevent"})
		require.NoError(t, err)
	}
}

// postedChat is a bot.Chat that accepts every post.
type postedChat struct{}

func (postedChat) Post(context.Context, string, bot.Message) (bot.MessageRef, error) {
	return bot.MessageRef{ID: "1"}, nil
}
func (postedChat) Update(context.Context, bot.MessageRef, bot.Message) error { return nil }
func (postedChat) Upload(context.Context, string, string, bot.File, string) error {
	return nil
}

// deliver runs serve's outbox worker over db's outbox — chat to a chat
// that accepts everything, tracker effects through worker — until nothing
// is pending.
func deliver(t *testing.T, db *storage.DB, worker *trackers.Worker, svc *incidents.Service) {
	t.Helper()
	box := db.Outbox()
	w, err := outbox.New(outbox.Config{
		Store: box,
		Sender: outbox.Senders{
			"chat":                     &outbox.ChatSender{Chats: map[string]bot.Chat{"console": postedChat{}}, Refs: box},
			"tracker/" + worker.Name(): worker,
		},
		GaveUp: func(ctx context.Context, e incidents.Effect, r incidents.EffectResult) error {
			if _, err := svc.Undelivered(ctx, e, r.Reason); err != nil {
				return err
			}
			return worker.GaveUp(ctx, e, r)
		},
		Retry:  outbox.RetryPolicy{AttemptTimeout: 30 * time.Second, InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxAttempts: 3},
		Logger: quiet,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	require.Eventually(t, func() bool {
		_, pending, err := box.Counts(ctx)
		return err == nil && pending == 0
	}, 60*time.Second, 5*time.Millisecond, "the outbox delivered everything")
}

// effects are every effect recorded in db, settled or not.
func effects(t *testing.T, db *storage.DB) []incidents.Effect {
	t.Helper()
	var all []incidents.Effect
	for id := uint64(1); ; id++ {
		e, err := db.Outbox().Effect(context.Background(), id)
		if errors.Is(err, incidents.ErrNotFound) {
			return all
		}
		require.NoError(t, err)
		all = append(all, e)
	}
}

// filedAsPosts counts the "Filed as" posts recorded in db.
func filedAsPosts(t *testing.T, db *storage.DB) int {
	n := 0
	for _, e := range effects(t, db) {
		if e.Kind == incidents.EffectPost && strings.HasPrefix(e.Message.Text, "Filed as ") {
			n++
		}
	}
	return n
}

// TestFollowUpFiledAfterRestart: the follow-up and the effect that files
// it are committed, and the process stops before its outbox worker runs
// (a crash right after the command). The next start's worker files the
// issue once, records the link and says it once; a further restart files
// nothing again.
func TestFollowUpFiledAfterRestart(t *testing.T) {
	for _, mk := range []func(*testing.T) tracker{githubTracker, jiraTracker} {
		tr := mk(t)
		t.Run(tr.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "firebreak.db")
			db, err := storage.Open(path, storage.Options{Logger: quiet})
			require.NoError(t, err)
			withFiledFollowUps(t, newService(t, db), tr.name, "Alert on checkout latency", "Add a load test")
			_, pending, err := db.Outbox().Counts(ctx)
			require.NoError(t, err)
			require.Equal(t, 2, pending, "two tracker effects wait")
			require.NoError(t, db.Close()) // stopped before any worker ran
			require.Empty(t, tr.issues())

			for run := range 2 {
				db, err = storage.Open(path, storage.Options{Logger: quiet})
				require.NoError(t, err)
				svc := newService(t, db)
				var w waits
				worker := trackers.NewWorker(svc, tr.filer(t, w.http(), false), trackers.Options{Name: tr.name, Logger: quiet})
				deliver(t, db, worker, svc)

				assert.Len(t, tr.issues(), 2, "run %d: each follow-up filed once", run)
				items, err := svc.ActionItems(ctx, 1)
				require.NoError(t, err)
				for _, it := range items {
					assert.True(t, it.Filed(), "run %d: item %d has its link", run, it.Seq)
				}
				assert.Equal(t, 2, filedAsPosts(t, db), "run %d: each link said once", run)
				for _, e := range effects(t, db) {
					assert.Equal(t, incidents.EffectDelivered, e.Status, "run %d: effect %d (%s)", run, e.ID, e.Kind)
				}
				require.NoError(t, db.Close())
			}
		})
	}
}

// TestTrackerRefusalIsSaidAndKept: a tracker that refuses (bad
// credentials) makes the outbox give up at once; the give-up is on the
// timeline and said where the follow-up was added, the item stays
// unfiled, and nothing is posted as filed.
func TestTrackerRefusalIsSaidAndKept(t *testing.T) {
	ctx := context.Background()
	tr := githubTracker(t)
	db, err := storage.Open(filepath.Join(t.TempDir(), "firebreak.db"), storage.Options{Logger: quiet})
	require.NoError(t, err)
	defer db.Close()
	svc := newService(t, db)
	withFiledFollowUps(t, svc, tr.name, "Alert on checkout latency")
	var w waits
	worker := trackers.NewWorker(svc, tr.filer(t, w.http(), true), trackers.Options{Name: tr.name, Logger: quiet})
	deliver(t, db, worker, svc)

	assert.Empty(t, tr.issues())
	items, err := svc.ActionItems(ctx, 1)
	require.NoError(t, err)
	assert.False(t, items[0].Filed(), "kept for the next postmortem")
	var said []string
	for _, e := range effects(t, db) {
		if e.Kind == incidents.EffectTracker {
			assert.Equal(t, incidents.EffectGaveUp, e.Status)
			assert.Equal(t, 1, e.Attempts, "a refusal is not retried")
		}
		if e.Kind == incidents.EffectPost {
			said = append(said, e.Message.Text)
		}
	}
	require.Len(t, said, 1)
	assert.Contains(t, said[0], "Filing it in the tracker failed")
	assert.Contains(t, said[0], "/incident #1 postmortem")
	assert.Contains(t, said[0], "401")
	var undelivered []string
	require.NoError(t, svc.Timeline(ctx, 1, func(e incidents.Entry) error {
		if e.Kind == incidents.EntryUndelivered {
			undelivered = append(undelivered, e.Text)
		}
		return nil
	}))
	require.Len(t, undelivered, 1)
	assert.Contains(t, undelivered[0], "could not update the tracker github")
}

// TestCrashBetweenCreatedAndRecorded kills the process whose outbox worker
// is filing a follow-up after the tracker answered 201 (the issue exists)
// and before the link was recorded, restarts it, and finds exactly one
// issue, now linked, said once, and nothing left pending.
func TestCrashBetweenCreatedAndRecorded(t *testing.T) {
	for _, mk := range []func(*testing.T) tracker{githubTracker, jiraTracker} {
		tr := mk(t)
		t.Run(tr.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "firebreak.db")
			store, err := storage.Open(path, storage.Options{Logger: quiet})
			require.NoError(t, err)
			withFiledFollowUps(t, newService(t, store), tr.name, "Alert on checkout latency")
			require.NoError(t, store.Close())

			hang := tr.fake.(interface{ HangNextCreate() <-chan struct{} }).HangNextCreate()
			child := filerProcess(t, tr, path)
			require.NoError(t, child.Start())
			select {
			case <-hang:
			case <-time.After(60 * time.Second):
				_ = child.Process.Kill()
				t.Fatal("the filer never created the issue")
			}
			require.NoError(t, child.Process.Kill(), "killed between the 201 and the recorded link")
			_ = child.Wait()
			require.Len(t, tr.issues(), 1, "the tracker has the issue")

			store, err = storage.Open(path, storage.Options{Logger: quiet})
			require.NoError(t, err)
			items, err := newService(t, store).ActionItems(ctx, 1)
			require.NoError(t, err)
			require.False(t, items[0].Filed(), "the crash lost the link")
			_, pending, err := store.Outbox().Counts(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, pending, "the tracker effect is still pending")
			require.NoError(t, store.Close())

			restarted := filerProcess(t, tr, path)
			out, err := restarted.CombinedOutput()
			require.NoError(t, err, "%s", out)

			assert.Len(t, tr.issues(), 1, "exactly one issue after the restart")
			store, err = storage.Open(path, storage.Options{Logger: quiet})
			require.NoError(t, err)
			defer store.Close()
			items, err = newService(t, store).ActionItems(ctx, 1)
			require.NoError(t, err)
			assert.True(t, items[0].Filed(), "the restart recorded the existing issue")
			assert.Equal(t, 1, filedAsPosts(t, store), "the link is said once")
			_, pending, err = store.Outbox().Counts(ctx)
			require.NoError(t, err)
			assert.Zero(t, pending)
		})
	}
}

// filerProcess runs this test binary as a Firebreak process whose outbox
// worker delivers what db holds (see TestFilerProcess).
func filerProcess(t *testing.T, tr tracker, db string) *exec.Cmd {
	var url string
	switch f := tr.fake.(type) {
	case *trackertest.GitHub:
		url = f.Server.URL
	case *trackertest.Jira:
		url = f.Server.URL
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFilerProcess$")
	cmd.Env = append(os.Environ(), "FIREBREAK_TEST_FILER="+tr.name, "FIREBREAK_TEST_DB="+db, "FIREBREAK_TEST_URL="+url)
	return cmd
}

// TestFilerProcess is the child of TestCrashBetweenCreatedAndRecorded:
// open the database, run the outbox worker until nothing is pending, exit.
// It does nothing in a normal run.
func TestFilerProcess(t *testing.T) {
	kind := os.Getenv("FIREBREAK_TEST_FILER")
	if kind == "" {
		t.Skip("only runs as the child of TestCrashBetweenCreatedAndRecorded")
	}
	store, err := storage.Open(os.Getenv("FIREBREAK_TEST_DB"), storage.Options{Logger: quiet})
	require.NoError(t, err)
	defer store.Close()
	var filer trackers.Filer
	h := trackers.HTTP{Timeout: 30 * time.Second, MaxElapsed: 30 * time.Second}
	url := os.Getenv("FIREBREAK_TEST_URL")
	switch kind {
	case "github":
		filer, err = github.New(github.Config{API: url, Repository: "acme/ops", Token: "ghp_test", HTTP: h})
	default:
		filer, err = jira.New(jira.Config{Site: url, Project: "OPS", Email: "bot@acme.example", Token: "jira_test", HTTP: h})
	}
	require.NoError(t, err)
	svc := newService(t, store)
	deliver(t, store, trackers.NewWorker(svc, filer, trackers.Options{Name: kind, Logger: quiet}), svc)
}
