package ab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// DefaultRounds is the number of runs per side when [Config.Rounds] is 0.
const DefaultRounds = bench.DefaultRounds

// Order names the run order in results' parameters.
const Order = "ABBA"

// ErrInput is wrapped by every error that comes from what the caller asked
// for (not a git repository, an unknown ref, go test flags the mode cannot
// honour, no benchmark matched) rather than from a build or a run that
// failed; a command line exits 2 on it.
var ErrInput = errors.New("bad input")

type inputError struct{ msg string }

func (e *inputError) Error() string { return "ab: " + e.msg }
func (e *inputError) Unwrap() error { return ErrInput }

func inputErrorf(format string, a ...any) error {
	return &inputError{msg: fmt.Sprintf(format, a...)}
}

// Config describes one A/B session. Ref and GoTest are required; the zero
// value of every other field means its default.
type Config struct {
	// Ref is the base revision (A): a branch, tag or commit of the
	// repository, checked out in a temporary git worktree.
	Ref string
	// Dir is where `go test` would run in the working tree, which is the
	// head side (B) as it is on disk, uncommitted changes included; the
	// base side runs in the same directory of the worktree. Default: the
	// current directory.
	Dir string
	// GoTest are the arguments of `go test` after "go test" (see
	// [ParseGoTest]).
	GoTest []string
	// Rounds is the number of runs per side, the sample count of every
	// benchmark. Default [DefaultRounds]; at most [bench.MaxRounds];
	// negative is an error.
	Rounds int
	// Compare sets the gate's α and threshold (zero: the defaults).
	Compare bench.CompareOptions
	// OutputDir receives ab-base-<ts>.json, ab-head-<ts>.json and their .txt
	// twins. Default [bench.DefaultOutputDir].
	OutputDir string
	// Log receives one line per step (builds, runs) for people. Default:
	// discard.
	Log io.Writer
	// Now is the clock stamping results and file names. Default time.Now.
	Now func() time.Time
	// Go is the go command that lists, builds and reports its version.
	// Default "go" (found in PATH).
	Go string
}

// Outcome is what an A/B session measured and decided.
type Outcome struct {
	// Ref is the base revision as given and BaseCommit the commit it names.
	Ref, BaseCommit string
	// Base and Head are the two sides' results, one sample per run.
	Base, Head *results.Run
	// Comparison is Head compared with Base by [bench.Compare].
	Comparison *bench.Comparison
	// Files are the results files written: base JSON, base .txt, head
	// JSON, head .txt.
	Files []string
}

// Regressed reports whether the gate failed.
func (o *Outcome) Regressed() bool { return o != nil && o.Comparison.Failed() }

// side is one of the two builds.
type side struct {
	name  string // "base" or "head"
	cwd   string // where go test runs
	pkgs  []*pkg
	order []*series
	byKey map[[2]string]*series
	procs int
}

// pkg is one package's test binary on one side.
type pkg struct {
	importPath, dir, bin string
}

