//go:build !linux

package bench

// cpuModel is unknown outside Linux.
func cpuModel() string { return "" }
