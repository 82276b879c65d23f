//go:build !linux

package load

import "time"

// preciseSleep waits until at, never returning earlier, on the runtime's
// timers (kqueue and Windows waits take sub-millisecond timeouts).
func preciseSleep(at time.Time) {
	for {
		d := time.Until(at)
		if d <= 0 {
			return
		}
		time.Sleep(d)
	}
}
