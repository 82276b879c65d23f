package leak

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/internal/rtsample"
	"github.com/perfagent/perfagent/snapshot"
)

// Defaults of [RoundsOptions].
const (
	// DefaultRounds is the number of rounds: a warm-up round and four
	// judged ones.
	DefaultRounds = 5
	// MinRounds is the least number of rounds (a warm-up round and two
	// judged ones).
	MinRounds = 3
	// MaxRounds bounds RoundsOptions.Rounds.
	MaxRounds = 1000
	// DefaultRoundsNoiseFloor is the growth a judged round must exceed to
	// count as a rise.
	DefaultRoundsNoiseFloor = 16 << 10
	// DefaultRoundsMinGrowth and DefaultRoundsMinGrowthRatio are the least
	// growth over the judged rounds that can be a leak: the larger of
	// 256 KiB and 5% of the live heap after the warm-up round.
	DefaultRoundsMinGrowth      = 256 << 10
	DefaultRoundsMinGrowthRatio = 0.05
	// defaultRoundsMaxSamples bounds the memory samples of a rounds
	// profile; the buffer is allocated before the baseline is read.
	defaultRoundsMaxSamples = 2000
)

// RoundsOptions configure [ProfileRounds]. The zero value means the
// defaults.
type RoundsOptions struct {
	// Name labels the profile.
	Name string
	// Rounds is the number of times the workload runs: round 0 is the
	// warm-up, the others are judged. Default DefaultRounds; at least
	// MinRounds and at most MaxRounds (else ProfileRounds fails).
	Rounds int
	// Interval is the sampling interval of the memory profile (peaks, the
	// chart); default 10ms, at least 1ms.
	Interval time.Duration
	// NoiseFloor, in bytes, is the growth of the live heap a judged round
	// must exceed to count as a rise. Default DefaultRoundsNoiseFloor;
	// negative: 0.
	NoiseFloor int64
	// MinGrowth, in bytes, and MinGrowthRatio, a fraction of the live
	// heap after the warm-up round, bound from below the growth over the
	// judged rounds that can be reported as a leak (the larger applies).
	// Defaults DefaultRoundsMinGrowth and DefaultRoundsMinGrowthRatio;
	// negative: 0.
	MinGrowth      int64
	MinGrowthRatio float64
}

func (o RoundsOptions) withDefaults() (RoundsOptions, error) {
	switch {
	case o.Rounds == 0:
		o.Rounds = DefaultRounds
	case o.Rounds < MinRounds || o.Rounds > MaxRounds:
		return o, fmt.Errorf("leak: %d rounds: want %d to %d (a warm-up round and at least two judged ones)", o.Rounds, MinRounds, MaxRounds)
	}
	if o.NoiseFloor == 0 {
		o.NoiseFloor = DefaultRoundsNoiseFloor
	}
	if o.MinGrowth == 0 {
		o.MinGrowth = DefaultRoundsMinGrowth
	}
	if o.MinGrowthRatio == 0 {
		o.MinGrowthRatio = DefaultRoundsMinGrowthRatio
	}
	if math.IsNaN(o.MinGrowthRatio) || math.IsInf(o.MinGrowthRatio, 0) {
		return o, fmt.Errorf("leak: min growth ratio %v: want a finite fraction", o.MinGrowthRatio)
	}
	o.NoiseFloor, o.MinGrowth, o.MinGrowthRatio = max(o.NoiseFloor, 0), max(o.MinGrowth, 0), max(o.MinGrowthRatio, 0)
	return o, nil
}

// Round is one run of the workload in a [RoundsSummary].
type Round struct {
	// Index counts from 0, the warm-up round.
	Index int `json:"index"`
	// WarmUp is true for round 0.
	WarmUp bool `json:"warm_up,omitempty"`
	// Start is when the round began; DurationSeconds how long the
	// workload ran (without the GCs after it).
	Start           time.Time `json:"start"`
	DurationSeconds float64   `json:"duration_seconds"`
	// HeapLive is the live heap after two GCs at the end of the round.
	HeapLive uint64 `json:"heap_live_bytes"`
	// Retained is HeapLive minus the baseline (the live heap after two
	// GCs before round 0); Growth is HeapLive minus the previous round's
	// (the baseline's, for round 0).
	Retained int64 `json:"retained_bytes"`
	Growth   int64 `json:"growth_bytes"`
	// PeakHeapInUse and PeakRSS are the largest values sampled during the
	// round.
	PeakHeapInUse uint64 `json:"peak_heap_in_use_bytes"`
	PeakRSS       uint64 `json:"peak_rss_bytes"`
	// Error is the round's error or panic, if any (it is the last round).
	Error string `json:"error,omitempty"`
}

