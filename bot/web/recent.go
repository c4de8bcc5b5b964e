package web

import "sync"

// recent keeps values for the most recently used incident numbers, at most
// max of them: the page caches (chart marks, alert aggregates and the
// rendered postmortem) hold a few incidents' worth, never the database's.
type recent[V any] struct {
	mu    sync.Mutex
	max   int
	byNum map[uint64]V
	order []uint64 // least recently used first
}

func newRecent[V any](size int) *recent[V] {
	return &recent[V]{max: size, byNum: map[uint64]V{}}
}

// get returns the value kept for n when valid says it may be used, and
// marks n as just used; valid runs under the lock, so it may read v.
func (c *recent[V]) get(n uint64, valid func(V) bool) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.byNum[n]
	if !ok || !valid(v) {
		var zero V
		return zero, false
	}
	c.touch(n)
	return v, true
}

// put keeps v for n, dropping the least recently used number when full.
func (c *recent[V]) put(n uint64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byNum[n]; !ok && len(c.order) >= c.max {
		delete(c.byNum, c.order[0])
		c.order = c.order[1:]
	}
	c.byNum[n] = v
	c.touch(n)
}

func (c *recent[V]) touch(n uint64) {
	for i, v := range c.order {
		if v == n {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.order = append(c.order, n)
}
