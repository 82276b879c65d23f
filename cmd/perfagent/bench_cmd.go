package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/bench/system"
	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

// benchOptions are the flags every suite may use.
type benchOptions struct {
	quick  bool
	filter *regexp.Regexp
	api    apiOptions
	memory memoryOptions
	cold   coldStartOptions
}

// benchSuite is one suite of `perfagent bench`.
type benchSuite struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, r *bench.Runner, o *benchOptions) error
}

func benchSuites() []benchSuite {
	return []benchSuite{
		{"system", "the Go runtime: scheduler lag, allocation, hashing, GC pauses, JSON", runSystemSuite},
		{"api", "HTTP API scenarios against --url, or the built-in demo target", runAPISuite},
		{"memory", "memory profile of a workload: the demo's, or a Go benchmark given after -- go test ...", runMemorySuite},
	}
}

func benchCommand() command {
	var names []string
	for _, s := range benchSuites() {
		names = append(names, s.name)
	}
	c := command{
		name: "bench",
		args: "[" + strings.Join(names, "|") + "] [-- go test ...]",
		summary: "Run benchmarks (all suites, or one) with warm-up and measurement phases; write benchmarks/benchmark-<ts>.json, " +
			".txt (Go benchmark format) and report-<ts>.html; compare with benchmarks/baseline.json when present (exit 1 on a regression).",
		examples: []string{
			"perfagent bench                          # every suite; the API suite runs against the built-in demo target",
			"perfagent bench system --quick",
			"perfagent bench api --url http://localhost:8080 --scenario perf/api.yaml --duration 30s",
			"perfagent bench api --rate 200 --duration 1m   # open model: 200 req/s, latency from intended send times",
			"perfagent bench memory -- go test -run '^$' -bench BenchmarkParse ./parser",
			"perfagent bench system --cold-start -- ./bin/server --port 8080",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		root := outputRoot(e, fs)
		var o benchOptions
		quickDefault, _ := strconv.ParseBool(e.getenv("PERFAGENT_QUICK"))
		fs.BoolVar(&o.quick, "quick", quickDefault, "shorter benchmarks, seconds in all (env PERFAGENT_QUICK=1): a smoke test")
		runRe := fs.String("run", "", "run only benchmarks whose name matches this regular expression")
		alpha := fs.Float64("alpha", bench.DefaultAlpha, "significance level for the baseline comparison")
		threshold := fs.Float64("threshold", 0.05, "relative worsening (0.05 = 5%) that fails the baseline comparison")
		noBase := fs.Bool("no-baseline", false, "do not compare with benchmarks/baseline.json")
		budgetsFile := fs.String("budgets", "", "also apply this budgets file to the results (exit 1 on a violation)")
		asJSON := fs.Bool("json", false, "print the results (and comparison) as JSON")
		otlp := fs.String("otlp", "", "push the results as OpenTelemetry metrics to this OTLP endpoint URL ('env': the OTEL_EXPORTER_OTLP_* variables)")
		o.api.flags(fs)
		o.cold.flags(fs)
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		if *runRe != "" {
			re, err := regexp.Compile(*runRe)
			if err != nil {
				return usageErr(e, c.name, "--run: %v", err)
			}
			o.filter = re
		}
		rest := args
		var tail []string
		for i, a := range rest {
			if a == "--" {
				rest, tail = rest[:i], rest[i+1:]
				break
			}
		}
		o.memory.command = tail
		o.memory.root = *root
		o.cold.command = tail
		suites := benchSuites()
		suiteName := "all"
		if len(rest) > 0 {
			suiteName = rest[0]
			var chosen []benchSuite
			for _, s := range suites {
				if s.name == rest[0] {
					chosen = append(chosen, s)
				}
			}
			if len(chosen) == 0 {
				return usageErr(e, c.name, "unknown suite %q (want %s)", rest[0], strings.Join(names, ", "))
			}
			if len(rest) > 1 {
				return usageErr(e, c.name, "unexpected argument %q after the suite (put a command after --)", rest[1])
			}
			suites = chosen
		}
		if err := o.api.validate(); err != nil {
			return usageErr(e, c.name, "%v", err)
		}
		var budgets *budget.Budgets
		if *budgetsFile != "" {
			var err error
			if budgets, err = budget.Load(*budgetsFile); err != nil {
				return inputErr(e, c.name, err)
			}
		}

		sp := newSpinner(e, "benchmarking")
		r := bench.NewRunner(
			bench.WithOutputDir(benchDir(*root)),
			bench.WithSuite(suiteName),
			bench.WithRenderer(report.HTML),
			bench.WithProgress(sp.benchProgress),
			bench.WithCompareOptions(bench.CompareOptions{Alpha: *alpha, Threshold: *threshold}),
		)
		var runErrs []error
		for _, s := range suites {
			if e.ctx.Err() != nil {
				break
			}
			sp.describe("suite " + s.name)
			if err := s.run(e.ctx, e, r, &o); err != nil {
				runErrs = append(runErrs, fmt.Errorf("%s: %w", s.name, err))
			}
		}
		sp.done()
		if e.ctx.Err() != nil {
			r.MarkPartial("interrupted")
		}
		saved, err := r.SaveResults()
		if err != nil {
			return runErr(e, c.name, fmt.Errorf("saving results: %w", err))
		}
		res := r.Results()
		cmp, cmpErr := baselineComparison(*root, res, *noBase, bench.CompareOptions{Alpha: *alpha, Threshold: *threshold})
		htmlPath, herr := writeHTMLReport(benchDir(*root), res, cmp)
		if herr != nil {
			runErrs = append(runErrs, fmt.Errorf("report: %w", herr))
		}
		if *otlp != "" {
			if err := pushResults(e.ctx, *otlp, res); err != nil {
				runErrs = append(runErrs, fmt.Errorf("--otlp: %w", err))
			}
		}

		var verdict *budget.Verdict
		if budgets != nil {
			verdict = budget.Evaluate(budgets, res)
		}
		if *asJSON {
			_ = printJSON(e.stdout, struct {
				Results    *results.Run      `json:"results"`
				Comparison *bench.Comparison `json:"comparison,omitempty"`
				Budgets    *budget.Verdict   `json:"budgets,omitempty"`
				Files      []string          `json:"files"`
			}{res, cmp, verdict, []string{saved.JSON, saved.Benchfmt, htmlPath}})
		} else {
			printSummary(e, res)
			if cmp != nil {
				fmt.Fprintln(e.stdout, "\ncompared with the baseline:")
				_ = cmp.WriteText(e.stdout)
			}
			if verdict != nil {
				fmt.Fprintln(e.stdout)
				_ = verdict.WriteText(e.stdout)
			}
			fmt.Fprintf(e.stdout, "\nresults: %s\n         %s\nreport:  %s\n", saved.JSON, saved.Benchfmt, htmlPath)
		}
		if cmpErr != nil {
			fmt.Fprintf(e.stderr, "perfagent bench: baseline not compared: %v\n", cmpErr)
		}
		if res.Partial {
			fmt.Fprintln(e.stderr, "perfagent bench: interrupted; the results measured so far were saved (marked partial)")
			return exitRunError
		}
		failedBench := 0
		for _, b := range res.Benchmarks {
			if b.Error != "" {
				failedBench++
				fmt.Fprintf(e.stderr, "perfagent bench: %s failed: %s\n", b.Name, b.Error)
			}
		}
		if len(runErrs) > 0 {
			fmt.Fprintf(e.stderr, "perfagent bench: %v\n", errors.Join(runErrs...))
			return exitRunError
		}
		if o.api.verdict != nil && !o.api.verdict.Pass {
			for _, ch := range o.api.verdict.Failed() {
				fmt.Fprintf(e.stderr, "perfagent bench: api check failed: %s\n", ch.Message)
			}
		}
		if (cmp != nil && cmp.Failed()) || (verdict != nil && verdict.Failed()) || (o.api.verdict != nil && !o.api.verdict.Pass) {
			return exitFailed
		}
		if failedBench > 0 {
			return exitRunError
		}
		return exitOK
	}
	return c
}

// printSummary prints one line per benchmark: the median, p95, p99 and the
// most useful extra figures.
func printSummary(e *env, res *results.Run) {
	fmt.Fprintf(e.stdout, "%-40s %12s %12s %12s %s\n", "benchmark", "median", "p95", "p99", "")
	for _, b := range res.Benchmarks {
		unit := b.Unit
		if unit == "" {
			unit = results.UnitNsPerOp
		}
		extra := ""
		if b.Error != "" {
			extra = "FAILED: " + firstLine(b.Error)
		} else if b.AllocsPerOp != nil {
			extra = fmt.Sprintf("%.0f allocs/op", *b.AllocsPerOp)
		}
		for _, m := range b.Metrics {
			switch m.Unit {
			case results.UnitReqPerSec:
				extra += " " + report.FormatValue(m.Value, m.Unit)
			case results.UnitErrorRate:
				extra += " " + report.FormatValue(m.Value, m.Unit) + " errors"
			case results.UnitSchedLagP99:
				extra += " lag p99 " + report.FormatValue(m.Value, m.Unit)
			case results.UnitColdStart:
				extra += " cold start " + report.FormatValue(m.Value, m.Unit)
			}
		}
		fmt.Fprintf(e.stdout, "%-40s %12s %12s %12s %s\n", b.Name,
			report.FormatValue(b.Stats.Median, unit), report.FormatValue(b.Stats.P95, unit), report.FormatValue(b.Stats.P99, unit), strings.TrimSpace(extra))
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func runSystemSuite(ctx context.Context, e *env, r *bench.Runner, o *benchOptions) error {
	so := system.Options{Quick: o.quick}
	if o.filter != nil {
		so.Filter = o.filter.MatchString
	}
	err := system.Run(ctx, r, so)
	if o.cold.enabled {
		if cerr := measureColdStart(ctx, e, r, &o.cold); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	return err
}

// timeNow is time.Now, named so commands read clearly.
func timeNow() time.Time { return time.Now() }
