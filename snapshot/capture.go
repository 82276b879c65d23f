package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"sync"
	"time"
)

// Profile types a [Capturer] takes.
const (
	Heap      = "heap"      // in-use and allocated heap, as of the last GC
	Goroutine = "goroutine" // every goroutine's stack
	CPU       = "cpu"       // CPU samples over a duration
	Allocs    = "allocs"    // heap allocations since the start (same data as heap, allocation view)
	Mutex     = "mutex"     // contended mutex holders (needs runtime.SetMutexProfileFraction)
	Block     = "block"     // blocking events (needs runtime.SetBlockProfileRate)
)

// Types lists the profile types a Capturer takes.
var Types = []string{Heap, Goroutine, CPU, Allocs, Mutex, Block}

// CPUProfiler takes CPU profiles. The agent passes its arbiter of the
// process's CPU profiler, so a capture never fights continuous profiling;
// Capturer never calls pprof.StartCPUProfile itself.
type CPUProfiler interface {
	// Profile writes a gzipped pprof CPU profile covering d (or until ctx
	// ends) to w.
	Profile(ctx context.Context, d time.Duration, w io.Writer) error
}

// ErrBusy is returned (wrapped) when a capture cannot start because the
// same kind of capture is running.
var ErrBusy = errors.New("snapshot: a capture of this type is already running")

// ErrRateLimited is returned (wrapped in a [*RateLimitError]) by
// [Capturer.Capture] when the on-demand rate limit is reached.
var ErrRateLimited = errors.New("snapshot: on-demand capture rate limit reached")

// RateLimitError is an on-demand capture refused by the rate limit.
type RateLimitError struct {
	// RetryAfter is when the next on-demand capture is allowed.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v; retry after %v", ErrRateLimited, e.RetryAfter)
}

// Unwrap returns ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Capture defaults.
const (
	DefaultCPUDuration   = 10 * time.Second
	MaxCPUDuration       = 5 * time.Minute
	DefaultCooldown      = 10 * time.Minute
	DefaultRateEvery     = 5 * time.Minute
	DefaultRateBurst     = 3
	DefaultMaxGoroutines = 100_000
)

