//go:build !linux

package bench

import "time"

// machineBusy is unknown outside Linux.
func machineBusy() (time.Duration, bool) { return 0, false }
