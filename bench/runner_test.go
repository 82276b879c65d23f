package bench_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// opCost is what one operation costs on the fake clock.
const opCost = 100 * time.Nanosecond

func newTestRunner(t *testing.T, clk *fakeClock, opts ...bench.Option) *bench.Runner {
	t.Helper()
	base := []bench.Option{bench.WithClock(clk.now), bench.WithOutputDir(t.TempDir()),
		bench.WithEnvironment(results.Environment{GoVersion: "go1.26", GOOS: "linux", GOARCH: "amd64", GOMAXPROCS: 2, NumCPU: 2})}
	return bench.NewRunner(append(base, opts...)...)
}

// costly returns an operation that costs opCost on clk and counts calls.
func costly(clk *fakeClock, calls *int) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		clk.advance(opCost)
		return nil
	}
}

func TestRunBatchesFastOperations(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var calls int
	res, err := r.Run(context.Background(), "fast", "test", costly(clk, &calls),
		bench.Options{WarmupRuns: 2, Rounds: 6, MeasurementRuns: 60, MinDuration: -1, SampleTime: 10 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	// Calibration: a cold call, n=1 (100ns), then n = 1*10µs/100ns*1.2 =
	// 120 capped at 100 times growth, whose 10µs batch is long enough.
	if got := res.Labels["ops_per_batch"]; got != "100" {
		t.Errorf("ops_per_batch = %s, want 100", got)
	}
	// 6 rounds of 60/6 = 10 batches of 100 operations: one sample per round.
	if res.Stats.N != 6 || len(res.Samples) != 6 || res.Iterations != 6*10*100 || res.Labels["rounds"] != "6" {
		t.Errorf("N=%d samples=%d iterations=%d rounds=%s, want 6, 6, 6000, 6", res.Stats.N, len(res.Samples), res.Iterations, res.Labels["rounds"])
	}
	for i, v := range res.Samples {
		if v != 100 {
			t.Fatalf("round %d = %v ns/op, want 100", i, v)
		}
	}
	if res.Stats.Median != 100 || res.Unit != results.UnitNsPerOp || res.Kind != results.KindFunc || res.PerOp != nil {
		t.Errorf("median %v unit %q kind %q per-op %v", res.Stats.Median, res.Unit, res.Kind, res.PerOp)
	}
	// cold + n=1 + 100 (calibration) + 2*100 (warm-up) + 6*10*100.
	if want := 1 + 1 + 100 + 2*100 + 6*10*100; calls != want {
		t.Errorf("calls = %d, want %d", calls, want)
	}
	if len(res.Warnings) != 0 || res.Error != "" {
		t.Errorf("warnings %q error %q", res.Warnings, res.Error)
	}
}

func TestRunSlowOperationsAreNotBatched(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	res, err := r.Run(context.Background(), "slow", "", func(context.Context) error {
		clk.advance(3 * time.Millisecond)
		return nil
	}, bench.Options{WarmupRuns: -1, MeasurementRuns: 10, MinDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Labels["ops_per_batch"] != "1" || res.Iterations != 10 || res.Stats.Median != 3e6 || res.Stats.N != bench.DefaultRounds {
		t.Errorf("ops_per_batch %s iterations %d median %v N %d", res.Labels["ops_per_batch"], res.Iterations, res.Stats.Median, res.Stats.N)
	}
}

func TestRunMinDurationAndRunsBothNeeded(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var calls int
	// Each batch is 100 ops * 100ns = 10µs; 1ms over 10 rounds needs 10
	// batches per round.
	res, err := r.Run(context.Background(), "min-duration", "", costly(clk, &calls),
		bench.Options{WarmupRuns: -1, MeasurementRuns: 10, MinDuration: time.Millisecond, SampleTime: 10 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.N != 10 || res.Iterations != 10*10*100 {
		t.Errorf("rounds = %d iterations %d, want 10 and 10000 (MinDuration decides)", res.Stats.N, res.Iterations)
	}
	res, err = r.Run(context.Background(), "runs", "", costly(clk, &calls),
		bench.Options{WarmupRuns: -1, MeasurementRuns: 200, MinDuration: time.Millisecond, SampleTime: 10 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.N != 10 || res.Iterations != 10*20*100 {
		t.Errorf("rounds = %d iterations %d, want 10 and 20000 (MeasurementRuns decides)", res.Stats.N, res.Iterations)
	}
}

func TestRunStopsAtMaxDurationWithWarning(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	res, err := r.Run(context.Background(), "capped", "", func(context.Context) error {
		clk.advance(time.Millisecond)
		return nil
	}, bench.Options{WarmupRuns: 5, MeasurementRuns: 100, MinDuration: -1, MaxDuration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 1 cold + 1 calibration + 5 warm-up = 7ms, then rounds of 10ms: four
	// whole rounds and a fifth cut at 50ms.
	if res.Stats.N != 5 || res.Iterations != 43 {
		t.Errorf("rounds = %d iterations = %d, want 5 and 43", res.Stats.N, res.Iterations)
	}
	joined := strings.Join(res.Warnings, "\n")
	if !strings.Contains(joined, "MaxDuration 50ms reached during round 5") || !strings.Contains(joined, "5 of 10 rounds measured") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

func TestRunMaxSamplesBoundsPerOperationValues(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	res, err := r.RunSampled(context.Background(), "bounded", "", "ns", func(context.Context) (float64, error) {
		clk.advance(time.Microsecond)
		return 7, nil
	}, bench.Options{WarmupRuns: -1, Rounds: 2, MeasurementRuns: 20, MinDuration: -1, MaxSamples: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.N != 2 || res.Iterations != 20 || res.PerOp == nil || res.PerOp.N != 5 || res.PerOp.P99 != 7 {
		t.Errorf("N=%d iterations=%d per-op %+v", res.Stats.N, res.Iterations, res.PerOp)
	}
	if !strings.Contains(strings.Join(res.Warnings, ";"), "from the first 5 of 20 operations") {
		t.Errorf("warnings=%q", res.Warnings)
	}
}

func TestRunSuiteInterleavesRounds(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var events []string
	spec := func(name string) bench.Spec {
		return bench.Spec{Name: name, N: func(_ context.Context, n int) error {
			clk.advance(time.Duration(n) * time.Millisecond)
			return nil
		}, Setup: func(context.Context) (func(), error) {
			events = append(events, name)
			return func() { events = append(events, "/"+name) }, nil
		}, Options: bench.Options{WarmupRuns: -1, Rounds: 3, MeasurementRuns: 3, MinDuration: -1}}
	}
	specs := []bench.Spec{spec("a"), spec("b"), spec("a"), {Name: "neither"}}
	res, err := r.RunSuite(context.Background(), specs)
	if err == nil || !strings.Contains(err.Error(), `"a": duplicate benchmark name`) || !strings.Contains(err.Error(), `"neither": exactly one of N and Sampled`) {
		t.Errorf("err = %v, want the duplicate and the empty spec named", err)
	}
	// Warm-up (setup once each), then round 1 of each, round 2 of each, ...
	want := []string{"a", "/a", "b", "/b", "a", "/a", "b", "/b", "a", "/a", "b", "/b", "a", "/a", "b", "/b"}
	if !slices.Equal(events, want) {
		t.Errorf("events %v\nwant   %v", events, want)
	}
	if len(res) != 2 || res[0].Name != "a" || res[1].Name != "b" || res[0].Stats.N != 3 || res[0].Stats.Median != 1e6 {
		t.Errorf("results %+v", res)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var calls int
	for _, o := range []bench.Options{{Rounds: -1}, {Rounds: bench.MaxRounds + 1}} {
		if _, err := r.Run(context.Background(), "bad", "", costly(clk, &calls), o); err == nil || !strings.Contains(err.Error(), "rounds") {
			t.Errorf("%+v: err = %v", o, err)
		}
	}
	if calls != 0 || len(r.Results().Benchmarks) != 0 {
		t.Errorf("a rejected benchmark ran: %d calls", calls)
	}
}

func TestRunRecordsFailuresAndGoesOn(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	boom := errors.New("database gone")
	var calls int
	res, err := r.Run(context.Background(), "fails", "db", func(context.Context) error {
		calls++
		clk.advance(time.Millisecond)
		if calls == 20 {
			return boom
		}
		return nil
	}, bench.Options{WarmupRuns: 2, MeasurementRuns: 100, MinDuration: -1})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	// 1 cold + 1 calibration + 2 warm-up, then a round of 10 operations;
	// the second round fails at call 20 and is not kept.
	if res.Error != "database gone" || res.Stats.N != 1 || len(res.Samples) != 1 {
		t.Errorf("error %q N %d", res.Error, res.Stats.N)
	}

	res, err = r.Run(context.Background(), "panics", "", func(context.Context) error {
		clk.advance(time.Millisecond)
		panic("boom")
	}, bench.Options{})
	var pe *bench.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("err = %v, want a PanicError", err)
	}
	if !strings.HasPrefix(res.Error, "panic: boom (at github.com/perfagent/perfagent/bench_test.TestRunRecordsFailuresAndGoesOn") || !strings.Contains(res.Error, "runner_test.go:") {
		t.Errorf("error = %q, want the panic and its location", res.Error)
	}

	if _, err := r.Run(context.Background(), "ok", "", costly(clk, &calls), bench.Options{MeasurementRuns: 5, MinDuration: -1}); err != nil {
		t.Fatal(err)
	}
	all := r.Results()
	var names []string
	for _, b := range all.Benchmarks {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"fails", "panics", "ok"}) || all.Partial {
		t.Errorf("benchmarks %v partial %v", names, all.Partial)
	}
}

func TestRunInterrupted(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls int
	res, err := r.Run(ctx, "interrupted", "", func(context.Context) error {
		calls++
		clk.advance(time.Millisecond)
		if calls == 30 {
			cancel()
		}
		return nil
	}, bench.Options{WarmupRuns: -1, MeasurementRuns: 100, MinDuration: -1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// 1 cold + 1 calibration, two rounds of 10; the third is cut by the
	// cancellation at call 30 and not kept.
	if res.Error != "interrupted: context canceled" || res.Stats.N != 2 {
		t.Errorf("error %q N %d", res.Error, res.Stats.N)
	}
	if !r.Results().Partial {
		t.Error("results not marked partial")
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var calls int
	if _, err := r.Run(context.Background(), "", "", costly(clk, &calls), bench.Options{}); err == nil || !strings.Contains(err.Error(), "empty benchmark name") {
		t.Errorf("empty name: %v", err)
	}
	if _, err := r.Run(context.Background(), "x", "", nil, bench.Options{}); err == nil {
		t.Error("nil function accepted")
	}
	if _, err := r.Run(context.Background(), "x", "", costly(clk, &calls), bench.Options{MeasurementRuns: 3, MinDuration: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(context.Background(), "x", "", costly(clk, &calls), bench.Options{}); err == nil || !strings.Contains(err.Error(), `"x": duplicate benchmark name`) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := r.RunSampled(context.Background(), "y", "", "bad unit", func(context.Context) (float64, error) { return 1, nil }, bench.Options{}); err == nil {
		t.Error("unit with a space accepted")
	}
	if err := r.Add(results.Benchmark{Name: "z", Samples: []float64{1, 2}, Stats: results.Stats{N: 3}}); err == nil || !strings.Contains(err.Error(), "stats.n is 3 but there are 2 samples") {
		t.Errorf("inconsistent Add: %v", err)
	}
}

func TestRunSampled(t *testing.T) {
	clk := newFakeClock()
	var progress []bench.Phase
	r := newTestRunner(t, clk, bench.WithProgress(func(p bench.Progress) {
		if len(progress) == 0 || progress[len(progress)-1] != p.Phase {
			progress = append(progress, p.Phase)
		}
		panic("a progress callback must not crash the runner")
	}))
	i := 0
	res, err := r.RunSampled(context.Background(), "lag", "sched", "ns", func(context.Context) (float64, error) {
		i++
		clk.advance(time.Millisecond)
		return float64(i), nil
	}, bench.Options{WarmupRuns: 3, Rounds: 5, MeasurementRuns: 10, MinDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Rounds of two operations: their means.
	if !slices.Equal(res.Samples, []float64{4.5, 6.5, 8.5, 10.5, 12.5}) || res.Unit != "ns" || res.Iterations != 10 {
		t.Errorf("samples %v unit %q iterations %d", res.Samples, res.Unit, res.Iterations)
	}
	if d := res.PerOp; d == nil || d.N != 10 || d.Max != 13 || d.P50 != 8.5 {
		t.Errorf("per-op %+v, want the 10 operations 4..13", d)
	}
	if _, ok := res.Labels["ops_per_batch"]; ok {
		t.Error("sampled benchmark has a batch size")
	}
	if !slices.Equal(progress, []bench.Phase{bench.PhaseWarmup, bench.PhaseMeasure, bench.PhaseDone}) {
		t.Errorf("phases %v", progress)
	}
}

// TestRunCountsAllocations uses the real clock: allocation counts do not
// depend on timing.
func TestRunCountsAllocations(t *testing.T) {
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()))
	var sink [16]*[64]byte
	res, err := r.RunN(context.Background(), "alloc64", "", func(_ context.Context, n int) error {
		for i := range n {
			sink[i%len(sink)] = new([64]byte)
		}
		return nil
	}, bench.Options{WarmupRuns: 1, MeasurementRuns: 20, MinDuration: 20 * time.Millisecond, BatchSize: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if res.AllocsPerOp == nil || res.BytesPerOp == nil {
		t.Fatal("no allocation figures")
	}
	if a, b := *res.AllocsPerOp, *res.BytesPerOp; a < 0.95 || a > 1.05 || b < 60 || b > 68 {
		t.Errorf("allocs/op %.3f B/op %.1f, want about 1 and 64", a, b)
	}
}

func TestSaveResultsAndReport(t *testing.T) {
	clk := newFakeClock()
	dir := t.TempDir()
	var calls int
	render := func(w io.Writer, res *results.Run, cmp *bench.Comparison) error {
		_, err := fmt.Fprintf(w, "benchmarks=%d comparison=%v", len(res.Benchmarks), cmp != nil)
		return err
	}
	r1 := bench.NewRunner(bench.WithClock(clk.now), bench.WithOutputDir(dir), bench.WithRenderer(render))
	if _, err := r1.Run(context.Background(), "a", "", costly(clk, &calls), bench.Options{MeasurementRuns: 5, MinDuration: -1}); err != nil {
		t.Fatal(err)
	}
	s1, err := r1.SaveResults()
	if err != nil {
		t.Fatal(err)
	}
	stamp := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(s1.JSON), "benchmark-"), ".json")
	if _, ok := results.ParseTimestamp(stamp); !ok || !strings.HasPrefix(stamp, "20260301T120000.") || filepath.Base(s1.Benchfmt) != "benchmark-"+stamp+".txt" {
		t.Errorf("saved %+v", s1)
	}
	// A second runner in the same millisecond must not overwrite the first.
	r2 := bench.NewRunner(bench.WithClock(clk.now), bench.WithOutputDir(dir))
	s2, err := r2.SaveResults()
	if err != nil {
		t.Fatal(err)
	}
	if s2.JSON == s1.JSON || !strings.HasPrefix(filepath.Base(s2.JSON), "benchmark-20260301T120000.") {
		t.Errorf("second save %s", s2.JSON)
	}
	names := []string{filepath.Base(s2.JSON), filepath.Base(s1.JSON)}
	slices.Sort(names)
	if names[0] != filepath.Base(s1.JSON) {
		t.Errorf("later name sorts before the first: %v", names)
	}
	// The first runner rewrites its own files.
	if _, err := r1.Run(context.Background(), "b", "", costly(clk, &calls), bench.Options{MeasurementRuns: 5, MinDuration: -1}); err != nil {
		t.Fatal(err)
	}
	s1b, err := r1.SaveResults()
	if err != nil || s1b != s1 {
		t.Fatalf("resave %+v %v, want %+v", s1b, err, s1)
	}
	if latest, err := results.LatestFile(dir); err != nil || latest != s2.JSON {
		t.Errorf("latest %s %v, want %s", latest, err, s2.JSON)
	}
	if _, err := results.LatestFile(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("latest in an empty dir: %v", err)
	}
	got, err := results.ReadFile(s1.JSON)
	if err != nil || len(got.Benchmarks) != 2 {
		t.Fatalf("read back: %v, %v", got, err)
	}
	txt, err := results.ReadFile(s1.Benchfmt)
	if err != nil || len(txt.Benchmarks) != 2 || txt.Benchmarks[1].Name != "b" {
		t.Fatalf("read back text: %+v, %v", txt, err)
	}

	// Report: same timestamp as the results, no baseline yet.
	path, err := r1.GenerateReport()
	if err != nil || filepath.Base(path) != "report-"+stamp+".html" {
		t.Fatalf("report %s %v", path, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "benchmarks=2 comparison=false" {
		t.Errorf("report content %q", b)
	}
	// With a baseline in the directory, the report compares.
	if _, err := results.SaveBaseline(dir, got); err != nil {
		t.Fatal(err)
	}
	if path, err = r1.GenerateReport(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "benchmarks=2 comparison=true" {
		t.Errorf("report content %q", b)
	}
	// A corrupt baseline: report without comparison, error naming the file.
	if err := os.WriteFile(filepath.Join(dir, "baseline.json"), []byte(`{"schema": "perfagent.bench/v1", "benchmarks": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	path, err = r1.GenerateReport()
	if path == "" || err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "baseline.json")) {
		t.Errorf("corrupt baseline: path %q err %v", path, err)
	}
	if _, err := r2.GenerateReport(); !errors.Is(err, bench.ErrNoRenderer) {
		t.Errorf("no renderer: %v", err)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestResultsIsACopy(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var calls int
	if _, err := r.Run(context.Background(), "a", "", costly(clk, &calls), bench.Options{MeasurementRuns: 5, MinDuration: -1}); err != nil {
		t.Fatal(err)
	}
	res := r.Results()
	res.Benchmarks[0].Samples[0] = -1
	res.Benchmarks[0].Labels["x"] = "y"
	again := r.Results()
	if again.Benchmarks[0].Samples[0] == -1 || again.Benchmarks[0].Labels["x"] == "y" {
		t.Error("Results shares memory with the runner")
	}
	if again.Schema != results.Schema || again.Environment.GOMAXPROCS != 2 {
		t.Errorf("schema %q env %+v", again.Schema, again.Environment)
	}
}

// countingObserver reports how many samples were taken between Start and
// Stop, through a counter the operation increments.
type countingObserver struct {
	calls      *int
	start      int
	panicStart bool
}

func (c *countingObserver) Start() {
	if c.panicStart {
		panic("observer broke")
	}
	c.start = *c.calls
}

func (c *countingObserver) Stop() []results.Metric {
	return []results.Metric{{Unit: "calls-measured", Value: float64(*c.calls - c.start)}, {Unit: "bad unit", Value: 1}}
}

func TestBytesObserversAndAddMetrics(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var calls int
	ob := &countingObserver{calls: &calls}
	broken := &countingObserver{calls: &calls, panicStart: true}
	res, err := r.Run(context.Background(), "bytes", "", costly(clk, &calls), bench.Options{
		WarmupRuns: 3, Rounds: 4, MeasurementRuns: 4, MinDuration: -1, BatchSize: 50, Bytes: 1000,
		Observers: []bench.Observer{ob, broken},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"MB/s":           1000 / 100e-9 / 1e6, // 1000 bytes per 100ns
		"calls-measured": 50,                  // per round, warm-up excluded
	}
	for _, m := range res.Metrics {
		if m.Unit == bench.UnitCPUPerOp { // real CPU time beside a fake clock
			if len(m.Samples) != 4 {
				t.Errorf("cpu-ns/op has %d samples", len(m.Samples))
			}
			continue
		}
		if w, ok := want[m.Unit]; !ok || !near(m.Value, w) || len(m.Samples) != 4 {
			t.Errorf("metric %s = %v (%d samples), want %v in 4 rounds", m.Unit, m.Value, len(m.Samples), w)
		}
		delete(want, m.Unit)
	}
	if len(want) != 0 {
		t.Errorf("missing metrics %v", want)
	}
	joined := strings.Join(res.Warnings, "\n")
	if !strings.Contains(joined, "observer start: panic: observer broke") || !strings.Contains(joined, `observer metric dropped: unit "bad unit"`) {
		t.Errorf("warnings %q", res.Warnings)
	}

	if err := r.AddMetrics("bytes", results.Metric{Unit: "MB/s", Value: 1}, results.Metric{Unit: "extra", Value: 2}); err != nil {
		t.Fatal(err)
	}
	got := r.Results().Benchmarks[0].Metrics
	if len(got) != 4 || got[0].Value != 1 || got[3].Unit != "extra" {
		t.Errorf("metrics after AddMetrics %+v", got)
	}
	if err := r.AddMetrics("nope", results.Metric{Unit: "x"}); err == nil {
		t.Error("AddMetrics on a missing benchmark")
	}
}

func TestRunnerConcurrentUse(t *testing.T) {
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()))
	done := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := r.Run(context.Background(), fmt.Sprintf("op-%d", i%2), "", func(context.Context) error { return nil },
				bench.Options{MeasurementRuns: 5, MinDuration: -1, WarmupRuns: -1})
			done <- err
		}()
	}
	var dups int
	for range 4 {
		_ = r.Results()
		if err := <-done; err != nil {
			if !strings.Contains(err.Error(), "duplicate benchmark name") {
				t.Error(err)
			}
			dups++
		}
	}
	if dups != 2 || len(r.Results().Benchmarks) != 2 {
		t.Errorf("%d duplicates, %d results", dups, len(r.Results().Benchmarks))
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestEmitAndRoundsOverride(t *testing.T) {
	t.Setenv(bench.EnvRounds, "3")
	clk := newFakeClock()
	var out strings.Builder
	r := newTestRunner(t, clk, bench.WithEmit(&out))
	var calls int
	if _, err := r.Run(context.Background(), "emitted", "", costly(clk, &calls), bench.Options{Rounds: 10, MeasurementRuns: 3, MinDuration: -1, BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	back, err := results.Read(strings.NewReader(out.String()), "stdout")
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if b := back.Benchmarks; len(b) != 1 || b[0].Name != "emitted" || b[0].Stats.N != 3 || b[0].Stats.Median != 100 {
		t.Errorf("emitted %+v from\n%s", b, out.String())
	}
	t.Setenv(bench.EnvRounds, "0")
	r2 := newTestRunner(t, clk)
	res, _ := r2.Run(context.Background(), "default", "", costly(clk, &calls), bench.Options{MeasurementRuns: 1, MinDuration: -1, BatchSize: 10})
	if res.Stats.N != bench.DefaultRounds {
		t.Errorf("invalid override used: %d rounds", res.Stats.N)
	}
}

func TestConcludeSavesComparesAndRenders(t *testing.T) {
	clk := newFakeClock()
	dir := t.TempDir()
	var calls int
	render := func(w io.Writer, res *results.Run, cmp *bench.Comparison) error {
		_, err := fmt.Fprintf(w, "benchmarks=%d comparison=%v", len(res.Benchmarks), cmp != nil)
		return err
	}
	opts := bench.Options{MeasurementRuns: 10, MinDuration: -1}
	r1 := bench.NewRunner(bench.WithClock(clk.now), bench.WithOutputDir(dir), bench.WithRenderer(render))
	if _, err := r1.Run(context.Background(), "a", "", costly(clk, &calls), opts); err != nil {
		t.Fatal(err)
	}
	out, err := r1.Conclude(false)
	if err != nil || out.Comparison != nil || out.Regressed() || out.Refused() != nil || out.Saved.JSON == "" || out.Report == "" {
		t.Fatalf("first: %+v %v", out, err)
	}
	if _, err := results.SaveBaseline(dir, out.Results); err != nil {
		t.Fatal(err)
	}
	r2 := bench.NewRunner(bench.WithClock(clk.now), bench.WithOutputDir(dir), bench.WithRenderer(render))
	r2.SetQuick(true)
	if _, err := r2.Run(context.Background(), "a", "", costly(clk, &calls), opts); err != nil {
		t.Fatal(err)
	}
	out, err = r2.Conclude(false)
	if err != nil || out.Comparison == nil || len(out.Refused()) != 1 {
		t.Fatalf("second: %+v %v", out, err)
	}
	if html, _ := os.ReadFile(out.Report); string(html) != "benchmarks=1 comparison=true" {
		t.Errorf("report %q", html)
	}
	if out, _ := r2.Conclude(true); out.Comparison != nil {
		t.Error("skipBaseline compared")
	}
	os.WriteFile(filepath.Join(dir, results.BaselineFile), []byte(`{"schema":"perfagent.bench/v1"}`), 0o644)
	r3 := bench.NewRunner(bench.WithClock(clk.now), bench.WithOutputDir(dir))
	if out, _ := r3.Conclude(false); out.BaselineErr == nil || !strings.Contains(out.BaselineErr.Error(), "measure again") {
		t.Errorf("unreadable baseline: %v", out.BaselineErr)
	}
}

func TestRunnerRecordsTheMachineLoad(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat")
	}
	r := bench.NewRunner(bench.WithOutputDir(t.TempDir()))
	// The process's own CPU is not "other work": whatever else runs on the
	// machine, the figure is between 0 and the machine's CPUs.
	_, err := r.RunN(context.Background(), "spin", "test", func(_ context.Context, n int) error {
		x := 0
		for i := range n * 1000 {
			x += i
		}
		_ = x
		return nil
	}, bench.Options{Rounds: 2, MinDuration: 1200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := r.Results().Machine
	if m == nil || m.Seconds < 1 || m.OtherCPU < 0 || m.OtherCPU > float64(runtime.NumCPU()) {
		t.Fatalf("machine load %+v", m)
	}
}
