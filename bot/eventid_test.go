package bot

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/intake"
	"github.com/firebreak/firebreak/playbooks"
)

// seenStore is a Store that keeps every event id the Service asks about.
type seenStore struct {
	incidents.Store
	mu  sync.Mutex
	ids []string
}

type seenTx struct {
	incidents.Tx
	s *seenStore
}

func (s *seenStore) Update(ctx context.Context, fn func(incidents.Tx) error) error {
	return s.Store.Update(ctx, func(tx incidents.Tx) error { return fn(seenTx{tx, s}) })
}

func (t seenTx) MarkSeen(id string, at time.Time) (bool, error) {
	t.s.mu.Lock()
	t.s.ids = append(t.s.ids, id)
	t.s.mu.Unlock()
	return t.Tx.MarkSeen(id, at)
}

func (s *seenStore) asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// TestEventIDsNamespacedOnce checks the exact id each source's event is
// recorded under: namespaced once, by whoever made it (the adapter, the
// webhook handler, the probe runner), and not again by the Router. The
// ids here are the shapes the adapters make (their own tests assert
// those: bot/slack e2e_test, bot/discord, bot/console, bot/webhook,
// bot/probe). The second id asked about is the pre-upgrade form, checked
// so that an event applied before the upgrade is not applied again.
func TestEventIDsNamespacedOnce(t *testing.T) {
	tests := []struct {
		source       string
		ev           Event // a chat event; zero for intake
		intakeSource string
		intakeID     string
		want         []string
	}{
		{source: "slack command", ev: Event{ID: "slack:cmd:T123.456", Platform: "slack", Kind: KindCommand, Text: "declare Checkout is down"},
			want: []string{"slack:cmd:T123.456", "slack:slack:cmd:T123.456"}},
		{source: "slack message", ev: Event{ID: "slack:msg:C1:1700000000.000100", Platform: "slack", Kind: KindMessage, Text: firing},
			want: []string{"slack:msg:C1:1700000000.000100", "slack:slack:msg:C1:1700000000.000100"}},
		{source: "discord interaction", ev: Event{ID: "discord:int:1177", Platform: "discord", Kind: KindCommand, Text: "declare Checkout is down"},
			want: []string{"discord:int:1177", "discord:discord:int:1177"}},
		{source: "console", ev: Event{ID: "console:3", Platform: "console", Kind: KindCommand, Text: "declare Checkout is down"},
			want: []string{"console:3", "console:console:3"}},
		{source: "alertmanager webhook", intakeSource: "alertmanager", intakeID: "webhook:alertmanager:key:delivery-42",
			want: []string{"webhook:alertmanager:key:delivery-42", "alertmanager:webhook:alertmanager:key:delivery-42"}},
		{source: "probe", intakeSource: "probe", intakeID: "probe:api:firing:1700000000000000000",
			want: []string{"probe:api:firing:1700000000000000000", "probe:probe:api:firing:1700000000000000000"}},
	}
	books, err := playbooks.Load("../playbooks.yaml")
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			store := &seenStore{Store: incidentstest.NewMemStore()}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			svc := incidents.NewService(store, books, incidents.WithLogger(log))
			r, in := newRouterIntake(t, svc, RouterConfig{Logger: log, PostmortemDir: filepath.Join(t.TempDir(), "pm")}, intake.Config{})
			ctx := context.Background()
			again := func() bool {
				if tt.intakeID != "" {
					outs, err := in.IngestAlerts(ctx, tt.intakeSource, tt.intakeID, []incidents.Alert{{Name: "HighErrorRate", Status: incidents.AlertFiring, Labels: map[string]string{"severity": "critical"}}})
					require.NoError(t, err)
					require.Len(t, outs, 1)
					return outs[0].Duplicate
				}
				ev := tt.ev
				ev.Channel, ev.ChannelName, ev.User = "C1", "alerts", ana
				require.NoError(t, r.Handle(ctx, ev, &recorder{}))
				list, err := svc.List(ctx, incidents.ListQuery{})
				require.NoError(t, err)
				require.Len(t, list, 1, "once, however often it comes")
				return false
			}
			again()
			assert.Equal(t, tt.want, store.asked(), "recorded once, namespaced once")
			dup := again()
			assert.Equal(t, tt.want[0], store.asked()[2], "a redelivery is found under the same id")
			if tt.intakeID != "" {
				assert.True(t, dup, "a redelivered payload changes nothing")
			}
		})
	}
}

// TestEventSeenBeforeTheUpgrade: an event applied by a Firebreak that
// namespaced ids twice, and redelivered after the upgrade within the seen
// window, is recognised and changes nothing.
func TestEventSeenBeforeTheUpgrade(t *testing.T) {
	store := incidentstest.NewMemStore()
	books, err := playbooks.Load("../playbooks.yaml")
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := incidents.NewService(store, books, incidents.WithLogger(log))
	ctx := context.Background()
	// What the older version did: the Router prefixed the platform again.
	_, err = svc.Declare(ctx, incidents.Origin{Actor: ana, Home: incidents.Home{Platform: "slack", Channel: "C1"}, EventID: "slack:slack:cmd:T1"}, "Checkout is down", incidents.SEV2)
	require.NoError(t, err)
	r, _ := newRouterIntake(t, svc, RouterConfig{Logger: log, PostmortemDir: filepath.Join(t.TempDir(), "pm")}, intake.Config{})
	rec := &recorder{}
	require.NoError(t, r.Handle(ctx, Event{ID: "slack:cmd:T1", Platform: "slack", Kind: KindCommand, Channel: "C1", ChannelName: "alerts", User: ana, Text: "declare Checkout is down"}, rec))
	assert.Empty(t, rec.all(), "a redelivery says nothing")
	list, err := svc.List(ctx, incidents.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, list, 1, "declared once")
}
