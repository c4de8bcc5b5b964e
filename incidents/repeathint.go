package incidents

import (
	"hash/maphash"
	"sync"
)

// repeatHintGeneration is how many fingerprints one generation of
// repeatHint holds: the hint remembers the last 8,192 to 16,384 distinct
// firing alerts, in about 600 KB (a generation of 32,768 took 1.15 MB, and
// the collector's headroom triples what the heap holds).
const repeatHintGeneration = 1 << 13

// repeatHint remembers the fingerprints of recent firing alerts, so that
// ReceiveAlerts works out what an alert would add as a new one (its entry
// and encoded record, see incomingAlert.prepareNew) only for alerts it has
// not seen lately. Storms of repeats would otherwise pay for it on every
// alert: at 100 identical alerts per webhook, twice the CPU per alert.
//
// It is a hint only: an alert it takes for a repeat that turns out new
// is worked out inside the transaction, as before, and one it takes for
// new that is a repeat costs a microsecond. It keeps 64-bit hashes, not
// the fingerprints, in two generations: when the current one is full it
// becomes the old one and the one before is dropped.
type repeatHint struct {
	seed     maphash.Seed
	mu       sync.Mutex
	cur, old map[uint64]struct{}
}

func newRepeatHint() *repeatHint {
	return &repeatHint{seed: maphash.MakeSeed(), cur: make(map[uint64]struct{})}
}

// recent reports, for each firing alert of prepared, whether the hint has
// seen its fingerprint lately, and remembers them all.
func (h *repeatHint) recent(prepared []incomingAlert) []bool {
	out := make([]bool, len(prepared))
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range prepared {
		if !prepared[i].firing {
			continue
		}
		k := maphash.String(h.seed, prepared[i].fp)
		_, inCur := h.cur[k]
		_, inOld := h.old[k]
		out[i] = inCur || inOld
		if inCur {
			continue
		}
		if len(h.cur) >= repeatHintGeneration {
			h.old, h.cur = h.cur, make(map[uint64]struct{}, repeatHintGeneration)
		}
		h.cur[k] = struct{}{}
	}
	return out
}
