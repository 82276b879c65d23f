// Command perfagent runs perfagent's benchmarking suite and tools: function,
// system and HTTP API benchmarks with baselines and significance tests,
// reports, performance budgets, page-load measurement in a real browser,
// continuous monitoring, and a built-in demo target to try them on.
//
// Usage:
//
//	perfagent <command> [flags] [args]
//
// The commands:
//
//	bench      run benchmarks (system, api, memory, or all) and compare with the baseline,
//	           or with a git ref in the same session (--against REF -- go test ...)
//	merge      merge the shard results of a sharded API run exactly, judge its targets and budgets
//	k8s-job    write a Kubernetes Indexed Job running a sharded API benchmark
//	baseline   save a results file (default: the latest) as the baseline
//	compare    compare two results files (JSON or go test -bench output)
//	report     render a results file as HTML or Markdown
//	check      apply performance budgets to results files
//	page       measure page loads in headless Chromium
//	monitor    sample a running service, process or Prometheus endpoint over time
//	demo       run the built-in demo target with the agent
//	version    print the version
//
// Every command has --help with its flags and examples. Files go under the
// output root (--out, env PERFAGENT_OUTPUT_DIR, default ./perf):
// benchmarks/ (benchmark-<ts>.json and .txt, report-<ts>.html,
// baseline.json), memory/ and monitoring/.
//
// Exit status: 0 success; 1 a budget or regression check failed; 2 a usage
// or input error (a bad flag, an unreadable file), named on one line; 3 the
// run itself failed (what was measured is still written, marked partial when
// interrupted). Progress is drawn on a terminal and never when output is
// piped or CI is set; --json prints machine-readable results.
package main
