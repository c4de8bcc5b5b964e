package webhook

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The hand-written 200 body must read exactly as encoding/json wrote it.
func TestAppendResponseMatchesEncodingJSON(t *testing.T) {
	for _, resp := range []response{
		{Received: 1, Incidents: []uint64{7}},
		{Received: 100, Incidents: []uint64{1, 18446744073709551615, 42}, Duplicate: true},
		{Received: 3, Incidents: []uint64{}},
		{Received: 0, Incidents: nil},
	} {
		want, err := json.Marshal(resp)
		require.NoError(t, err)
		assert.Equal(t, string(want)+"\n", string(appendResponse(nil, resp)))
	}
}

// A request waiting for room is woken when room is given back, and takes
// it; one that finds room at once takes it without waiting.
func TestAdmissionWakesAWaiter(t *testing.T) {
	a := newAdmission(10, 5)
	require.True(t, a.tryAcquire(8, 0))
	assert.False(t, a.tryAcquire(5, 0), "8+5 bytes do not fit in 10")

	got := make(chan bool)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got <- a.acquire(ctx, 5, 0)
	}()
	// Wait until the waiter is parked on freed, then give the room back.
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.freed != nil
	}, 5*time.Second, time.Millisecond)
	a.release(8, 0)
	select {
	case ok := <-got:
		assert.True(t, ok)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not woken by release")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.False(t, a.acquire(ctx, 6, 0), "5+6 bytes do not fit: refused at the deadline")
	a.release(5, 0)
	assert.True(t, a.tryAcquire(6, 5))
}
