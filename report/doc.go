// Package report renders benchmark results for people: a self-contained
// HTML page, a Markdown summary for pull-request comments, CSV for
// spreadsheets, and the SVG charts they are drawn with.
//
// Every renderer takes a [results.Run] (and, where a comparison makes
// sense, a [bench.Comparison], which may be nil) and writes to an io.Writer;
// none reads the clock or the environment, so the same inputs always give
// the same bytes.
//
// Every report opens with a summary of the run, one row per benchmark: the
// median of its rounds ± its 95% confidence interval, the number of rounds
// (the n of every test), p95 and p99 per operation where single operations
// were measured ([results.Benchmark].PerOp), and, with a comparison, the
// change, the p-value, Holm's adjusted p-value and the gate status: a
// regression, an improvement, no change, or "not gated (reason)" for every
// row the gate did not test. Results of every kind then render
// generically: statistics of the rounds, the per-operation distribution,
// allocations, metrics, labels, warnings and errors, and charts of both
// distributions. HTTP results (package load's Detail) also get their
// latency targets with pass or fail, status codes and errors by kind,
// request phases, rounds and the per-second series; page loads their bytes
// by type and waterfall.
//
// Values are formatted by [FormatValue] everywhere: times in ns to s,
// sizes and byte rates in binary units (KiB, KiB/s), fractions as
// percentages, other rates with their unit (req/s).
//
// The HTML page needs nothing but itself: inline CSS, inline SVG, no
// scripts, and a Content-Security-Policy that blocks every fetch, so it can
// be opened offline or from a CI artifact store. HTML matches
// [bench.Renderer], which lets a Runner write reports:
//
//	r := bench.NewRunner(bench.WithRenderer(report.HTML))
//	...
//	path, err := r.GenerateReport() // perf/benchmarks/report-<ts>.html
//
// The chart helpers ([SVGLineChart], [SVGBarChart], [SVGHistogram]) are
// exported for other reports (monitoring history, leak growth): each writes
// one <svg> element with its colours as attributes and all text escaped.
//
// All functions are safe for concurrent use; they do not modify their
// inputs.
package report
