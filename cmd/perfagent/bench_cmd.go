package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/bench/system"
	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

// benchOptions are the flags every suite may use.
type benchOptions struct {
	quick bool
	// inProcess measures the system suite's rounds in this process
	// instead of one process per round.
	inProcess bool
	filter    *regexp.Regexp
	api       apiOptions
	memory    memoryOptions
	cold      coldStartOptions
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
			"perfagent bench --against origin/main -- go test -run '^$' -bench . ./pkg/...   # same-session A/B",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		root := outputRoot(e, fs)
		var o benchOptions
		quickDefault, _ := strconv.ParseBool(e.getenv("PERFAGENT_QUICK"))
		fs.BoolVar(&o.quick, "quick", quickDefault, "shorter benchmarks, seconds in all (env PERFAGENT_QUICK=1): a smoke test")
		fs.BoolVar(&o.inProcess, "in-process", false, "measure the system suite's rounds in this process, not one process per round (faster, but two runs then differ by more than their rounds show, so compare may flag an unchanged build)")
		runRe := fs.String("run", "", "run only benchmarks whose name matches this regular expression")
		alpha := fs.Float64("alpha", bench.DefaultAlpha, "family-wise error rate of the baseline comparison (Holm-adjusted over the gated rows)")
		threshold := fs.Float64("threshold", bench.DefaultThreshold, "relative worsening (0.05 = 5%) that fails the baseline comparison")
		noBase := fs.Bool("no-baseline", false, "do not compare with benchmarks/baseline.json")
		budgetsFile := fs.String("budgets", "", "also apply this budgets file to the results (exit 1 on a violation)")
		asJSON := fs.Bool("json", false, "print the results (and comparison) as JSON")
		otlp := fs.String("otlp", "", "push the results as OpenTelemetry metrics to this OTLP endpoint URL ('env': the OTEL_EXPORTER_OTLP_* variables)")
		against := fs.String("against", "", "A/B in one session: build the benchmarks given after -- go test ... at this git ref and in the working tree, run them alternately (--rounds runs per side, default 10), compare; exit 1 on a regression")
		o.api.flags(fs)
		o.cold.flags(fs)
		o.memory.flags(fs)
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		if flagSet(fs, "against") {
			return benchAgainst(e, fs, args, abFlags{*against, o.api.roundsF, *alpha, *threshold, *asJSON, *root, gateOptions(fs, *alpha, *threshold)})
		}
		o.api.jsonOut = *asJSON
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
		if err := o.memory.validate(o.quick); err != nil {
			return usageErr(e, c.name, "%v", err)
		}
		// Note: every default budget the default run can measure is
		// measured: cold start, idle memory and idle CPU come from starting
		// the demo target, so the all-suites run does that unless told not
		// to (--cold-start=false) or given a command after --.
		if suiteName == "all" && len(tail) == 0 && !flagSet(fs, "cold-start") {
			o.cold.enabled = true
		}
		if err := checkGateFlags(*alpha, *threshold); err != nil {
			return usageErr(e, c.name, "%v", err)
		}
		if o.cold.enabled && (o.cold.runs < 1 || o.cold.runs > 1000) {
			return usageErr(e, c.name, "--cold-start-runs %d: must be between 1 and 1000", o.cold.runs)
		}
		// Note: with --json, stdout carries exactly one JSON document;
		// everything the suites print for people goes to stderr.
		se := *e
		if *asJSON {
			se.stdout = e.stderr
		}
		var budgets *budget.Budgets
		if *budgetsFile != "" {
			var err error
			if budgets, err = budget.Load(*budgetsFile); err != nil {
				return inputErr(e, c.name, err)
			}
		}

		r := bench.NewRunner(
			bench.WithOutputDir(benchDir(*root)),
			bench.WithSuite(suiteName),
			bench.WithRenderer(report.HTML),
			bench.WithCompareOptions(gateOptions(fs, *alpha, *threshold)),
		)
		runErrs := runSuites(&se, r, suites, &o)
		out, err := r.Conclude(*noBase)
		if err != nil {
			if out.Saved.JSON == "" {
				return runErr(e, c.name, fmt.Errorf("saving results: %w", err))
			}
			runErrs = append(runErrs, err)
		}
		if *otlp != "" {
			if err := pushResults(e.ctx, *otlp, out.Results); err != nil {
				runErrs = append(runErrs, fmt.Errorf("--otlp: %w", err))
			}
		}
		var verdict *budget.Verdict
		if budgets != nil {
			verdict = budget.Evaluate(budgets, out.Results)
		}
		presentBench(e, out, verdict, *asJSON)
		return benchExit(e, out, verdict, o.api.verdict, runErrs, filepath.Join(benchDir(*root), results.BaselineFile))
	}
	return c
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runSuites runs each suite with r (stopping when the context is done) and
// returns the suites' failures; an interrupted run is marked partial.
func runSuites(e *env, r *bench.Runner, suites []benchSuite, o *benchOptions) []error {
	sp := newSpinner(e, "benchmarking")
	defer sp.done()
	r.SetProgress(sp.benchProgress)
	r.SetQuick(o.quick)
	var errs []error
	for _, s := range suites {
		if e.ctx.Err() != nil {
			break
		}
		sp.describe("suite " + s.name)
		if err := s.run(e.ctx, e, r, o); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	if e.ctx.Err() != nil {
		r.MarkPartial("interrupted")
	}
	return errs
}

// presentBench prints the outcome: one JSON document on stdout with --json,
// else the summary, the comparison, the budgets and the files.
func presentBench(e *env, out *bench.Outcome, verdict *budget.Verdict, asJSON bool) {
	files := []string{out.Saved.JSON, out.Saved.Benchfmt}
	if out.Report != "" {
		files = append(files, out.Report)
	}
	if asJSON {
		_ = printJSON(e.stdout, struct {
			Results    *results.Run      `json:"results"`
			Comparison *bench.Comparison `json:"comparison,omitempty"`
			Budgets    *budget.Verdict   `json:"budgets,omitempty"`
			Files      []string          `json:"files"`
		}{out.Results, out.Comparison, verdict, files})
		return
	}
	printSummary(e.stdout, out.Results)
	if out.Comparison != nil {
		fmt.Fprintln(e.stdout, "\ncompared with the baseline:")
		_ = out.Comparison.WriteText(e.stdout)
	}
	if verdict != nil {
		fmt.Fprintln(e.stdout)
		_ = verdict.WriteText(e.stdout)
	}
	fmt.Fprintf(e.stdout, "\nresults: %s\n         %s\nreport:  %s\n", out.Saved.JSON, out.Saved.Benchfmt, out.Report)
}

// benchExit explains on stderr why the run did not pass and returns the
// exit code: 2 when the baseline cannot gate it, 3 when it was interrupted
// or failed, 1 on a regression or a failed budget or API check, else 0.
func benchExit(e *env, out *bench.Outcome, verdict *budget.Verdict, api *load.Verdict, runErrs []error, baseline string) int {
	res := out.Results
	if out.BaselineErr != nil {
		fmt.Fprintf(e.stderr, "perfagent bench: baseline not compared: %v\n", out.BaselineErr)
		return exitUsage
	}
	if why := out.Refused(); len(why) > 0 {
		for _, w := range why {
			fmt.Fprintf(e.stderr, "perfagent bench: not gated against %s: %s (run 'perfagent baseline' in this mode, or --no-baseline)\n", baseline, w)
		}
		return exitUsage
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
	apiFailed := api != nil && !api.Pass
	if apiFailed {
		for _, ch := range api.Failed() {
			fmt.Fprintf(e.stderr, "perfagent bench: api check failed: %s\n", ch.Message)
		}
	}
	if out.Regressed() || (verdict != nil && verdict.Failed()) || apiFailed {
		return exitFailed
	}
	if failedBench > 0 {
		return exitRunError
	}
	return exitOK
}

// printSummary prints one line per benchmark: the median of its rounds with
// the 95% confidence interval and the number of rounds, then per-operation
// p95 and p99 where single operations were measured (requests, wake-ups,
// loads; "-" for batched benchmarks, whose rounds say nothing about single
// operations' tails), then the most useful extra figures.
func printSummary(w io.Writer, res *results.Run) {
	if res.Quick {
		fmt.Fprintln(w, "quick run: shortened workloads, compared only with quick baselines")
	}
	if m := res.Machine; m.Busy() {
		fmt.Fprintf(w, "busy machine: other work took %.1f CPUs on average while this run measured; its wall times are unreliable\n", m.OtherCPU)
	}
	fmt.Fprintf(w, "%-34s %11s %9s %6s %11s %11s  %s\n", "benchmark", "median", "±95% CI", "rounds", "op p95", "op p99", "")
	for _, b := range res.Benchmarks {
		unit := b.PrimaryUnit()
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
		ci := "-"
		if b.Stats.CIConfidence > 0 && b.Stats.Median != 0 {
			ci = fmt.Sprintf("±%.1f%%", 100*max(b.Stats.CIHigh-b.Stats.Median, b.Stats.Median-b.Stats.CILow)/math.Abs(b.Stats.Median))
		}
		p95, p99 := "-", "-"
		if b.PerOp != nil {
			p95, p99 = report.FormatValue(b.PerOp.P95, unit), report.FormatValue(b.PerOp.P99, unit)
		}
		fmt.Fprintf(w, "%-34s %11s %9s %6d %11s %11s  %s\n", b.Name, report.FormatValue(b.Stats.Median, unit), ci, len(b.Samples), p95, p99, strings.TrimSpace(extra))
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
	var err error
	if o.inProcess {
		err = system.Run(ctx, r, so)
	} else {
		err = system.RunIsolated(ctx, r, so, systemRoundProcess)
	}
	if o.cold.enabled {
		if cerr := measureColdStart(ctx, e, r, &o.cold); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	return err
}

// timeNow is time.Now, named so commands read clearly.
func timeNow() time.Time { return time.Now() }

// systemRoundCommand is the hidden command a system-suite round process
// runs (see [system.RunIsolated]).
const systemRoundCommand = "internal-system-round"

// systemRoundProcess starts this binary as one round process of the system
// suite; an interrupt reaches it as SIGINT, so it ends its round cleanly.
func systemRoundProcess(ctx context.Context) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding perfagent's own binary for the round processes: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, systemRoundCommand)
	// Tells a test binary standing in for perfagent to run the command
	// rather than its tests; perfagent itself ignores it.
	cmd.Env = append(os.Environ(), selfExecEnv+"=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// systemRound runs one round process of the system suite: the request on
// standard input, the result on standard output.
func systemRound(e *env) int {
	if err := system.RunRound(e.ctx, os.Stdin, e.stdout); err != nil {
		fmt.Fprintln(e.stderr, "perfagent:", err)
		return exitRunError
	}
	return exitOK
}
