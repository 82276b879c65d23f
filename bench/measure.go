package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/results"
)

// maxBatch bounds the operations in one sample.
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

// sampler takes samples of one benchmark.
type sampler struct {
	batched bool
	n       int                                    // operations per sample (batched)
	fnN     func(context.Context, int) error       // batched
	fnS     func(context.Context) (float64, error) // self-timed
	now     func() time.Time
}

// take takes one sample and returns its value in the result's unit, the
// time the operations took (batched only), the clock's reading at the end and
// fn's error; a panic becomes a *PanicError.
func (s *sampler) take(ctx context.Context) (v float64, d time.Duration, end time.Time, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, d, end, err = 0, 0, s.now(), newPanicError(p)
		}
	}()
	if s.batched {
		t0 := s.now()
		err = s.fnN(ctx, s.n)
		end = s.now()
		d = end.Sub(t0)
		return float64(d) / float64(s.n), d, end, err
	}
	v, err = s.fnS(ctx)
	return v, 0, s.now(), err
}

// timerOverhead returns the cost of timing one sample (two clock reads),
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

// run is the measurement loop shared by Run, RunN and RunSampled.
func (r *Runner) run(ctx context.Context, name, category string, s *sampler, unit string, o Options) (results.Benchmark, error) {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	if err := r.begin(name); err != nil {
		return results.Benchmark{}, err
	}
	o = o.withDefaults()
	log := r.cfg.logger.With("benchmark", name)
	log.Info("benchmark start", "category", category, "options", o.String())

	m := measurement{r: r, ctx: ctx, s: s, o: o, name: name, category: category, start: r.cfg.now()}
	res := results.Benchmark{Name: name, Category: category, Kind: results.KindFunc, Unit: unit}
	err := m.measure()
	res.Samples = m.samples
	res.Iterations = m.ops
	res.Warnings = m.warnings
	var w []string
	res.Stats, w = results.Summarize(m.samples)
	res.Warnings = append(res.Warnings, w...)
	if m.ops > 0 && m.allocsOK {
		a, b := float64(m.objects)/float64(m.ops), float64(m.bytes)/float64(m.ops)
		res.AllocsPerOp, res.BytesPerOp = &a, &b
	}
	if s.batched {
		res.Labels = map[string]string{"ops_per_sample": strconv.Itoa(s.n)}
	}
	if o.Bytes > 0 && m.ops > 0 {
		// Bytes per mean time per operation, as ns/op is derived; sampled
		// benchmarks' unit is not a time per op, so they use the wall time of
		// the measurement phase.
		var mbs float64
		switch {
		case unit == results.UnitNsPerOp && res.Stats.Mean > 0:
			mbs = float64(o.Bytes) / res.Stats.Mean * 1e3
		case m.measured > 0:
			mbs = float64(o.Bytes) * float64(m.ops) / m.measured.Seconds() / 1e6
		}
		if mbs > 0 {
			res.Metrics = append(res.Metrics, results.Metric{Unit: "MB/s", Value: mbs, Better: results.BetterHigher})
		}
	}
	for _, mt := range m.metrics {
		if err := results.CheckUnit(mt.Unit); err != nil {
			res.Warnings = append(res.Warnings, "observer metric dropped: "+err.Error())
			continue
		}
		res.Metrics = append(res.Metrics, mt)
	}
	interrupted := err != nil && ctx.Err() != nil
	if err != nil {
		if interrupted {
			res.Error = "interrupted: " + context.Cause(ctx).Error()
		} else {
			res.Error = err.Error()
		}
	}

	r.mu.Lock()
	r.appendLocked(cloneResult(res), interrupted)
	r.mu.Unlock()

	for _, w := range res.Warnings {
		log.Warn("benchmark warning", "warning", w)
	}
	if err != nil {
		log.Error("benchmark failed", "error", res.Error, "samples", len(res.Samples))
		err = fmt.Errorf("bench: %s: %w", name, err)
	} else {
		log.Info("benchmark done", "median", res.Stats.Median, "unit", unit, "samples", res.Stats.N, "ops", res.Iterations)
	}
	m.report(Progress{Phase: PhaseDone, Samples: len(res.Samples), Runs: o.MeasurementRuns, Err: err})
	return res, err
}

// measurement is the state of one benchmark's measurement.
type measurement struct {
	r              *Runner
	ctx            context.Context
	s              *sampler
	o              Options
	name, category string
	start          time.Time
	samples        []float64
	ops            int64
	measured       time.Duration    // wall time of the measurement phase
	metrics        []results.Metric // from observers
	objects, bytes uint64
	allocsOK       bool
	warnings       []string
	sampleDur      time.Duration // typical duration of one sample
	lastProgress   time.Time
}

// errStop ends a phase early without failing the benchmark.
var errStop = errors.New("stop")

// limit returns errStop with a warning when MaxDuration has passed, ctx's
// error when it is done, or nil.
func (m *measurement) limit(phase Phase, now time.Time) error {
	if err := m.ctx.Err(); err != nil {
		return err
	}
	if m.o.MaxDuration >= 0 && now.Sub(m.start) >= m.o.MaxDuration {
		m.warnings = append(m.warnings, fmt.Sprintf("MaxDuration %v reached during %s after %d samples (wanted %d samples and %v)", m.o.MaxDuration, phase, len(m.samples), m.o.MeasurementRuns, m.o.MinDuration))
		return errStop
	}
	return nil
}

func (m *measurement) report(p Progress) {
	fn := m.r.cfg.progress
	if fn == nil {
		return
	}
	p.Name, p.Category = m.name, m.category
	defer func() {
		if v := recover(); v != nil {
			m.r.cfg.logger.Error("progress callback panicked", "panic", v)
		}
	}()
	fn(p)
}

