package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/results"
)

// maxBatch bounds the operations in one timed batch.
const maxBatch = 1 << 30

// progressEvery is the least time between two measure-phase progress calls.
const progressEvery = 100 * time.Millisecond

// PanicError is the error of a benchmark whose function panicked.
type PanicError struct {
	Value any    // the value passed to panic
	Frame string // "function file:line" of the panicking call, when known
}

// Error renders the panic value and where it happened.
func (e *PanicError) Error() string {
	if e.Frame == "" {
		return fmt.Sprintf("panic: %v", e.Value)
	}
	return fmt.Sprintf("panic: %v (at %s)", e.Value, e.Frame)
}

// newPanicError describes p, recovered in a deferred function, with the
// first frame below the runtime's panic machinery.
func newPanicError(p any) *PanicError {
	e := &PanicError{Value: p}
	var pcs [32]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			e.Frame = fmt.Sprintf("%s %s:%d", f.Function, f.File, f.Line)
			break
		}
		if !more {
			break
		}
	}
	return e
}

// Spec describes one benchmark of [Runner.RunSuite]. Exactly one of N and
// Sampled is set.
type Spec struct {
	// Name identifies the benchmark (unique within a Runner); Category
	// groups it in reports and budgets.
	Name, Category string
	// N performs n operations per call (the testing.B b.N style). Its
	// operations are timed in batches; the benchmark's unit is ns/op.
	N func(ctx context.Context, n int) error
	// Sampled measures one operation itself and returns its value in Unit
	// (a scheduling delay, a request latency). Every call is one operation;
	// the result keeps their distribution in [results.Benchmark.PerOp].
	Sampled func(ctx context.Context) (float64, error)
	// Unit is the unit of Sampled's values; "" means ns/op. Ignored for N.
	Unit string
	// Setup, when set, runs untimed before the warm-up and before each
	// round; the function it returns, when not nil, runs after it. Use it
	// for state that must not outlive a round (a large live heap, load
	// goroutines), so the benchmarks interleaved with this one do not run
	// beside it. An error fails the benchmark.
	Setup func(ctx context.Context) (teardown func(), err error)
	// Options control the measurement.
	Options Options
}

// sampler takes timed batches or self-measured operations of one benchmark.
type sampler struct {
	n   int                                    // operations per batch (N)
	fnN func(context.Context, int) error       // batched
	fnS func(context.Context) (float64, error) // self-measured
	now func() time.Time
}

func (s *sampler) batched() bool { return s.fnN != nil }

// take takes one batch (or one self-measured operation) and returns its
// value (the operation's, for Sampled), the batch's duration (batched only),
// the clock's reading at the end and fn's error; a panic becomes a
// *PanicError.
func (s *sampler) take(ctx context.Context) (v float64, d time.Duration, end time.Time, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, d, end, err = 0, 0, s.now(), newPanicError(p)
		}
	}()
	if s.batched() {
		t0 := s.now()
		err = s.fnN(ctx, s.n)
		end = s.now()
		d = end.Sub(t0)
		return float64(d) / float64(s.n), d, end, err
	}
	v, err = s.fnS(ctx)
	return v, 0, s.now(), err
}

// timerOverhead returns the cost of timing one batch (two clock reads),
// measured once per Runner.
func (r *Runner) timerOverhead() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.measuredO {
		const reads = 1000
		t0 := r.cfg.now()
		for range reads - 1 {
			r.cfg.now()
		}
		per := r.cfg.now().Sub(t0) / reads
		r.overhead, r.measuredO = max(2*per, 0), true
	}
	return r.overhead
}

// allocReader reads the cumulative heap allocation counters from
// runtime/metrics, which does not stop the world.
type allocReader struct{ s [2]metrics.Sample }

func newAllocReader() *allocReader {
	a := &allocReader{}
	a.s[0].Name = "/gc/heap/allocs:objects"
	a.s[1].Name = "/gc/heap/allocs:bytes"
	return a
}

// read returns (objects, bytes, ok).
func (a *allocReader) read() (uint64, uint64, bool) {
	metrics.Read(a.s[:])
	if a.s[0].Value.Kind() != metrics.KindUint64 || a.s[1].Value.Kind() != metrics.KindUint64 {
		return 0, 0, false
	}
	return a.s[0].Value.Uint64(), a.s[1].Value.Uint64(), true
}

// seriesMetric accumulates one metric's per-round values.
type seriesMetric struct {
	unit, better string
	samples      []float64
}

