package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/perfagent/perfagent/results"
)

// DefaultOutputDir is where a [Runner] writes files unless [WithOutputDir]
// says otherwise: the benchmarks directory of the default output root.
const DefaultOutputDir = "perf/benchmarks"

// ErrNoRenderer is returned by [Runner.GenerateReport] when the Runner was
// made without [WithRenderer].
var ErrNoRenderer = errors.New("bench: no report renderer (use bench.WithRenderer(report.HTML))")

// Renderer writes a report of res to w, comparing it with a baseline when cmp
// is not nil. report.HTML has this signature; the indirection keeps package
// bench free of the report package, which imports bench.
type Renderer func(w io.Writer, res *results.Run, cmp *Comparison) error

// Option configures a [Runner]. Options are applied in order; later ones win.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	dir         string
	now         func() time.Time
	logger      *slog.Logger
	progress    func(Progress)
	suite       string
	env         *results.Environment
	baseline    *results.Run
	baselineSet bool
	renderer    Renderer
	compare     CompareOptions
	emit        io.Writer
	rounds      int // driver override of Options.Rounds (EnvRounds); 0: none
}

// Environment variables through which a driver that runs a test binary
// (`perfagent bench --against REF -- go test ...`) steers the Runners inside
// it without changes to the user's code.
const (
	// EnvEmit set to "stdout" makes every Runner write each finished
	// benchmark to standard output in Go benchmark format, as [WithEmit]
	// does (unless WithEmit is given).
	EnvEmit = "PERFAGENT_BENCH_EMIT"
	// EnvRounds set to a count (1..MaxRounds) overrides Options.Rounds of
	// every benchmark: a driver that replicates by process asks for one
	// round per process. Invalid values are ignored with a logged warning.
	EnvRounds = "PERFAGENT_BENCH_ROUNDS"
)

// WithEmit writes each benchmark, when it finishes, to w in Go benchmark
// format (one line per round, as [results.WriteBenchfmt] writes), so that
// whoever reads the process's output (benchstat, `perfagent compare`, or
// `perfagent bench --against`) sees perfagent's benchmarks beside testing.B
// ones. Writes happen on the goroutine running the benchmark; write errors
// are logged and otherwise ignored. Default: none, or standard output when
// the environment variable [EnvEmit] is "stdout".
func WithEmit(w io.Writer) Option {
	return optionFunc(func(c *config) { c.emit = w })
}

// WithOutputDir sets the directory SaveResults and GenerateReport write to
// (created when missing). Default [DefaultOutputDir]; "" keeps the default.
func WithOutputDir(dir string) Option {
	return optionFunc(func(c *config) {
		if dir != "" {
			c.dir = dir
		}
	})
}

// WithClock sets the clock. It stamps StartedAt/FinishedAt and file names,
// and it times samples: differences of its values are taken with
// [time.Time.Sub], which uses the monotonic reading that [time.Now] carries.
// A test clock may return times without one. Default time.Now; nil keeps the
// default.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithLogger sets the logger for benchmark starts, results and warnings.
// Default: discard; nil keeps the default.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithProgress sets a callback told about each benchmark's phases and, during
// measurement, at most every 100ms. It runs on the goroutine that called Run,
// between samples, so it should return quickly; a panic in it is recovered
// and logged. Default: none.
func WithProgress(fn func(Progress)) Option {
	return optionFunc(func(c *config) { c.progress = fn })
}

// WithSuite sets [results.Run.Suite]. Default "".
func WithSuite(name string) Option {
	return optionFunc(func(c *config) { c.suite = name })
}

// WithEnvironment replaces the environment recorded in results. Default:
// [CurrentEnvironment] at NewRunner.
func WithEnvironment(env results.Environment) Option {
	return optionFunc(func(c *config) { c.env = &env })
}

// WithBaseline sets the baseline GenerateReport compares with; nil means no
// comparison. Without this option GenerateReport loads baseline.json from the
// output directory when one exists.
func WithBaseline(base *results.Run) Option {
	return optionFunc(func(c *config) { c.baseline, c.baselineSet = base, true })
}

