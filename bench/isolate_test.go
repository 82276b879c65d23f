package bench_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// parts measures specs in a child-side Runner with one round each, as one
// round process does.
func parts(t *testing.T, clock *fakeClock, specs ...bench.Spec) []bench.Part {
	t.Helper()
	r := bench.NewRunner(bench.WithClock(clock.now), bench.WithOutputDir(t.TempDir()))
	ps, err := r.RunParts(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Results().Benchmarks) != 0 {
		t.Fatal("RunParts recorded results in its Runner")
	}
	return ps
}

// TestMergePartsExact checks that merging rounds measured in separate
// Runners gives exactly what their values imply: rounds in order, summed
// operations, weighted allocations, per-round metrics concatenated and the
// per-operation distribution of every operation.
func TestMergePartsExact(t *testing.T) {
	clock := newFakeClock()
	opts := bench.Options{Rounds: 1, WarmupRuns: -1, MeasurementRuns: 4, MinDuration: -1, BatchSize: 1}
	var ps []bench.Part
	for _, d := range []time.Duration{100, 200, 300} {
		batched := bench.Spec{Name: "op", Options: opts, N: func(_ context.Context, n int) error { clock.advance(time.Duration(n) * d); return nil }}
		got := parts(t, clock, batched)
		if len(got) != 1 || len(got[0].PerOp) != 0 {
			t.Fatalf("parts %+v", got)
		}
		ps = append(ps, got...)
	}
	op, err := bench.MergeParts(ps)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(op.Samples, []float64{100, 200, 300}) || op.Stats.N != 3 || op.Stats.Median != 200 || op.Iterations != 12 {
		t.Fatalf("merged op: samples %v stats %+v iterations %d", op.Samples, op.Stats, op.Iterations)
	}
	if op.Labels["rounds"] != "3" || op.Labels["ops_per_batch"] != "1" {
		t.Errorf("labels %v", op.Labels)
	}
	if m := op.MetricByUnit(bench.UnitCPUPerOp); m != nil && len(m.Samples) != 3 {
		t.Errorf("cpu metric has %d samples, want one per round", len(m.Samples))
	}

	// Sampled: the distribution is that of every operation of every part.
	var sps []bench.Part
	var all []float64
	for i := range 3 {
		v := 0.0
		sps = append(sps, parts(t, clock, bench.Spec{Name: "wake", Unit: "ns/wakeup", Options: opts, Sampled: func(context.Context) (float64, error) {
			v++
			x := v + float64(1000*i)
			all = append(all, x)
			return x, nil
		}})...)
		if n := len(sps[i].PerOp); n != 4 {
			t.Fatalf("part %d carries %d single-operation values, want 4", i, n)
		}
	}
	wake, err := bench.MergeParts(sps)
	if err != nil {
		t.Fatal(err)
	}
	want := results.NewDistribution(all)
	if wake.PerOp == nil || *wake.PerOp != *want {
		t.Fatalf("merged distribution %+v, want %+v", wake.PerOp, want)
	}
	if !slices.Equal(wake.Samples, []float64{2.5, 1002.5, 2002.5}) {
		t.Errorf("sampled rounds %v", wake.Samples)
	}
}

func TestMergePartsRejectsMismatch(t *testing.T) {
	a := bench.Part{Result: results.Benchmark{Name: "a", Kind: results.KindFunc, Unit: "ns/op", Samples: []float64{1}}}
	b := a
	b.Result.Unit = "ns/wakeup"
	if _, err := bench.MergeParts([]bench.Part{a, b}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("merge of different units: %v", err)
	}
	if _, err := bench.MergeParts(nil); err == nil {
		t.Fatal("merge of no part succeeded")
	}
	c := a
	c.Result.Error = "panic: boom"
	m, err := bench.MergeParts([]bench.Part{a, c})
	if err != nil || m.Error != "panic: boom" || len(m.Samples) != 2 {
		t.Fatalf("merge keeps the failure: %+v %v", m, err)
	}
}