// CaptureConfig configures a [Capturer]. The zero value means the defaults.
type CaptureConfig struct {
	// CPUDuration is the length of CPU captures (default 10s).
	CPUDuration time.Duration
	// Cooldown is the least time between two captures of one trigger
	// (default 10m).
	Cooldown time.Duration
	// RateEvery and RateBurst are the global limit on triggered captures:
	// a token bucket of RateBurst tokens (default 3) refilled one every
	// RateEvery (default 5m). On-demand captures do not take tokens.
	RateEvery time.Duration
	RateBurst int
	// MaxGoroutines skips triggered goroutine captures while more
	// goroutines than this run (default 100000): the profile's cost grows
	// with their number, and under such load it is the wrong moment.
	MaxGoroutines int
	// Triggers sets when captures are taken on their own.
	Triggers Triggers
	// CPU takes CPU profiles; nil means CPU captures fail (and the CPU
	// part of the latency trigger is skipped).
	CPU CPUProfiler
	// OnDemandEvery and OnDemandBurst limit on-demand captures
	// ([Capturer.Capture]) with a token bucket of their own: OnDemandBurst
	// tokens (default 3) refilled one every OnDemandEvery. Zero
	// OnDemandEvery means no limit. A capture over the limit fails with a
	// [*RateLimitError] and is counted as skipped (rate_limit).
	OnDemandEvery time.Duration
	OnDemandBurst int
	// OnDemandStore receives on-demand captures; nil means the
	// subdirectory "on-demand" of the Capturer's store (see [Store.Sub]).
	// Triggered captures keep the Capturer's store, so a flood of
	// on-demand captures can never evict them from its quota.
	OnDemandStore *Store
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *CaptureConfig) defaults() {
	if c.CPUDuration <= 0 {
		c.CPUDuration = DefaultCPUDuration
	}
	c.CPUDuration = min(c.CPUDuration, MaxCPUDuration)
	if c.Cooldown <= 0 {
		c.Cooldown = DefaultCooldown
	}
	if c.RateEvery <= 0 {
		c.RateEvery = DefaultRateEvery
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.OnDemandBurst <= 0 {
		c.OnDemandBurst = DefaultRateBurst
	}
	if c.MaxGoroutines <= 0 {
		c.MaxGoroutines = DefaultMaxGoroutines
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Triggers.defaults()
}

// Capture is the outcome of one capture.
type Capture struct {
	Type    string    `json:"type"`
	Trigger string    `json:"trigger"` // "on-demand" or a trigger name
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
	Path    string    `json:"path,omitempty"`
	Bytes   int       `json:"bytes"`
	Seconds float64   `json:"took_seconds"`
	Error   string    `json:"error,omitempty"`
}

// OnDemand is the Trigger of captures asked for explicitly.
const OnDemand = "on-demand"

// Skip reasons counted by [Capturer.Stats].
const (
	SkipCooldown      = "cooldown"            // the trigger fired within its cooldown
	SkipRateLimit     = "rate_limit"          // the global token bucket was empty
	SkipBusy          = "busy"                // the queue was full or the same capture was running
	SkipTooMany       = "too_many_goroutines" // a goroutine capture under MaxGoroutines
	SkipNoCPUProfiler = "no_cpu_profiler"     // a CPU capture without a CPUProfiler
)

// CaptureStats counts a Capturer's work.
type CaptureStats struct {
	// Taken counts captures written, by type.
	Taken map[string]int64 `json:"taken"`
	// Failed counts captures that failed (profile or file error), by type.
	Failed map[string]int64 `json:"failed"`
	// Skipped counts triggered captures not taken, by reason.
	Skipped map[string]int64 `json:"skipped"`
	// Fired counts trigger firings, by trigger.
	Fired map[string]int64 `json:"fired"`
	// Recent holds the latest captures and skips, newest last (at most 32).
	Recent []Capture `json:"recent"`
}

// maxRecent bounds CaptureStats.Recent.
const maxRecent = 32

// queueSize bounds the triggered captures waiting for the worker.
const queueSize = 4

// Capturer takes pprof profiles into a [Store]: on demand ([Capturer.Capture])
// and when a [Triggers] condition holds for a snapshot
// ([Capturer.Check]). Triggered captures run on the Capturer's own
// goroutine, one at a time, through a bounded queue; each trigger has a
// cooldown and all share a global rate limit, and every capture not taken
// is counted by reason. Start it with [Capturer.Start] and stop it with
// [Capturer.Close].
//
// Methods are safe for concurrent use.
type Capturer struct {
	cfg      CaptureConfig
	store    *Store       // triggered captures
	onDemand *Store       // on-demand captures
	trig     triggerState // used by Check only (one goroutine)

	queue   chan request
	stop    chan struct{}
	done    chan struct{}
	startMu sync.Once
	closeMu sync.Once

	mu      sync.Mutex
	running map[string]bool
	tokens  float64
	refill  time.Time
	odToks  float64 // on-demand bucket
	odFill  time.Time
	last    map[string]time.Time // per trigger
	stats   CaptureStats
	onPanic func()
}

type request struct {
	typ, trigger, reason string
}

// NewCapturer returns a Capturer writing triggered captures into store and
// on-demand ones into cfg.OnDemandStore (nil store: captures fail with
// ErrDisabled, triggers are counted but take nothing).
func NewCapturer(store *Store, cfg CaptureConfig) *Capturer {
	cfg.defaults()
	od := cfg.OnDemandStore
	if od == nil {
		od, _ = store.Sub("on-demand") // a constant, valid name: never fails
	}
	now := cfg.Now()
	return &Capturer{
		cfg: cfg, store: store, onDemand: od,
		queue: make(chan request, queueSize), stop: make(chan struct{}), done: make(chan struct{}),
		running: map[string]bool{}, last: map[string]time.Time{},
		tokens: float64(cfg.RateBurst), refill: now, odToks: float64(cfg.OnDemandBurst), odFill: now,
		stats: CaptureStats{Taken: map[string]int64{}, Failed: map[string]int64{}, Skipped: map[string]int64{}, Fired: map[string]int64{}},
	}
}

// OnPanic sets a function called when the worker recovers from a panic
// (the agent counts them). Call it before Start.
func (c *Capturer) OnPanic(f func()) { c.onPanic = f }

// Start starts the worker that takes triggered captures.
func (c *Capturer) Start() {
	c.startMu.Do(func() { go c.work() })
}

// Close stops the worker: a running CPU capture is cut short, queued
// captures are dropped (counted as busy). It returns when the worker has
// exited or ctx ends (then with ctx.Err()). Calling it again returns nil at
// once.
func (c *Capturer) Close(ctx context.Context) error {
	first := false
	c.startMu.Do(func() { close(c.done) }) // never started: nothing to wait for
	c.closeMu.Do(func() { close(c.stop); first = true })
	if !first {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Capturer) work() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-c.stop:
			for {
				select {
				case <-c.queue:
					c.skip(request{}, SkipBusy)
				default:
					return
				}
			}
		case r := <-c.queue:
			c.runSafely(ctx, r)
		}
	}
}