// WithRenderer sets the report renderer used by GenerateReport, normally
// report.HTML.
func WithRenderer(fn Renderer) Option {
	return optionFunc(func(c *config) { c.renderer = fn })
}

// WithCompareOptions sets the options of the baseline comparison in
// GenerateReport. Default: the zero CompareOptions (α = 0.05, 5% threshold).
func WithCompareOptions(o CompareOptions) Option {
	return optionFunc(func(c *config) { c.compare = o })
}

// Phase is a stage of one benchmark, reported through [WithProgress].
type Phase string

// Phases in the order a benchmark goes through them.
const (
	PhaseCalibrate Phase = "calibrate" // finding the batch size
	PhaseWarmup    Phase = "warmup"    // samples taken and discarded
	PhaseMeasure   Phase = "measure"   // samples kept
	PhaseDone      Phase = "done"      // finished; Err tells whether it failed
)

// Progress is one progress report of a running benchmark.
type Progress struct {
	Name, Category string
	Phase          Phase
	// Samples taken so far in this phase, and the minimum wanted
	// (MeasurementRuns or WarmupRuns).
	Samples, Runs int
	// Elapsed is the time since the phase started; MinDuration the
	// measurement time wanted (PhaseMeasure only).
	Elapsed, MinDuration time.Duration
	// Err is the benchmark's failure (PhaseDone only).
	Err error
}

// Runner runs benchmarks one at a time and collects their results.
//
// A Runner is safe for concurrent use; Run and its variants hold a lock for
// the whole benchmark, so concurrent calls run one after the other (parallel
// benchmarks would measure each other). The results so far are available at
// any time through Results, SaveResults and GenerateReport; a failed or
// interrupted benchmark keeps what it measured.
type Runner struct {
	cfg config

	runMu sync.Mutex // held during a benchmark

	mu        sync.Mutex // guards the fields below
	res       results.Run
	started   bool
	machine   machineMeter    // from the first benchmark's start
	stem      string          // timestamp of files written by SaveResults
	reserved  map[string]bool // names of benchmarks begun
	overhead  time.Duration
	measuredO bool
}

// NewRunner returns a Runner configured by opts.
func NewRunner(opts ...Option) *Runner {
	c := config{
		dir:    DefaultOutputDir,
		now:    time.Now,
		logger: slog.New(slog.DiscardHandler),
	}
	if os.Getenv(EnvEmit) == "stdout" {
		c.emit = os.Stdout
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if v := os.Getenv(EnvRounds); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxRounds {
			c.logger.Warn("ignoring "+EnvRounds, "value", v, "want", fmt.Sprintf("1..%d", MaxRounds))
		} else {
			c.rounds = n
		}
	}
	env := results.CurrentEnvironment()
	if c.env != nil {
		env = *c.env
	}
	now := c.now().UTC()
	return &Runner{cfg: c, res: results.Run{
		Schema:      results.Schema,
		Suite:       c.suite,
		StartedAt:   now,
		FinishedAt:  now,
		Environment: env,
		Benchmarks:  []results.Benchmark{},
	}}
}

// Dir returns the output directory.
func (r *Runner) Dir() string { return r.cfg.dir }

// Run benchmarks fn, one call per operation, in [Options.Rounds] rounds.
// Fast operations are batched (see [Options.SampleTime]), so fn's cost
// should not depend on how often it was called before. fn gets ctx; it
// should return promptly when ctx is done.
//
// The result, also appended to the Runner's results, is returned with a nil
// error when the benchmark succeeded. When fn returns an error or panics, or
// ctx is done, Run stops, records the failure in [results.Benchmark.Error]
// (keeping the rounds measured so far) and returns it with an error; the
// Runner stays usable for the next benchmark. Names must be unique within a
// Runner; a duplicate or empty name is rejected before anything runs.
//
// To measure several benchmarks with their rounds interleaved (the way a
// suite should be measured), use [Runner.RunSuite].
func (r *Runner) Run(ctx context.Context, name, category string, fn func(context.Context) error, o Options) (results.Benchmark, error) {
	if fn == nil {
		return results.Benchmark{}, fmt.Errorf("bench: run %q: nil function", name)
	}
	return r.RunN(ctx, name, category, func(ctx context.Context, n int) error {
		for range n {
			if err := fn(ctx); err != nil {
				return err
			}
		}
		return nil
	}, o)
}

