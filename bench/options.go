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
	DefaultMeasurementRuns = 100
	DefaultMinDuration     = time.Second
	DefaultMaxDuration     = time.Minute
	DefaultSampleTime      = time.Millisecond
	DefaultMaxSamples      = 100_000
)

// Options control one benchmark's measurement. The zero value means the
// defaults above; a negative value switches the limit off (see each field).
//
// Measurement continues until at least MeasurementRuns samples have been taken
// and at least MinDuration has passed since measurement started, and stops
// early, with a warning in [results.Benchmark.Warnings], when MaxDuration has passed since
// the benchmark started (calibration and warm-up included) or MaxSamples have
// been taken. The limits are checked between samples: a single call is never
// interrupted, except through its context.
type Options struct {
	// WarmupRuns samples are taken and discarded before measurement.
	// Default 10; negative: none.
	WarmupRuns int
	// MeasurementRuns is the minimum number of samples. Default 100;
	// negative: no minimum (MinDuration alone decides).
	MeasurementRuns int
	// MinDuration is the minimum measurement time. Default 1s; negative: no
	// minimum.
	MinDuration time.Duration
	// MaxDuration caps the whole benchmark. Default 1m; negative: no cap.
	MaxDuration time.Duration
	// SampleTime is the least duration of one sample of a batched
	// benchmark ([Runner.Run], [Runner.RunN]): an operation faster than that
	// is called repeatedly within one timed sample and per-operation figures
	// are the sample's time divided by the count. It is raised, if needed, to
	// 100 times the clock's own overhead so timing costs under 1%. Default
	// 1ms; negative: the 1% floor alone. Ignored by [Runner.RunSampled].
	SampleTime time.Duration
	// BatchSize, when positive, fixes the operations per sample and skips
	// calibration. Zero: calibrate from SampleTime.
	BatchSize int
	// MaxSamples bounds the samples kept. Default 100000; negative: the
	// default.
	MaxSamples int
	// Bytes, when positive, is the number of bytes one operation processes
	// (testing.B's SetBytes): the result then carries an "MB/s" metric
	// (Better: higher), total bytes over total measured time.
	Bytes int64
	// Observers measure something over the measurement phase (GC pauses,
	// scheduler latencies, a server's CPU) and add metrics to the result.
	Observers []Observer
}

// An Observer measures something over a benchmark's measurement phase.
// Start is called right before the first measured sample and Stop right
// after the last one (also when the benchmark fails or is interrupted), on the
// goroutine running the benchmark; Stop's metrics are appended to the
// result's. A panic in either is recovered and becomes a warning.
type Observer interface {
	Start()
	Stop() []results.Metric
}

// withDefaults returns o with zero fields replaced by defaults and negative
// ones by their "off" values (0, or -1 for MaxDuration meaning no cap).
func (o Options) withDefaults() Options {
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
	return o
}

// String describes the effective options, for logs.
func (o Options) String() string {
	o = o.withDefaults()
	maxD := "none"
	if o.MaxDuration >= 0 {
		maxD = o.MaxDuration.String()
	}
	return fmt.Sprintf("warmup=%d runs=%d min=%v max=%s sample=%v batch=%d", o.WarmupRuns, o.MeasurementRuns, o.MinDuration, maxD, o.SampleTime, o.BatchSize)
}
