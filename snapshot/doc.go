// Package snapshot records the state of a Go process over time and keeps
// profiles of it on disk.
//
// It has four parts, each usable on its own:
//
//   - [Snapshot] is one sampling of the runtime and the process: live heap
//     after the last GC, heap goal, total memory, allocation rate, GC cycles
//     and the GC's share of the CPU, goroutines by state, scheduling latency
//     quantiles over the interval, RSS, process CPU, open files and
//     threads. A [Sampler] produces them from perfagent's one reader of the
//     runtime (no stop-the-world calls, no allocation per sample).
//   - [History] is a bounded ring of snapshots (its memory is fixed at
//     creation) that is flushed to monitoring/metrics-history-<ts>.json
//     files, each holding the snapshots since the previous one.
//   - [Store] writes files into one directory atomically (temporary file,
//     sync, link into place) under a byte and a file-count quota, deleting
//     its own oldest files and never anything else.
//   - [Capturer] takes pprof profiles (heap, goroutine, cpu, allocs, mutex,
//     block) into a Store when [Triggers] fire (heap growth, goroutine
//     spike, scheduling latency, GC CPU), with a cooldown per trigger, a
//     global rate limit and counted skips, and on demand into a store of
//     their own ([Store.Sub]), optionally rate limited, so on-demand
//     captures never evict triggered ones. CPU profiles go
//     through a [CPUProfiler], so a capture never fights a continuous
//     profiler for the process's one CPU profiler.
//
// The package never serves HTTP or logs: the agent wires it to its sampling
// goroutine, its /debug/perfagent/ endpoints and its logger.
//
// # Files
//
// File names are <kind>-<timestamp><ext> with the timestamp in UTC in
// [TimeLayout] (20060102T150405.000Z), so names of one kind sort in time
// order; a name already taken moves the timestamp on by a millisecond, so
// names never collide. Profiles are gzipped pprof protocol buffers that
// `go tool pprof` opens.
//
// # Concurrency
//
// History, Store and Capturer are safe for concurrent use. A Sampler is
// driven by one goroutine. A Capturer runs one goroutine of its own between
// Start and Close.
//
// # Example
//
//	s := snapshot.NewSampler(nil) // its own reader of the runtime and /proc/self
//	defer s.Close()
//	h := snapshot.NewHistory(0)
//	store, _ := snapshot.OpenStore("perf/monitoring", snapshot.StoreOptions{})
//	var snap snapshot.Snapshot
//	for range time.Tick(10 * time.Second) {
//		s.Sample(&snap)
//		h.Add(&snap)
//	}
//	path, err := h.Flush(store) // perf/monitoring/metrics-history-<ts>.json
package snapshot
