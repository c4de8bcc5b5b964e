// Command firebreak-bench measures Firebreak's alert intake side by side
// with Prometheus Alertmanager, on the real binaries, on loopback:
//
//	go run ./cmd/firebreak-bench intake [flags]
//
// It builds cmd/firebreak, starts `firebreak serve -headless` (a database in
// a temporary directory, a loopback port, a webhook token) and Debian's
// prometheus-alertmanager (installed with apt-get when missing; skipped with
// a message when it cannot be), one at a time and fresh for every run, and
// drives each with a loader in a process of its own (this command started
// again as `firebreak-bench load`): the same senders, the same alerts, each
// in the tool's native intake format (Alertmanager's POST /api/v2/alerts,
// Firebreak's Alertmanager webhook, version 4). Only 2xx-accepted alerts
// count; 429 and 503 are retried after their Retry-After. For each storm
// shape and batch size it prints alerts/s of each, the ratio, the resident
// memory of each (VmHWM and VmRSS from /proc/<pid>/status) and the rate in
// the first and the last tenth of the run (flatness; a tenth is at least
// one request per sender).
//
// Every run is bounded in alerts (-alerts) and in time (-max-time).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "intake":
		err = intake(ctx, os.Args[2:])
	case "load":
		err = load(ctx, os.Args[2:])
	case "etcd":
		err = etcdBench(ctx, os.Args[2:])
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "firebreak-bench:", err)
		os.Exit(1)
	}
}

const usage = `usage: firebreak-bench intake [-alerts N] [-senders 16] [-per 1,100]
                              [-shapes one-group,own-group,repeats] [-large]
                              (also: one-group-hashed, one-group with
                              fingerprints hashed as Alertmanager's are)
                              [-max-time 60s] [-out results.md]
       firebreak-bench etcd [-members 3] [-rounds N] [-targets etcd,bbolt,alertmanager]
                            [-per 100,1] [-shapes …] [-alerts N] [-max-time 30s]
                            [-latency-alerts 300] [-latency-every 40ms]

Runs Firebreak and Alertmanager side by side (one at a time) on loopback and
prints a Markdown table. See docs/BENCHMARKS.md.
`
