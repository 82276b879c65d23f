//go:build unix

package bench

import (
	"syscall"
	"time"
)

// processCPU returns the process's CPU time so far (user and system, every
// thread).
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// processTreeCPU returns the CPU time of the process and of its children
// that have been waited for (a benchmark's child processes, a cold start),
// so that a machine meter counts them as this run's work, not other load.
func processTreeCPU() (time.Duration, bool) {
	self, ok := processCPU()
	var ru syscall.Rusage
	if !ok || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0, false
	}
	return self + time.Duration(ru.Utime.Nano()+ru.Stime.Nano()), true
}
