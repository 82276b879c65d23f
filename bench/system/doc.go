// Package system is the system benchmark suite: how fast this machine and Go
// runtime schedule goroutines, allocate, compute, collect garbage and encode
// JSON. It is the Go counterpart of a Node.js suite's event-loop lag, memory
// allocation, CPU, GC and JSON benchmarks, and what `perfagent bench system`
// runs.
//
// Every benchmark runs through a [bench.Runner] with its rounds interleaved
// with the others' ([bench.Runner.RunSuite]: round 1 of each, then round 2 of
// each, ...), so drift on the machine hits every benchmark alike; each round
// is one sample, and state a benchmark needs (a live heap, load goroutines)
// is built for each of its rounds and dropped after it, so no benchmark runs
// beside another's heap. Results have the same statistics, files, baselines
// and reports as any other benchmark, and keep stable names and units so that
// runs compare across machines and Go versions:
//
//	sched/latency/idle     ns/wakeup  how late a 1ms timer's goroutine runs, idle machine
//	sched/latency/loaded   ns/wakeup  the same with GOMAXPROCS goroutines burning CPU
//	alloc/small-64B        ns/op      allocate a 64-byte object (and MB/s)
//	alloc/large-1MiB       ns/op      allocate a 1 MiB buffer (and MB/s)
//	cpu/sha256-64KiB       ns/op      hash 64 KiB with SHA-256 (and MB/s)
//	gc/live-heap-<size>    ns/op      one forced GC cycle with <size> of live, pointer-rich heap,
//	                                  with pause percentiles from /sched/pauses/total/gc:seconds
//	json/encode, json/decode ns/op    encoding/json on a 20-item order document (and MB/s)
//
// Scheduler latency is Go's analogue of event-loop lag: a goroutine sleeps
// 1ms and measures how much later than its deadline it runs. A round's value
// is the mean delay of its wake-ups; the distribution of every wake-up is in
// [results.Benchmark.PerOp]. Both carry "runtime-sched-latency-p99-ns" per
// round, the p99 of the runtime's own /sched/latencies:seconds histogram
// over the round (time goroutines spent runnable before running, sampled by
// the runtime). Only sched/latency/idle carries [results.UnitSchedLagP99] (the
// p99 of its wake-ups, for budgets such as "scheduler lag < 50ms"): the loaded
// case saturates the CPU on purpose, and a budget on it would judge the
// overload, not the machine.
//
// Rounds can run in one process ([Run]) or each in a new process
// ([RunIsolated], what `perfagent bench system` does). Two processes of the
// same build differ by more than two rounds of one process do (heap layout,
// code alignment, what the runtime grew during warm-up): measured in one
// process, that difference is one offset shared by every round, and a
// comparison of two runs calls it significant. With one process per round it
// is part of the rounds' spread, so an unchanged build passes the gate, at
// the cost of a calibration and warm-up per process (about a second per
// round process in quick mode).
//
// Usage:
//
//	r := bench.NewRunner(bench.WithSuite("system"))
//	if err := system.Run(ctx, r, system.Options{}); err != nil {
//		// some benchmark failed; the others' results are in r.Results()
//	}
//	r.SaveResults()
//
// With default options the suite takes about 40 seconds; Options.Quick runs
// it in a few seconds with smaller heaps and shorter rounds, for tests and smoke
// checks, and records quick mode so that a quick run is never compared with
// a full one.
// Results depend on everything else the machine does: run it on a quiet
// machine and compare runs with the significance test, not by eye.
package system
