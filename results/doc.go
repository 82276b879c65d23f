// Package results is the versioned results schema shared by everything in
// perfagent that measures: the benchmark runner (package bench), the HTTP
// load engine (package load), page loads (package page), the continuous
// monitor, reports and budgets.
//
// A [Run] is one run of one or more benchmarks; each [Benchmark] holds its
// samples, one per round of measurement (see package bench for how rounds are
// taken), and [Stats] summarising them. The same Run is written as JSON
// ([WriteJSON], schema [Schema]) and in the Go benchmark format that benchstat
// reads ([WriteBenchfmt], one line per round), and read back from either,
// including plain `go test -bench` output ([Read], [ReadFile]).
//
// # Design
//
// The unit of a sample is what is independent: a round, a process, a
// request. Percentiles of single operations are kept apart from the samples
// ([Benchmark.PerOp]) and only where single operations are measured (HTTP
// requests, scheduler wake-ups, GC pauses, page loads), so no reader mistakes
// a percentile of round means for a tail latency.
//
// # Files
//
// Results live in an output directory as benchmark-<ts>.json and .txt
// ([WriteNewSet], [TimestampLayout]); baseline.json is a saved run
// ([SaveBaseline], [LoadBaseline]) that refuses partial runs. Every file is
// written atomically (temporary file and rename).
//
// # Concurrency
//
// Values are plain data; functions are safe for concurrent use.
package results
