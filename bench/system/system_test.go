package system_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/bench/system"
	"github.com/perfagent/perfagent/results"
)

// roundEnv makes this test binary act as a round process of
// [system.RunIsolated] ("1"), or as a broken one ("garbage").
const roundEnv = "PERFAGENT_TEST_SYSTEM_ROUND"

func TestMain(m *testing.M) {
	switch os.Getenv(roundEnv) {
	case "1":
		if err := system.RunRound(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	case "garbage":
		fmt.Println("not json")
		fmt.Fprintln(os.Stderr, "child: something went wrong")
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}

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

// roundProcess starts this test binary as a round process in mode.
func roundProcess(mode string) system.Command {
	return func(ctx context.Context) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), roundEnv+"="+mode, bench.EnvRounds+"=7")
		return cmd, nil
	}
}

// TestRunIsolated runs the quick suite with every round in a new process
// (this test binary) and checks that the merged results are those of the
// in-process suite: every benchmark, one sample per round process, the
// per-operation distributions and the scheduler-lag metric.
func TestRunIsolated(t *testing.T) {
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()), bench.WithSuite("system"))
	o := system.Options{Quick: true, Duration: 90 * time.Millisecond, Rounds: 3,
		Filter: func(n string) bool { return n != "gc/live-heap-4MiB" }}
	if err := system.RunIsolated(context.Background(), r, o, roundProcess("1")); err != nil {
		t.Fatal(err)
	}
	res := r.Results()
	if got, want := len(res.Benchmarks), len(system.Names(o)); got != want || !res.Quick || res.Partial {
		t.Fatalf("%d benchmarks (want %d), quick %v partial %v", got, want, res.Quick, res.Partial)
	}
	if res.Parameters[system.ParamIsolation] != "process" || res.Parameters["system.rounds"] != "3" {
		t.Errorf("parameters %v", res.Parameters)
	}
	for _, b := range res.Benchmarks {
		// Three rounds although the children's environment asks for 7: a
		// round process measures one round.
		if b.Error != "" || len(b.Samples) != 3 || b.Stats.N != 3 || b.Iterations <= 0 {
			t.Errorf("%s: error %q samples %v iterations %d", b.Name, b.Error, b.Samples, b.Iterations)
		}
		if strings.HasPrefix(b.Name, "sched/") && (b.PerOp == nil || b.PerOp.N < 3) {
			t.Errorf("%s: per-operation distribution %+v", b.Name, b.PerOp)
		}
	}
	if _, ok := metric(res.Benchmarks[0], results.UnitSchedLagP99); !ok {
		t.Error("sched/latency/idle has no scheduler-lag metric")
	}
}

// TestRunIsolatedBrokenChild checks that a round process that prints
// something else than its result fails the round with what it said.
func TestRunIsolatedBrokenChild(t *testing.T) {
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()))
	o := system.Options{Quick: true, Rounds: 2, Filter: func(n string) bool { return n == "json/encode" }}
	err := system.RunIsolated(context.Background(), r, o, roundProcess("garbage"))
	if err == nil || !strings.Contains(err.Error(), "unreadable result") || !strings.Contains(err.Error(), "child: something went wrong") {
		t.Fatalf("error %v", err)
	}
	b := r.Results().Benchmarks
	if len(b) != 1 || b[0].Error == "" {
		t.Fatalf("results %+v", b)
	}
}

func TestRunRoundRejectsBadRequest(t *testing.T) {
	var out strings.Builder
	err := system.RunRound(context.Background(), strings.NewReader(`{"schema":"perfagent.system-round-request/v9"}`), &out)
	if err == nil || !strings.Contains(err.Error(), "v9") || out.Len() != 0 {
		t.Fatalf("err %v, out %q", err, out.String())
	}
}
