package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/perfagent/perfagent/results"
)

// A Part is one process's measurement of one benchmark: its result (rounds,
// metrics, counters) and the single-operation values behind its PerOp, so
// that parts measured in separate processes merge exactly ([MergeParts]).
// [Runner.RunParts] returns them; [Runner.RunIsolated] merges them.
type Part struct {
	Result results.Benchmark `json:"result"`
	// PerOp are the single-operation values of a self-measured benchmark
	// (at most its MaxSamples), in the order measured.
	PerOp []float64 `json:"per_op,omitempty"`
}

// RunParts measures specs as [Runner.RunSuite] does, but returns each
// benchmark as a [Part] and records nothing in the Runner: it is the child
// side of process isolation, whose parent merges the parts of every process
// with [Runner.RunIsolated].
func (r *Runner) RunParts(ctx context.Context, specs []Spec) ([]Part, error) {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bench: not started: %w", err)
	}
	states, errs := r.runStates(ctx, specs)
	parts := make([]Part, 0, len(states))
	for _, st := range states {
		parts = append(parts, Part{Result: st.result(), PerOp: st.perOp})
		if st.err != nil {
			errs = append(errs, fmt.Errorf("bench: %s: %w", st.spec.Name, st.err))
		}
	}
	return parts, errors.Join(errs...)
}

// IsolatedRound measures round i (from 0) of the benchmarks of a
// [Runner.RunIsolated] call, typically in a new process, and returns one
// [Part] per benchmark it measured. An error fails the round; the parts it
// returns beside the error are kept.
type IsolatedRound func(ctx context.Context, i int) ([]Part, error)

// RunIsolated measures the benchmarks named in names in rounds rounds, each
// round by one call of round, and records one merged result per name in
// the Runner, in names' order. Use it to run every round in a new process:
// then what differs between processes (memory layout, the heap the runtime
// grew, code alignment, the state of the scheduler) differs between rounds
// too, and so is inside the spread that significance tests compare a change
// with, instead of being one shared offset that makes two runs differ
// "significantly" when nothing changed. Rounds are interleaved across the
// benchmarks when each round measures all of them, as [Runner.RunSuite]
// does within one process.
//
// A round that fails is reported in the error and in the results (as a
// warning on every benchmark, and as the error of those it measured
// nothing of); the other rounds still run. When ctx is done, no further
// round starts, the benchmarks keep the rounds measured so far and the
// results are marked partial.
func (r *Runner) RunIsolated(ctx context.Context, names []string, rounds int, round IsolatedRound) ([]results.Benchmark, error) {
	if round == nil {
		return nil, errors.New("bench: run isolated: nil round function")
	}
	if rounds < 1 || rounds > MaxRounds {
		return nil, fmt.Errorf("bench: run isolated: rounds %d: want 1..%d", rounds, MaxRounds)
	}
	r.runMu.Lock()
	defer r.runMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bench: not started: %w", err)
	}
	var errs []error
	var kept []string
	for _, n := range names {
		if err := r.begin(n); err != nil {
			errs = append(errs, err)
			continue
		}
		kept = append(kept, n)
	}
	parts := make(map[string][]Part, len(kept))
	var roundErrs []string
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		for _, n := range kept {
			r.reportProgress(Progress{Name: n, Phase: PhaseMeasure, Samples: i, Runs: rounds})
		}
		ps, err := r.callRound(ctx, round, i)
		if err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("bench: round %d of %d: %w", i+1, rounds, err))
			roundErrs = append(roundErrs, fmt.Sprintf("round %d of %d failed: %s", i+1, rounds, firstLine(err.Error())))
		}
		for _, p := range ps {
			if slices.Contains(kept, p.Result.Name) {
				parts[p.Result.Name] = append(parts[p.Result.Name], p)
			}
		}
	}
	interrupted := ctx.Err() != nil
	out := make([]results.Benchmark, 0, len(kept))
	for _, n := range kept {
		res, err := MergeParts(parts[n])
		if err != nil {
			res = results.Benchmark{Name: n, Kind: results.KindFunc, Unit: results.UnitNsPerOp, Error: err.Error()}
		}
		res.Warnings = append(res.Warnings, roundErrs...)
		if interrupted && len(res.Samples) < rounds && res.Error == "" {
			res.Error = "interrupted: " + context.Cause(ctx).Error()
		}
		switch {
		case res.Error != "":
			errs = append(errs, fmt.Errorf("bench: %s: %s", n, res.Error))
		case len(res.Samples) < rounds:
			res.Warnings = append(res.Warnings, fmt.Sprintf("%d of %d rounds measured", len(res.Samples), rounds))
		}
		if res.Labels == nil {
			res.Labels = map[string]string{}
		}
		res.Labels["isolation"] = "process per round"
		r.mu.Lock()
		r.appendLocked(cloneResult(res), interrupted)
		r.mu.Unlock()
		var ferr error
		if res.Error != "" {
			ferr = errors.New(res.Error)
		}
		r.reportProgress(Progress{Name: n, Category: res.Category, Phase: PhaseDone, Samples: len(res.Samples), Runs: rounds, Err: ferr})
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// callRound calls round, turning a panic into an error.
func (r *Runner) callRound(ctx context.Context, round IsolatedRound, i int) (ps []Part, err error) {
	defer func() {
		if p := recover(); p != nil {
			ps, err = nil, newPanicError(p)
		}
	}()
	return round(ctx, i)
}

// reportProgress calls the progress callback, if any, recovering a panic.
func (r *Runner) reportProgress(p Progress) {
	fn := r.cfg.progress
	if fn == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			r.cfg.logger.Error("progress callback panicked", "panic", v)
		}
	}()
	fn(p)
}