// RunN benchmarks fn, which performs n operations per call (the testing.B
// b.N style: the loop is fn's, so the call overhead per operation is zero).
// Everything else is as for [Runner.Run]. The operations per batch are
// recorded in the result's Labels["ops_per_batch"].
func (r *Runner) RunN(ctx context.Context, name, category string, fn func(ctx context.Context, n int) error, o Options) (results.Benchmark, error) {
	if fn == nil {
		return results.Benchmark{}, fmt.Errorf("bench: run %q: nil function", name)
	}
	return r.runOne(ctx, Spec{Name: name, Category: category, N: fn, Options: o})
}

// RunSampled benchmarks an fn that measures one operation itself and
// returns its value in unit (for example a scheduling delay in "ns"; ""
// means "ns/op"). Every call is one operation; a round's value is the mean of
// its operations, and the distribution of all operations is kept in
// [results.Benchmark.PerOp]. Everything else is as for [Runner.Run].
func (r *Runner) RunSampled(ctx context.Context, name, category, unit string, fn func(context.Context) (float64, error), o Options) (results.Benchmark, error) {
	if fn == nil {
		return results.Benchmark{}, fmt.Errorf("bench: run %q: nil function", name)
	}
	return r.runOne(ctx, Spec{Name: name, Category: category, Unit: unit, Sampled: fn, Options: o})
}

// runOne runs a suite of one.
func (r *Runner) runOne(ctx context.Context, spec Spec) (results.Benchmark, error) {
	res, err := r.RunSuite(ctx, []Spec{spec})
	if len(res) == 0 {
		return results.Benchmark{}, err
	}
	return res[0], err
}

