//go:build !linux

package results

// cpuModel is unknown outside Linux.
func cpuModel() string { return "" }
