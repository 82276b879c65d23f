package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// Schemas of the documents a parent and a child process of [RunIsolated]
// exchange.
const (
	RoundRequestSchema  = "perfagent.system-round-request/v1"
	RoundResponseSchema = "perfagent.system-round/v1"
)

// ParamIsolation is the [results.Run.Parameters] key that records how the
// suite was replicated: "process" for [RunIsolated] (one process per round),
// "none" for [Run] (every round in the running process). Comparisons warn
// when it differs between two runs.
const ParamIsolation = "system.isolation"

// maxResponse bounds what a child may write on its standard output.
const maxResponse = 64 << 20

// roundRequest is what the parent sends a child on standard input.
type roundRequest struct {
	Schema         string        `json:"schema"`
	Quick          bool          `json:"quick"`
	Rounds         int           `json:"rounds"`
	Duration       time.Duration `json:"duration_ns"`
	HeapSizes      []int64       `json:"heap_sizes"`
	LoadGoroutines int           `json:"load_goroutines"`
	Names          []string      `json:"names"`
	Round          int           `json:"round"`
}

// roundResponse is what a child writes on standard output.
type roundResponse struct {
	Schema string       `json:"schema"`
	Parts  []bench.Part `json:"parts"`
	Error  string       `json:"error,omitempty"`
}

// Command returns the command that runs one round of the suite in a new
// process: it must call [RunRound] with its standard input and output (the
// perfagent binary does so for its hidden "internal-system-round" command).
// RunIsolated sets its standard streams and removes [bench.EnvRounds] and
// [bench.EnvEmit] from its environment. Create it with [exec.CommandContext]
// so that a done ctx stops it (best with Cancel sending an interrupt and a
// WaitDelay, so the process ends its round cleanly).
type Command func(ctx context.Context) (*exec.Cmd, error)

// RunIsolated runs the suite with every round in a new process started by
// command: round i of every benchmark is measured by the i-th process, which
// calibrates and warms up on its own. What differs from one process to the
// next (the heap the runtime grew, memory and code layout, the scheduler's
// state) then differs from round to round, so it lands inside the spread the
// gate compares a change with, instead of shifting every round of a run
// alike and making an unchanged build "significantly" slower or faster
// than its baseline. The results are those of [Run] (one merged result per
// benchmark, see [bench.MergeParts]), with [ParamIsolation] "process".
//
// A round whose process fails is reported in the error and as a warning;
// the others still run. When ctx is done the running process is
// interrupted, no further one starts and the results keep the rounds
// measured (and are marked partial).
func RunIsolated(ctx context.Context, r *bench.Runner, o Options, command Command) error {
	if r == nil {
		return errors.New("system: nil runner")
	}
	if command == nil {
		return errors.New("system: nil command")
	}
	o = o.withDefaults()
	r.SetQuick(o.Quick)
	params := o.Parameters()
	params[ParamIsolation] = "process"
	r.SetParameters(params)
	names := Names(o)
	req := roundRequest{Schema: RoundRequestSchema, Quick: o.Quick, Rounds: o.Rounds, Duration: o.Duration,
		HeapSizes: o.HeapSizes, LoadGoroutines: o.LoadGoroutines, Names: names}
	res, err := r.RunIsolated(ctx, names, o.Rounds, func(ctx context.Context, i int) ([]bench.Part, error) {
		req.Round = i
		return runChild(ctx, command, req)
	})
	err = errors.Join(err, addSchedLag(r, res))
	if err != nil {
		return fmt.Errorf("system: %w", err)
	}
	return nil
}

