// Package report renders benchmark results for people: a self-contained
// HTML page, a Markdown summary for pull-request comments, CSV for
// spreadsheets, and the SVG charts they are drawn with.
//
// Every renderer takes a [results.Run] (and, where a comparison makes
// sense, a [bench.Comparison], which may be nil) and writes to an io.Writer;
// none reads the clock or the environment, so the same inputs always give
// the same bytes. Results of every kind render generically: the statistics
// table in the result's unit, allocations, metrics, labels, warnings and
// errors; results with samples get their distribution drawn, results
// without samples (histogram-based HTTP results) their percentiles.
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
