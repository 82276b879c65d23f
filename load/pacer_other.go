//go:build !linux

package load

import (
	"runtime"
	"time"
)

// preciseSleep waits until at, never returning earlier: a runtime timer
// until shortly before, then yielding.
func preciseSleep(at time.Time) {
	if d := time.Until(at) - 2*time.Millisecond; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(at) {
		runtime.Gosched()
	}
}