// RoundsVerdict says whether the rounds show a leak, by the rule it
// states.
type RoundsVerdict struct {
	// Suspected is true when the rule held.
	Suspected bool `json:"suspected"`
	// Reason explains the verdict with the figures behind it.
	Reason string `json:"reason"`
	// Rule states the test applied, with its thresholds.
	Rule string `json:"rule"`
	// WarmUpRetained is the live heap round 0 left behind (its Retained):
	// memory kept once, reported, never judged.
	WarmUpRetained int64 `json:"warm_up_retained_bytes"`
	// Growth is the live heap after the last round minus that after round
	// 0, over JudgedRounds rounds, of which RisingRounds grew by more than
	// NoiseFloor.
	Growth       int64 `json:"growth_after_warm_up_bytes"`
	JudgedRounds int   `json:"judged_rounds"`
	RisingRounds int   `json:"rising_rounds"`
	// Slope is the Theil–Sen slope of the live heap over rounds 0 to the
	// last, in bytes per round.
	Slope float64 `json:"slope_bytes_per_round"`
	// NoiseFloor and MinGrowth are the thresholds applied (MinGrowth is
	// the larger of the absolute and the relative minimum).
	NoiseFloor int64 `json:"noise_floor_bytes"`
	MinGrowth  int64 `json:"min_growth_bytes"`
	// ChanceBound is the probability that a heap which does not grow rises
	// in every judged round by chance, when the rounds' levels are
	// exchangeable: 1/R! for R rounds compared (the warm-up round's level
	// and the judged rounds'). The noise floor and the minimum growth make
	// the rule stricter still.
	ChanceBound float64 `json:"chance_bound"`
}

// RoundsSummary is the part of a [MemoryProfile] that [ProfileRounds]
// adds: the baseline, the rounds and the verdict.
type RoundsSummary struct {
	// BaselineHeapLive is the live heap after two GCs before round 0.
	BaselineHeapLive uint64 `json:"baseline_heap_live_bytes"`
	// Rounds are the rounds run, in order.
	Rounds []Round `json:"rounds"`
	// Verdict judges them.
	Verdict RoundsVerdict `json:"verdict"`
}

// ProfileRounds runs round (the workload, given its round index) Rounds
// times, reading the live heap after two GCs before the first round and
// after each, while sampling memory, and judges whether retained memory
// keeps growing.
//
// Round 0 is the warm-up: what it leaves behind (caches filled, pools and
// connections set up) is reported as retained after warm-up
// ([RoundsVerdict.WarmUpRetained]), never as a leak. A leak is suspected
// only when the live heap after GC rises by more than the noise floor in
// every judged round and by at least the minimum growth in all (see
// [RoundsVerdict.Rule]).
//
// It returns the memory profile over all rounds (Leak holds the rounds
// verdict, Rounds the rounds) and the heap profile of the workload alone:
// the difference ([HeapDelta]) between heap profiles taken just before the
// baseline and after the last round, so allocations the process made
// before do not appear in it. The profile is returned with the rounds
// completed so far when round fails or panics (the error is returned too,
// and that round is the last) or ctx is done (ctx.Err() is returned). It
// is not safe to run two ProfileRounds at once in one process: each counts
// the other's memory.
func ProfileRounds(ctx context.Context, round func(ctx context.Context, index int) error, opts RoundsOptions) (*MemoryProfile, *profile.Profile, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if round == nil {
		return nil, nil, errors.New("leak: profile rounds: nil workload")
	}
	// Everything kept until the end is allocated before the baseline is
	// read, so it is not counted as retained by the workload.
	rounds := make([]Round, 0, o.Rounds)
	reader := rtsample.New(rtsample.Options{})
	defer reader.Close()
	rec := startRecorder(ProfileOptions{Name: o.Name, Interval: o.Interval, MaxSamples: defaultRoundsMaxSamples}, true)
	// The recorder's sampler is its goroutine's; the end of each round is
	// read through another.
	endSampler := snapshot.NewSampler(nil)
	defer endSampler.Close()
	var end snapshot.Snapshot
	base, baseErr := CaptureHeapProfile()
	baseline := liveAfterGC(reader)
	prev := baseline
	var runErr error
	for i := range o.Rounds {
		if runErr = ctx.Err(); runErr != nil {
			break
		}
		start := time.Now()
		runErr = runRound(ctx, round, i, o.Name)
		elapsed := time.Since(start)
		endSampler.Sample(&end)
		live := liveAfterGC(reader)
		r := Round{Index: i, WarmUp: i == 0, Start: start, DurationSeconds: elapsed.Seconds(), HeapLive: live,
			Retained: int64(live) - int64(baseline), Growth: int64(live) - int64(prev),
			PeakHeapInUse: end.HeapInUse, PeakRSS: end.RSS}
		if runErr != nil {
			r.Error = runErr.Error()
		}
		rounds = append(rounds, r)
		prev = live
		if runErr != nil {
			break
		}
	}
	p := rec.Stop()
	cur, curErr := CaptureHeapProfile()
	peaks(p, rounds)
	verdict := judgeRounds(rounds, o)
	p.Rounds = &RoundsSummary{BaselineHeapLive: baseline, Rounds: rounds, Verdict: verdict}
	p.Leak = Verdict{Suspected: verdict.Suspected, Reason: verdict.Reason}
	p.HeapLiveBefore, p.RetainedExact = baseline, true
	if n := len(rounds); n > 0 {
		p.HeapLiveAfter = rounds[n-1].HeapLive
		p.Retained = rounds[n-1].Retained
		var secs float64
		for _, r := range rounds {
			secs += r.DurationSeconds
		}
		if secs > 0 {
			p.GrowthRate, p.GrowthBasis = verdict.Slope*float64(n)/secs, "rounds"
		}
	}
	if runErr != nil {
		p.Error = runErr.Error()
	}
	var delta *profile.Profile
	errs := []error{runErr}
	if err := errors.Join(baseErr, curErr); err != nil {
		errs = append(errs, err)
	} else if delta, err = HeapDelta(base, cur); err != nil {
		errs = append(errs, err)
	}
	return p, delta, errors.Join(errs...)
}

