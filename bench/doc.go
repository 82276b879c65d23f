// Package bench measures Go functions in rounds, compares runs with a
// regression gate whose error rate is stated, and keeps baselines.
//
// It is the engine behind `perfagent bench`, the system suite (package
// bench/system) and benchmarks users write with it in their own _test.go
// files. What it measures is a [results.Run] (package results holds the
// schema, its JSON and Go benchmark format codecs and the result files).
//
// # Measuring
//
// A [Runner] measures each benchmark in [Options.Rounds] rounds (10 by
// default). A round is one sample: it lasts at least MinDuration/Rounds and
// its value is the per-operation figure over the whole round (ns/op over every
// operation of the round). Inside a round, an operation too fast to time on its
// own (under [Options.SampleTime], 1ms by default, and never so short that
// reading the clock costs over 1%) is called in timed batches, so a trivial
// function's ns/op agrees with testing.B's; consecutive batches are
// correlated, so they are never counted as separate samples:
//
//	r := bench.NewRunner(bench.WithOutputDir("perf/benchmarks"), bench.WithRenderer(report.HTML))
//	res, err := r.Run(ctx, "parse/small", "parser", func(ctx context.Context) error {
//		_, err := parse(input)
//		return err
//	}, bench.Options{Rounds: 10, MinDuration: time.Second})
//	out, err := r.Conclude(false) // results files, baseline comparison, report
//
// [Runner.RunSuite] measures several benchmarks with their rounds interleaved
// (round 1 of each, then round 2 of each, ...), so that drift and noisy
// neighbours over the suite's time hit every benchmark alike; [Spec.Setup]
// builds per-round state (a live heap, load goroutines) that must not outlive
// the round. [Runner.RunN] hands the loop to the function (the b.N style) and
// [Runner.RunSampled] lets the function measure each operation itself (a
// scheduling delay, a request latency); then the result also keeps the
// distribution of single operations ([results.Benchmark.PerOp]), the only
// place per-operation percentiles come from. Allocations per operation come
// from runtime/metrics counters read around each round, without stopping the
// world.
//
// A function that panics or returns an error, or a context that is
// cancelled, ends that benchmark: the failure is recorded in
// [results.Benchmark.Error] with the rounds already measured (a round cut
// short is dropped), and the Runner goes on with the next one.
//
// # The gate
//
// [Compare] matches two runs by benchmark name. The primary row of every
// benchmark with samples on both sides is tested with the Mann-Whitney U test
// (golang.org/x/perf/benchmath, as benchstat does), and the p-values of all
// those gated rows are adjusted together with Holm's step-down method, so the
// chance that a run whose code did not change fails the gate is at most α
// (0.05) for the whole run, not per row: with twenty rows tested each at
// 0.05, most unchanged runs would fail. A regression is a gated row whose
// adjusted p-value is at most α and whose change is worse than
// [CompareOptions.Threshold] (5%). Secondary values (allocs/op, B/op,
// metrics) are tested for information and values measured once are shown
// with "not gated: measured once"; neither can fail the gate. Runs of
// different modes (quick and full) are refused ([Comparison.Incompatible]).
//
// A comparison across sessions cannot tell a code change from a machine that
// was busier in one session than in the other; interleaved rounds cancel
// drift within a session, not between them. On shared CI runners compare two
// builds in the same session (`perfagent bench --against REF`).
//
// # Drivers
//
// A process that runs test binaries (the --against mode) reads perfagent
// benchmarks from them through [EnvEmit] and [EnvRounds]: with those set,
// every Runner writes each finished benchmark to standard output in Go
// benchmark format, in the number of rounds the driver asks for, without a
// change to the user's code.
//
// # Concurrency
//
// A Runner may be used from several goroutines; benchmarks run one at a time.
// Package-level functions are safe for concurrent use.
package bench