// TestRunIsolated drives the parent side with rounds measured by child-side
// Runners in this process: results merged per name in order, a failed round
// reported without losing the others, and the rounds' count checked.
func TestRunIsolated(t *testing.T) {
	clock := newFakeClock()
	opts := bench.Options{Rounds: 1, WarmupRuns: -1, MeasurementRuns: 2, MinDuration: -1, BatchSize: 1}
	round := func(ctx context.Context, i int) ([]bench.Part, error) {
		if i == 2 {
			return nil, errors.New("round process exited with status 2\nsecond line")
		}
		d := time.Duration(100 * (i + 1))
		r := bench.NewRunner(bench.WithClock(clock.now))
		return r.RunParts(ctx, []bench.Spec{
			{Name: "x", Category: "c", Options: opts, N: func(_ context.Context, n int) error { clock.advance(time.Duration(n) * d); return nil }},
			{Name: "y", Category: "c", Options: opts, N: func(_ context.Context, n int) error { clock.advance(time.Duration(n) * 2 * d); return nil }},
		})
	}
	var done []string
	r := bench.NewRunner(bench.WithClock(clock.now), bench.WithOutputDir(t.TempDir()), bench.WithProgress(func(p bench.Progress) {
		if p.Phase == bench.PhaseDone {
			done = append(done, p.Name)
		}
	}))
	res, err := r.RunIsolated(context.Background(), []string{"y", "x"}, 4, round)
	if err == nil || !strings.Contains(err.Error(), "round 3 of 4") {
		t.Fatalf("error %v, want the failed round named", err)
	}
	if len(res) != 2 || res[0].Name != "y" || res[1].Name != "x" || !slices.Equal(done, []string{"y", "x"}) {
		t.Fatalf("results %v, done %v", res, done)
	}
	if !slices.Equal(res[1].Samples, []float64{100, 200, 400}) || res[1].Error != "" || res[1].Labels["isolation"] != "process per round" {
		t.Fatalf("x: samples %v error %q labels %v", res[1].Samples, res[1].Error, res[1].Labels)
	}
	w := strings.Join(res[1].Warnings, "; ")
	if !strings.Contains(w, "round 3 of 4 failed: round process exited with status 2") || strings.Contains(w, "second line") || !strings.Contains(w, "3 of 4 rounds measured") {
		t.Errorf("warnings %q", w)
	}
	run := r.Results()
	if len(run.Benchmarks) != 2 || run.Partial {
		t.Fatalf("recorded %d benchmarks, partial %v", len(run.Benchmarks), run.Partial)
	}
	if _, err := r.RunIsolated(context.Background(), []string{"x"}, 2, round); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := r.RunIsolated(context.Background(), []string{"z"}, 0, round); err == nil {
		t.Fatal("zero rounds accepted")
	}
}

// TestRunIsolatedInterrupted checks that a done ctx stops the rounds, keeps
// what was measured and marks the results partial.
func TestRunIsolatedInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	round := func(_ context.Context, i int) ([]bench.Part, error) {
		if i == 1 {
			cancel()
			return nil, context.Canceled
		}
		return []bench.Part{{Result: results.Benchmark{Name: "x", Kind: results.KindFunc, Unit: "ns/op", Samples: []float64{5}, Iterations: 1}}}, nil
	}
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()))
	res, err := r.RunIsolated(ctx, []string{"x"}, 5, round)
	if err == nil || len(res) != 1 || !strings.HasPrefix(res[0].Error, "interrupted") || len(res[0].Samples) != 1 {
		t.Fatalf("res %+v err %v", res, err)
	}
	if !r.Results().Partial {
		t.Error("interrupted run not marked partial")
	}
	if math.IsNaN(res[0].Stats.Median) || res[0].Stats.Median != 5 {
		t.Errorf("median %v", res[0].Stats.Median)
	}
}
