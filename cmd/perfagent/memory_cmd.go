package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/leak"
	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

// memoryOptions are the flags of the memory suite.
type memoryOptions struct {
	command []string // a Go benchmark command after --
	root    string   // the output root (set by the bench command)
}

// Units of the memory suite's metrics (bytes, bytes per second).
const (
	unitHeapPeak     = "heap-peak-bytes"
	unitHeapRetained = "heap-retained-bytes"
	unitHeapGrowth   = "heap-growth-bytes/s"
	unitRSSPeakProc  = "process-rss-peak-bytes"
)

// runMemorySuite profiles a workload's memory: without a command, the demo
// target under the default API scenario, in process, sampled by leak's
// memory profiler; with `-- go test ...`, that Go benchmark with -benchmem
// and a heap profile.
func runMemorySuite(ctx context.Context, e *env, r *bench.Runner, o *benchOptions) error {
	dir := memoryDir(o.memory.root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if len(o.memory.command) > 0 {
		return runMemoryCommand(ctx, e, r, dir, o.memory.command)
	}
	return runMemoryDemo(ctx, e, r, dir, o.quick)
}

func runMemoryDemo(ctx context.Context, e *env, r *bench.Runner, dir string, quick bool) error {
	srv, _, stop, err := startDemo(ctx, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return fmt.Errorf("starting the demo target: %w", err)
	}
	defer stop()
	d := 10 * time.Second
	if quick {
		d = 2 * time.Second
	}
	sp := newSpinner(e, "memory")
	defer sp.done()
	sp.describe("memory: profiling the demo workload")
	_, p, err := leak.ProfileFunction(ctx, func(ctx context.Context) (*load.Report, error) {
		return load.Run(ctx, load.DefaultScenario(srv.URL()), load.Options{Load: load.Load{Duration: d, Concurrency: 4}})
	}, leak.ProfileOptions{Name: "demo workload", Interval: 20 * time.Millisecond, GC: true})
	sp.done()
	if p == nil {
		return err
	}
	res, files, werr := memoryResult("memory/demo-workload", dir, p)
	if err != nil {
		res.Error = err.Error()
	}
	fmt.Fprintf(e.stdout, "memory: peak heap %s, retained %s, growth %s/s (%s); files: %s\n",
		report.FormatBytes(float64(p.PeakHeapInUse)), report.FormatBytes(float64(p.Retained)), report.FormatBytes(p.GrowthRate), p.Leak.Reason, strings.Join(files, ", "))
	return errors.Join(err, werr, r.Add(res))
}

// memoryResult turns a memory profile into a bench result and writes the
// memory files: memory-profile-<ts>.json, memory-chart-<ts>.csv and .svg,
// and a heap-<ts>.pb.gz of the heap as it is now.
func memoryResult(name, dir string, p *leak.MemoryProfile) (results.Benchmark, []string, error) {
	samples := make([]float64, 0, len(p.Samples))
	for _, s := range p.Samples {
		samples = append(samples, float64(s.HeapInUse))
	}
	res := results.Benchmark{Name: name, Category: "memory", Kind: results.KindMemory, Unit: "B", Iterations: int64(len(samples)),
		Samples: samples, Labels: map[string]string{"growth_basis": p.GrowthBasis, "leak": p.Leak.Reason},
		Metrics: []results.Metric{
			{Unit: unitHeapPeak, Value: float64(p.PeakHeapInUse)},
			{Unit: unitHeapRetained, Value: float64(p.Retained)},
			{Unit: unitHeapGrowth, Value: p.GrowthRate},
			{Unit: unitRSSPeakProc, Value: float64(p.PeakRSS)},
		}}
	res.Stats, res.Warnings = results.Summarize(samples)
	if p.Leak.Suspected {
		res.Warnings = append(res.Warnings, "leak suspected: "+p.Leak.Reason)
	}
	var files []string
	var errs []error
	if path, err := leak.SaveProfile(dir, p); err == nil {
		files = append(files, path)
	} else {
		errs = append(errs, err)
	}
	if csv, svg, err := leak.WriteChart(dir, p); err == nil {
		files = append(files, csv, svg)
	} else {
		errs = append(errs, err)
	}
	if path, err := leak.TakeHeapSnapshot(dir); err == nil {
		files = append(files, path)
	} else {
		errs = append(errs, err)
	}
	for i, f := range files {
		res.Labels[fmt.Sprintf("file%d", i+1)] = f
	}
	return res, files, errors.Join(errs...)
}

// runMemoryCommand runs a Go benchmark command (`go test -bench ...`) with
// -benchmem and -memprofile added, imports its results (B/op, allocs/op)
// and keeps its heap profile in the memory directory.
func runMemoryCommand(ctx context.Context, e *env, r *bench.Runner, dir string, argv []string) error {
	if len(argv) < 2 || filepath.Base(argv[0]) != "go" || argv[1] != "test" {
		return fmt.Errorf("the memory suite runs Go benchmarks: give `-- go test -run '^$' -bench PATTERN PACKAGE`, not %q", strings.Join(argv, " "))
	}
	args := slices.Clone(argv[1:])
	has := func(flag string) bool {
		return slices.ContainsFunc(args, func(a string) bool { return a == flag || strings.HasPrefix(a, flag+"=") })
	}
	if !has("-benchmem") {
		args = append(args, "-benchmem")
	}
	heap := ""
	if !has("-memprofile") {
		heap = uniquePath(dir, "heap-"+results.Timestamp(time.Now()), ".pb.gz")
		abs, err := filepath.Abs(heap)
		if err != nil {
			return err
		}
		heap = abs
		args = append(args, "-memprofile", heap)
	}
	if !has("-o") {
		// With -memprofile, go test leaves the test binary in the current
		// directory; build it where it is removed afterwards instead (the
		// heap profile carries its symbols).
		tmp, err := os.MkdirTemp("", "perfagent-bench-memory-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		args = append(args, "-o", filepath.Join(tmp, "bench.test"))
	}
	cmd := exec.CommandContext(ctx, argv[0], args...)
	var out bytes.Buffer
	shown := &lockedWriter{w: e.stderr} // the command's stdout and stderr are copied by two goroutines
	cmd.Stdout = io.MultiWriter(&out, shown)
	cmd.Stderr = shown
	runErr := cmd.Run()
	res, perr := results.Read(bytes.NewReader(out.Bytes()), "go test output")
	var errs []error
	if runErr != nil {
		errs = append(errs, fmt.Errorf("%s: %w", strings.Join(argv, " "), runErr))
	}
	if perr != nil || len(res.Benchmarks) == 0 {
		errs = append(errs, fmt.Errorf("no benchmark results in the output of %s (does -bench match a benchmark?)", strings.Join(argv, " ")))
		return errors.Join(errs...)
	}
	for _, b := range res.Benchmarks {
		if b.Category == "" {
			b.Category = "memory"
		}
		if heap != "" {
			if b.Labels == nil {
				b.Labels = map[string]string{}
			}
			b.Labels["heap_profile"] = heap
		}
		errs = append(errs, r.Add(b))
	}
	if heap != "" {
		if _, err := os.Stat(heap); err == nil {
			fmt.Fprintf(e.stdout, "memory: heap profile %s (go tool pprof -sample_index=alloc_space %s)\n", heap, heap)
		}
	}
	return errors.Join(errs...)
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
