package storage_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/storage"
)

// benchStorm sends b.N alerts of one shape through incidents.Service on
// bbolt (fsync on) from 16 goroutines, per alerts per call.
func benchStorm(b *testing.B, per int, alert func(i int) incidents.Alert) {
	db, err := storage.Open(filepath.Join(b.TempDir(), "firebreak.db"), storage.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	defer db.Close()
	books := playbooks.Default()
	books.Grouping.GroupBy = []string{"alertname", "service"}
	books.Grouping.GroupWindow = playbooks.Duration(time.Hour)
	svc := incidents.NewService(db, books, incidents.WithLogger(slog.New(slog.DiscardHandler)))
	var next atomic.Int64
	pagesBefore, commitsBefore, updatesBefore := storage.PagesWritten(db), db.Stats().Commits, db.Stats().Updates
	cpuBefore := processCPU(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				start := int(next.Add(int64(per))) - per
				if start >= b.N {
					return
				}
				batch := make([]incidents.Alert, 0, per)
				for i := start; i < min(start+per, b.N); i++ {
					batch = append(batch, alert(i))
				}
				_, err := svc.ReceiveAlerts(context.Background(), incidents.Origin{Actor: incidents.Bot, EventID: fmt.Sprintf("ev-%d", start)}, batch)
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	// CPU time per alert (user and system, every goroutine of the test
	// process) says what an alert costs when the machine is shared, where
	// wall time per alert mostly says how busy the disk and the other
	// processes were.
	b.ReportMetric(float64((processCPU(b)-cpuBefore).Microseconds())/float64(b.N), "cpu-µs/alert")
	// What a commit writes is most of what an fsync costs: page writes
	// (each a pwrite of 4 KB, the meta page included) per commit, and
	// callers (requests) per commit.
	st := db.Stats()
	b.ReportMetric(float64(storage.PagesWritten(db)-pagesBefore)/float64(max(st.Commits-commitsBefore, 1)), "pages/commit")
	b.ReportMetric(float64(st.Updates-updatesBefore)/float64(max(st.Commits-commitsBefore, 1)), "calls/commit")
}

// processCPU is the CPU time the test process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func oneGroupAlert(i int) incidents.Alert {
	return incidents.Alert{Source: "alertmanager", Name: "PodCrashLooping", Title: "checkout pod crash-looping", Service: "checkout",
		Labels:      map[string]string{"alertname": "PodCrashLooping", "service": "checkout", "instance": fmt.Sprintf("checkout-%07d", i), "severity": "warning"},
		Annotations: map[string]string{"summary": "checkout pod crash-looping"}, Fingerprint: fmt.Sprintf("%016x", i+1)}
}

func ownGroupAlert(i int) incidents.Alert {
	return incidents.Alert{Source: "alertmanager", Name: fmt.Sprintf("Alert%07d", i), Title: "something is wrong", Service: fmt.Sprintf("svc-%07d", i),
		Labels:      map[string]string{"alertname": fmt.Sprintf("Alert%07d", i), "service": fmt.Sprintf("svc-%07d", i), "instance": "host-1"},
		Annotations: map[string]string{"summary": "something is wrong"}, Fingerprint: fmt.Sprintf("%016x", i+1<<40)}
}

func repeatAlert(int) incidents.Alert {
	return incidents.Alert{Source: "alertmanager", Name: "DiskFull", Title: "disk almost full", Service: "db",
		Labels: map[string]string{"alertname": "DiskFull", "service": "db", "instance": "db-1"}, Fingerprint: "ff"}
}

// BenchmarkStormOneGroup100: distinct alerts of one group, 100 per call,
// 16 callers; the per-alert cost must not grow with the incident (compare
// -benchtime 10000x with 100000x).
func BenchmarkStormOneGroup100(b *testing.B) { benchStorm(b, 100, oneGroupAlert) }

// BenchmarkStormOneGroupHashed100: BenchmarkStormOneGroup100 with
// fingerprints hashed as Alertmanager's are, so new alerts' records land
// on random pages of their buckets instead of the right-hand end (the
// side-by-side benchmark's one-group-hashed shape measures the same end to
// end, see docs/BENCHMARKS.md).
func BenchmarkStormOneGroupHashed100(b *testing.B) {
	benchStorm(b, 100, func(i int) incidents.Alert {
		a := oneGroupAlert(i)
		h := fnv.New64a()
		h.Write([]byte(a.Labels["instance"]))
		a.Fingerprint = fmt.Sprintf("%016x", h.Sum64())
		return a
	})
}

// BenchmarkStormOneGroupMixed100: BenchmarkStormOneGroupHashed100 with
// the fingerprint a hash of every label, as the side-by-side benchmark's
// one-group-hashed shape makes it. Hashing the instance alone leaves
// consecutive alerts' fingerprints sharing their leading digits (FNV mixes
// a last byte into the low and middle bits only), so a commit's new alerts
// land on far fewer leaves than Alertmanager's fingerprints do.
func BenchmarkStormOneGroupMixed100(b *testing.B) { benchStorm(b, 100, mixedAlert) }

// BenchmarkStormOneGroupMixed1: BenchmarkStormOneGroup1 with the
// fingerprints of BenchmarkStormOneGroupMixed100.
func BenchmarkStormOneGroupMixed1(b *testing.B) { benchStorm(b, 1, mixedAlert) }

func mixedAlert(i int) incidents.Alert {
	a := oneGroupAlert(i)
	h := fnv.New64a()
	for _, k := range []string{"alertname", "service", "instance", "severity"} {
		h.Write([]byte(k + "\xff" + a.Labels[k] + "\xff"))
	}
	a.Fingerprint = fmt.Sprintf("%016x", h.Sum64())
	return a
}

// BenchmarkStormOwnGroup100: every alert opens an incident.
func BenchmarkStormOwnGroup100(b *testing.B) { benchStorm(b, 100, ownGroupAlert) }

// BenchmarkStormRepeats100: the same alert again and again.
func BenchmarkStormRepeats100(b *testing.B) { benchStorm(b, 100, repeatAlert) }

// BenchmarkStormGroupRepeats100: the 1,000 distinct alerts of one group
// again and again (repeats of distinct alerts), to compare with
// BenchmarkStormOwnGroup100 (every alert opens an incident).
func BenchmarkStormGroupRepeats100(b *testing.B) {
	benchStorm(b, 100, func(i int) incidents.Alert { return oneGroupAlert(i % 1000) })
}

// BenchmarkStormOneGroup1: distinct alerts of one group, one per call (one
// event id each), 16 callers: compare -benchtime 5000x with 50000x for
// flatness at the commit rate's limit.
func BenchmarkStormOneGroup1(b *testing.B) { benchStorm(b, 1, oneGroupAlert) }