// state is one benchmark's measurement across its rounds.
type state struct {
	r        *Runner
	ctx      context.Context
	spec     Spec
	unit     string
	o        Options
	s        *sampler
	log      *slog.Logger
	spent    time.Duration // wall time spent on this benchmark so far
	rounds   []float64     // one value per round
	metrics  []*seriesMetric
	perOp    []float64 // Sampled: single-operation values, at most MaxSamples
	perOpCut bool
	ops      int64
	objects  uint64
	bytes    uint64
	allocsOK bool
	measured time.Duration // measured wall time over all rounds
	warnings []string
	err      error // the failure, or ctx's error
	stopped  bool  // no more rounds (failed or a limit reached)
	batchDur time.Duration
	lastProg time.Time
}

// errStop ends a phase early without failing the benchmark.
var errStop = errors.New("stop")

// newState validates spec and returns its state; the name is reserved.
func (r *Runner) newState(ctx context.Context, spec Spec) (*state, error) {
	if (spec.N == nil) == (spec.Sampled == nil) {
		return nil, fmt.Errorf("bench: run %q: exactly one of N and Sampled must be set", spec.Name)
	}
	unit := results.UnitNsPerOp
	if spec.Sampled != nil && spec.Unit != "" {
		if err := results.CheckUnit(spec.Unit); err != nil {
			return nil, fmt.Errorf("bench: run %q: %w", spec.Name, err)
		}
		unit = spec.Unit
	}
	if r.cfg.rounds > 0 {
		spec.Options.Rounds = r.cfg.rounds
	}
	o, err := spec.Options.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("bench: run %q: %w", spec.Name, err)
	}
	if err := r.begin(spec.Name); err != nil {
		return nil, err
	}
	st := &state{r: r, ctx: ctx, spec: spec, unit: unit, o: o,
		s:   &sampler{fnN: spec.N, fnS: spec.Sampled, now: r.cfg.now, n: 1},
		log: r.cfg.logger.With("benchmark", spec.Name)}
	st.log.Info("benchmark start", "category", spec.Category, "options", o.String())
	return st, nil
}

// timed runs f and charges its wall time to the benchmark.
func (st *state) timed(f func() error) error {
	t0 := st.r.cfg.now()
	err := f()
	st.spent += st.r.cfg.now().Sub(t0)
	return err
}

// overBudget reports whether MaxDuration is used up, with a warning.
func (st *state) overBudget(phase Phase) bool {
	if st.o.MaxDuration < 0 || st.spent < st.o.MaxDuration {
		return false
	}
	st.warnings = append(st.warnings, fmt.Sprintf("MaxDuration %v reached during %s after %d of %d rounds", st.o.MaxDuration, phase, len(st.rounds), st.o.Rounds))
	return true
}

// fail records err (fn's, Setup's or ctx's) and stops the benchmark.
func (st *state) fail(err error) {
	if err == nil || errors.Is(err, errStop) {
		st.stopped = true
		return
	}
	if st.err == nil {
		st.err = err
	}
	st.stopped = true
}

// setup runs the spec's Setup, returning the teardown (never nil).
func (st *state) setup() (func(), error) {
	if st.spec.Setup == nil {
		return func() {}, nil
	}
	var td func()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = newPanicError(p)
			}
		}()
		td, err = st.spec.Setup(st.ctx)
		return err
	}()
	if err != nil {
		return func() {}, fmt.Errorf("setup: %w", err)
	}
	if td == nil {
		td = func() {}
	}
	return func() {
		defer func() {
			if p := recover(); p != nil {
				st.warnings = append(st.warnings, "teardown: "+newPanicError(p).Error())
			}
		}()
		td()
	}, nil
}

