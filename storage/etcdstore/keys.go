package etcdstore

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// numLen is the width of a number in a key: every uint64 fits in 20
// decimal digits, and zero-padding makes byte order numeric order.
const numLen = 20

func num(n uint64) string { return fmt.Sprintf("%020d", n) }

func parseNum(s string) (uint64, error) {
	if len(s) != numLen {
		return 0, fmt.Errorf("number %q in a key is not %d digits: %w", s, numLen, errDamaged)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("number %q in a key: %w", s, errDamaged)
	}
	return n, nil
}

// keys builds every key of one installation from its prefix.
type keys struct{ p string }

func (k keys) commit() string                 { return k.p + "meta/commit" }
func (k keys) pending() string                { return k.p + "meta/pending" }
func (k keys) stages(id string) string        { return k.p + "stage/" + id + "/" }
func (k keys) stage(id string, i int) string  { return k.stages(id) + num(uint64(i)) }
func (k keys) last() string                   { return k.p + "meta/last" }
func (k keys) incidents() string              { return k.p + "inc/" }
func (k keys) incident(n uint64) string       { return k.incidents() + num(n) }
func (k keys) opens() string                  { return k.p + "open/" }
func (k keys) open(n uint64) string           { return k.opens() + num(^n) } // inverted: newest first
func (k keys) seq(n uint64) string            { return k.p + "seq/" + num(n) }
func (k keys) timeline(n uint64) string       { return k.p + "tl/" + num(n) + "/" }
func (k keys) entry(n, seq uint64) string     { return k.timeline(n) + num(seq) }
func (k keys) fingerprint(fp string) string   { return k.p + "fp/" + fp }
func (k keys) seen(id string) string          { return k.p + "seen/" + id }
func (k keys) timers() string                 { return k.p + "timer/" }
func (k keys) timersOf(n uint64) string       { return k.p + "timerinc/" + num(n) + "/" }
func (k keys) homeOf(h incidents.Home) string { return k.p + "home/" + homePart(h) }

// The outbox: effects waiting for delivery live under outbox/p/ (the
// prefix the worker's watch and PendingEffects read), settled ones under
// outbox/s/, so reading what is pending never walks past what is done.
func (k keys) outboxLast() string             { return k.p + "meta/outbox" }
func (k keys) pendingEffects() string         { return k.p + "outbox/p/" }
func (k keys) pendingEffect(id uint64) string { return k.pendingEffects() + num(id) }
func (k keys) settledEffects() string         { return k.p + "outbox/s/" }
func (k keys) settledEffect(id uint64) string { return k.settledEffects() + num(id) }
func (k keys) effectRef(key string) string    { return k.p + "outbox/ref/" + key }

// channelHomes is the part of home/ that holds every home in a channel:
// the channel itself and each of its threads (homePart puts the thread last).
func (k keys) channelHomes(platform, channel string) string {
	return k.p + "home/" + channelPart(platform, channel)
}

// openInChannel is homeopen/<platform><channel>/: the open incidents homed
// in a channel or any of its threads, newest first (inverted numbers). It
// is kept beside home/ so "the open incidents here" reads only open ones,
// however long the channel's history.
func (k keys) openInChannel(platform, channel string) string {
	return k.p + "homeopen/" + channelPart(platform, channel)
}

// openHomeEntry is incident n's key in homeopen/.
func (k keys) openHomeEntry(h incidents.Home, n uint64) string {
	return k.openInChannel(h.Platform, h.Channel) + num(^n)
}

// alerts is alert/<n>/: the per-alert records of incident n, one key per
// fingerprint, so streaming them is one ascending range in fingerprint
// order and writing one costs the same whatever the incident holds.
func (k keys) alerts(n uint64) string           { return k.p + "alert/" + num(n) + "/" }
func (k keys) alert(n uint64, fp string) string { return k.alerts(n) + fp }

// homeEntry is the home index key of incident n in home h. Numbers are
// stored inverted (like open/), so the newest incident is the first key:
// etcd only reads a range in ascending key order cheaply (a descending
// Range fetches the whole range before it sorts and applies the limit).
func (k keys) homeEntry(h incidents.Home, n uint64) string { return k.homeOf(h) + num(^n) }

// homePart length-prefixes each component, so no home's part is a prefix
// of another's whatever bytes chat ids contain.
func homePart(h incidents.Home) string {
	return channelPart(h.Platform, h.Channel) + lenPrefixed(h.Thread)
}

func channelPart(platform, channel string) string {
	return lenPrefixed(platform) + lenPrefixed(channel)
}

func lenPrefixed(s string) string { return strconv.Itoa(len(s)) + ":" + s }

// timerKey is timer/<due>/<n>/<key>: a range from the start visits timers
// in due order, then incident, then key (what DueTimers promises).
func (k keys) timer(t incidents.Timer) (string, error) {
	due, ok := timeBits(t.Due)
	if !ok {
		return "", fmt.Errorf("timer %q of incident #%d: due time %v is outside the years 1678–2262", t.Key, t.Incident, t.Due)
	}
	return k.timers() + num(due) + "/" + num(t.Incident) + "/" + t.Key, nil
}

// timerIndex is timerinc/<n>/<key>/<due>. Keys may contain "/", but the
// due part has a fixed width, so two timers never share an index key.
func (k keys) timerIndex(t incidents.Timer) (string, error) {
	due, ok := timeBits(t.Due)
	if !ok {
		return "", fmt.Errorf("timer %q of incident #%d: due time %v is outside the years 1678–2262", t.Key, t.Incident, t.Due)
	}
	return k.timersOf(t.Incident) + t.Key + "/" + num(due), nil
}

// timerKeyName recovers Timer.Key from a timer/ key.
func (k keys) timerKeyName(timerKey string) (string, error) {
	fixed := len(k.timers()) + 2*(numLen+1)
	if len(timerKey) < fixed {
		return "", fmt.Errorf("timer key %q: %w", timerKey, errDamaged)
	}
	return timerKey[fixed:], nil
}

// timeBits orders times as unsigned integers: flipping the sign bit of the
// Unix nanoseconds puts times before 1970 before those after.
func timeBits(t time.Time) (uint64, bool) {
	if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, false
	}
	return uint64(t.UnixNano()) ^ (1 << 63), true
}

// prefixEnd is the first key after every key with prefix p.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00" // etcd: no end
}
