// Package routertest wires a bot.Router and alert intake for the tests of
// the adapters and webhooks, as cmd/firebreak wires them: alerts read in
// chat, webhooks and probes go through an intake.Intake, which opens rooms
// and starts automated steps through the Router.
package routertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/intake"
)

// New returns a Router over svc with an Intake attached. icfg's Logger
// and Now default to cfg's. The Intake runs until the test ends; running
// the Router is the caller's.
func New(t testing.TB, svc *incidents.Service, cfg bot.RouterConfig, icfg intake.Config) (*bot.Router, *intake.Intake) {
	t.Helper()
	if icfg.Logger == nil {
		icfg.Logger = cfg.Logger
	}
	if icfg.Now == nil {
		icfg.Now = cfg.Now
	}
	in := intake.New(svc, icfg)
	cfg.Alerts = in
	r := bot.NewRouter(svc, cfg)
	in.Attach(r.Rooms(), r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := in.Run(ctx); err != nil {
			t.Errorf("intake Run: %v", err)
		}
	}()
	t.Cleanup(sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("intake Run did not stop")
		}
	}))
	return r, in
}