// prepare calibrates the batch size and warms up.
func (st *state) prepare() {
	err := st.timed(func() error {
		td, err := st.setup()
		if err != nil {
			return err
		}
		defer td()
		if st.s.batched() {
			if st.o.BatchSize > 0 {
				st.s.n = st.o.BatchSize
			} else if err := st.calibrate(); err != nil {
				return err
			}
		}
		st.report(Progress{Phase: PhaseWarmup, Runs: st.o.WarmupRuns})
		for i := 0; i < st.o.WarmupRuns; i++ {
			if err := st.ctx.Err(); err != nil {
				return err
			}
			if _, _, _, err := st.s.take(st.ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		st.fail(err)
	}
}

// calibrate finds the batch size: the least count whose batch lasts at
// least SampleTime (and 100 times the timer overhead). The first call is
// discarded as a cold start.
func (st *state) calibrate() error {
	target := max(st.o.SampleTime, 100*st.r.timerOverhead())
	st.report(Progress{Phase: PhaseCalibrate})
	st.s.n = 1
	t0 := st.r.cfg.now()
	if _, _, _, err := st.s.take(st.ctx); err != nil {
		return err
	}
	for {
		if err := st.ctx.Err(); err != nil {
			return err
		}
		_, d, now, err := st.s.take(st.ctx)
		if err != nil {
			return err
		}
		st.batchDur = d
		n := st.s.n
		if d >= target || n >= maxBatch {
			return nil
		}
		if st.o.MaxDuration >= 0 && st.spent+now.Sub(t0) >= st.o.MaxDuration {
			st.warnings = append(st.warnings, fmt.Sprintf("MaxDuration %v reached during calibration at %d operations per batch", st.o.MaxDuration, n))
			return nil
		}
		next := n * 100
		if d > 0 {
			next = int(min(float64(n)*float64(target)/float64(d)*1.2, float64(n)*100))
		}
		st.s.n = min(max(next, n+1), maxBatch)
	}
}

// round measures one round: at least RoundTime and MinBatches batches (or
// operations), with the observers around it. Its value is the round's
// per-operation figure: total batch time over operations for N, the mean of
// the operations' values for Sampled.
func (st *state) round() {
	if st.stopped {
		return
	}
	if st.overBudget(PhaseMeasure) {
		st.stopped = true
		return
	}
	err := st.timed(func() error {
		td, err := st.setup()
		if err != nil {
			return err
		}
		defer td()
		// Note: one collection before each round, as testing.B does before
		// each benchmark, so garbage of the benchmark interleaved before
		// this one is not charged to it.
		runtime.GC()
		return st.measureRound()
	})
	if err != nil {
		st.fail(err)
	}
}

// measureRound is the timed part of round.
func (st *state) measureRound() (err error) {
	obs := st.startObservers()
	ar := newAllocReader()
	obj0, b0, ok0 := ar.read()
	var (
		ops   int64
		total time.Duration // batched: sum of batch times
		sum   float64       // sampled: sum of values
		n     int           // batches or operations
	)
	start := st.r.cfg.now()
	now := start
	minN := st.o.minPerRound()
	roundTime := st.o.roundTime()
	for {
		if n > 0 && n >= minN && now.Sub(start) >= roundTime {
			break
		}
		if st.o.MaxDuration >= 0 && st.spent+now.Sub(start) >= st.o.MaxDuration && n > 0 {
			st.warnings = append(st.warnings, fmt.Sprintf("MaxDuration %v reached during round %d (a shorter round)", st.o.MaxDuration, len(st.rounds)+1))
			st.stopped = true
			break
		}
		if err = st.ctx.Err(); err != nil {
			break
		}
		if now.Sub(st.lastProg) >= progressEvery {
			st.lastProg = now
			st.report(Progress{Phase: PhaseMeasure, Samples: len(st.rounds), Runs: st.o.Rounds, Elapsed: st.measured + now.Sub(start), MinDuration: st.o.MinDuration})
		}
		var v float64
		var d time.Duration
		v, d, now, err = st.s.take(st.ctx)
		if err != nil {
			break
		}
		n++
		if st.s.batched() {
			ops += int64(st.s.n)
			total += d
		} else {
			ops++
			sum += v
			if len(st.perOp) < st.o.MaxSamples {
				st.perOp = append(st.perOp, v)
			} else {
				st.perOpCut = true
			}
		}
	}
	wall := st.r.cfg.now().Sub(start)
	obj1, b1, ok1 := ar.read()
	ms := st.stopObservers(obs)
	if err != nil || ops == 0 {
		// Note: a round cut short by a failure or interruption is not
		// kept: its value would mix a partial round with whole ones.
		return err
	}
	st.measured += wall
	st.ops += ops
	st.allocsOK = (st.allocsOK || len(st.rounds) == 0) && ok0 && ok1
	st.objects += obj1 - obj0
	st.bytes += b1 - b0
	var value float64
	if st.s.batched() {
		value = float64(total) / float64(ops)
	} else {
		value = sum / float64(ops)
	}
	st.rounds = append(st.rounds, value)
	if st.o.Bytes > 0 {
		var mbs float64
		switch {
		case st.unit == results.UnitNsPerOp && value > 0:
			mbs = float64(st.o.Bytes) / value * 1e3
		case wall > 0:
			mbs = float64(st.o.Bytes) * float64(ops) / wall.Seconds() / 1e6
		}
		ms = append([]results.Metric{{Unit: "MB/s", Value: mbs, Better: results.BetterHigher}}, ms...)
	}
	st.addRoundMetrics(ms)
	return nil
}

// addRoundMetrics appends one round's metrics to their series.
func (st *state) addRoundMetrics(ms []results.Metric) {
	for _, m := range ms {
		if err := results.CheckUnit(m.Unit); err != nil {
			st.warnings = appendOnce(st.warnings, "observer metric dropped: "+err.Error())
			continue
		}
		i := slices.IndexFunc(st.metrics, func(s *seriesMetric) bool { return s.unit == m.Unit })
		if i < 0 {
			st.metrics = append(st.metrics, &seriesMetric{unit: m.Unit, better: m.Better})
			i = len(st.metrics) - 1
		}
		st.metrics[i].samples = append(st.metrics[i].samples, m.Value)
	}
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// result builds the benchmark's result from its rounds.
func (st *state) result() results.Benchmark {
	res := results.Benchmark{Name: st.spec.Name, Category: st.spec.Category, Kind: results.KindFunc, Unit: st.unit,
		Samples: st.rounds, Iterations: st.ops}
	res.Warnings = append(res.Warnings, st.warnings...)
	var w []string
	res.Stats, w = results.Summarize(st.rounds)
	res.Warnings = append(res.Warnings, w...)
	if len(st.rounds) > 0 && len(st.rounds) < st.o.Rounds && st.err == nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d of %d rounds measured", len(st.rounds), st.o.Rounds))
	}
	if st.ops > 0 && st.allocsOK {
		a, b := float64(st.objects)/float64(st.ops), float64(st.bytes)/float64(st.ops)
		res.AllocsPerOp, res.BytesPerOp = &a, &b
	}
	res.Labels = map[string]string{"rounds": strconv.Itoa(len(st.rounds)), "round_time": st.o.roundTime().String()}
	if st.s.batched() {
		res.Labels["ops_per_batch"] = strconv.Itoa(st.s.n)
	} else {
		res.PerOp = results.NewDistribution(st.perOp)
		if st.perOpCut {
			res.Warnings = append(res.Warnings, fmt.Sprintf("per-operation percentiles from the first %d of %d operations (MaxSamples)", len(st.perOp), st.ops))
		}
	}
	for _, m := range st.metrics {
		res.Metrics = append(res.Metrics, seriesToMetric(m))
	}
	if st.err != nil {
		if st.ctx.Err() != nil && errors.Is(st.err, st.ctx.Err()) {
			res.Error = "interrupted: " + context.Cause(st.ctx).Error()
		} else {
			res.Error = st.err.Error()
		}
	}
	return res
}

// seriesToMetric turns per-round values into a Metric: samples and their
// median (a single round gives a value measured once).
func seriesToMetric(m *seriesMetric) results.Metric {
	out := results.Metric{Unit: m.unit, Better: m.better}
	switch len(m.samples) {
	case 0:
	case 1:
		out.Value = m.samples[0]
	default:
		out.Samples = slices.Clone(m.samples)
		out.Value = results.Quantile(m.samples, 0.5)
	}
	return out
}

// finish records the result in the Runner and logs it.
func (st *state) finish() (results.Benchmark, error) {
	res := st.result()
	interrupted := st.err != nil && st.ctx.Err() != nil
	st.r.mu.Lock()
	st.r.appendLocked(cloneResult(res), interrupted)
	run := results.Run{Schema: results.Schema, Environment: st.r.res.Environment, Benchmarks: []results.Benchmark{res}}
	st.r.mu.Unlock()
	if w := st.r.cfg.emit; w != nil {
		if err := results.WriteBenchfmt(w, &run); err != nil {
			st.log.Warn("emitting the result failed", "error", err)
		}
	}
	for _, w := range res.Warnings {
		st.log.Warn("benchmark warning", "warning", w)
	}
	var err error
	if st.err != nil {
		st.log.Error("benchmark failed", "error", res.Error, "rounds", len(res.Samples))
		err = fmt.Errorf("bench: %s: %w", st.spec.Name, st.err)
	} else {
		st.log.Info("benchmark done", "median", res.Stats.Median, "unit", st.unit, "rounds", res.Stats.N, "ops", res.Iterations)
	}
	st.report(Progress{Phase: PhaseDone, Samples: len(res.Samples), Runs: st.o.Rounds, Err: err})
	return res, err
}

func (st *state) report(p Progress) {
	fn := st.r.cfg.progress
	if fn == nil {
		return
	}
	p.Name, p.Category = st.spec.Name, st.spec.Category
	defer func() {
		if v := recover(); v != nil {
			st.r.cfg.logger.Error("progress callback panicked", "panic", v)
		}
	}()
	fn(p)
}

// startObservers starts the observers of a round; those that panic are
// left out of it, with a warning.
func (st *state) startObservers() []Observer {
	var started []Observer
	for _, ob := range st.o.Observers {
		if ob == nil {
			continue
		}
		if st.guard("start", func() { ob.Start() }) {
			started = append(started, ob)
		}
	}
	return started
}

// stopObservers collects the round's metrics from the started observers.
func (st *state) stopObservers(obs []Observer) []results.Metric {
	var ms []results.Metric
	for _, ob := range obs {
		st.guard("stop", func() { ms = append(ms, ob.Stop()...) })
	}
	return ms
}

// guard runs f, turning a panic into a warning; it reports whether f
// returned normally.
func (st *state) guard(what string, f func()) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			st.warnings = appendOnce(st.warnings, fmt.Sprintf("observer %s: %v", what, newPanicError(p)))
			ok = false
		}
	}()
	f()
	return true
}
