package webhook

import (
	"context"
	"sync"
	"time"
)

// Defaults of admission control (Config.MaxInFlightBytes,
// MaxInFlightAlerts, AdmissionWait, BusyRetryAfter).
const (
	// DefaultMaxInFlightBytes bounds the request bodies being read, parsed
	// or recorded at once. A 1 MiB Alertmanager payload of 800 alerts takes
	// a few MiB once parsed, so 32 MiB of bodies keeps intake's memory in
	// the low hundreds of MiB however many senders post at once.
	DefaultMaxInFlightBytes = 32 << 20
	// DefaultMaxInFlightAlerts bounds parsed alerts waiting for, or in, a
	// commit.
	DefaultMaxInFlightAlerts = 25_000
	// DefaultAdmissionWait is how long a request may wait for room before
	// it is answered 503: long enough to ride out one commit, far below
	// the senders' timeouts.
	DefaultAdmissionWait = 2 * time.Second
	// DefaultBusyRetryAfter is the Retry-After of an admission refusal.
	DefaultBusyRetryAfter = time.Second
)

// admission is a two-dimensional counting semaphore (bytes and alerts in
// flight). A request that finds no room waits up to a deadline, then is
// refused, so intake's memory stays bounded under any number of senders
// and nothing is ever accepted and then dropped. A request larger than the
// whole budget is admitted when nothing else holds that kind of room, so
// no single payload is refused forever.
type admission struct {
	maxBytes, maxAlerts int64

	mu            sync.Mutex
	bytes, alerts int64
	// freed, when a request is waiting, is closed (and dropped) as soon as
	// room is given back, waking every waiter to try again. It is nil while
	// nobody waits, so the common case, room at once, allocates nothing.
	freed chan struct{}
}

func newAdmission(maxBytes, maxAlerts int64) *admission {
	return &admission{maxBytes: maxBytes, maxAlerts: maxAlerts}
}

// tryAcquire takes bytes and alerts if they fit now (true), else nothing.
func (a *admission) tryAcquire(bytes, alerts int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.takeLocked(bytes, alerts)
}

func (a *admission) takeLocked(bytes, alerts int64) bool {
	if !fits(a.bytes, bytes, a.maxBytes) || !fits(a.alerts, alerts, a.maxAlerts) {
		return false
	}
	a.bytes += bytes
	a.alerts += alerts
	return true
}

// acquire waits until bytes and alerts fit, or until ctx ends (false).
// A zero or negative limit is no limit.
func (a *admission) acquire(ctx context.Context, bytes, alerts int64) bool {
	for {
		a.mu.Lock()
		if a.takeLocked(bytes, alerts) {
			a.mu.Unlock()
			return true
		}
		if a.freed == nil {
			a.freed = make(chan struct{})
		}
		freed := a.freed
		a.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// fits reports whether want more fits beside inUse under limit. Asking for
// nothing always fits, and so does anything while nothing is in use.
func fits(inUse, want, limit int64) bool {
	return limit <= 0 || want == 0 || inUse == 0 || inUse+want <= limit
}

// release gives back what acquire took.
func (a *admission) release(bytes, alerts int64) {
	if bytes == 0 && alerts == 0 {
		return
	}
	a.mu.Lock()
	a.bytes -= bytes
	a.alerts -= alerts
	if a.freed != nil {
		close(a.freed)
		a.freed = nil
	}
	a.mu.Unlock()
}
