package monitor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of [Options].
const (
	DefaultInterval        = 5 * time.Second
	DefaultMaxSamples      = 4096
	DefaultBaselineWindow  = 30 * time.Second
	DefaultCaptureCooldown = time.Minute
	DefaultMaxCaptures     = 10
	DefaultCheckpointEvery = 30 * time.Second
)

// Options configures [Run]. The zero value means the defaults: sample every
// 5 s until the context is done, no thresholds, heap captures on breaches
// when the source can capture.
type Options struct {
	// Interval between readings. Default [DefaultInterval]; negative is an
	// error.
	Interval time.Duration
	// Duration of the run; zero runs until ctx is done. Negative is an
	// error. The run takes the reading due at Duration and stops.
	Duration time.Duration
	// Thresholds are limits on series; a reading above one is a breach,
	// recorded in the history and, on sources implementing [HeapCapturer],
	// answered with a heap capture.
	Thresholds []Threshold
	// MaxSamples bounds the samples kept in memory and in the history file
	// (rounded up to an even number, at least 16). Default
	// [DefaultMaxSamples]: with the default interval, 5.7 hours at full
	// resolution; longer runs are downsampled (see [History.MaxSamples]).
	MaxSamples int
	// BaselineWindow is the start of the run whose readings give the
	// RSS baseline and idle CPU ([System]). Default
	// [DefaultBaselineWindow].
	BaselineWindow time.Duration
	// NoCapture turns heap captures off.
	NoCapture bool
	// CaptureCooldown is the least time between two captures. Default
	// [DefaultCaptureCooldown].
	CaptureCooldown time.Duration
	// MaxCaptures bounds the captures of one run. Default
	// [DefaultMaxCaptures].
	MaxCaptures int
	// Checkpoint, when set, receives the history so far (Status
	// StatusRunning) after the first reading and then every
	// CheckpointEvery, so a caller can write it to disk and a killed run
	// loses little. It runs on Run's goroutine; an error is recorded as a
	// warning once and the run goes on.
	Checkpoint      func(*History) error
	CheckpointEvery time.Duration // default DefaultCheckpointEvery
	// Progress, when set, is called after every reading attempt, on Run's
	// goroutine.
	Progress func(Progress)
	// Warn, when set, receives each warning once as it arises (captures
	// turned off, downsampling); warnings are also in History.Warnings.
	Warn func(string)
	// Now is the clock of the run's start and end. Default time.Now.
	// Readings are stamped by the source's clock.
	Now func() time.Time
}

// Progress describes a run in progress.
type Progress struct {
	Readings, Failures int
	Elapsed, Duration  time.Duration // Duration 0: until stopped
	// Last is the latest sample (zero before the first).
	Last Sample
	// Breaches lists the thresholds the latest reading breached.
	Breaches []string
}

func (o Options) withDefaults() (Options, error) {
	if o.Interval < 0 || o.Duration < 0 || o.MaxSamples < 0 || o.BaselineWindow < 0 || o.CaptureCooldown < 0 ||
		o.MaxCaptures < 0 || o.CheckpointEvery < 0 {
		return o, errors.New("monitor: options must not be negative")
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	o.MaxSamples = max(o.MaxSamples+o.MaxSamples%2, 16)
	if o.BaselineWindow == 0 {
		o.BaselineWindow = DefaultBaselineWindow
	}
	if o.CaptureCooldown == 0 {
		o.CaptureCooldown = DefaultCaptureCooldown
	}
	if o.MaxCaptures == 0 {
		o.MaxCaptures = DefaultMaxCaptures
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for i, t := range o.Thresholds {
		if !t.Series.valid() {
			return o, fmt.Errorf("monitor: thresholds[%d]: unknown series %d", i, int(t.Series))
		}
		if !(t.Max > 0) || t.Max > 1e300 {
			return o, fmt.Errorf("monitor: thresholds[%d] (%s): the limit must be positive and finite", i, t.Series.Key())
		}
	}
	return o, nil
}

// Run monitors src: it reads the target at once and then every
// o.Interval, until o.Duration has passed, ctx is done or the target is
// gone, and returns the history. It does not close src.
//
// The first reading must succeed: when it fails (the target is down, not
// an agent, refuses the credentials) Run returns a nil history and the
// error. Later failed reads are counted in [History.Failures] and the run
// goes on. A target that ends (an error wrapping [ErrTargetGone]) ends the
// run: Run returns the history (Status StatusTargetGone, Partial) and that
// error. When ctx is done Run returns the history and a nil error, with
// Status StatusStopped for a run without a duration (its normal end) or
// StatusInterrupted (Partial) when the duration had not passed.
//
// When a reading breaches a threshold and src implements [HeapCapturer], Run
// asks for a heap capture, at most once per o.CaptureCooldown and
// o.MaxCaptures times per run; the capture is recorded in the history.
// Run starts no goroutines.
func Run(ctx context.Context, src Source, o Options) (*History, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	start := o.Now()
	var r Reading
	if err := src.Read(ctx, &r); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	rc := newRecorder(src.Target(), start, &o)
	m := &run{o: o, src: src, rc: rc, start: start}
	if c, ok := src.(HeapCapturer); ok && !o.NoCapture {
		m.capturer = c
	}
	m.observe(ctx, &r)
	m.checkpoint(true)

	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if o.Duration == 0 {
				return m.finish(StatusStopped, "stopped by the caller (no duration was set)"), nil
			}
			return m.finish(StatusInterrupted, fmt.Sprintf("interrupted after %s of %s", roundDur(o.Now().Sub(start)), o.Duration)), nil
		case <-tick.C:
		}
		r.reset()
		err := src.Read(ctx, &r)
		switch {
		case err == nil:
			m.rc.h.Target = src.Target()
			m.observe(ctx, &r)
		case ctx.Err() != nil:
			continue // the select above ends the run
		case errors.Is(err, ErrTargetGone):
			m.report(nil)
			return m.finish(StatusTargetGone, err.Error()), err
		default:
			rc.fail(o.Now(), err)
			m.report(nil)
		}
		m.checkpoint(false)
		if o.Duration > 0 && o.Now().Sub(start) >= o.Duration-o.Interval/2 {
			return m.finish(StatusComplete, "the duration elapsed"), nil
		}
	}
}