// Run builds the test binaries of cfg.GoTest's packages at cfg.Ref (in a
// temporary git worktree, removed before Run returns, also when ctx is
// cancelled) and in the working tree, runs them alternately, one round of
// every selected benchmark per run, in the order A B B A A B B A ... until
// each side has cfg.Rounds runs, and compares the two sides with
// [bench.Compare]. Both sides are written as results files in
// cfg.OutputDir.
//
// Each run gets -test.run, -test.bench and -test.benchtime from the go test
// arguments, -test.count=1 and -test.benchmem, and the environment
// variables [bench.EnvEmit]=stdout and [bench.EnvRounds]=1, so that
// benchmarks written with a perfagent [bench.Runner] (in a TestMain or a
// test selected with -run) print one round per run beside testing.B's
// benchmarks. A benchmark printed more than once in one run (a Runner inside
// a testing.B benchmark that testing calls again with a larger b.N) counts
// once, with its last line, and a warning.
//
// Errors wrapping [ErrInput] mean the request cannot be carried out as
// asked; other errors mean a build or a run failed (or ctx was cancelled).
// A regression is not an error: see [Outcome.Regressed].
func Run(ctx context.Context, cfg Config) (*Outcome, error) {
	switch {
	case cfg.Rounds < 0 || cfg.Rounds > bench.MaxRounds:
		return nil, inputErrorf("rounds %d: want 1..%d", cfg.Rounds, bench.MaxRounds)
	case cfg.Rounds == 0:
		cfg.Rounds = DefaultRounds
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OutputDir == "" {
		cfg.OutputDir = bench.DefaultOutputDir
	}
	if cfg.Dir == "" {
		cfg.Dir = "."
	}
	if cfg.Go == "" {
		cfg.Go = "go"
	}
	plan, err := ParseGoTest(cfg.GoTest)
	if err != nil {
		return nil, &inputError{msg: err.Error()}
	}
	rp, err := openRepo(ctx, cfg.Dir)
	if err != nil {
		return nil, err
	}
	commit, err := rp.resolve(ctx, cfg.Ref)
	if err != nil {
		return nil, err
	}
	started := cfg.Now().UTC()
	head := &side{name: "head", cwd: filepath.Join(rp.top, filepath.FromSlash(rp.prefix))}
	if head.pkgs, err = listPackages(ctx, cfg.Go, head.cwd, plan, false); err != nil {
		return nil, err
	}
	if len(head.pkgs) == 0 {
		return nil, inputErrorf("no package with test files in %s", strings.Join(plan.Packages, " "))
	}
	wt, remove, err := rp.worktree(ctx, commit)
	if err != nil {
		return nil, err
	}
	out, err := session(ctx, cfg, plan, rp, wt, commit, head, started)
	if rerr := remove(); rerr != nil {
		fmt.Fprintf(cfg.Log, "ab: removing the worktree %s: %v\n", wt, rerr)
	}
	return out, err
}

// session does the work of Run between creating and removing the worktree.
func session(ctx context.Context, cfg Config, plan *Plan, rp *repo, wt, commit string, head *side, started time.Time) (*Outcome, error) {
	base := &side{name: "base", cwd: filepath.Join(wt, filepath.FromSlash(rp.prefix))}
	var err error
	// Note: a directory that REF does not have holds only new benchmarks;
	// the check after the first runs says there is nothing in common.
	if _, serr := os.Stat(base.cwd); serr == nil {
		if base.pkgs, err = listPackages(ctx, cfg.Go, base.cwd, plan, true); err != nil {
			return nil, err
		}
	}
	bins, err := os.MkdirTemp("", "perfagent-ab-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bins)
	short := commit[:min(12, len(commit))]
	fmt.Fprintf(cfg.Log, "ab: building %d package(s) at %s (%s) and %d in the working tree\n", len(base.pkgs), cfg.Ref, short, len(head.pkgs))
	for _, s := range []*side{base, head} {
		for i, p := range s.pkgs {
			p.bin = filepath.Join(bins, fmt.Sprintf("%s-%d.test", s.name, i))
			if err := build(ctx, cfg.Go, s.cwd, plan, p); err != nil {
				return nil, fmt.Errorf("ab: build %s at %s: %w", p.importPath, sideName(s, cfg.Ref), err)
			}
		}
		s.byKey = map[[2]string]*series{}
	}
	var warnings []string
	for p := range 2 * cfg.Rounds {
		s := head
		if (p+1)/2%2 == 0 {
			s = base
		}
		fmt.Fprintf(cfg.Log, "ab: run %d/%d (%s, round %d)\n", p+1, 2*cfg.Rounds, s.name, p/2+1)
		for _, pk := range s.pkgs {
			w, err := runOnce(ctx, plan, s, pk)
			if err != nil {
				return nil, err
			}
			warnings = appendNew(warnings, w...)
		}
		if p == 1 {
			if err := checkMatched(plan, base, head, cfg.Ref); err != nil {
				return nil, err
			}
		}
	}
	env := results.CurrentEnvironment()
	if v, err := goEnv(ctx, cfg.Go, head.cwd, "GOVERSION"); err == nil && v != "" {
		env.GoVersion = v
	}
	params := map[string]string{
		"ref": cfg.Ref, "rounds": strconv.Itoa(cfg.Rounds), "order": Order,
		"run": plan.Run, "bench": plan.Bench, "benchtime": plan.Benchtime,
	}
	if len(plan.BuildFlags) > 0 {
		params["build_flags"] = strings.Join(plan.BuildFlags, " ")
	}
	names := uniqueNames(base, head)
	finished := cfg.Now().UTC()
	mk := func(s *side, rev string, modified bool) *results.Run {
		e := env
		e.Revision, e.Modified = rev, modified
		if s.procs > 0 {
			e.GOMAXPROCS = s.procs
		}
		r := &results.Run{Schema: results.Schema, Suite: "ab-" + s.name, Session: "ab-" + results.Timestamp(started) + "-" + short, StartedAt: started, FinishedAt: finished,
			Parameters: params, Environment: e, Benchmarks: []results.Benchmark{}, Warnings: warnings}
		for _, sr := range s.order {
			r.Benchmarks = append(r.Benchmarks, sr.result(names[sr.key()]))
		}
		return r
	}
	headCommit, modified := rp.head(ctx)
	o := &Outcome{Ref: cfg.Ref, BaseCommit: commit, Base: mk(base, commit, false), Head: mk(head, headCommit, modified)}
	o.Comparison = bench.Compare(o.Base, o.Head, cfg.Compare)
	specs := make([]results.FileSpec, 0, 4)
	for _, r := range []*results.Run{o.Base, o.Head} {
		prefix := r.Suite + "-"
		specs = append(specs,
			results.FileSpec{Prefix: prefix, Ext: ".json", Write: func(w io.Writer) error { return results.WriteJSON(w, r) }},
			results.FileSpec{Prefix: prefix, Ext: ".txt", Write: func(w io.Writer) error { return results.WriteBenchfmt(w, r) }})
	}
	if _, o.Files, err = results.WriteNewSet(cfg.OutputDir, finished, specs); err != nil {
		return o, fmt.Errorf("ab: saving results: %w", err)
	}
	return o, nil
}

func sideName(s *side, ref string) string {
	if s.name == "base" {
		return ref
	}
	return "the working tree"
}

// checkMatched fails when, after one run of each side, no benchmark was
// printed, or none is on both sides (nothing could be gated).
func checkMatched(plan *Plan, base, head *side, ref string) error {
	if len(base.order) == 0 && len(head.order) == 0 {
		return inputErrorf("no benchmark matched -bench %q -run %q in %s (a testing.B benchmark needs -bench; a perfagent Runner in a test needs a -run that selects it)",
			plan.Bench, plan.Run, strings.Join(plan.Packages, " "))
	}
	for _, sr := range head.order {
		if base.byKey[sr.key()] != nil {
			return nil
		}
	}
	return inputErrorf("no benchmark in common: %s has %s; the working tree has %s", ref, seriesNames(base), seriesNames(head))
}

func seriesNames(s *side) string {
	names := make([]string, len(s.order))
	for i, sr := range s.order {
		names[i] = sr.name
	}
	return results.ListNames(names)
}

// listFlags are the build flags that change which packages and files go
// list sees.
var listFlags = []string{"-tags=", "-mod=", "-race", "-msan", "-asan"}

// listPackages resolves the package patterns in dir to the packages with
// test files. On the base side (lenient) packages that do not exist there
// are left out: they are new in the working tree.
func listPackages(ctx context.Context, goCmd, dir string, plan *Plan, lenient bool) ([]*pkg, error) {
	args := []string{"list"}
	if lenient {
		args = append(args, "-e")
	}
	args = append(args, "-f", "{{if .Error}}error{{else}}ok{{end}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}\t{{.ImportPath}}\t{{.Dir}}")
	for _, f := range plan.BuildFlags {
		for _, lf := range listFlags {
			if strings.HasPrefix(f, lf) {
				args = append(args, f)
			}
		}
	}
	args = append(args, "--")
	args = append(args, plan.Packages...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if lenient {
			return nil, fmt.Errorf("ab: go list in the worktree: %v: %s", err, firstLine(strings.TrimSpace(errb.String())))
		}
		return nil, inputErrorf("packages %s: %s", strings.Join(plan.Packages, " "), firstLine(strings.TrimSpace(errb.String())))
	}
	var pkgs []*pkg
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 || f[0] != "ok" || (f[1] == "0" && f[2] == "0") {
			continue
		}
		pkgs = append(pkgs, &pkg{importPath: f[3], dir: f[4]})
	}
	return pkgs, nil
}

// build compiles p's test binary.
func build(ctx context.Context, goCmd, dir string, plan *Plan, p *pkg) error {
	args := append([]string{"test", "-c", "-o", p.bin}, plan.BuildFlags...)
	args = append(args, p.importPath)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%v\n%s", err, tail(out, 20))
	}
	if _, err := os.Stat(p.bin); err != nil {
		return fmt.Errorf("go test -c wrote no binary: %s", tail(out, 5))
	}
	return nil
}

