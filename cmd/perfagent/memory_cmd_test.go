package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/internal/demo"
	"github.com/perfagent/perfagent/leak"
	"github.com/perfagent/perfagent/results"
)

// memoryCalibrationEnv set to a count K runs each memory-suite calibration
// workload K times (default 1) and logs how often a leak was suspected:
//
//	PERFAGENT_MEMORY_CALIBRATION=10 go test -run 'Memory(NoLeak|Leak)Calibration' -v ./cmd/perfagent/
//
// PERFAGENT_MEMORY_LEAK_EVERY sets the leaky target's requests per 64 KiB
// kept (default 100).
const memoryCalibrationEnv = "PERFAGENT_MEMORY_CALIBRATION"

func calibrationRuns(t *testing.T) int {
	t.Helper()
	v := os.Getenv(memoryCalibrationEnv)
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive count", memoryCalibrationEnv, v)
	}
	return n
}

// memoryResultOf returns the memory suite's result in r.
func memoryResultOf(t *testing.T, r *bench.Runner, name string) results.Benchmark {
	t.Helper()
	for _, b := range r.Results().Benchmarks {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no result %q in %+v", name, r.Results().Benchmarks)
	return results.Benchmark{}
}

func metricOf(b results.Benchmark, unit string) (results.Metric, bool) {
	for _, m := range b.Metrics {
		if m.Unit == unit {
			return m, true
		}
	}
	return results.Metric{}, false
}

//go:noinline
func allocatedBeforeTheSuite() [][]byte {
	var b [][]byte
	for range 16 {
		b = append(b, make([]byte, 1<<20))
	}
	return b
}

// TestBenchMemoryRounds: the demo workload in rounds is no leak; the
// result carries the retained heap per round, the verdict and its rule, and
// the peak RSS under the unit the memory-peak budget reads; the heap
// profile is the workload's alone and go tool pprof opens it.
func TestBenchMemoryRounds(t *testing.T) {
	earlier := allocatedBeforeTheSuite()
	root := t.TempDir()
	code, out, errb := cli(t, map[string]string{"PERFAGENT_OUTPUT_DIR": root}, "bench", "memory", "--quick", "--no-baseline", "--json")
	runtime.KeepAlive(earlier)
	if code != exitOK {
		t.Fatalf("bench memory: %d\n%s\n%s", code, out, errb)
	}
	var doc struct {
		Results *results.Run `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json stdout is not one JSON document: %v\n%s", err, out)
	}
	for _, want := range []string{"retained after warm-up", "memory: rule: round 0 is the warm-up", "no leak:"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
	if got := doc.Results.Parameters["memory.rounds"]; got != strconv.Itoa(memoryQuickRounds) || !doc.Results.Quick {
		t.Errorf("memory.rounds parameter %q, quick %v", got, doc.Results.Quick)
	}
	if len(doc.Results.Benchmarks) != 1 {
		t.Fatalf("benchmarks %+v", doc.Results.Benchmarks)
	}
	b := doc.Results.Benchmarks[0]
	if len(b.Samples) != memoryQuickRounds || b.Labels["leak_suspected"] != "false" || !strings.Contains(b.Labels["leak_rule"], "1/R!") {
		t.Errorf("result %+v", b)
	}
	if m, ok := metricOf(b, unitHeapRetained); !ok || len(m.Samples) != memoryQuickRounds {
		t.Errorf("%s: %+v", unitHeapRetained, m)
	}
	for _, unit := range []string{unitHeapPeak, unitHeapGrowth} {
		if _, ok := metricOf(b, unit); !ok {
			t.Errorf("no %s metric", unit)
		}
	}
	// The memory-peak budget measures the suite's peak RSS.
	v := budget.Evaluate(budget.Default(), doc.Results)
	measured := false
	for _, c := range v.Checks {
		if c.Metric == "memory-peak" && c.Subject == b.Name && c.Status != budget.NotMeasured {
			measured = true
		}
	}
	if !measured {
		t.Errorf("memory-peak budget not measured by the memory suite: %+v", v.Checks)
	}

	// The memory profile file carries the rounds and the verdict.
	if m, _ := filepath.Glob(filepath.Join(root, "memory", "memory-profile-*.json")); len(m) != 1 {
		t.Errorf("memory profiles %v", m)
	} else if f, err := os.Open(m[0]); err != nil {
		t.Error(err)
	} else {
		p, err := leak.ReadMemoryProfile(f, m[0])
		f.Close()
		if err != nil || p.Rounds == nil || len(p.Rounds.Rounds) != memoryQuickRounds || p.Rounds.Verdict.Rule == "" || p.Leak.Reason != p.Rounds.Verdict.Reason {
			t.Errorf("memory profile: %v %+v", err, p)
		}
	}

	heap := b.Labels["heap_profile"]
	if m, _ := filepath.Glob(filepath.Join(root, "memory", "heap-*.pb.gz")); len(m) != 1 || m[0] != heap {
		t.Fatalf("heap profiles %v, label %q", m, heap)
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-sample_index=alloc_space", heap).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -top %s: %v\n%s", heap, err, top)
	}
	if strings.Contains(string(top), "allocatedBeforeTheSuite") {
		t.Errorf("the heap profile holds an allocation made before the workload:\n%s", top)
	}
	if !strings.Contains(string(top), "perfagent/internal/demo.") || !strings.Contains(string(top), "perfagent/load.") {
		t.Errorf("the heap profile lacks the workload's allocations (demo and load):\n%s", top)
	}

	if code, _, errb := cli(t, nil, "bench", "memory", "--memory-rounds", "2"); code != exitUsage || !strings.Contains(errb, "--memory-rounds") {
		t.Errorf("--memory-rounds 2: %d %s", code, errb)
	}
}

// leakyTarget serves the demo's routes and keeps 64 KiB more every
// `every` requests, for good.
type leakyTarget struct {
	h     http.Handler
	every int64

	mu   sync.Mutex
	n    int64
	kept [][]byte
}

func (l *leakyTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.n++
	if l.n%l.every == 0 {
		l.kept = append(l.kept, make([]byte, 64<<10))
	}
	l.mu.Unlock()
	l.h.ServeHTTP(w, r)
}

// startLeaky serves a leakyTarget on a loopback port until stop (or the
// end of the test), which frees what it kept.
func startLeaky(t *testing.T, every int64) (url string, stop func()) {
	t.Helper()
	h, err := demo.NewHandler(demo.Options{MaxTokens: memoryDemoTokens})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lt := &leakyTarget{h: h, every: every}
	srv := &http.Server{Handler: lt, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			<-done
			// t.Cleanup holds stop, and so lt, until the test ends: free
			// the leak and the demo's state now.
			lt.mu.Lock()
			lt.kept, lt.h = nil, nil
			lt.mu.Unlock()
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// memoryCalibrationFullEnv set to 1 makes the calibration tests use the
// full suite's rounds and round length instead of --quick's.
const memoryCalibrationFullEnv = "PERFAGENT_MEMORY_CALIBRATION_FULL"

// calibrationShape returns the rounds and the round length of the
// calibration runs.
func calibrationShape() (int, time.Duration) {
	if os.Getenv(memoryCalibrationFullEnv) == "1" {
		return memoryRounds, memoryRoundLen
	}
	return memoryQuickRounds, memoryQuickRoundLen
}

// runMemoryOnce runs the memory suite's rounds on round and returns its
// result.
func runMemoryOnce(t *testing.T, name string, round func(context.Context, int) error) results.Benchmark {
	t.Helper()
	dir := t.TempDir()
	var out bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	r := bench.NewRunner(bench.WithOutputDir(dir))
	rounds, _ := calibrationShape()
	if err := runMemoryRounds(e.ctx, e, r, dir, name, rounds, round); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return memoryResultOf(t, r, name)
}

// TestMemoryLeakCalibration: a target that keeps 64 KiB every 100
// requests, under the memory suite's quick workload, is reported as a leak.
func TestMemoryLeakCalibration(t *testing.T) {
	runs := calibrationRuns(t)
	every := int64(100)
	if v := os.Getenv("PERFAGENT_MEMORY_LEAK_EVERY"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			t.Fatalf("PERFAGENT_MEMORY_LEAK_EVERY=%q", v)
		}
		every = n
	}
	_, roundLen := calibrationShape()
	detected := 0
	for i := range runs {
		base, stop := startLeaky(t, every)
		b := runMemoryOnce(t, "memory/leaky-"+strconv.Itoa(i), loadRound(base, roundLen))
		stop() // the next run starts from a heap without this leak
		if b.Labels["leak_suspected"] == "true" {
			detected++
			if len(b.Warnings) == 0 || !strings.HasPrefix(b.Warnings[len(b.Warnings)-1], "leak suspected:") {
				t.Errorf("warnings %q", b.Warnings)
			}
		}
		t.Logf("leak every %d requests, run %d: %s", every, i+1, b.Labels["leak"])
	}
	t.Logf("leak of 64 KiB per %d requests: detected in %d of %d runs", every, detected, runs)
	if miss := runs - detected; miss > runs/10 {
		t.Errorf("leak detected in %d of %d runs", detected, runs)
	}
}

// TestMemoryNoLeakCalibration: the demo workload (bounded caches, warm-up
// in round 0) is not reported as a leak.
func TestMemoryNoLeakCalibration(t *testing.T) {
	runs := calibrationRuns(t)
	_, roundLen := calibrationShape()
	suspected := 0
	for i := range runs {
		srv, _, stop, err := startDemoWith(context.Background(), demo.Options{MaxTokens: memoryDemoTokens}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		b := runMemoryOnce(t, "memory/demo-"+strconv.Itoa(i), loadRound(srv.URL(), roundLen))
		stop()
		if b.Labels["leak_suspected"] == "true" {
			suspected++
		}
		t.Logf("demo, run %d: %s", i+1, b.Labels["leak"])
	}
	t.Logf("demo workload: leak suspected in %d of %d runs", suspected, runs)
	if suspected > runs/10 {
		t.Errorf("leak suspected in %d of %d runs of a workload without a leak", suspected, runs)
	}
}