// RunSuite measures specs with their rounds interleaved: every benchmark is
// calibrated and warmed up in turn, then round 1 of each is measured, then
// round 2 of each, and so on, so that drift and noisy neighbours over the
// suite's time hit every benchmark alike instead of the ones that happened to
// run during them. Each round is one sample of its benchmark (see
// [Options]); a benchmark with fewer rounds than others simply sits out the
// later ones.
//
// A spec that is invalid (no function, both functions, a duplicate name,
// bad options) is rejected before anything runs and reported in the
// returned error; the others still run. A benchmark that fails stops taking
// rounds and keeps the rounds it measured; when ctx is done every benchmark
// stops and records the interruption (a ctx done before the start runs and
// records nothing). The results are returned (and
// appended to the Runner's) in spec order, with every failure joined in the
// error.
func (r *Runner) RunSuite(ctx context.Context, specs []Spec) ([]results.Benchmark, error) {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bench: not started: %w", err)
	}
	states, errs := r.runStates(ctx, specs)
	out := make([]results.Benchmark, 0, len(states))
	for _, st := range states {
		res, err := st.finish()
		out = append(out, res)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// runStates validates specs, measures them with their rounds interleaved
// and returns their states (with ctx's error recorded in those it cut
// short) and the specs' validation errors.
func (r *Runner) runStates(ctx context.Context, specs []Spec) ([]*state, []error) {
	var errs []error
	states := make([]*state, 0, len(specs))
	for _, sp := range specs {
		st, err := r.newState(ctx, sp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		states = append(states, st)
	}
	rounds := 0
	for _, st := range states {
		st.prepare()
		rounds = max(rounds, st.o.Rounds)
	}
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		for _, st := range states {
			if i < st.o.Rounds {
				st.round()
			}
		}
	}
	for _, st := range states {
		if ctx.Err() != nil && st.err == nil && len(st.rounds) < st.o.Rounds {
			st.err = ctx.Err()
		}
	}
	return states, errs
}

// Add appends a result measured elsewhere (an HTTP benchmark from package
// load, a page load, an imported file). Stats are computed from Samples when
// res.Stats.N is zero; otherwise Stats.N must equal len(Samples) unless
// Samples is empty (histogram-based results). The name must be unique.
func (r *Runner) Add(res results.Benchmark) error {
	res = cloneResult(res)
	if len(res.Samples) > 0 && res.Stats.N == 0 {
		var w []string
		res.Stats, w = results.Summarize(res.Samples)
		res.Warnings = append(res.Warnings, w...)
	}
	if err := res.Validate(); err != nil {
		return fmt.Errorf("bench: add: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hasLocked(res.Name) {
		return fmt.Errorf("bench: add %q: duplicate benchmark name", res.Name)
	}
	r.appendLocked(res, false)
	return nil
}

// AddMetrics appends metrics to the recorded result named name (for
// figures derived after the benchmark, such as a percentile of its samples).
// Units must not contain spaces; a metric whose unit the result already has
// replaces it.
func (r *Runner) AddMetrics(name string, ms ...results.Metric) error {
	for _, m := range ms {
		if err := results.CheckUnit(m.Unit); err != nil {
			return fmt.Errorf("bench: add metrics to %q: %w", name, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.res.Benchmarks, func(b results.Benchmark) bool { return b.Name == name })
	if i < 0 {
		return fmt.Errorf("bench: add metrics: no benchmark %q", name)
	}
	b := &r.res.Benchmarks[i]
	for _, m := range ms {
		if j := slices.IndexFunc(b.Metrics, func(x results.Metric) bool { return x.Unit == m.Unit }); j >= 0 {
			b.Metrics[j] = m
		} else {
			b.Metrics = append(b.Metrics, m)
		}
	}
	return nil
}

// SetProgress replaces the progress callback of [WithProgress] for the
// benchmarks run from now on (nil: none).
func (r *Runner) SetProgress(fn func(Progress)) {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	r.cfg.progress = fn
}

// SetQuick records whether this is a quick (shortened) run in
// [results.Run.Quick]. Comparisons refuse to compare a quick run with a full
// one.
func (r *Runner) SetQuick(quick bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Quick = r.res.Quick || quick
}

// SetParameters records settings that shaped the workloads in
// [results.Run.Parameters], replacing earlier values of the same keys.
func (r *Runner) SetParameters(params map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.Parameters == nil && len(params) > 0 {
		r.res.Parameters = make(map[string]string, len(params))
	}
	maps.Copy(r.res.Parameters, params)
}

// AddWarning records a run-level warning in [results.Run.Warnings].
func (r *Runner) AddWarning(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Warnings = append(r.res.Warnings, msg)
}

// MarkPartial marks the results as partial (the run was interrupted or a
// producer outside the Runner stopped early), with reason as a warning.
// Saved files then carry Partial, and baselines refuse them.
func (r *Runner) MarkPartial(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Partial = true
	if reason != "" {
		r.res.Warnings = append(r.res.Warnings, "partial: "+reason)
	}
}

// Results returns a copy of the results so far. FinishedAt is the end of the
// last benchmark (StartedAt when none ran).
func (r *Runner) Results() *results.Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := cloneResults(&r.res)
	return res
}

// Saved names the files written by [Runner.SaveResults].
type Saved struct {
	JSON     string // <dir>/benchmark-<ts>.json
	Benchfmt string // <dir>/benchmark-<ts>.txt, Go benchmark format
}

// SaveResults writes the results so far as <dir>/benchmark-<ts>.json and, in
// Go benchmark format for benchstat, <dir>/benchmark-<ts>.txt, each
// atomically. The first call picks a timestamp that no existing file uses (see
// [results.TimestampLayout]); later calls of the same Runner rewrite the same two
// files with the results grown since.
func (r *Runner) SaveResults() (Saved, error) {
	res := r.Results()
	specs := []results.FileSpec{
		{Prefix: "benchmark-", Ext: ".json", Write: func(w io.Writer) error { return results.WriteJSON(w, res) }},
		{Prefix: "benchmark-", Ext: ".txt", Write: func(w io.Writer) error { return results.WriteBenchfmt(w, res) }},
	}
	r.mu.Lock()
	stem := r.stem
	r.mu.Unlock()
	if stem == "" {
		st, paths, err := results.WriteNewSet(r.cfg.dir, r.cfg.now(), specs)
		if err != nil {
			return Saved{}, fmt.Errorf("bench: save results: %w", err)
		}
		r.mu.Lock()
		r.stem = st
		r.mu.Unlock()
		return Saved{JSON: paths[0], Benchfmt: paths[1]}, nil
	}
	var paths []string
	for _, s := range specs {
		p := s.Path(r.cfg.dir, stem)
		if err := results.WriteFileAtomic(p, s.Write); err != nil {
			return Saved{}, fmt.Errorf("bench: save results: %w", err)
		}
		paths = append(paths, p)
	}
	return Saved{JSON: paths[0], Benchfmt: paths[1]}, nil
}

// GenerateReport renders the results so far with the renderer of
// [WithRenderer] to <dir>/report-<ts>.html, written atomically, and returns
// its path. The timestamp is SaveResults' when it was called before, else a
// fresh one. The report compares with the baseline of [WithBaseline] or, without
// that option, with <dir>/baseline.json when it exists. A baseline that cannot
// be read does not stop the report: it is written without a comparison, with
// a warning, and the returned error (next to the path) names the problem.
func (r *Runner) GenerateReport() (string, error) {
	if r.cfg.renderer == nil {
		return "", ErrNoRenderer
	}
	res := r.Results()
	cmp, baseErr := r.compareBaseline(res)
	path, err := r.render(res, cmp)
	if err != nil {
		return "", err
	}
	if baseErr != nil {
		return path, fmt.Errorf("bench: generate report: %w", baseErr)
	}
	return path, nil
}

// compareBaseline compares res with the baseline of [WithBaseline] or
// <dir>/baseline.json; no baseline gives a nil comparison. A baseline that
// cannot be read is returned as an error and noted in res.Warnings.
func (r *Runner) compareBaseline(res *results.Run) (*Comparison, error) {
	base := r.cfg.baseline
	if !r.cfg.baselineSet {
		b, err := results.LoadBaseline(r.cfg.dir)
		switch {
		case err == nil:
			base = b
		case errors.Is(err, fs.ErrNotExist):
		default:
			res.Warnings = append(res.Warnings, "no baseline comparison: "+err.Error())
			return nil, err
		}
	}
	if base == nil {
		return nil, nil
	}
	return Compare(base, res, r.cfg.compare), nil
}

// render writes the report of res under the results' stem (or a fresh one).
func (r *Runner) render(res *results.Run, cmp *Comparison) (string, error) {
	spec := results.FileSpec{Prefix: "report-", Ext: ".html", Write: func(w io.Writer) error { return r.cfg.renderer(w, res, cmp) }}
	r.mu.Lock()
	stem := r.stem
	r.mu.Unlock()
	if stem == "" {
		_, paths, err := results.WriteNewSet(r.cfg.dir, r.cfg.now(), []results.FileSpec{spec})
		if err != nil {
			return "", fmt.Errorf("bench: generate report: %w", err)
		}
		return paths[0], nil
	}
	path := spec.Path(r.cfg.dir, stem)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("bench: generate report: %w", err)
	}
	if err := results.WriteFileAtomic(path, spec.Write); err != nil {
		return "", fmt.Errorf("bench: generate report: %w", err)
	}
	return path, nil
}

// Outcome is what [Runner.Conclude] made of a run: the results, the files
// written, and the comparison with the baseline.
type Outcome struct {
	Results *results.Run
	// Files are the results (JSON, then Go benchmark format) and, with a
	// renderer, the report.
	Saved  Saved
	Report string
	// Comparison is nil without a baseline (or with SkipBaseline).
	Comparison *Comparison
	// BaselineErr is set when a baseline exists but cannot be read: the run
	// is then not gated, which a CI must not mistake for a pass.
	BaselineErr error
}

// Regressed reports whether the comparison found a regression or a failed
// benchmark (see [Comparison.Failed]).
func (o *Outcome) Regressed() bool { return o.Comparison.Failed() }

// Refused returns why the comparison cannot gate the run (see
// [Comparison.Incompatible]), or nil.
func (o *Outcome) Refused() []string {
	if o.Comparison == nil {
		return nil
	}
	return o.Comparison.Incompatible
}

// Conclude ends a run: it saves the results (as [Runner.SaveResults]),
// compares them with the baseline (as [Runner.GenerateReport] does) unless
// skipBaseline, and renders the report when the Runner has a renderer. The
// outcome is returned with what was written even when a step fails; the
// error joins the failures (a baseline that cannot be read is in
// Outcome.BaselineErr, not in the error).
func (r *Runner) Conclude(skipBaseline bool) (*Outcome, error) {
	out := &Outcome{}
	saved, err := r.SaveResults()
	if err != nil {
		out.Results = r.Results()
		return out, err
	}
	out.Saved = saved
	res := r.Results()
	out.Results = res
	if !skipBaseline {
		out.Comparison, out.BaselineErr = r.compareBaseline(res)
	}
	if r.cfg.renderer != nil {
		out.Report, err = r.render(res, out.Comparison)
	}
	return out, err
}

// hasLocked reports whether a result with name exists.
func (r *Runner) hasLocked(name string) bool {
	return slices.ContainsFunc(r.res.Benchmarks, func(b results.Benchmark) bool { return b.Name == name })
}

// appendLocked adds res, stamping the run's time bounds.
func (r *Runner) appendLocked(res results.Benchmark, partial bool) {
	r.res.Benchmarks = append(r.res.Benchmarks, res)
	r.res.FinishedAt = r.cfg.now().UTC()
	if l := r.machine.load(); l != nil {
		r.res.Machine = l
	}
	if partial {
		r.res.Partial = true
	}
}

// begin reserves name and stamps StartedAt for the first benchmark.
func (r *Runner) begin(name string) error {
	if name == "" {
		return errors.New("bench: run: empty benchmark name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hasLocked(name) || r.reserved[name] {
		return fmt.Errorf("bench: run %q: duplicate benchmark name", name)
	}
	if r.reserved == nil {
		r.reserved = map[string]bool{}
	}
	r.reserved[name] = true
	if !r.started {
		r.started = true
		r.res.StartedAt = r.cfg.now().UTC()
		r.machine = startMachineMeter()
	}
	return nil
}

// cloneResults deep-copies res.
func cloneResults(res *results.Run) *results.Run {
	out := *res
	out.Benchmarks = make([]results.Benchmark, len(res.Benchmarks))
	for i, b := range res.Benchmarks {
		out.Benchmarks[i] = cloneResult(b)
	}
	out.Warnings = slices.Clone(res.Warnings)
	out.Parameters = maps.Clone(res.Parameters)
	return &out
}

// cloneResult deep-copies b.
func cloneResult(b results.Benchmark) results.Benchmark {
	b.Samples = slices.Clone(b.Samples)
	b.Metrics = slices.Clone(b.Metrics)
	for i := range b.Metrics {
		b.Metrics[i].Samples = slices.Clone(b.Metrics[i].Samples)
	}
	if b.PerOp != nil {
		d := *b.PerOp
		b.PerOp = &d
	}
	b.Warnings = slices.Clone(b.Warnings)
	b.Labels = maps.Clone(b.Labels)
	b.Detail = slices.Clone(b.Detail)
	if b.AllocsPerOp != nil {
		v := *b.AllocsPerOp
		b.AllocsPerOp = &v
	}
	if b.BytesPerOp != nil {
		v := *b.BytesPerOp
		b.BytesPerOp = &v
	}
	return b
}