// run is the state of one Run.
type run struct {
	o        Options
	src      Source
	rc       *recorder
	start    time.Time
	capturer HeapCapturer
	lastCap  time.Time
	lastCkpt time.Time
	last     Sample
	sent     int // warnings passed to o.Warn
}

// observe records a reading, answers breaches and reports progress.
func (m *run) observe(ctx context.Context, r *Reading) {
	over := m.rc.record(r)
	if n := len(m.rc.samples); n > 0 {
		m.last = m.rc.samples[n-1]
	}
	if m.rc.pending.N > 0 {
		m.last = m.rc.pending
	}
	m.passWarnings()
	if len(over) > 0 {
		m.capture(ctx, r.Time, strings.Join(over, "; "))
	}
	m.report(over)
}

// passWarnings hands the warnings recorded since the last call to o.Warn.
func (m *run) passWarnings() {
	for ; m.sent < len(m.rc.h.Warnings); m.sent++ {
		if m.o.Warn != nil {
			m.o.Warn(m.rc.h.Warnings[m.sent])
		}
	}
}

// warn records a warning (once) and passes it on.
func (m *run) warn(msg string) {
	m.rc.warn(msg)
	m.passWarnings()
}

// capture asks the target for a heap profile when the cooldown and the
// budget of captures allow.
func (m *run) capture(ctx context.Context, at time.Time, reason string) {
	if m.capturer == nil || ctx.Err() != nil {
		return
	}
	if !m.lastCap.IsZero() && at.Sub(m.lastCap) < m.o.CaptureCooldown {
		return
	}
	if len(m.rc.h.Captures) >= m.o.MaxCaptures {
		m.warn(fmt.Sprintf("heap captures stopped at the limit of %d per run", m.o.MaxCaptures))
		return
	}
	m.lastCap = at
	path, err := m.capturer.CaptureHeap(ctx)
	c := Capture{Time: at.UTC(), Reason: reason, Path: path}
	if err != nil {
		if ctx.Err() != nil {
			return // interrupted, not a failed capture
		}
		c.Error = err.Error()
		if errors.Is(err, ErrCaptureUnsupported) {
			m.capturer = nil
			m.warn(err.Error())
		}
	}
	m.rc.h.Captures = append(m.rc.h.Captures, c)
}

func (m *run) report(over []string) {
	if m.o.Progress == nil {
		return
	}
	m.o.Progress(Progress{Readings: m.rc.h.Readings, Failures: m.rc.h.Failures.Count, Elapsed: m.o.Now().Sub(m.start),
		Duration: m.o.Duration, Last: m.last, Breaches: over})
}

// checkpoint hands the history so far to o.Checkpoint when due.
func (m *run) checkpoint(first bool) {
	if m.o.Checkpoint == nil {
		return
	}
	now := m.o.Now()
	if !first && now.Sub(m.lastCkpt) < m.o.CheckpointEvery {
		return
	}
	m.lastCkpt = now
	h := m.rc.snapshot(StatusRunning, "")
	h.FinishedAt = now.UTC()
	if err := m.o.Checkpoint(h); err != nil {
		m.warn("writing a checkpoint failed: " + err.Error())
	}
}

// finish returns the final history.
func (m *run) finish(status, end string) *History {
	m.rc.h.Target = m.src.Target()
	return m.rc.snapshot(status, end)
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
