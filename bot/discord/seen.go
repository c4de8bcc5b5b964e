package discord

import "sync"

// seenEvents is the adapter's short memory of event ids. The gateway may
// deliver an event again after a resume; the incidents service refuses a
// repeated id durably, but read-only commands (timeline, postmortem) would
// still answer twice and a replayed interaction cannot be answered at all,
// so the adapter drops repeats before they reach the handler.
type seenEvents struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

func newSeenEvents(size int) *seenEvents {
	return &seenEvents{ids: make(map[string]struct{}, size), ring: make([]string, size)}
}

// first records id and reports whether it was new; the oldest id is
// forgotten once size ids are remembered.
func (s *seenEvents) first(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.ids[id] = struct{}{}
	return true
}
