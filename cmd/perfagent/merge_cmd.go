package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

func mergeCommand() command {
	c := command{
		name: "merge",
		args: "SHARD-FILE...",
		summary: "Merge the shard results of a sharded API run (bench api --shards) exactly: counts and rates summed, percentiles from the merged " +
			"HDR histograms, the series aligned on wall-clock seconds; evaluate targets and budgets on the merged data and write the results a single run writes (exit 1 on a failed check, 3 when shards are missing).",
		examples: []string{
			"perfagent merge perf/benchmarks/shard-*-of-4-*.json",
			"for p in $(kubectl get pods -l job-name=load -o name); do kubectl logs $p > ${p#pod/}.log; done; perfagent merge *.log",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		root := outputRoot(e, fs)
		asJSON := fs.Bool("json", false, "print the merged results, the verdict and the files as one JSON document")
		noBase := fs.Bool("no-baseline", false, "do not compare with benchmarks/baseline.json")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		paths := files(args)
		if len(paths) == 0 {
			return usageErr(e, c.name, "no shard result files given")
		}
		var shards []*load.ShardResult
		for _, p := range paths {
			sr, err := load.ReadShardFile(p)
			if err != nil {
				return inputErr(e, c.name, err)
			}
			shards = append(shards, sr)
		}
		rep, err := load.MergeShards(shards)
		if err != nil {
			return inputErr(e, c.name, err)
		}
		human := e.stdout
		if *asJSON {
			human = e.stderr
		}
		r := bench.NewRunner(
			bench.WithOutputDir(benchDir(*root)),
			bench.WithSuite("api"),
			bench.WithRenderer(report.HTML),
		)
		params := apiParameters(rep, len(rep.Rounds))
		params["api.shards"] = strconv.Itoa(rep.Merge.Shards)
		params["api.shards_merged"] = strconv.Itoa(len(rep.Merge.Merged))
		r.SetParameters(params)
		var runErrs []error
		for _, b := range rep.BenchResults().Benchmarks {
			if err := r.Add(b); err != nil {
				runErrs = append(runErrs, err)
			}
		}
		if rep.Partial {
			r.MarkPartial(strings.Join(rep.Warnings[:1], ""))
		}
		out, err := r.Conclude(*noBase)
		if err != nil {
			if out == nil || out.Saved.JSON == "" {
				return runErr(e, c.name, fmt.Errorf("saving results: %w", err))
			}
			runErrs = append(runErrs, err)
		}
		v := rep.Verdict()
		_ = rep.WriteSummary(human)
		files := []string{out.Saved.JSON, out.Saved.Benchfmt}
		if out.Report != "" {
			files = append(files, out.Report)
		}
		if *asJSON {
			_ = printJSON(e.stdout, struct {
				Results    *results.Run      `json:"results"`
				Merge      *load.MergeInfo   `json:"merge"`
				Verdict    load.Verdict      `json:"verdict"`
				Comparison *bench.Comparison `json:"comparison,omitempty"`
				Files      []string          `json:"files"`
			}{out.Results, rep.Merge, v, out.Comparison, files})
		} else {
			if out.Comparison != nil {
				fmt.Fprintln(e.stdout, "\ncompared with the baseline:")
				_ = out.Comparison.WriteText(e.stdout)
			}
			fmt.Fprintf(e.stdout, "\nmerged %d of %d shards\nresults: %s\n", len(rep.Merge.Merged), rep.Merge.Shards, strings.Join(files, "\n         "))
		}
		switch {
		case out.BaselineErr != nil:
			fmt.Fprintf(e.stderr, "perfagent merge: baseline not compared: %v\n", out.BaselineErr)
			return exitUsage
		case len(out.Refused()) > 0:
			fmt.Fprintf(e.stderr, "perfagent merge: not gated against the baseline: %s (or --no-baseline)\n", strings.Join(out.Refused(), "; "))
			return exitUsage
		case len(runErrs) > 0:
			fmt.Fprintf(e.stderr, "perfagent merge: %v\n", errors.Join(runErrs...))
			return exitRunError
		case len(rep.Merge.Missing) > 0:
			fmt.Fprintf(e.stderr, "perfagent merge: %s\n", rep.Warnings[0])
			return exitRunError
		case rep.Partial:
			fmt.Fprintln(e.stderr, "perfagent merge: a shard was interrupted before its end; the merged result is partial")
			return exitRunError
		}
		if !v.Pass || out.Regressed() {
			for _, ch := range v.Failed() {
				fmt.Fprintf(e.stderr, "perfagent merge: check failed: %s\n", ch.Message)
			}
			return exitFailed
		}
		return exitOK
	}
	return c
}

// writeShardResult writes a shard's result: to dest, as the last line of
// stdout when dest is "-", or to benchmarks/shard-<I>-of-<N>-<ts>.json
// below root when dest is empty.
func writeShardResult(e *env, dest, root string, sr *load.ShardResult) error {
	if dest == "-" {
		if e.last == nil {
			return errors.New("--shard-result -: no stdout to write to")
		}
		return load.WriteShard(e.last, sr)
	}
	write := func(w io.Writer) error { return load.WriteShard(w, sr) }
	if dest == "" {
		_, paths, err := results.WriteNewSet(benchDir(root), sr.FinishedAt, []results.FileSpec{
			{Prefix: fmt.Sprintf("shard-%d-of-%d-", sr.Shard, sr.Shards), Ext: ".json", Write: write}})
		if err != nil {
			return fmt.Errorf("--shard-result: %w", err)
		}
		fmt.Fprintf(e.stderr, "shard result: %s\n", paths[0])
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("--shard-result: %w", err)
	}
	if err := results.WriteFileAtomic(dest, write); err != nil {
		return fmt.Errorf("--shard-result: %w", err)
	}
	fmt.Fprintf(e.stderr, "shard result: %s\n", dest)
	return nil
}

// latencyLog sets opts.OnRequest to write every measured latency to path
// ("endpoint nanoseconds" per line); the returned function flushes and
// closes the file. An empty path does nothing.
func latencyLog(path string, sc *load.Scenario, opts *load.Options) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("--latency-log: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--latency-log: %w", err)
	}
	var mu sync.Mutex
	w := bufio.NewWriterSize(f, 64<<10)
	names := make([]string, len(sc.Endpoints))
	for i, ep := range sc.Endpoints {
		names[i] = ep.Name
	}
	var werr error
	opts.OnRequest = func(r load.RequestRecord) {
		if !r.HasLatency {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if werr == nil {
			_, werr = fmt.Fprintf(w, "%s %d\n", names[r.Endpoint], int64(r.Latency/time.Nanosecond))
		}
	}
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		err := errors.Join(werr, w.Flush(), f.Close())
		if err != nil {
			return fmt.Errorf("--latency-log: %w", err)
		}
		return nil
	}, nil
}
