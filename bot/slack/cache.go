package slack

import (
	"container/list"
	"sync"
	"time"
)

// lru is a small bounded string cache for user and channel names, which
// change rarely; the oldest entry goes first when full.
type lru struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type lruEntry struct{ key, val string }

func newLRU(max int) *lru {
	return &lru{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *lru) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return "", false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*lruEntry).val, true
}

func (c *lru) put(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry).val = v
		c.ll.MoveToFront(e)
		return
	}
	c.items[k] = c.ll.PushFront(&lruEntry{k, v})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*lruEntry).key)
	}
}

// ttlSet remembers keys for a while so redelivered events are handled once.
type ttlSet struct {
	mu   sync.Mutex
	ttl  time.Duration
	max  int
	seen map[string]time.Time
	now  func() time.Time
}

func newTTLSet(ttl time.Duration, max int) *ttlSet {
	return &ttlSet{ttl: ttl, max: max, seen: map[string]time.Time{}, now: time.Now}
}

// first records k and reports whether it was new.
func (s *ttlSet) first(k string) bool {
	if k == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if at, ok := s.seen[k]; ok && now.Sub(at) < s.ttl {
		return false
	}
	if len(s.seen) >= s.max {
		for key, at := range s.seen {
			if now.Sub(at) >= s.ttl {
				delete(s.seen, key)
			}
		}
		// Still full of live keys: forget an arbitrary one rather than grow
		// without bound; the store's own Event.ID check remains.
		for key := range s.seen {
			if len(s.seen) < s.max {
				break
			}
			delete(s.seen, key)
		}
	}
	s.seen[k] = now
	return true
}
