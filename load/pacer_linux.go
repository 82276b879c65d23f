package load

import (
	"syscall"
	"time"
)

// preciseSleep blocks the calling thread until at, never returning
// earlier. On Linux it is clock_nanosleep on the goroutine's thread: a
// high-resolution kernel timer (late by the thread's timer slack, 50 µs
// by default) where the runtime's timers wake from epoll_pwait with
// millisecond resolution.
func preciseSleep(at time.Time) {
	for {
		d := time.Until(at)
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(d))
		// Note: EINTR (a preemption signal) leaves time to sleep; the
		// loop sleeps it.
		_ = syscall.Nanosleep(&ts, nil)
	}
}