// MergeParts merges the parts of one benchmark, measured in separate
// processes, into one result, exactly: the rounds of every part in order,
// the per-round metrics likewise, counters summed, allocations per
// operation weighted by operations, and the per-operation distribution
// rebuilt from every part's single-operation values. Warnings are kept
// once each; the first error is the result's. All parts must name the same
// benchmark, kind and unit.
func MergeParts(parts []Part) (results.Benchmark, error) {
	if len(parts) == 0 {
		return results.Benchmark{}, errors.New("no round was measured")
	}
	first := parts[0].Result
	out := results.Benchmark{Name: first.Name, Category: first.Category, Kind: first.Kind, Unit: first.Unit}
	var (
		perOp            []float64
		objects, bytes   float64
		allocsOK         = true
		batches          []int
		metricIdx        = map[string]int{}
		metricSeries     [][]float64
		sampledBenchmark bool
	)
	for _, p := range parts {
		b := p.Result
		if b.Name != first.Name || b.Kind != first.Kind || b.Unit != first.Unit {
			return results.Benchmark{}, fmt.Errorf("merge %q: part of %q (%s, %s) does not match (%s, %s)", first.Name, b.Name, b.Kind, b.Unit, first.Kind, first.Unit)
		}
		out.Samples = append(out.Samples, b.Samples...)
		out.Iterations += b.Iterations
		if b.AllocsPerOp != nil && b.BytesPerOp != nil {
			objects += *b.AllocsPerOp * float64(b.Iterations)
			bytes += *b.BytesPerOp * float64(b.Iterations)
		} else if b.Iterations > 0 {
			allocsOK = false
		}
		if b.PerOp != nil {
			sampledBenchmark = true
		}
		perOp = append(perOp, p.PerOp...)
		if v, err := strconv.Atoi(b.Labels["ops_per_batch"]); err == nil {
			batches = append(batches, v)
		}
		for _, m := range b.Metrics {
			i, ok := metricIdx[m.Unit]
			if !ok {
				i = len(out.Metrics)
				metricIdx[m.Unit] = i
				out.Metrics = append(out.Metrics, results.Metric{Unit: m.Unit, Better: m.Better})
				metricSeries = append(metricSeries, nil)
			}
			if len(m.Samples) > 0 {
				metricSeries[i] = append(metricSeries[i], m.Samples...)
			} else {
				metricSeries[i] = append(metricSeries[i], m.Value)
			}
		}
		for _, w := range b.Warnings {
			if !strings.HasSuffix(w, " rounds measured") {
				out.Warnings = appendOnce(out.Warnings, w)
			}
		}
		if out.Error == "" {
			out.Error = b.Error
		}
	}
	var w []string
	out.Stats, w = results.Summarize(out.Samples)
	for _, s := range w {
		out.Warnings = appendOnce(out.Warnings, s)
	}
	if out.Iterations > 0 && allocsOK {
		a, b := objects/float64(out.Iterations), bytes/float64(out.Iterations)
		out.AllocsPerOp, out.BytesPerOp = &a, &b
	}
	if sampledBenchmark || len(perOp) > 0 {
		out.PerOp = results.NewDistribution(perOp)
	}
	for i, s := range metricSeries {
		m := seriesToMetric(&seriesMetric{unit: out.Metrics[i].Unit, better: out.Metrics[i].Better, samples: s})
		out.Metrics[i] = m
	}
	out.Labels = map[string]string{"rounds": strconv.Itoa(len(out.Samples))}
	if rt := first.Labels["round_time"]; rt != "" {
		out.Labels["round_time"] = rt
	}
	if len(batches) > 0 {
		lo, hi := slices.Min(batches), slices.Max(batches)
		out.Labels["ops_per_batch"] = strconv.Itoa(lo)
		if hi != lo {
			out.Labels["ops_per_batch"] = strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
		}
	}
	if len(out.Samples) == 0 && out.Error == "" {
		out.Error = "no round was measured"
	}
	return out, nil
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