func (c *Capturer) runSafely(ctx context.Context, r request) {
	defer func() {
		if p := recover(); p != nil {
			if c.onPanic != nil {
				c.onPanic()
			}
			c.record(Capture{Type: r.typ, Trigger: r.trigger, Time: c.cfg.Now(), Error: fmt.Sprint("panic: ", p)}, false)
		}
	}()
	_, _ = c.capture(ctx, r.typ, r.trigger, r.reason, 0)
}

// Capture takes a profile of typ now and writes it to the on-demand store
// as <typ>-<ts>.pb.gz. For CPU, d is the duration (0 means the configured
// CPUDuration; at most 5 minutes) and ctx may end it early. It returns
// ErrBusy (wrapped) when a capture of the same type is running, and a
// [*RateLimitError] when the on-demand rate limit is reached.
func (c *Capturer) Capture(ctx context.Context, typ string, d time.Duration) (Capture, error) {
	if validType(typ) {
		if wait := c.takeOnDemand(); wait > 0 {
			c.skip(request{typ: typ, trigger: OnDemand}, SkipRateLimit)
			return Capture{Type: typ, Trigger: OnDemand, Time: c.cfg.Now(), Error: "skipped: " + SkipRateLimit},
				&RateLimitError{RetryAfter: wait}
		}
	}
	return c.capture(ctx, typ, OnDemand, "", d)
}

// takeOnDemand takes a token from the on-demand bucket; when it is empty it
// returns how long until the next token (and takes nothing).
func (c *Capturer) takeOnDemand() time.Duration {
	every := c.cfg.OnDemandEvery
	if every <= 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	c.odToks = min(float64(c.cfg.OnDemandBurst), c.odToks+float64(now.Sub(c.odFill))/float64(every))
	c.odFill = now
	if c.odToks < 1 {
		return time.Duration((1 - c.odToks) * float64(every))
	}
	c.odToks--
	return 0
}

func (c *Capturer) capture(ctx context.Context, typ, trigger, reason string, d time.Duration) (Capture, error) {
	res := Capture{Type: typ, Trigger: trigger, Reason: reason, Time: c.cfg.Now()}
	if !validType(typ) {
		return res, fmt.Errorf("snapshot: unknown profile type %q (want one of heap, goroutine, cpu, allocs, mutex, block)", typ)
	}
	c.mu.Lock()
	if c.running[typ] {
		c.mu.Unlock()
		return res, fmt.Errorf("%w: %s", ErrBusy, typ)
	}
	c.running[typ] = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.running, typ)
		c.mu.Unlock()
	}()

	start := time.Now()
	var buf bytes.Buffer
	err := c.profile(ctx, typ, d, &buf)
	if err == nil {
		res.Bytes = buf.Len()
		store := c.store
		if trigger == OnDemand {
			store = c.onDemand
		}
		res.Path, err = store.Write(typ, res.Time, buf.Bytes())
	}
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		res.Error = err.Error()
	}
	c.record(res, err == nil)
	return res, err
}

func validType(t string) bool {
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}

