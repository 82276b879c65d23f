// Package flightrec keeps the Go execution tracer's flight recorder (a
// moving window of the execution trace, held in memory) running and writes
// the window to a [snapshot.Store] when something goes wrong: a slow
// request, a scheduling-latency or GC spike, or an operator's request.
//
// Each capture is two files sharing one timestamp: trace-<ts>.out, which
// opens in `go tool trace`, and trace-<ts>.json, a [Report] naming the
// trigger, its figures, the window and the goroutines that waited
// runnable or blocked longest in it (computed in process from the trace).
//
//	r, err := flightrec.Start(store, flightrec.Config{Window: 10 * time.Second})
//	if err != nil {
//		return err // ErrInUse: another flight recorder runs in the process
//	}
//	defer r.Stop()
//	r.Trigger(flightrec.Evidence{Trigger: flightrec.TriggerSlowRequest, Route: "GET /items/{id}"})
//
// The runtime allows one flight recorder per process; Start refuses a
// second with [ErrInUse]. A trace started with runtime/trace.Start keeps
// working beside it.
//
// Triggered captures ([Recorder.Trigger]) never block the caller: a
// trigger within its cooldown, over the quota or while a capture is being
// written is dropped and counted. On-demand captures ([Recorder.Capture])
// have a rate limit of their own. A full disk or quota drops the capture
// and counts it. Methods are safe for concurrent use.
package flightrec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/trace"
	"sync"
	"time"

	"github.com/perfagent/perfagent/snapshot"
)

// Trigger names, as found in [Report.Trigger] and counted in [Stats].
const (
	TriggerSlowRequest  = "slow_request"
	TriggerSchedLatency = snapshot.TriggerSchedLatency
	TriggerGCCPU        = snapshot.TriggerGCCPU
	TriggerOnDemand     = snapshot.OnDemand
)

// Defaults and bounds of [Config].
const (
	DefaultWindow = 10 * time.Second
	MinWindow     = time.Second
	MaxWindow     = time.Minute

	DefaultMaxBytes = 16 << 20
	MinMaxBytes     = 1 << 20
	MaxMaxBytes     = 256 << 20

	DefaultCooldown = time.Minute
	MinCooldown     = time.Second
	MaxCooldown     = 24 * time.Hour

	DefaultQuotaEvery = 10 * time.Minute
	DefaultQuotaBurst = 5
	MaxQuotaBurst     = 100
)

// Errors.
var (
	// ErrInUse is returned by Start while another flight recorder runs in
	// the process.
	ErrInUse = errors.New("flightrec: a flight recorder is already running in this process (the Go runtime allows one)")
	// ErrNotAvailable is returned by Start when the runtime cannot run a
	// flight recorder (tracing disabled or unsupported).
	ErrNotAvailable = errors.New("flightrec: the execution trace flight recorder is not available")
	// ErrStopped is returned by a stopped Recorder.
	ErrStopped = errors.New("flightrec: recorder stopped")
	// ErrBusy is returned by Capture while another capture is written.
	ErrBusy = errors.New("flightrec: a trace capture is being written")
)

