// Package background is the goroutines a long-lived part of Firebreak (the
// chat Router, intake, automation) starts on its own and owns until its Run
// ends: Run stops them all, waits for them, and nothing starts afterwards,
// so a shutdown never leaves one writing to a closed store.
package background

import (
	"context"
	"sync"
)

// Group is a set of owned goroutines. The zero value is not usable; call
// New.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// New returns a Group whose goroutines run until Stop.
func New() *Group {
	ctx, cancel := context.WithCancel(context.Background())
	return &Group{ctx: ctx, cancel: cancel}
}

// Go runs fn on its own goroutine with the Group's context, which Stop
// cancels. It reports false, and runs nothing, once Stop was called.
func (g *Group) Go(fn func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Go(func() { fn(g.ctx) })
	return true
}

// Stop refuses new goroutines, cancels the running ones' context and waits
// for them to return.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// RunUntil blocks until ctx is done, then stops the Group: the body of
// the owners' Run methods.
func (g *Group) RunUntil(ctx context.Context) error {
	<-ctx.Done()
	g.Stop()
	return nil
}
