package bot

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/intake"
)

// The Router and alert intake reach each other through interfaces their
// consumers define.
var (
	_ intake.Rooms = RoomOpener{}
	_ intake.Steps = (*Router)(nil)
	_ AlertIntake  = (*intake.Intake)(nil)
)

// newRouterIntake is NewRouter with alert intake attached, wired as
// cmd/firebreak wires them: alerts read in chat, webhooks and probes go
// through the Intake, which opens rooms and starts automated steps
// through the Router. icfg's Logger and Now default to cfg's. The Intake
// runs until the test ends (after the Router, which the caller runs).
func newRouterIntake(t testing.TB, svc *incidents.Service, cfg RouterConfig, icfg intake.Config) (*Router, *intake.Intake) {
	t.Helper()
	if icfg.Logger == nil {
		icfg.Logger = cfg.Logger
	}
	if icfg.Now == nil {
		icfg.Now = cfg.Now
	}
	in := intake.New(svc, icfg)
	cfg.Alerts = in
	r := NewRouter(svc, cfg)
	in.Attach(r.Rooms(), r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, in.Run(ctx))
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