// runRound runs one round, turning a panic into an error.
func runRound(ctx context.Context, round func(context.Context, int) error, i int, name string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("leak: %s panicked in round %d: %v", nameOr(name, "workload"), i, r)
		}
	}()
	return round(ctx, i)
}

// peaks raises each round's peak heap in use and RSS (as read at its end)
// to the largest of p's samples taken during it.
func peaks(p *MemoryProfile, rounds []Round) {
	for i := range rounds {
		r := &rounds[i]
		end := r.Start.Add(time.Duration(r.DurationSeconds * float64(time.Second)))
		for _, s := range p.Samples {
			if s.Time.Before(r.Start) || s.Time.After(end) {
				continue
			}
			r.PeakHeapInUse = max(r.PeakHeapInUse, s.HeapInUse)
			r.PeakRSS = max(r.PeakRSS, s.RSS)
		}
	}
}

// roundsRule states the rule judgeRounds applies.
func roundsRule(o RoundsOptions) string {
	return fmt.Sprintf("round 0 is the warm-up (what it retains is reported, not judged); a leak is suspected when the live heap after GC "+
		"rises by more than %s in every later round and by at least max(%s, %.0f%% of the live heap after warm-up) in all; "+
		"a heap that does not grow rises in every one of R-1 rounds by chance with probability at most 1/R! (%.2g for %d rounds)",
		FormatBytes(float64(o.NoiseFloor)), FormatBytes(float64(o.MinGrowth)), 100*o.MinGrowthRatio, 1/factorial(o.Rounds), o.Rounds)
}

// judgeRounds applies the rule to the rounds measured.
func judgeRounds(rounds []Round, o RoundsOptions) RoundsVerdict {
	v := RoundsVerdict{Rule: roundsRule(o), NoiseFloor: o.NoiseFloor}
	if len(rounds) == 0 {
		v.Reason = "not judged: no round completed"
		return v
	}
	w := rounds[0]
	v.WarmUpRetained = w.Retained
	v.MinGrowth = max(o.MinGrowth, int64(o.MinGrowthRatio*float64(w.HeapLive)))
	last := rounds[len(rounds)-1]
	v.Growth = int64(last.HeapLive) - int64(w.HeapLive)
	v.JudgedRounds = len(rounds) - 1
	for _, r := range rounds[1:] {
		if r.Growth > o.NoiseFloor {
			v.RisingRounds++
		}
	}
	xs, ys := make([]float64, len(rounds)), make([]float64, len(rounds))
	for i, r := range rounds {
		xs[i], ys[i] = float64(r.Index), float64(r.HeapLive)
	}
	if s := theilSen(xs, ys, make([]float64, 0, len(xs)*(len(xs)-1)/2)); !math.IsNaN(s) {
		v.Slope = s
	}
	v.ChanceBound = 1 / factorial(len(rounds))
	warm := fmt.Sprintf("%s retained after warm-up", signedBytes(v.WarmUpRetained))
	switch {
	case len(rounds) < MinRounds:
		v.Reason = fmt.Sprintf("not judged: %d rounds completed, %d needed; %s", len(rounds), MinRounds, warm)
	case v.RisingRounds == v.JudgedRounds && v.Growth >= v.MinGrowth:
		v.Suspected = true
		v.Reason = fmt.Sprintf("leak suspected: the live heap after GC rose in each of the %d rounds after warm-up, by %s in all (%s per round, Theil–Sen); %s",
			v.JudgedRounds, FormatBytes(float64(v.Growth)), FormatBytes(v.Slope), warm)
	case v.RisingRounds == v.JudgedRounds:
		v.Reason = fmt.Sprintf("no leak: %s, then the live heap rose in each of the %d later rounds but by %s in all, under the %s minimum",
			warm, v.JudgedRounds, FormatBytes(float64(v.Growth)), FormatBytes(float64(v.MinGrowth)))
	default:
		v.Reason = fmt.Sprintf("no leak: %s, then %s over %d rounds (rising beyond %s in %d of them)",
			warm, signedBytes(v.Growth), v.JudgedRounds, FormatBytes(float64(o.NoiseFloor)), v.RisingRounds)
	}
	return v
}

// signedBytes formats a byte difference with its sign.
func signedBytes(n int64) string {
	if n < 0 {
		return "-" + FormatBytes(float64(-n))
	}
	return "+" + FormatBytes(float64(n))
}

func factorial(n int) float64 {
	f := 1.0
	for i := 2; i <= n; i++ {
		f *= float64(i)
	}
	return f
}
