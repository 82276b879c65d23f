package bench

import (
	"fmt"
	"slices"
	"time"

	"github.com/perfagent/perfagent/results"
)

// Defaults used by [Options] fields left at zero.
const (
	DefaultWarmupRuns      = 10
	DefaultRounds          = 10
	DefaultMeasurementRuns = 100
	DefaultMinDuration     = time.Second
	DefaultMaxDuration     = time.Minute
	DefaultSampleTime      = time.Millisecond
	DefaultMaxSamples      = 100_000
)

// MaxRounds bounds [Options.Rounds].
const MaxRounds = 10_000

// Options control one benchmark's measurement. The zero value means the
// defaults above; a negative value switches a limit off (see each field).
//
// A benchmark is measured in Rounds rounds. A round is one sample: its value
// is the per-operation figure over the whole round (ns/op over every
// operation of the round for batched benchmarks, the mean of its operations
// for self-measured ones), so the samples that significance tests and
// confidence intervals use are as many as the rounds, and consecutive timed
// batches, which are correlated, never count as separate samples. Each round
// lasts at least MinDuration/Rounds and takes at least
// MeasurementRuns/Rounds batches (operations, for [Runner.RunSampled]).
// MaxDuration caps the whole benchmark (calibration, warm-up and rounds):
// when it is reached, the benchmark stops after the current batch with the
// rounds measured so far and a warning. A single call is never interrupted,
// except through its context.
type Options struct {
	// WarmupRuns batches (operations, for RunSampled) are taken and
	// discarded before the first round. Default 10; negative: none.
	WarmupRuns int
	// Rounds is the number of rounds, the benchmark's sample count.
	// Default 10; at most MaxRounds; negative is an error. Ten rounds make a
	// Mann-Whitney U test able to find a change at the error rates a CI gate
	// needs; fewer leave it blind after multiple-comparison control.
	Rounds int
	// MeasurementRuns is the minimum number of batches (operations, for
	// RunSampled) over all rounds, spread evenly. Default 100; negative: one
	// per round.
	MeasurementRuns int
	// MinDuration is the minimum measurement time over all rounds, spread
	// evenly. Default 1s; negative: no minimum.
	MinDuration time.Duration
	// MaxDuration caps the whole benchmark. Default 1m; negative: no cap.
	MaxDuration time.Duration
	// SampleTime is the least duration of one timed batch of a batched
	// benchmark ([Runner.Run], [Runner.RunN]): an operation faster than that
	// is called repeatedly within one timed batch. It is raised, if needed,
	// to 100 times the clock's own overhead so timing costs under 1%.
	// Default 1ms; negative: the 1% floor alone. Ignored by
	// [Runner.RunSampled].
	SampleTime time.Duration
	// BatchSize, when positive, fixes the operations per batch and skips
	// calibration. Zero: calibrate from SampleTime.
	BatchSize int
	// MaxSamples bounds the single-operation values kept for the
	// per-operation percentiles of RunSampled. Default 100000; negative:
	// the default.
	MaxSamples int
	// Bytes, when positive, is the number of bytes one operation processes
	// (testing.B's SetBytes): the result then carries an "MB/s" metric
	// (Better: higher) per round.
	Bytes int64
	// Observers measure something over each round (GC pauses, scheduler
	// latencies, a server's CPU) and add per-round metrics to the result.
	Observers []Observer
}

// An Observer measures something over each round of a benchmark. Start is
// called right before the round's first timed batch and Stop right after its
// last one (also when the benchmark fails or is interrupted), on the
// goroutine running the benchmark; Stop's metrics are that round's values,
// which the result keeps per round ([results.Metric.Samples]). A panic in
// either is recovered and becomes a warning.
type Observer interface {
	Start()
	Stop() []results.Metric
}

// withDefaults returns o with zero fields replaced by defaults and negative
// ones by their "off" values (0, or -1 for MaxDuration meaning no cap). It
// rejects values that cannot be meant.
func (o Options) withDefaults() (Options, error) {
	pick := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	pickD := func(v, def, off time.Duration) time.Duration {
		switch {
		case v == 0:
			return def
		case v < 0:
			return off
		}
		return v
	}
	switch {
	case o.Rounds < 0:
		return o, fmt.Errorf("rounds %d: must be positive", o.Rounds)
	case o.Rounds > MaxRounds:
		return o, fmt.Errorf("rounds %d: at most %d", o.Rounds, MaxRounds)
	case o.Rounds == 0:
		o.Rounds = DefaultRounds
	}
	o.WarmupRuns = pick(o.WarmupRuns, DefaultWarmupRuns)
	o.MeasurementRuns = pick(o.MeasurementRuns, DefaultMeasurementRuns)
	o.MinDuration = pickD(o.MinDuration, DefaultMinDuration, 0)
	o.MaxDuration = pickD(o.MaxDuration, DefaultMaxDuration, -1)
	o.SampleTime = pickD(o.SampleTime, DefaultSampleTime, 0)
	if o.BatchSize < 0 {
		o.BatchSize = 0
	}
	if o.MaxSamples <= 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	o.Observers = slices.Clone(o.Observers)
	return o, nil
}

// minPerRound is the least number of batches (or operations) of a round.
func (o Options) minPerRound() int {
	return max(1, (o.MeasurementRuns+o.Rounds-1)/o.Rounds)
}

// roundTime is the least duration of a round.
func (o Options) roundTime() time.Duration {
	return o.MinDuration / time.Duration(o.Rounds)
}

// String describes the effective options, for logs.
func (o Options) String() string {
	o, err := o.withDefaults()
	if err != nil {
		return "invalid: " + err.Error()
	}
	maxD := "none"
	if o.MaxDuration >= 0 {
		maxD = o.MaxDuration.String()
	}
	return fmt.Sprintf("warmup=%d rounds=%d runs=%d min=%v max=%s sample=%v batch=%d", o.WarmupRuns, o.Rounds, o.MeasurementRuns, o.MinDuration, maxD, o.SampleTime, o.BatchSize)
}
