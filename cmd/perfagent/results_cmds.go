package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

func baselineCommand() command {
	c := command{
		name:    "baseline",
		args:    "[RESULTS]",
		summary: "Save a results file (default: the latest run; or run the suite with --run) as benchmarks/baseline.json.",
		examples: []string{
			"perfagent baseline                       # the latest perf/benchmarks/benchmark-<ts>.json",
			"perfagent baseline old.txt               # go test -bench output works too",
			"perfagent baseline --run system --quick  # run the system suite now and keep it",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		root := outputRoot(e, fs)
		suite := fs.String("run", "", "run this suite (as 'perfagent bench SUITE') and save its results as the baseline")
		quick := fs.Bool("quick", false, "with --run: shorter benchmarks")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		args = files(args)
		var res *results.Run
		switch {
		case *suite != "" && len(args) > 0:
			return usageErr(e, c.name, "give either --run or a results file, not both")
		case *suite != "":
			bargs := []string{"--out", *root}
			if *quick {
				bargs = append(bargs, "--quick")
			}
			if code := benchCommand().run(e, append(bargs, *suite)); code != exitOK && code != exitFailed {
				return code
			}
			fallthrough
		case len(args) == 0:
			p, err := latestResults(*root)
			if err != nil {
				return inputErr(e, c.name, err)
			}
			if res, err = readResults(p); err != nil {
				return inputErr(e, c.name, err)
			}
		case len(args) == 1:
			var err error
			if res, err = readResults(args[0]); err != nil {
				return inputErr(e, c.name, err)
			}
		default:
			return usageErr(e, c.name, "at most one results file, got %d", len(args))
		}
		if res.Partial {
			return inputErr(e, c.name, errors.New("the results are partial (the run was interrupted); refusing to make them the baseline"))
		}
		path, err := results.SaveBaseline(benchDir(*root), res)
		if err != nil {
			return runErr(e, c.name, err)
		}
		fmt.Fprintf(e.stdout, "baseline: %s (%d benchmarks)\n", path, len(res.Benchmarks))
		return exitOK
	}
	return c
}

func compareCommand() command {
	c := command{
		name: "compare",
		args: "[[OLD] NEW]",
		summary: "Compare two results files (perfagent JSON or go test -bench output; default: the baseline and the latest run) " +
			"with the Mann-Whitney U test, Holm-adjusted over the gated rows; exit 1 on a significant regression beyond --threshold.",
		examples: []string{
			"perfagent compare                        # perf/benchmarks/baseline.json vs the latest run",
			"perfagent compare new.json               # the baseline vs new.json",
			"go test -bench . -count 10 > new.txt && perfagent compare old.txt new.txt",
			"perfagent compare --threshold 0.10 --markdown old.json new.json > comment.md",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		root := outputRoot(e, fs)
		alpha := fs.Float64("alpha", bench.DefaultAlpha, "family-wise error rate: Mann-Whitney U p-values are Holm-adjusted over the gated rows")
		threshold := fs.Float64("threshold", bench.DefaultThreshold, "relative change (0.05 = 5%) beyond which a significant worsening fails")
		asJSON := fs.Bool("json", false, "print the comparison as JSON")
		asMD := fs.Bool("markdown", false, "print a Markdown summary (for a pull-request comment)")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		args = files(args)
		if err := checkGateFlags(*alpha, *threshold); err != nil {
			return usageErr(e, c.name, "%v", err)
		}
		var oldPath, newPath string
		switch len(args) {
		case 0, 1:
			oldPath = filepath.Join(benchDir(*root), results.BaselineFile)
			if len(args) == 1 {
				newPath = args[0]
			} else {
				p, err := latestResults(*root)
				if err != nil {
					return inputErr(e, c.name, err)
				}
				newPath = p
			}
		case 2:
			oldPath, newPath = args[0], args[1]
		default:
			return usageErr(e, c.name, "want at most two results files (OLD NEW), got %d", len(args))
		}
		base, err := readResults(oldPath)
		if err != nil {
			if len(args) < 2 && errors.Is(err, iofs.ErrNotExist) {
				return inputErr(e, c.name, fmt.Errorf("no baseline at %s (run 'perfagent baseline', or name two files)", oldPath))
			}
			return inputErr(e, c.name, err)
		}
		cur, err := readResults(newPath)
		if err != nil {
			return inputErr(e, c.name, err)
		}
		cmp := bench.Compare(base, cur, gateOptions(fs, *alpha, *threshold))
		if cmp.Common == 0 {
			return inputErr(e, c.name, fmt.Errorf("no benchmark in common: %s has %s; %s has %s", oldPath, names(base), newPath, names(cur)))
		}
		if len(cmp.Incompatible) > 0 {
			return inputErr(e, c.name, fmt.Errorf("refusing to compare %s with %s: %s", oldPath, newPath, strings.Join(cmp.Incompatible, "; ")))
		}
		switch {
		case *asJSON:
			err = printJSON(e.stdout, cmp)
		case *asMD:
			err = report.Markdown(e.stdout, cur, cmp)
		default:
			err = cmp.WriteText(e.stdout)
		}
		if err != nil {
			return runErr(e, c.name, err)
		}
		for _, p := range []struct {
			path string
			res  *results.Run
		}{{oldPath, base}, {newPath, cur}} {
			if p.res.Partial {
				fmt.Fprintf(e.stderr, "perfagent compare: warning: %s is partial (the run was interrupted)\n", p.path)
			}
		}
		if cmp.Failed() {
			fmt.Fprintf(e.stderr, "perfagent compare: %d significant regression(s) beyond %.0f%% (%d gated row(s), family-wise α=%g)\n", len(cmp.Regressions()), *threshold*100, cmp.Gated, *alpha)
			return exitFailed
		}
		return exitOK
	}
	return c
}

// names lists a run's benchmark names for messages (at most five).
func names(res *results.Run) string {
	out := make([]string, len(res.Benchmarks))
	for i, b := range res.Benchmarks {
		out[i] = b.Name
	}
	return results.ListNames(out)
}

func reportCommand() command {
	c := command{
		name:    "report",
		args:    "[RESULTS]",
		summary: "Render a results file (default: the latest run) as a self-contained HTML report, compared with the baseline when there is one; --markdown prints a summary.",
		examples: []string{
			"perfagent report",
			"perfagent report --markdown perf/benchmarks/benchmark-20261125T190000Z.json",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		root := outputRoot(e, fs)
		asMD := fs.Bool("markdown", false, "print a Markdown summary instead of writing HTML")
		noBase := fs.Bool("no-baseline", false, "do not compare with benchmarks/baseline.json")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		args = files(args)
		path := ""
		if len(args) > 0 {
			path = args[0]
		}
		if len(args) > 1 {
			return usageErr(e, c.name, "at most one results file, got %d", len(args))
		}
		if path == "" {
			p, err := latestResults(*root)
			if err != nil {
				return inputErr(e, c.name, err)
			}
			path = p
		}
		res, err := readResults(path)
		if err != nil {
			return inputErr(e, c.name, err)
		}
		cmp, err := baselineComparison(*root, res, *noBase, bench.CompareOptions{})
		if err != nil {
			return inputErr(e, c.name, err)
		}
		if *asMD {
			if err := report.Markdown(e.stdout, res, cmp); err != nil {
				return runErr(e, c.name, err)
			}
			return exitOK
		}
		dir := filepath.Dir(path)
		if filepath.Ext(path) != ".json" {
			dir = benchDir(*root) // an imported go test -bench file: write with the others
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return runErr(e, c.name, err)
			}
		}
		out, err := writeHTMLReport(dir, res, cmp)
		if err != nil {
			return runErr(e, c.name, err)
		}
		fmt.Fprintf(e.stdout, "report: %s\n", out)
		return exitOK
	}
	return c
}

// baselineComparison compares res with root's baseline.json, or returns
// nil when there is none (or skip is set). A baseline that cannot be read
// is an error: silently comparing with nothing would hide it.
func baselineComparison(root string, res *results.Run, skip bool, o bench.CompareOptions) (*bench.Comparison, error) {
	if skip {
		return nil, nil
	}
	base, err := results.LoadBaseline(benchDir(root))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return bench.Compare(base, res, o), nil
}

func checkCommand() command {
	c := command{
		name:    "check",
		args:    "[RESULTS...]",
		summary: "Apply performance budgets to results files (default: the latest run); exit 1 naming each failing check. Budgets nothing measured are listed as not measured.",
		examples: []string{
			"perfagent check                                   # built-in budgets (the seed's tables), latest results",
			"perfagent check --budgets perf/budgets.yaml perf/benchmarks/benchmark-20261125T190000Z.json",
			"perfagent check --budgets budget.json page.json   # a Lighthouse budget.json works too",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		root := outputRoot(e, fs)
		file := fs.String("budgets", "", "budgets file: perfagent YAML/JSON or a Lighthouse budget.json (default: built-in budgets)")
		asJSON := fs.Bool("json", false, "print the verdict as JSON")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		args = files(args)
		b := budget.Default()
		if *file != "" {
			var err error
			if b, err = budget.Load(*file); err != nil {
				return inputErr(e, c.name, err)
			}
		}
		paths := args
		if len(paths) == 0 {
			p, err := latestResults(*root)
			if err != nil {
				return inputErr(e, c.name, err)
			}
			paths = []string{p}
		}
		var all []*results.Run
		for _, p := range paths {
			r, err := readResults(p)
			if err != nil {
				return inputErr(e, c.name, err)
			}
			all = append(all, r)
		}
		v := budget.Evaluate(b, all...)
		var err error
		if *asJSON {
			err = printJSON(e.stdout, v)
		} else {
			err = v.WriteText(e.stdout)
		}
		if err != nil {
			return runErr(e, c.name, err)
		}
		if v.Failed() {
			return exitFailed
		}
		return exitOK
	}
	return c
}

func versionCommand() command {
	c := command{name: "version", summary: "Print perfagent's version and the Go toolchain it was built with."}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		printVersion(e.stdout)
		return exitOK
	}
	return c
}

func printVersion(w io.Writer) {
	v, goV := "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goV = bi.GoVersion
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	fmt.Fprintf(w, "perfagent %s (%s)\n", v, goV)
}

// gateOptions are the comparison options of --alpha and --threshold: a
// --threshold not given leaves the default to the comparison (5%, or 2%
// between the sides of one A/B session), and an explicit 0 means 0.
func gateOptions(fs *flag.FlagSet, alpha, threshold float64) bench.CompareOptions {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "threshold" })
	switch {
	case !set:
		threshold = 0
	case threshold == 0:
		threshold = -1
	}
	return bench.CompareOptions{Alpha: alpha, Threshold: threshold}
}
