package snapshot

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Observer receives each Snapshot a [Pipeline] takes. Observe is called on
// the pipeline's goroutine, one snapshot at a time, in the order the
// observers were given; it must return quickly (queue slow work, as
// [Capturer] does) and must not keep s past the call (copy it: a Snapshot
// holds no pointers). A panic in Observe is recovered and reported through
// [PipelineOptions.OnPanic]; the other observers still see the snapshot.
//
// [History], [Capturer] and leak.Monitor are observers.
type Observer interface {
	Observe(s *Snapshot)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(s *Snapshot)

// Observe calls f(s).
func (f ObserverFunc) Observe(s *Snapshot) { f(s) }

var (
	_ Observer = (*History)(nil)
	_ Observer = (*Capturer)(nil)
	_ Observer = ObserverFunc(nil)
)

// ErrPipelineClosed is returned by [Pipeline.Close] after the first call,
// and by [Pipeline.Start] after Close.
var ErrPipelineClosed = errors.New("snapshot: pipeline closed")

// PipelineOptions configures a [Pipeline].
type PipelineOptions struct {
	// Interval is the time between snapshots; it must be positive.
	Interval time.Duration
	// Observers receive each snapshot, in order.
	Observers []Observer
	// NewTicker is the clock: it returns a channel delivering a tick every
	// d and a function stopping it (default: a time.Ticker). Tests inject
	// their own to take snapshots on demand.
	NewTicker func(d time.Duration) (<-chan time.Time, func())
	// OnPanic, when set, is called with the value of each panic recovered
	// in the sampler or an observer.
	OnPanic func(p any)
}

// Pipeline is the sampling loop: at each tick it reads the runtime and the
// process once, through its [Sampler], and hands the Snapshot to its
// observers. [Pipeline.Start] takes the first snapshot at once (so rates
// and histories start at Start) and starts the loop's goroutine;
// [Pipeline.Close] stops it. The read side does not allocate after the
// first snapshot.
//
// Start and Close are safe to call from any goroutine; Ticks and Latest
// are safe for concurrent use.
type Pipeline struct {
	sampler *Sampler
	opts    PipelineOptions
	tickMu  sync.Mutex // serialises ticks of the loop and of Tick
	snap    Snapshot   // reused by every tick, under tickMu

	mu      sync.Mutex
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}

	ticks      atomic.Int64
	latestMu   sync.Mutex
	latest     Snapshot // a copy of the newest snapshot
	haveLatest bool
}

// NewPipeline returns a Pipeline sampling with s. It fails on a
// non-positive interval or a nil sampler.
func NewPipeline(s *Sampler, opts PipelineOptions) (*Pipeline, error) {
	if s == nil {
		return nil, errors.New("snapshot: NewPipeline: nil sampler")
	}
	if opts.Interval <= 0 {
		return nil, errors.New("snapshot: NewPipeline: interval must be positive")
	}
	if opts.NewTicker == nil {
		opts.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	return &Pipeline{sampler: s, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start takes the first snapshot, hands it to the observers, and starts
// the loop. A second Start does nothing; Start after Close returns
// [ErrPipelineClosed].
func (p *Pipeline) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPipelineClosed
	}
	if p.started {
		return nil
	}
	p.started = true
	p.tick()
	ticks, stopTicker := p.opts.NewTicker(p.opts.Interval)
	go p.run(ticks, stopTicker)
	return nil
}

func (p *Pipeline) run(ticks <-chan time.Time, stopTicker func()) {
	defer close(p.done)
	defer stopTicker()
	for {
		select {
		case <-p.stop:
			return
		case <-ticks:
			p.tick()
		}
	}
}

// Tick takes one snapshot now, on the caller's goroutine, and hands it to
// the observers, as a tick of the loop would (ticks never overlap). It
// works before Start and after Close too.
func (p *Pipeline) Tick() { p.tick() }

// tick takes one snapshot and hands it to every observer.
func (p *Pipeline) tick() {
	p.tickMu.Lock()
	defer p.tickMu.Unlock()
	if !p.safely(func() { p.sampler.Sample(&p.snap) }) {
		return
	}
	p.latestMu.Lock()
	p.latest, p.haveLatest = p.snap, true
	p.latestMu.Unlock()
	for _, o := range p.opts.Observers {
		p.safely(func() { o.Observe(&p.snap) })
	}
	p.ticks.Add(1)
}

// safely runs f, recovering a panic; it reports whether f returned.
func (p *Pipeline) safely(f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			ok = false
			if p.opts.OnPanic != nil {
				p.opts.OnPanic(r)
			}
		}
	}()
	f()
	return true
}

// Ticks returns how many snapshots were taken.
func (p *Pipeline) Ticks() int64 { return p.ticks.Load() }

// Latest returns the newest snapshot; ok is false before the first.
func (p *Pipeline) Latest() (s Snapshot, ok bool) {
	p.latestMu.Lock()
	defer p.latestMu.Unlock()
	return p.latest, p.haveLatest
}

// Close stops the loop and waits for its goroutine to exit, or for ctx to
// end (then it returns ctx's error; the goroutine exits after the snapshot
// it is taking). A second Close returns [ErrPipelineClosed].
func (p *Pipeline) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPipelineClosed
	}
	p.closed = true
	started := p.started
	close(p.stop)
	p.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
