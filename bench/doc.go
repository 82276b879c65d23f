// Package bench measures Go functions, summarises the measurements with
// honest statistics, keeps baselines and tells significant changes from noise.
//
// It is the engine behind `perfagent bench`, the system suite
// (package bench/system), the HTTP load results of package load and the
// reports of package report. Everything it produces is a [Results] value,
// the versioned schema shared by those packages, which is saved as JSON
// (benchmark-<ts>.json), in the Go benchmark format that benchstat reads
// (benchmark-<ts>.txt), and as an HTML report (report-<ts>.html).
//
// # Measuring
//
// A [Runner] runs benchmarks one at a time:
//
//	r := bench.NewRunner(bench.WithOutputDir("perf/benchmarks"), bench.WithRenderer(report.HTML))
//	res, err := r.Run(ctx, "parse/small", "parser", func(ctx context.Context) error {
//		_, err := parse(input)
//		return err
//	}, bench.Options{WarmupRuns: 10, MeasurementRuns: 100})
//	saved, err := r.SaveResults()
//	html, err := r.GenerateReport()
//
// Warm-up samples are discarded; measurement continues until both
// MeasurementRuns samples and MinDuration are reached and stops at MaxDuration
// with a warning (see [Options]). Samples are timed with the monotonic clock.
// An operation too fast to time on its own (under [Options.SampleTime], 1ms by
// default, and never so short that reading the clock costs over 1%) is called
// in batches: a sample is then the batch's time divided by its size, so a
// trivial function's ns/op agrees with testing.B's. [Runner.RunN] hands the
// loop to the function (the b.N style) and [Runner.RunSampled] lets the
// function measure each sample itself (a scheduling delay, a request latency).
// Allocations per operation come from runtime/metrics counters read before
// and after measurement, without stopping the world; they are exact up to the
// allocations still cached per processor (at most a span per size class),
// which is negligible over many operations.
//
// A function that panics or returns an error, or a context that is
// cancelled, ends that benchmark: the failure is recorded in [Result.Error]
// with the samples already taken, and the Runner goes on with the next one.
//
// # Statistics
//
// [Summarize] computes mean, median, standard deviation, min, max, exact
// p50/p95/p99 (type-7 interpolation), a distribution-free 95% confidence
// interval for the median (from golang.org/x/perf/benchmath, as benchstat
// prints it), the coefficient of variation with a warning above [NoisyCV],
// and the count of outliers beyond the Tukey fences.
//
// # Baselines and comparisons
//
// [SaveBaseline] keeps a run as baseline.json; [Compare] compares a run with
// it benchmark by benchmark with the Mann-Whitney U test (α = 0.05 by
// default). A change that is not significant renders as "~"; a significant
// change worse than [CompareOptions.Threshold] is a regression, and
// [Comparison.Failed] tells a CI gate to fail. Results without samples
// (histogram-based HTTP results) and single values (allocs/op, metrics) are
// compared by value and say that no test was possible.
//
// # Files
//
// [ReadResultsFile] reads the JSON schema or `go test -bench` output (detected
// from the content), so existing testing.B results get the same statistics,
// baselines and reports. Every file is written atomically (temporary file and
// rename), and timestamps in names sort lexically and never collide
// ([TimestampLayout]).
//
// # Concurrency
//
// A Runner may be used from several goroutines; benchmarks run one at a time.
// [Results] values are plain data: copy them before sharing them between
// goroutines that modify them. Package-level functions are safe for
// concurrent use.
package bench
