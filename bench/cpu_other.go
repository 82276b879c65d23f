//go:build !unix

package bench

import "time"

// processCPU is unknown outside Unix.
func processCPU() (time.Duration, bool) { return 0, false }

// processTreeCPU is unknown outside Unix.
func processTreeCPU() (time.Duration, bool) { return 0, false }