// runChild runs one round in a process started by command.
func runChild(ctx context.Context, command Command, req roundRequest) ([]bench.Part, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd, err := command(ctx)
	if err != nil {
		return nil, err
	}
	var stdout limitedBuffer
	stdout.max = maxResponse
	stderr := tailBuffer{max: 4 << 10}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, &stderr
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	// A driver's round override must not reach the child: it measures one
	// round by construction.
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
		return strings.HasPrefix(kv, bench.EnvRounds+"=") || strings.HasPrefix(kv, bench.EnvEmit+"=")
	})
	runErr := cmd.Run()
	var resp roundResponse
	if derr := json.Unmarshal(stdout.Bytes(), &resp); derr != nil || resp.Schema != RoundResponseSchema {
		what := "no result"
		switch {
		case stdout.over:
			what = fmt.Sprintf("a result over %d bytes", maxResponse)
		case derr != nil && stdout.Len() > 0:
			what = "an unreadable result: " + derr.Error()
		case derr == nil:
			what = fmt.Sprintf("a result with schema %q (want %q)", resp.Schema, RoundResponseSchema)
		}
		msg := fmt.Sprintf("round process %s returned %s", cmd.Path, what)
		if runErr != nil {
			msg += " (" + runErr.Error() + ")"
		}
		if tail := strings.TrimSpace(stderr.String()); tail != "" {
			msg += ": " + tail
		}
		return nil, errors.New(msg)
	}
	if resp.Error != "" {
		return resp.Parts, errors.New(resp.Error)
	}
	if runErr != nil {
		return resp.Parts, fmt.Errorf("round process: %w", runErr)
	}
	return resp.Parts, nil
}

// RunRound is the child side of [RunIsolated]: it reads the round's request
// from in, measures one round of each benchmark it names (after calibration
// and warm-up in this process) and writes the parts to out as one JSON
// document. Nothing else may write to out. Failures of benchmarks travel in
// the document; the error is for a request it cannot read or an output it
// cannot write.
func RunRound(ctx context.Context, in io.Reader, out io.Writer) error {
	var req roundRequest
	dec := json.NewDecoder(io.LimitReader(in, 1<<20))
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("system round: reading the request: %w", err)
	}
	if req.Schema != RoundRequestSchema {
		return fmt.Errorf("system round: request schema %q, want %q", req.Schema, RoundRequestSchema)
	}
	o := Options{Quick: req.Quick, Rounds: req.Rounds, Duration: req.Duration, HeapSizes: req.HeapSizes,
		LoadGoroutines: req.LoadGoroutines, Filter: func(n string) bool { return slices.Contains(req.Names, n) }}.withDefaults()
	var specs []bench.Spec
	for _, s := range suite(o) {
		if o.Filter(s.Name) {
			s.Options = oneRound(s.Options)
			specs = append(specs, s)
		}
	}
	r := bench.NewRunner(bench.WithEmit(io.Discard))
	parts, err := r.RunParts(ctx, specs)
	resp := roundResponse{Schema: RoundResponseSchema, Parts: parts}
	if err != nil {
		resp.Error = err.Error()
	}
	if err := json.NewEncoder(out).Encode(resp); err != nil {
		return fmt.Errorf("system round: writing the result: %w", err)
	}
	return nil
}

// oneRound turns a benchmark's options into those of one of its rounds
// measured alone: the round's share of the measurement time and batches.
func oneRound(bo bench.Options) bench.Options {
	n := max(bo.Rounds, 1)
	if bo.MinDuration > 0 {
		bo.MinDuration /= time.Duration(n)
	}
	if bo.MeasurementRuns > 0 {
		bo.MeasurementRuns = (bo.MeasurementRuns + n - 1) / n
	}
	bo.Rounds = 1
	return bo
}

// addSchedLag gives sched/latency/idle the metric [results.UnitSchedLagP99],
// the p99 of its wake-up delays (see [Run]).
func addSchedLag(r *bench.Runner, res []results.Benchmark) error {
	var err error
	for _, b := range res {
		if b.Name == "sched/latency/idle" && b.PerOp != nil {
			err = errors.Join(err, r.AddMetrics(b.Name, results.Metric{Unit: results.UnitSchedLagP99, Value: b.PerOp.P99}))
		}
	}
	return err
}

// limitedBuffer keeps at most max bytes and remembers whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = slices.Clone(b.buf[len(b.buf)-b.max:])
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return string(b.buf) }
