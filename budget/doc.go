// Package budget holds performance budgets: targets for HTTP endpoints, the
// system, the error budget and page loads. It parses them from a budgets
// file, applies them to [results.Run] and explains the outcome.
//
// A budget is an inclusive limit: a measurement over a maximum (under a
// minimum, for availability) fails. A budget for which no measurement exists
// is "not measured", neither a pass nor a failure, and the [Verdict] lists
// it so a gate never passes by silence. `perfagent check` exits 1 when
// [Verdict.Failed] reports true.
//
// # Defaults
//
// [Default] returns the seed suite's tables; a budgets file overlays them.
// The file examples/budgets/budgets.yaml writes the defaults out:
//
//	api:        health 50/100/200ms (p50/p95/p99), authentication 100/200/500ms,
//	            ai-inference 500ms/2s/5s, database 20/50/100ms, cache 5/10/20ms
//	system:     cold-start 3s, memory-baseline 512MiB, memory-peak 2GiB,
//	            cpu-idle 5%, scheduler-lag 50ms
//	errors:     availability 99.9% (minimum), error-rate 0.1%, timeout-rate 0.01%
//	page:       document 15KiB, stylesheet 50KiB, script 200KiB, image 500KiB,
//	            total 1MiB; ttfb 200ms, fcp 1.8s, lcp 2.5s, tti 3.8s
//
// # The budgets file (version 1)
//
// YAML (or the same structure in JSON). Top-level keys:
//
//	version    1 (optional)
//	api        category -> {p50, p95, p99}: latency of Kind "http" results of
//	           that Category, read from Stats (unit ns/op; sec/op, ms/op and
//	           us/op are converted)
//	endpoints  result name -> {p50, p95, p99, availability, error-rate,
//	           timeout-rate}: per-endpoint overrides; each key replaces the
//	           category's or the error budget's limit for that result
//	system     cold-start (metric cold-start-ns), memory-baseline
//	           (rss-baseline-bytes), memory-peak (rss-peak-bytes), cpu-idle
//	           (cpu-idle-fraction), scheduler-lag (sched-lag-p99-ns)
//	errors     availability, error-rate, timeout-rate (metrics of the same
//	           names)
//	page       resource-sizes and resource-counts: resource type -> limit,
//	           for document, script, stylesheet, image, font, media, other,
//	           third-party, total (metrics bytes-<type>, requests-<type>);
//	           timings: ttfb, fcp, lcp, tti, tbt, cls (metrics ttfb-ns,
//	           fcp-ns, lcp-ns, tti-ns, tbt-ns, cls; Lighthouse's long names
//	           are accepted too); first-party-hosts: host names for
//	           third-party classification; paths: a list of entries with a
//	           path pattern and the same keys, applied in order over the
//	           section to every URL they match ([MatchPath])
//
// Values: durations "50ms", "1.8s" (a bare number is an error); sizes
// "15KiB" (1024 B), "15KB" (1000 B) or whole bytes; fractions "0.1%" or
// 0.001; counts whole numbers; cls a plain number. The value off removes a
// budget (or a whole section); in endpoint and path overrides it removes the
// inherited budget for that endpoint or path.
//
// # Lighthouse budget.json
//
// A file whose top level is an array is read as Lighthouse's budget.json:
// path, options.firstPartyHostnames, resourceSizes (KiB, as Lighthouse reads
// them), resourceCounts and timings (ms; cumulative-layout-shift unitless),
// with Lighthouse's validation (unknown properties, duplicate entries, bad
// paths are errors) and its rule that only the last budget whose path
// matches a URL applies. Timing metrics perfagent does not measure
// (speed-index, first-meaningful-paint, ...) load and are reported as not
// measured. The other sections keep their defaults.
//
// # Errors
//
// Parse errors are [*ParseError] values naming file, line, column and the
// field's path, e.g.
//
//	budgets.yaml:12:10: api.health.p95: duration "100" needs a unit, e.g. 100ms or 100s
//
// # Usage
//
//	b, err := budget.Load("budgets.yaml") // or budget.Default()
//	if err != nil { ... }                 // exit 2
//	v := budget.Evaluate(b, results...)
//	v.WriteText(os.Stdout)
//	if v.Failed() { ... }                 // exit 1
//
// Budgets values are read-only during evaluation and safe to share.
package budget