// Config configures a [Recorder]. The zero value means the defaults.
type Config struct {
	// Window is how much execution history the recorder keeps (the
	// runtime's MinAge; default 10s, from 1s to 1m).
	Window time.Duration
	// MaxBytes bounds the window's size in memory; it takes precedence
	// over Window (default 16 MiB, from 1 MiB to 256 MiB).
	MaxBytes uint64
	// Cooldown is the least time between two triggered captures of one
	// trigger (default 1m, from 1s to 24h).
	Cooldown time.Duration
	// QuotaEvery and QuotaBurst are the global limit on triggered
	// captures: a bucket of QuotaBurst tokens (default 5, at most 100)
	// refilled one every QuotaEvery (default 10m, at least Cooldown).
	QuotaEvery time.Duration
	QuotaBurst int
	// OnDemandEvery and OnDemandBurst limit [Recorder.Capture] the same
	// way (defaults 10s and 3, the agent's other on-demand captures); a
	// negative OnDemandEvery means no limit.
	OnDemandEvery time.Duration
	OnDemandBurst int
	// Summarize computes the report's goroutine and task summary from the
	// trace (default [Summarize]); a failure is noted in [Report.Error] and
	// the capture is still written.
	Summarize Summarizer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Cooldown == 0 {
		c.Cooldown = DefaultCooldown
	}
	if c.QuotaEvery == 0 {
		c.QuotaEvery = DefaultQuotaEvery
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = DefaultQuotaBurst
	}
	if c.OnDemandEvery == 0 {
		c.OnDemandEvery = 10 * time.Second
	}
	if c.OnDemandBurst == 0 {
		c.OnDemandBurst = 3
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Summarize == nil {
		c.Summarize = Summarize
	}
}

// Validate reports the first field out of its bounds, after defaults.
func (c Config) Validate() error {
	c.defaults()
	switch {
	case c.Window < MinWindow || c.Window > MaxWindow:
		return fmt.Errorf("window %v: want %v to %v", c.Window, MinWindow, MaxWindow)
	case c.MaxBytes < MinMaxBytes || c.MaxBytes > MaxMaxBytes:
		return fmt.Errorf("max bytes %d: want %d (1 MiB) to %d (256 MiB)", c.MaxBytes, MinMaxBytes, MaxMaxBytes)
	case c.Cooldown < MinCooldown || c.Cooldown > MaxCooldown:
		return fmt.Errorf("cooldown %v: want %v to %v", c.Cooldown, MinCooldown, MaxCooldown)
	case c.QuotaEvery < c.Cooldown || c.QuotaEvery > MaxCooldown:
		return fmt.Errorf("quota interval %v: want the cooldown (%v) to %v", c.QuotaEvery, c.Cooldown, MaxCooldown)
	case c.QuotaBurst < 1 || c.QuotaBurst > MaxQuotaBurst:
		return fmt.Errorf("quota burst %d: want 1 to %d", c.QuotaBurst, MaxQuotaBurst)
	case c.OnDemandBurst < 1 || c.OnDemandBurst > MaxQuotaBurst:
		return fmt.Errorf("on-demand burst %d: want 1 to %d", c.OnDemandBurst, MaxQuotaBurst)
	}
	return nil
}

// Evidence is what made a trigger fire; it is written into the capture's
// [Report]. Fields that do not apply to the trigger are left zero.
type Evidence struct {
	// Trigger is one of the Trigger* names.
	Trigger string `json:"trigger"`
	// Reason is a one-line explanation.
	Reason string `json:"reason,omitempty"`
	// Route, DurationSeconds and ThresholdSeconds describe a slow
	// request: its route pattern, how long it took and the threshold it
	// crossed.
	Route            string  `json:"route,omitempty"`
	DurationSeconds  float64 `json:"duration_seconds,omitempty"`
	ThresholdSeconds float64 `json:"threshold_seconds,omitempty"`
	// RouteP99Seconds is the route's recent p99 when the threshold is a
	// multiple of it.
	RouteP99Seconds float64 `json:"route_p99_seconds,omitempty"`
	// SchedLatencyP99Seconds and GCCPUFraction are the snapshot figures
	// of the scheduler and GC triggers (threshold in ThresholdSeconds or
	// ThresholdFraction).
	SchedLatencyP99Seconds float64 `json:"sched_latency_p99_seconds,omitempty"`
	GCCPUFraction          float64 `json:"gc_cpu_fraction,omitempty"`
	ThresholdFraction      float64 `json:"threshold_fraction,omitempty"`
	// At is when the trigger fired (default: when Trigger was called).
	At time.Time `json:"fired_at"`
}

// Report is the trace-<ts>.json document written beside each trace.
type Report struct {
	Evidence
	// Time is when the window was taken.
	Time time.Time `json:"time"`
	// TraceFile is the path of the trace (opens in `go tool trace`).
	TraceFile  string `json:"trace_file,omitempty"`
	TraceBytes int    `json:"trace_bytes"`
	// SnapshotSeconds is how long taking the window from the runtime took.
	SnapshotSeconds float64 `json:"snapshot_seconds"`
	// Summary is computed from the trace in process.
	Summary
	// Error is set when the capture was taken but not (fully) written.
	Error string `json:"error,omitempty"`
}

// Skip reasons counted in [Stats.Skipped].
const (
	SkipCooldown  = "cooldown"
	SkipQuota     = "quota"
	SkipBusy      = "busy"
	SkipRateLimit = "rate_limit"
	SkipFiles     = "files" // the store refused the files (quota, full disk, files off)
	SkipStopped   = "stopped"
	SkipFailed    = "failed" // the runtime could not write the window
)

// Stats counts a Recorder's work.
type Stats struct {
	Window   float64          `json:"window_seconds"`
	MaxBytes uint64           `json:"max_bytes"`
	Fired    map[string]int64 `json:"fired"`
	Taken    int64            `json:"taken"`
	Skipped  map[string]int64 `json:"skipped"`
	// Last is the latest capture's report (nil before the first).
	Last *Report `json:"last,omitempty"`
}

// The process's one flight recorder.
//
// Note: package state, because the rule it enforces is the runtime's:
// one flight recorder per process, whoever starts it.
var (
	procMu  sync.Mutex
	procRec *Recorder
)

// Recorder is a running flight recorder. Create it with [Start].
type Recorder struct {
	cfg   Config
	store *snapshot.Store
	fr    *trace.FlightRecorder

	queue chan Evidence
	done  chan struct{}
	stop  sync.Once

	writing sync.Mutex // one WriteTo at a time

	mu      sync.Mutex
	stopped bool
	last    map[string]time.Time
	quota   bucket
	od      bucket
	stats   Stats
}

// Start starts the process's flight recorder writing captures to store (a
// nil store keeps the recorder but drops every capture as SkipFiles). It
// returns [ErrInUse] while another Recorder runs, and an error wrapping
// [ErrNotAvailable] when the runtime refuses to record (such as another
// flight recorder started directly with runtime/trace).
func Start(store *snapshot.Store, cfg Config) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flightrec: %w", err)
	}
	cfg.defaults()
	procMu.Lock()
	defer procMu.Unlock()
	if procRec != nil {
		return nil, ErrInUse
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: cfg.Window, MaxBytes: cfg.MaxBytes})
	if err := fr.Start(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAvailable, err)
	}
	now := cfg.Now()
	r := &Recorder{
		cfg: cfg, store: store, fr: fr,
		queue: make(chan Evidence, 1), done: make(chan struct{}),
		last:  map[string]time.Time{},
		quota: bucket{tokens: float64(cfg.QuotaBurst), burst: cfg.QuotaBurst, every: cfg.QuotaEvery, at: now},
		od:    bucket{tokens: float64(cfg.OnDemandBurst), burst: cfg.OnDemandBurst, every: cfg.OnDemandEvery, at: now},
		stats: Stats{Window: cfg.Window.Seconds(), MaxBytes: cfg.MaxBytes, Fired: map[string]int64{}, Skipped: map[string]int64{}},
	}
	procRec = r
	go r.run()
	return r, nil
}

