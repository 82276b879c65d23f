package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/internal/demo"
	"github.com/perfagent/perfagent/leak"
	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

// memoryOptions are the flags of the memory suite.
type memoryOptions struct {
	command []string // a Go benchmark command after --
	root    string   // the output root (set by the bench command)
	roundsF textFlag // --memory-rounds as given
	rounds  int      // resolved by validate
}

// Rounds of the memory suite's demo workload, and the length of each.
const (
	memoryRounds        = leak.DefaultRounds
	memoryQuickRounds   = 4
	memoryRoundLen      = 2 * time.Second
	memoryQuickRoundLen = 500 * time.Millisecond
	memoryDemoTokens    = 500
)

func (o *memoryOptions) flags(fs *flag.FlagSet) {
	fs.Var(&o.roundsF, "memory-rounds", fmt.Sprintf("memory: rounds of the workload, the first a warm-up; %d to %d (default %d, %d with --quick)",
		leak.MinRounds, leak.MaxRounds, memoryRounds, memoryQuickRounds))
}

// validate resolves the rounds; its error names the flag.
func (o *memoryOptions) validate(quick bool) error {
	o.rounds = memoryRounds
	if quick {
		o.rounds = memoryQuickRounds
	}
	if !o.roundsF.set {
		return nil
	}
	n, err := parseIntFlag(o.roundsF, "memory-rounds", leak.MinRounds, leak.MaxRounds)
	if err != nil {
		return err
	}
	o.rounds = int(n)
	return nil
}

// Units of the memory suite's metrics (bytes, bytes per second). The peak
// RSS is the unit the memory-peak budget reads.
const (
	unitHeapPeak     = "heap-peak-bytes"
	unitHeapRetained = "heap-retained-bytes"
	unitHeapGrowth   = "heap-growth-bytes/s"
)

// runMemorySuite profiles a workload's memory: without a command, the demo
// target under the default API scenario, in process, in rounds (see
// runMemoryRounds); with `-- go test ...`, that Go benchmark with -benchmem
// and a heap profile.
func runMemorySuite(ctx context.Context, e *env, r *bench.Runner, o *benchOptions) error {
	dir := memoryDir(o.memory.root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if len(o.memory.command) > 0 {
		return runMemoryCommand(ctx, e, r, dir, o.memory.command)
	}
	if o.memory.rounds == 0 {
		if err := o.memory.validate(o.quick); err != nil {
			return err
		}
	}
	// Note: the demo keeps every login's token in a store bounded at
	// demo.DefaultMaxTokens (100,000), which this load fills over about a
	// minute on a 2-core machine: longer than the run, so its growth would
	// be (rightly) reported as growth. Bounded at memoryDemoTokens, the
	// store fills in the warm-up round and later rounds see its steady
	// state, which is what the suite judges.
	srv, _, stop, err := startDemoWith(ctx, demo.Options{MaxTokens: memoryDemoTokens}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return fmt.Errorf("starting the demo target: %w", err)
	}
	defer stop()
	d := memoryRoundLen
	if o.quick {
		d = memoryQuickRoundLen
	}
	r.SetParameters(map[string]string{
		"memory.rounds":         strconv.Itoa(o.memory.rounds),
		"memory.round_duration": d.String(),
		"memory.demo_tokens":    strconv.Itoa(memoryDemoTokens),
	})
	return runMemoryRounds(ctx, e, r, dir, "memory/demo-workload", o.memory.rounds, loadRound(srv.URL(), d))
}

// loadRound returns a round of the default API scenario against base for
// d (twice that for the warm-up round 0, so what fills once fills there)
// with four virtual users; a round in which nothing answered fails.
func loadRound(base string, d time.Duration) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		rd := d
		if i == 0 {
			rd = 2 * d
		}
		rep, err := load.Run(ctx, load.DefaultScenario(base), load.Options{Load: load.Load{Duration: rd, Concurrency: 4}})
		if err != nil {
			return err
		}
		if rep.Total.Requests == 0 || rep.Total.Errors == rep.Total.Requests {
			return fmt.Errorf("the workload against %s: %d requests, %d failed", base, rep.Total.Requests, rep.Total.Errors)
		}
		return nil
	}
}

