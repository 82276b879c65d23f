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
		bench.Options{WarmupRuns: 2, MeasurementRuns: 50, MinDuration: -1, SampleTime: 10 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	// Calibration: a cold call, n=1 (100ns), then n = 1*10µs/100ns*1.2 =
	// 120 capped at 100 times growth, whose 10µs sample is long enough.
	if got := res.Labels["ops_per_sample"]; got != "100" {
		t.Errorf("ops_per_sample = %s, want 100", got)
	}
	if res.Stats.N != 50 || len(res.Samples) != 50 || res.Iterations != 50*100 {
		t.Errorf("N=%d samples=%d iterations=%d, want 50, 50, 5000", res.Stats.N, len(res.Samples), res.Iterations)
	}
	for i, v := range res.Samples {
		if v != 100 {
			t.Fatalf("sample %d = %v ns/op, want 100", i, v)
		}
	}
	if res.Stats.Median != 100 || res.Unit != results.UnitNsPerOp || res.Kind != results.KindFunc {
		t.Errorf("median %v unit %q kind %q", res.Stats.Median, res.Unit, res.Kind)
	}
	// cold + n=1 + 100 (calibration) + 2*100 (warm-up) + 50*100.
	if want := 1 + 1 + 100 + 2*100 + 50*100; calls != want {
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
	if res.Labels["ops_per_sample"] != "1" || res.Iterations != 10 || res.Stats.Median != 3e6 {
		t.Errorf("ops_per_sample %s iterations %d median %v", res.Labels["ops_per_sample"], res.Iterations, res.Stats.Median)
	}
}

func TestRunMinDurationAndRunsBothNeeded(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var calls int
	// Each sample is 100 ops * 100ns = 10µs; 1ms needs 100 samples.
	res, err := r.Run(context.Background(), "min-duration", "", costly(clk, &calls),
		bench.Options{WarmupRuns: -1, MeasurementRuns: 10, MinDuration: time.Millisecond, SampleTime: 10 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.N != 100 {
		t.Errorf("samples = %d, want 100 (MinDuration decides)", res.Stats.N)
	}
	res, err = r.Run(context.Background(), "runs", "", costly(clk, &calls),
		bench.Options{WarmupRuns: -1, MeasurementRuns: 200, MinDuration: time.Millisecond, SampleTime: 10 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.N != 200 {
		t.Errorf("samples = %d, want 200 (MeasurementRuns decides)", res.Stats.N)
	}
}

func TestRunStopsAtMaxDurationWithWarning(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	res, err := r.Run(context.Background(), "capped", "", func(context.Context) error {
		clk.advance(time.Millisecond)
		return nil
	}, bench.Options{WarmupRuns: 5, MeasurementRuns: 1000, MinDuration: -1, MaxDuration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 1 cold + 1 calibration + 5 warm-up = 7ms, then 43 samples.
	if res.Stats.N != 43 {
		t.Errorf("samples = %d, want 43", res.Stats.N)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "MaxDuration 50ms reached during measure after 43 samples") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

func TestRunMaxSamples(t *testing.T) {
	clk := newFakeClock()
	r := newTestRunner(t, clk)
	var calls int
	res, _ := r.Run(context.Background(), "bounded", "", costly(clk, &calls),
		bench.Options{WarmupRuns: -1, MinDuration: time.Hour, MaxDuration: -1, BatchSize: 1, MaxSamples: 500})
	if res.Stats.N != 500 || !strings.Contains(strings.Join(res.Warnings, ";"), "MaxSamples 500 reached") {
		t.Errorf("N=%d warnings=%q", res.Stats.N, res.Warnings)
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
	// 1 cold + 1 calibration + 2 warm-up, then 15 samples before call 20.
	if res.Error != "database gone" || res.Stats.N != 15 || len(res.Samples) != 15 {
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
	if res.Error != "interrupted: context canceled" || res.Stats.N != 28 {
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
	}, bench.Options{WarmupRuns: 3, MeasurementRuns: 5, MinDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Samples, []float64{4, 5, 6, 7, 8}) || res.Unit != "ns" || res.Iterations != 5 {
		t.Errorf("samples %v unit %q iterations %d", res.Samples, res.Unit, res.Iterations)
	}
	if _, ok := res.Labels["ops_per_sample"]; ok {
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
	if filepath.Base(s1.JSON) != "benchmark-20260301T120000Z.json" || filepath.Base(s1.Benchfmt) != "benchmark-20260301T120000Z.txt" {
		t.Errorf("saved %+v", s1)
	}
	// A second runner in the same second must not overwrite the first.
	r2 := bench.NewRunner(bench.WithClock(clk.now), bench.WithOutputDir(dir))
	s2, err := r2.SaveResults()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(s2.JSON) != "benchmark-20260301T120000Z_0002.json" {
		t.Errorf("second save %s", s2.JSON)
	}
	names := []string{filepath.Base(s2.JSON), filepath.Base(s1.JSON)}
	slices.Sort(names)
	if names[0] != filepath.Base(s1.JSON) {
		t.Errorf("suffixed name sorts before the first: %v", names)
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
	if err != nil || filepath.Base(path) != "report-20260301T120000Z.html" {
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
		WarmupRuns: 3, MeasurementRuns: 10, MinDuration: -1, BatchSize: 50, Bytes: 1000,
		Observers: []bench.Observer{ob, broken},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"MB/s":           1000 / 100e-9 / 1e6, // 1000 bytes per 100ns
		"calls-measured": 10 * 50,             // warm-up excluded
	}
	for _, m := range res.Metrics {
		if w, ok := want[m.Unit]; !ok || !near(m.Value, w) {
			t.Errorf("metric %s = %v, want %v", m.Unit, m.Value, w)
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
	if len(got) != 3 || got[0].Value != 1 || got[2].Unit != "extra" {
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