// Trigger asks for a capture because of ev. It never blocks: the capture
// is written on the recorder's goroutine, and a trigger within its
// cooldown, over the quota, or while a capture is pending is counted as
// skipped. It reports whether the capture was queued.
func (r *Recorder) Trigger(ev Evidence) bool {
	if ev.At.IsZero() {
		ev.At = r.cfg.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Fired[ev.Trigger]++
	if r.stopped {
		r.stats.Skipped[SkipStopped]++
		return false
	}
	if last, ok := r.last[ev.Trigger]; ok && ev.At.Sub(last) < r.cfg.Cooldown {
		r.stats.Skipped[SkipCooldown]++
		return false
	}
	if !r.quota.take(ev.At) {
		r.stats.Skipped[SkipQuota]++
		return false
	}
	select {
	case r.queue <- ev:
		r.last[ev.Trigger] = ev.At
		return true
	default:
		r.quota.tokens++ // give the token back: nothing was taken
		r.stats.Skipped[SkipBusy]++
		return false
	}
}

// RateLimitError is an on-demand capture refused by the rate limit; it
// wraps snapshot.ErrRateLimited.
type RateLimitError = snapshot.RateLimitError

// Capture takes the window now, on the caller's goroutine, under the
// on-demand rate limit (a [*RateLimitError] over it, [ErrBusy] while
// another capture is written). The report is returned with the error when
// the trace was taken but the files could not be written.
func (r *Recorder) Capture(reason string) (Report, error) {
	now := r.cfg.Now()
	r.mu.Lock()
	r.stats.Fired[TriggerOnDemand]++
	if r.stopped {
		r.stats.Skipped[SkipStopped]++
		r.mu.Unlock()
		return Report{}, ErrStopped
	}
	if r.od.every > 0 && !r.od.take(now) {
		r.stats.Skipped[SkipRateLimit]++
		wait := r.od.wait(now)
		r.mu.Unlock()
		return Report{}, &RateLimitError{RetryAfter: wait}
	}
	r.mu.Unlock()
	if !r.writing.TryLock() {
		r.count(SkipBusy)
		return Report{}, ErrBusy
	}
	defer r.writing.Unlock()
	return r.write(Evidence{Trigger: TriggerOnDemand, Reason: reason, At: now})
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Fired = cloneMap(s.Fired)
	s.Skipped = cloneMap(s.Skipped)
	if s.Last != nil {
		l := *s.Last
		s.Last = &l
	}
	return s
}

// Stop stops the recorder and its goroutine, after the capture being
// written (if any). A second Stop does nothing.
func (r *Recorder) Stop() {
	r.stop.Do(func() {
		r.mu.Lock()
		r.stopped = true
		close(r.queue)
		r.mu.Unlock()
		<-r.done
		r.writing.Lock()
		r.fr.Stop()
		r.writing.Unlock()
		procMu.Lock()
		procRec = nil
		procMu.Unlock()
	})
}

func (r *Recorder) run() {
	defer close(r.done)
	for ev := range r.queue {
		r.writing.Lock()
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.count(SkipFailed)
				}
			}()
			_, _ = r.write(ev)
		}()
		r.writing.Unlock()
	}
}

