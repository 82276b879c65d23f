// Package snapshot records the state of a Go process over time and keeps
// profiles of it on disk.
//
// It has five parts, each usable on its own:
//
//   - [Snapshot] is one sampling of the runtime and the process: live heap
//     after the last GC, heap goal, total memory, allocation rate, GC cycles
//     and the GC's share of the CPU, goroutines by state, scheduling latency
//     quantiles over the interval, RSS, process CPU, open files and
//     threads. A [Sampler] produces them from perfagent's one reader of the
//     runtime (no stop-the-world calls, no allocation per sample).
//   - [Pipeline] is the sampling loop: one read per tick, each Snapshot
//     handed to its [Observer]s in order (the history, its periodic
//     flush, the triggered captures, the leak monitor), with an injectable
//     ticker, Start and Close(ctx). The agent wires one; it runs nothing
//     else on its goroutine.
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
// History, Store, Capturer and Pipeline are safe for concurrent use. A
// Sampler is driven by one goroutine (a Pipeline's). Observers are called
// on the Pipeline's goroutine, one snapshot at a time. A Capturer and a
// Pipeline each run one goroutine of their own between Start and Close.
//
// # Example
//
//	s := snapshot.NewSampler(nil) // its own reader of the runtime and /proc/self
//	defer s.Close()
//	h := snapshot.NewHistory(0)
//	store, _ := snapshot.OpenStore("perf/monitoring", snapshot.StoreOptions{})
//	p, _ := snapshot.NewPipeline(s, snapshot.PipelineOptions{
//		Interval:  10 * time.Second,
//		Observers: []snapshot.Observer{h, h.FlushEvery(store, 10*time.Minute, nil)},
//	})
//	_ = p.Start()
//	defer p.Close(ctx)
package snapshot
