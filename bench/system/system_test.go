package system_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/bench/system"
	"github.com/perfagent/perfagent/results"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func metric(b results.Benchmark, unit string) (float64, bool) {
	for _, m := range b.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// TestQuickSuite runs the whole suite briefly and checks the shape of every
// result: names, units, samples and the metrics each benchmark promises.
// Values are only checked for plausibility (positive, ordered), never
// against timing targets.
func TestQuickSuite(t *testing.T) {
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()), bench.WithSuite("system"))
	o := system.Options{Quick: true, Duration: 60 * time.Millisecond}
	if err := system.Run(context.Background(), r, o); err != nil {
		t.Fatal(err)
	}
	res := r.Results()
	var names []string
	for _, b := range res.Benchmarks {
		names = append(names, b.Name)
	}
	want := []string{"sched/latency/idle", "sched/latency/loaded", "alloc/small-64B", "alloc/large-1MiB",
		"cpu/sha256-64KiB", "gc/live-heap-1MiB", "gc/live-heap-4MiB", "json/encode", "json/decode"}
	if !slices.Equal(names, want) || !slices.Equal(system.Names(o), want) {
		t.Fatalf("benchmarks %v, want %v", names, want)
	}
	for _, b := range res.Benchmarks {
		if b.Error != "" || b.Category != system.Category || b.Stats.N == 0 || b.Stats.Median <= 0 && !strings.HasPrefix(b.Name, "sched/") {
			t.Errorf("%s: error %q category %q N %d median %v", b.Name, b.Error, b.Category, b.Stats.N, b.Stats.Median)
		}
		switch {
		case strings.HasPrefix(b.Name, "sched/"):
			if b.Unit != system.UnitWakeup {
				t.Errorf("%s: unit %s", b.Name, b.Unit)
			}
			// The budget's metric is the idle case's per-wake-up p99; the
			// loaded case saturates the CPU on purpose and has none.
			p99, ok := metric(b, results.UnitSchedLagP99)
			if idle := b.Name == "sched/latency/idle"; ok != idle || b.PerOp == nil || (idle && p99 != b.PerOp.P99) {
				t.Errorf("%s: %s = %v (%v), per-op %+v", b.Name, results.UnitSchedLagP99, p99, ok, b.PerOp)
			}
			if b.Stats.N != 10 || b.PerOp.N < 10 {
				t.Errorf("%s: %d rounds, %v wake-ups", b.Name, b.Stats.N, b.PerOp)
			}
			if rt, ok := metric(b, system.UnitRuntimeSchedP99); !ok || rt <= 0 {
				t.Errorf("%s: runtime p99 %v %v", b.Name, rt, ok)
			}
		case strings.HasPrefix(b.Name, "gc/"):
			p50, _ := metric(b, system.UnitPauseP50)
			p99, _ := metric(b, system.UnitPauseP99)
			mx, _ := metric(b, system.UnitPauseMax)
			if !(p50 > 0 && p50 <= p99 && p99 <= mx) {
				t.Errorf("%s: pauses p50 %v p99 %v max %v", b.Name, p50, p99, mx)
			}
			// A forced cycle stops the world twice (sweep termination and
			// mark termination); background cycles may add a few.
			if per, _ := metric(b, system.UnitPausesOp); per < 1.5 || per > 3 {
				t.Errorf("%s: %v pauses per cycle", b.Name, per)
			}
			if cpu, ok := metric(b, system.UnitGCCPUPerOp); !ok || cpu <= 0 {
				t.Errorf("%s: GC CPU per cycle %v", b.Name, cpu)
			}
		default:
			if b.Unit != results.UnitNsPerOp || b.AllocsPerOp == nil {
				t.Errorf("%s: unit %s allocs %v", b.Name, b.Unit, b.AllocsPerOp)
			}
			mbs, ok := metric(b, system.UnitMBPerSec)
			if !ok || mbs <= 0 {
				t.Errorf("%s: MB/s %v", b.Name, mbs)
			}
		}
	}
	small, large := res.Benchmarks[2], res.Benchmarks[3]
	if a := *small.AllocsPerOp; math.Abs(a-1) > 0.1 {
		t.Errorf("alloc/small: %v allocs/op, want 1", a)
	}
	if b := *large.BytesPerOp; b < 1<<20 || b > 1.1*(1<<20) {
		t.Errorf("alloc/large: %v B/op, want about 1MiB", b)
	}
	if res.Benchmarks[7].AllocsPerOp == nil || *res.Benchmarks[8].AllocsPerOp < 20 {
		t.Errorf("json decode allocates per item: %v", *res.Benchmarks[8].AllocsPerOp)
	}
}

func TestFilterAndInterrupt(t *testing.T) {
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()))
	o := system.Options{Quick: true, Duration: 20 * time.Millisecond, HeapSizes: []int64{1, 2}, Filter: func(n string) bool {
		return strings.HasPrefix(n, "gc/") || n == "json/encode"
	}}
	if got := system.Names(o); !slices.Equal(got, []string{"gc/live-heap-64KiB", "json/encode"}) {
		t.Errorf("names %v", got)
	}
	if err := system.Run(context.Background(), r, o); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Results().Benchmarks); n != 2 {
		t.Errorf("%d results", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r2 := bench.NewRunner(bench.WithOutputDir(t.TempDir()))
	err := system.Run(ctx, r2, system.Options{Quick: true})
	if !errors.Is(err, context.Canceled) || len(r2.Results().Benchmarks) != 0 {
		t.Errorf("cancelled: %v, %d results", err, len(r2.Results().Benchmarks))
	}
	if err := system.Run(context.Background(), nil, o); err == nil {
		t.Error("nil runner accepted")
	}
}

func TestInterruptDuringBenchmark(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()), bench.WithProgress(func(p bench.Progress) {
		if p.Phase == bench.PhaseMeasure && p.Samples >= 3 {
			cancel()
		}
	}))
	err := system.Run(ctx, r, system.Options{Duration: 2 * time.Second, Filter: func(n string) bool { return n == "sched/latency/loaded" }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	res := r.Results()
	if !res.Partial || len(res.Benchmarks) != 1 || !strings.HasPrefix(res.Benchmarks[0].Error, "interrupted") || res.Benchmarks[0].Stats.N == 0 {
		t.Errorf("partial %v benchmarks %+v", res.Partial, res.Benchmarks)
	}
}
