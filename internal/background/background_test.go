package background

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGroupStopsWaitsAndRefuses(t *testing.T) {
	g := New()
	var ended atomic.Int32
	started := make(chan struct{})
	require.True(t, g.Go(func(ctx context.Context) {
		close(started)
		<-ctx.Done() // a long run ends when Stop cancels it
		ended.Add(1)
	}))
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.RunUntil(ctx) }()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("RunUntil did not return")
	}
	assert.Equal(t, int32(1), ended.Load(), "Stop waited for the running goroutine")
	assert.False(t, g.Go(func(context.Context) { ended.Add(1) }), "nothing starts after Stop")
	assert.Equal(t, int32(1), ended.Load())
}