// runOnce runs p's binary once and adds what it printed to s.
func runOnce(ctx context.Context, plan *Plan, s *side, p *pkg) ([]string, error) {
	cmd := exec.CommandContext(ctx, p.bin, plan.RunArgs()...)
	cmd.Dir = p.dir // as go test runs it, so testdata/ is found
	cmd.Env = append(os.Environ(), bench.EnvEmit+"=stdout", bench.EnvRounds+"=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ab: interrupted: %w", ctx.Err())
		}
		return nil, fmt.Errorf("ab: %s (%s) failed: %v\n%s%s", p.importPath, s.name, err, tail(out.Bytes(), 20), tail(errb.Bytes(), 10))
	}
	return s.add(p.importPath, out.Bytes()), nil
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if s != "" {
		s += "\n"
	}
	return s
}

func goEnv(ctx context.Context, goCmd, dir, key string) (string, error) {
	cmd := exec.CommandContext(ctx, goCmd, "env", key)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// uniqueNames returns the result name of every series: its benchmark name,
// or "<import path>.<name>" when packages share the name.
func uniqueNames(sides ...*side) map[[2]string]string {
	pkgs := map[string]map[string]bool{}
	for _, s := range sides {
		for _, sr := range s.order {
			if pkgs[sr.name] == nil {
				pkgs[sr.name] = map[string]bool{}
			}
			pkgs[sr.name][sr.pkg] = true
		}
	}
	out := map[[2]string]string{}
	for _, s := range sides {
		for _, sr := range s.order {
			name := sr.name
			if len(pkgs[sr.name]) > 1 {
				name = sr.pkg + "." + sr.name
			}
			out[sr.key()] = name
		}
	}
	return out
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// series is one benchmark's rounds on one side.
type series struct {
	pkg, name, unit string
	samples         []float64
	iters           int64
	allocs, bytes   []float64
	units           []string // metric units in first-seen order
	metrics         map[string][]float64
	better          map[string]string
	warnings        []string
}

func (sr *series) key() [2]string { return [2]string{sr.pkg, sr.name} }

// add parses one run's output (Go benchmark format, with anything else
// go test prints around it) and appends one sample per benchmark.
func (s *side) add(importPath string, out []byte) []string {
	if !bytes.Contains(out, []byte("Benchmark")) {
		return nil
	}
	run, err := results.Read(bytes.NewReader(out), importPath)
	if err != nil {
		return []string{fmt.Sprintf("%s (%s): %v", importPath, s.name, err)}
	}
	if run.Environment.GOMAXPROCS > 0 {
		s.procs = run.Environment.GOMAXPROCS
	}
	for _, b := range run.Benchmarks {
		name := b.Name
		if b.Labels["pkg"] != "" && b.Labels["pkg"] != importPath {
			name = strings.TrimPrefix(name, b.Labels["pkg"]+".")
		}
		k := [2]string{importPath, name}
		sr := s.byKey[k]
		if sr == nil {
			sr = &series{pkg: importPath, name: name, unit: b.PrimaryUnit(), metrics: map[string][]float64{}, better: map[string]string{}}
			s.byKey[k] = sr
			s.order = append(s.order, sr)
		}
		if b.PrimaryUnit() != sr.unit {
			sr.warn(fmt.Sprintf("a run printed %s in %s, earlier runs in %s: that run is left out", name, b.PrimaryUnit(), sr.unit))
			continue
		}
		n := len(b.Samples)
		if n == 0 {
			continue
		}
		if n > 1 {
			sr.warn(fmt.Sprintf("printed %d times in one run (a Runner inside a testing.B benchmark?): the last line is the run's sample", n))
		}
		sr.samples = append(sr.samples, b.Samples[n-1])
		sr.iters += b.Iterations / int64(n)
		if b.AllocsPerOp != nil {
			sr.allocs = append(sr.allocs, *b.AllocsPerOp)
		}
		if b.BytesPerOp != nil {
			sr.bytes = append(sr.bytes, *b.BytesPerOp)
		}
		for _, m := range b.Metrics {
			v := m.Value
			if len(m.Samples) > 0 {
				v = m.Samples[len(m.Samples)-1]
			}
			if _, ok := sr.metrics[m.Unit]; !ok {
				sr.units = append(sr.units, m.Unit)
			}
			sr.metrics[m.Unit] = append(sr.metrics[m.Unit], v)
			sr.better[m.Unit] = m.Better
		}
	}
	return nil
}

func (sr *series) warn(w string) { sr.warnings = appendNew(sr.warnings, w) }

// result turns the series into a results.Benchmark named name.
func (sr *series) result(name string) results.Benchmark {
	b := results.Benchmark{Name: name, Category: path.Base(sr.pkg), Kind: results.KindFunc, Unit: sr.unit,
		Iterations: sr.iters, Samples: sr.samples, Labels: map[string]string{"pkg": sr.pkg}}
	var w []string
	b.Stats, w = results.Summarize(sr.samples)
	b.Warnings = append(slices.Clone(sr.warnings), w...)
	if len(sr.allocs) > 0 {
		v := results.Quantile(sr.allocs, 0.5)
		b.AllocsPerOp = &v
	}
	if len(sr.bytes) > 0 {
		v := results.Quantile(sr.bytes, 0.5)
		b.BytesPerOp = &v
	}
	for _, u := range sr.units {
		vals := sr.metrics[u]
		m := results.Metric{Unit: u, Value: results.Quantile(vals, 0.5), Better: sr.better[u]}
		if len(vals) == len(sr.samples) && len(vals) > 1 {
			m.Samples = vals
		}
		b.Metrics = append(b.Metrics, m)
	}
	return b
}