// write takes the window and writes the trace and its report. It runs with
// r.writing held.
func (r *Recorder) write(ev Evidence) (Report, error) {
	var buf bytes.Buffer
	t0 := time.Now()
	if _, err := r.fr.WriteTo(&buf); err != nil {
		r.count(SkipFailed)
		return Report{}, fmt.Errorf("flightrec: take window: %w", err)
	}
	took := time.Since(t0)
	at := r.cfg.Now()
	rep := Report{Evidence: ev, Time: at, TraceBytes: buf.Len(), SnapshotSeconds: took.Seconds()}
	rep.Summary = Summary{WindowStart: at.Add(-r.cfg.Window), WindowEnd: at, WindowSeconds: r.cfg.Window.Seconds(), From: "config"}
	if r.cfg.Summarize != nil {
		sum, err := r.cfg.Summarize(buf.Bytes(), at)
		if err != nil {
			rep.Error = "summary: " + err.Error()
		} else {
			sum.From = "trace"
			rep.Summary = sum
		}
	}
	at = r.store.FreeTime("trace", at, ".out", ".json")
	rep.TraceFile = r.store.Path("trace", ".out", at)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		_, err = r.store.WriteFile("trace", ".out", at, buf.Bytes())
	}
	if err == nil {
		_, err = r.store.WriteFile("trace", ".json", at, append(js, '\n'))
	}
	if err != nil {
		rep.Error = err.Error()
		r.count(SkipFiles)
		return rep, fmt.Errorf("flightrec: write capture: %w", err)
	}
	r.mu.Lock()
	r.stats.Taken++
	r.stats.Last = &rep
	r.mu.Unlock()
	return rep, nil
}

func (r *Recorder) count(reason string) {
	r.mu.Lock()
	r.stats.Skipped[reason]++
	r.mu.Unlock()
}

// bucket is a token bucket: burst tokens, one more every every.
type bucket struct {
	tokens float64
	burst  int
	every  time.Duration
	at     time.Time
}

func (b *bucket) refill(now time.Time) {
	if b.every > 0 && now.After(b.at) {
		b.tokens = min(float64(b.burst), b.tokens+float64(now.Sub(b.at))/float64(b.every))
	}
	b.at = now
}

func (b *bucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) wait(now time.Time) time.Duration {
	b.refill(now)
	return time.Duration((1 - b.tokens) * float64(b.every))
}

func cloneMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
