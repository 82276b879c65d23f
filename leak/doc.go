// Package leak finds heap and goroutine leaks in a running Go process,
// explains them, and writes what it found to disk on its own; and it
// measures the memory behaviour of code under test.
//
// # Detection
//
// A [Detector] watches two series taken from [snapshot.Snapshot]s: the live
// heap after GC (/gc/heap/live:bytes, one point each time the GC cycle count
// has advanced; it never forces a GC) and the goroutine count. After a
// warm-up (default 1m) it judges each new point over a look-back of up to
// four windows (default window 1m):
//
//   - the Theil–Sen slope (the median of pairwise slopes, robust to spikes)
//     times two windows must reach an absolute and a relative minimum
//     (default 1 MiB and 1% of the live heap; 10 goroutines and 5%);
//   - the trend must be significant: a Mann–Kendall score above 2.33
//     (p < 0.01) and the slope four standard errors above zero, with the
//     noise estimated robustly from successive differences;
//   - the growth must be spread over the look-back: neither the last
//     window nor the earlier part may grow significantly slower than the
//     whole (a plateau reached, a step, a ramp), and the medians of the
//     look-back's thirds must each rise by half what the slope predicts;
//   - it must persist: after Persist (default 1m) of verdicts, the points
//     taken meanwhile must stand above the earlier ones by half what the
//     slope predicted. Growth that stops here — a cache reaching its size —
//     is never reported.
//
// On simulated series (a 64 MiB service sampled every 5s, with noise and
// spikes; see synth_test.go) these defaults report a 1 MiB/min leak after
// a median 3m45s from start-up (95% within 5 minutes) and stay silent on
// sawtooth, cache warm-up plateaus, load ramps that go back down, one-time
// steps and periodic batch jobs across every seed tested. Growth that lasts
// longer than the look-back and then flattens is, while it lasts,
// indistinguishable from a leak: it is reported, and resolved when it
// stops. A reported leak that stops growing for ResolveAfter (default two
// windows) is reported resolved; an ongoing one is re-reported at most
// every Realert (default 30m).
//
// # Explanation
//
// A [Monitor] drives a Detector and, at the end of the warm-up, keeps a
// baseline in-use heap profile and goroutine dump. When a heap leak is
// detected it takes another heap profile and diffs the two by allocation
// site in process ([DiffHeap]): the report names the top growing sites
// (function, file:line, bytes and objects gained) and keeps both profiles,
// so `go tool pprof -diff_base=<baseline> <current>` reproduces the diff.
// For a goroutine leak it groups a goroutine dump by state, stack and
// creation site and names the groups that grew ([DiffGoroutines]), and when
// the binary has the runtime's goroutineleak profile (Go 1.26 with
// GOEXPERIMENT=goroutineleakprofile) it adds the goroutines the runtime
// proved unreachable.
//
// Each report is written as memory/leak-<ts>.json ([Report]) and a
// Markdown twin, with memory/memory-chart-<ts>.csv (one row per snapshot)
// and an SVG chart beside it, logged as an slog warning, and counted in
// the agent's perfagent.leak.* metrics. It projects the time to the memory
// limit (GOMEMLIMIT, or the cgroup's memory.max) at the current slope.
//
// # Code under test
//
// [ProfileFunction] runs a function while sampling memory and returns its
// result with a [MemoryProfile] (samples, peak, retained bytes, growth
// rate, leak verdict); [Start] and [Recorder.Stop] do the same around any
// code. [ProfileRounds] runs a workload in repeated rounds and tells
// warm-up from a leak: what round 0 retains is reported as retained after
// warm-up, and a leak is suspected only when the live heap after GC rises
// beyond a noise floor in every later round and by a minimum in all (the
// rule is stated in its verdict); it returns the workload's own heap
// profile, a [HeapDelta] of profiles taken just before and after it.
// [SaveProfile], [WriteChart], [SaveHeapProfile] and [TakeHeapSnapshot]
// write the profile, its chart and heap profiles. [VerifyNone] fails a test that
// leaks goroutines or heap:
//
//	func TestCache(t *testing.T) {
//		leak.VerifyNone(t)
//		...
//	}
//
// # Concurrency
//
// A Detector and a Monitor are fed by one goroutine; their Status methods
// are safe to call from others. A Recorder samples on a goroutine of its
// own until Stop. The package keeps no global state.
package leak