func (c *Capturer) profile(ctx context.Context, typ string, d time.Duration, w io.Writer) error {
	if typ == CPU {
		if c.cfg.CPU == nil {
			return errors.New("snapshot: CPU captures need a CPU profiler")
		}
		if d <= 0 {
			d = c.cfg.CPUDuration
		}
		return c.cfg.CPU.Profile(ctx, min(d, MaxCPUDuration), w)
	}
	p := pprof.Lookup(typ)
	if p == nil {
		return fmt.Errorf("snapshot: the runtime has no %s profile", typ)
	}
	if err := p.WriteTo(w, 0); err != nil {
		return fmt.Errorf("snapshot: %s profile: %w", typ, err)
	}
	return nil
}

func (c *Capturer) record(res Capture, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.stats.Taken[res.Type]++
	} else {
		c.stats.Failed[res.Type]++
	}
	c.addRecent(res)
}

func (c *Capturer) addRecent(res Capture) {
	if len(c.stats.Recent) >= maxRecent {
		copy(c.stats.Recent, c.stats.Recent[1:])
		c.stats.Recent = c.stats.Recent[:maxRecent-1]
	}
	c.stats.Recent = append(c.stats.Recent, res)
}

func (c *Capturer) skip(r request, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Skipped[reason]++
	if r.typ != "" {
		c.addRecent(Capture{Type: r.typ, Trigger: r.trigger, Reason: r.reason, Time: c.cfg.Now(), Error: "skipped: " + reason})
	}
}

// Stats returns a copy of the capture counters.
func (c *Capturer) Stats() CaptureStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := func(m map[string]int64) map[string]int64 {
		out := make(map[string]int64, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return CaptureStats{
		Taken: cp(c.stats.Taken), Failed: cp(c.stats.Failed), Skipped: cp(c.stats.Skipped), Fired: cp(c.stats.Fired),
		Recent: append([]Capture(nil), c.stats.Recent...),
	}
}

// Check evaluates the triggers on s (the newest snapshot) and queues the
// captures of those that fire, subject to their cooldown, the global rate
// limit and the queue bound. It never blocks and is meant to be called by
// one goroutine (the sampler's) after each snapshot. It returns how many
// triggers fired.
func (c *Capturer) Check(s *Snapshot) int {
	fired := c.trig.check(&c.cfg.Triggers, s, c.cfg.Cooldown)
	for _, f := range fired {
		c.fire(f, s)
	}
	return len(fired)
}

// Observe checks the triggers on s (see [Capturer.Check]): a Capturer is a
// [Pipeline] observer.
func (c *Capturer) Observe(s *Snapshot) { c.Check(s) }

// fire applies the cooldown and rate limit to one firing and queues its
// captures.
func (c *Capturer) fire(f firing, s *Snapshot) {
	now := c.cfg.Now()
	c.mu.Lock()
	c.stats.Fired[f.name]++
	if last, ok := c.last[f.name]; ok && now.Sub(last) < c.cfg.Cooldown {
		c.mu.Unlock()
		c.skip(request{typ: f.types[0], trigger: f.name, reason: f.reason}, SkipCooldown)
		return
	}
	// Refill the bucket.
	c.tokens = min(float64(c.cfg.RateBurst), c.tokens+now.Sub(c.refill).Seconds()/c.cfg.RateEvery.Seconds())
	c.refill = now
	if c.tokens < 1 {
		c.mu.Unlock()
		c.skip(request{typ: f.types[0], trigger: f.name, reason: f.reason}, SkipRateLimit)
		return
	}
	c.tokens--
	c.last[f.name] = now
	c.mu.Unlock()
	for _, typ := range f.types {
		r := request{typ: typ, trigger: f.name, reason: f.reason}
		switch {
		case typ == Goroutine && s.Goroutines.Total > uint64(c.cfg.MaxGoroutines):
			c.skip(r, SkipTooMany)
			continue
		case typ == CPU && c.cfg.CPU == nil:
			c.skip(r, SkipNoCPUProfiler)
			continue
		}
		select {
		case c.queue <- r:
		default:
			c.skip(r, SkipBusy)
		}
	}
}
