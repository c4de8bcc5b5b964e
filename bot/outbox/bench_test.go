package outbox_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/firebreak/firebreak/bot/outbox"
)

// BenchmarkCommitToPost measures, on an idle bot with a real (fsynced)
// database, the time from the start of the intent's Update that records a
// post to the fake chat receiving it: commit + fsync + wake-up + pipeline +
// post. Each iteration posts to a channel of its own, as separate incidents
// on an idle bot do, so the per-channel rate limit does not pace it. It
// reports the median and the 99th percentile; issue 14 asks p99 ≤ 50 ms.
//
//	go test -run '^$' -bench CommitToPost -benchtime 2000x ./bot/outbox
func BenchmarkCommitToPost(b *testing.B) {
	bb := newBench(b)
	chat := newFakeChat()
	w := bb.start(chat, outbox.Config{RateLimit: outbox.RateLimit{Interval: time.Second}})
	defer w.stop(b)
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		e := post("declared")
		e.Home.Channel = fmt.Sprintf("C%d", i)
		start := time.Now()
		bb.enqueue(e)
		c := <-chat.posted
		lat = append(lat, c.At.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
