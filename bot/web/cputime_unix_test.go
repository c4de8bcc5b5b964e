//go:build unix

package web

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used (user + system),
// so benchmarks can report server CPU time, which other work on a busy
// machine does not inflate the way it inflates wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