// measure calibrates, warms up and measures. It returns fn's error or ctx's;
// limits reached are warnings, not errors.
func (m *measurement) measure() error {
	if m.s.batched {
		if m.o.BatchSize > 0 {
			m.s.n = m.o.BatchSize
		} else if err := m.calibrate(); err != nil {
			return stopIsNil(err)
		}
	}

	// Warm-up.
	m.report(Progress{Phase: PhaseWarmup, Runs: m.o.WarmupRuns})
	wstart := m.r.cfg.now()
	for i := 0; i < m.o.WarmupRuns; i++ {
		if err := m.limit(PhaseWarmup, m.r.cfg.now()); err != nil {
			return stopIsNil(err)
		}
		_, d, _, err := m.s.take(m.ctx)
		if err != nil {
			return err
		}
		if m.s.batched {
			m.sampleDur = d
		}
	}
	if !m.s.batched && m.o.WarmupRuns > 0 {
		m.sampleDur = m.r.cfg.now().Sub(wstart) / time.Duration(m.o.WarmupRuns)
	}

	// Measurement.
	m.samples = make([]float64, 0, m.expectedSamples())
	// Note: one collection here, as testing.B does, so garbage of earlier
	// benchmarks is not charged to this one.
	runtime.GC()
	m.report(Progress{Phase: PhaseMeasure, Runs: m.o.MeasurementRuns, MinDuration: m.o.MinDuration})
	// Deferred in this order so that, at the end, the clock is read first,
	// then the allocation counters, then the observers.
	m.startObservers()
	defer m.stopObservers()
	ar := newAllocReader()
	obj0, b0, ok0 := ar.read()
	defer func() {
		obj1, b1, ok1 := ar.read()
		m.allocsOK = ok0 && ok1
		m.objects, m.bytes = obj1-obj0, b1-b0
	}()
	mstart := m.r.cfg.now()
	m.lastProgress = mstart
	defer func() { m.measured = m.r.cfg.now().Sub(mstart) }()
	// Note: the clock is read once per sample beyond the sample's own
	// timing: the end of one sample is the loop's "now" for the next.
	now := mstart
	for {
		elapsed := now.Sub(mstart)
		if len(m.samples) >= m.o.MeasurementRuns && elapsed >= m.o.MinDuration {
			return nil
		}
		if len(m.samples) >= m.o.MaxSamples {
			m.warnings = append(m.warnings, fmt.Sprintf("MaxSamples %d reached after %v (wanted %d samples and %v)", m.o.MaxSamples, elapsed, m.o.MeasurementRuns, m.o.MinDuration))
			return nil
		}
		if err := m.limit(PhaseMeasure, now); err != nil {
			return stopIsNil(err)
		}
		if now.Sub(m.lastProgress) >= progressEvery {
			m.lastProgress = now
			m.report(Progress{Phase: PhaseMeasure, Samples: len(m.samples), Runs: m.o.MeasurementRuns, Elapsed: elapsed, MinDuration: m.o.MinDuration})
		}
		v, _, end, err := m.s.take(m.ctx)
		if err != nil {
			return err
		}
		now = end
		m.samples = append(m.samples, v)
		if m.s.batched {
			m.ops += int64(m.s.n)
		} else {
			m.ops++
		}
	}
}

// startObservers starts the observers; one that panics is dropped with a
// warning.
func (m *measurement) startObservers() {
	for i, ob := range m.o.Observers {
		if ob == nil {
			continue
		}
		if !m.guard("start", func() { ob.Start() }) {
			m.o.Observers[i] = nil
		}
	}
}

// stopObservers collects the observers' metrics.
func (m *measurement) stopObservers() {
	for _, ob := range m.o.Observers {
		if ob == nil {
			continue
		}
		m.guard("stop", func() { m.metrics = append(m.metrics, ob.Stop()...) })
	}
}

// guard runs f, turning a panic into a warning; it reports whether f
// returned normally.
func (m *measurement) guard(what string, f func()) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			m.warnings = append(m.warnings, fmt.Sprintf("observer %s: %v", what, newPanicError(p)))
			ok = false
		}
	}()
	f()
	return true
}

// calibrate finds the batch size: the least count whose sample lasts at
// least SampleTime (and 100 times the timer overhead). The first call is
// discarded as a cold start.
func (m *measurement) calibrate() error {
	target := max(m.o.SampleTime, 100*m.r.timerOverhead())
	m.report(Progress{Phase: PhaseCalibrate})
	m.s.n = 1
	_, _, now, err := m.s.take(m.ctx)
	if err != nil {
		return err
	}
	for {
		if err := m.limit(PhaseCalibrate, now); err != nil {
			return err
		}
		var d time.Duration
		_, d, now, err = m.s.take(m.ctx)
		if err != nil {
			return err
		}
		m.sampleDur = d
		n := m.s.n
		if d >= target || n >= maxBatch {
			return nil
		}
		next := n * 100
		if d > 0 {
			next = int(min(float64(n)*float64(target)/float64(d)*1.2, float64(n)*100))
		}
		m.s.n = min(max(next, n+1), maxBatch)
	}
}

// expectedSamples estimates the samples measurement will take, to size the
// sample slice once (its growth would count as the benchmark's allocations).
func (m *measurement) expectedSamples() int {
	n := m.o.MeasurementRuns
	if m.sampleDur > 0 {
		n = max(n, int(m.o.MinDuration/m.sampleDur))
	}
	return min(n+n/4+16, m.o.MaxSamples)
}

// stopIsNil maps errStop to nil.
func stopIsNil(err error) error {
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}