// runMemoryRounds runs round rounds times in process under leak's
// ProfileRounds (round 0 is the warm-up; a leak is suspected only when the
// live heap after GC keeps rising in the later rounds), adds the result to
// r and writes the memory files: memory-profile-<ts>.json,
// memory-chart-<ts>.csv and .svg, and heap-<ts>.pb.gz, the heap profile of
// the workload alone (a diff against a profile taken just before it).
func runMemoryRounds(ctx context.Context, e *env, r *bench.Runner, dir, name string, rounds int, round func(context.Context, int) error) error {
	sp := newSpinner(e, "memory")
	defer sp.done()
	sp.describe(fmt.Sprintf("%s: %d rounds", name, rounds))
	p, heap, err := leak.ProfileRounds(ctx, round, leak.RoundsOptions{Name: name, Rounds: rounds, Interval: 20 * time.Millisecond})
	sp.done()
	if p == nil {
		return err
	}
	res, files, werr := memoryResult(name, dir, p, heap)
	if err != nil {
		res.Error = err.Error()
	}
	printMemory(e.stdout, p, files)
	return errors.Join(err, werr, r.Add(res))
}

// printMemory prints the rounds, the verdict and the rule.
func printMemory(w io.Writer, p *leak.MemoryProfile, files []string) {
	rs := p.Rounds
	var per []string
	for _, rd := range rs.Rounds[min(1, len(rs.Rounds)):] {
		per = append(per, signedBytes(rd.Growth))
	}
	fmt.Fprintf(w, "memory: %d rounds; live heap %s before, retained after warm-up %s, then per round %s; peak heap %s, peak RSS %s\n",
		len(rs.Rounds), report.FormatBytes(float64(rs.BaselineHeapLive)), signedBytes(rs.Verdict.WarmUpRetained), strings.Join(per, " "),
		report.FormatBytes(float64(p.PeakHeapInUse)), report.FormatBytes(float64(p.PeakRSS)))
	fmt.Fprintf(w, "memory: %s\nmemory: rule: %s\nmemory: files: %s\n", rs.Verdict.Reason, rs.Verdict.Rule, strings.Join(files, ", "))
}

// signedBytes formats a byte difference with its sign.
func signedBytes(n int64) string {
	if n < 0 {
		return "-" + report.FormatBytes(float64(-n))
	}
	return "+" + report.FormatBytes(float64(n))
}

// memoryResult turns a rounds profile into a bench result and writes the
// memory files. Its samples are the rounds' peak heap in use; the
// heap-retained-bytes metric has one sample per round (the live heap after
// GC minus the baseline); peak heap, growth rate and peak RSS are measured
// once (budgets apply to them, comparisons do not gate them).
func memoryResult(name, dir string, p *leak.MemoryProfile, heap *profile.Profile) (results.Benchmark, []string, error) {
	rs := p.Rounds
	peaks := make([]float64, 0, len(rs.Rounds))
	retained := make([]float64, 0, len(rs.Rounds))
	for _, rd := range rs.Rounds {
		peaks = append(peaks, float64(rd.PeakHeapInUse))
		retained = append(retained, float64(rd.Retained))
	}
	v := rs.Verdict
	res := results.Benchmark{Name: name, Category: "memory", Kind: results.KindMemory, Unit: "B", Iterations: int64(len(peaks)),
		Samples: peaks,
		Labels: map[string]string{
			"growth_basis":          p.GrowthBasis,
			"leak":                  p.Leak.Reason,
			"leak_suspected":        strconv.FormatBool(v.Suspected),
			"leak_rule":             v.Rule,
			"warm_up_retained":      strconv.FormatInt(v.WarmUpRetained, 10),
			"growth_after_warm_up":  strconv.FormatInt(v.Growth, 10),
			"baseline_heap_live":    strconv.FormatUint(rs.BaselineHeapLive, 10),
			"heap_profile_contents": "the workload's allocations alone (diff against a heap profile taken just before it)",
		},
		Metrics: []results.Metric{
			{Unit: unitHeapPeak, Value: float64(p.PeakHeapInUse)},
			{Unit: unitHeapRetained, Value: float64(p.Retained), Samples: retained},
			{Unit: unitHeapGrowth, Value: p.GrowthRate},
			{Unit: results.UnitRSSPeak, Value: float64(p.PeakRSS)},
		}}
	res.Stats, res.Warnings = results.Summarize(peaks)
	if v.Suspected {
		res.Warnings = append(res.Warnings, v.Reason)
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
	if heap != nil {
		if path, err := leak.SaveHeapProfile(dir, heap, p.End); err == nil {
			files = append(files, path)
			res.Labels["heap_profile"] = path
		} else {
			errs = append(errs, err)
		}
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
		free, err := results.FreePath(dir, "heap-", ".pb.gz", time.Now())
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(free)
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
