package exporters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/perfagent/perfagent/internal/ratelog"
)

// Defaults of [SinkOptions].
const (
	DefaultSinkQueue      = 64
	DefaultSinkQueueBytes = 16 << 20
	DefaultSinkWorkers    = 2
)

// SinkOptions bound a [Sink]'s queue and name its callbacks. The zero value
// uses the defaults.
type SinkOptions struct {
	// MaxQueue bounds the profiles waiting for delivery; zero means
	// DefaultSinkQueue. When a new profile would exceed it (or
	// MaxQueueBytes) the oldest waiting profiles are dropped and counted.
	MaxQueue int
	// MaxQueueBytes bounds the bytes of profiles waiting; zero means
	// DefaultSinkQueueBytes. A single profile larger than the bound is
	// still accepted into an empty queue.
	MaxQueueBytes int64
	// Workers is the number of concurrent deliveries; zero means
	// DefaultSinkWorkers.
	Workers int
	// Logger receives rate-limited failure records; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnPanic, when set, is called after a panic in a delivery was
	// recovered.
	OnPanic func(component string)
	// OnDrop, when set, is called with the number of profiles dropped
	// (queue full, or abandoned at Close).
	OnDrop func(n int64)
}

// ErrSinkClosed is returned by [Sink.Close] after the first call.
var ErrSinkClosed = errors.New("exporters: sink already closed")

// Sink is a [ProfileSink] with a bounded queue and a few delivery workers:
// [NewPyroscopeSink] uploads to a Pyroscope server, [NewFileSink] writes
// profile files. Send never blocks. Its methods are safe for concurrent
// use.
type Sink struct {
	name    string
	deliver func(ctx context.Context, p *Profile) (string, error)
	release func()
	opts    SinkOptions
	// uploader is the Pyroscope sink's delivery (nil for files).
	uploader *uploader
	log      *ratelog.Limiter

	mu     sync.Mutex
	queue  []Profile
	qbytes int64
	closed bool
	wake   chan struct{} // capacity 1: something to do

	ctx    context.Context // cancelled when Close gives up
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	stats sinkStats
}

func newSink(name string, o SinkOptions, deliver func(context.Context, *Profile) (string, error), release func()) *Sink {
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultSinkQueue
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = DefaultSinkQueueBytes
	}
	if o.Workers <= 0 {
		o.Workers = DefaultSinkWorkers
	}
	s := &Sink{
		name: name, deliver: deliver, release: release, opts: o,
		log:  ratelog.New(o.Logger, time.Minute, nil),
		wake: make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// start starts the workers, once the sink is fully built.
func (s *Sink) start() *Sink {
	s.wg.Add(s.opts.Workers)
	for range s.opts.Workers {
		go s.work()
	}
	return s
}

// Name returns "pyroscope" or "file".
func (s *Sink) Name() string { return s.name }

// Send queues p for delivery. It never blocks: when the queue is full the
// oldest waiting profiles are dropped and counted; after Close, p is
// dropped.
func (s *Sink) Send(p Profile) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.dropped("closed", 1)
		return
	}
	var n int64
	size := int64(len(p.Data))
	for len(s.queue) > 0 && (len(s.queue) >= s.opts.MaxQueue || s.qbytes+size > s.opts.MaxQueueBytes) {
		s.qbytes -= int64(len(s.queue[0].Data))
		s.queue[0] = Profile{}
		s.queue = s.queue[1:]
		n++
	}
	s.queue = append(s.queue, p)
	s.qbytes += size
	s.mu.Unlock()
	if n > 0 {
		s.dropped("queue_full", n)
		s.log.Log(s.name+"-queue", slog.LevelWarn, "perfagent: profile queue full; dropped the oldest profiles",
			slog.String("sink", s.name), slog.Int64("dropped", n))
	}
	s.signal()
}

func (s *Sink) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Sink) dropped(reason string, n int64) {
	s.stats.add(&s.stats.dropped, reason, n)
	if s.opts.OnDrop != nil {
		s.opts.OnDrop(n)
	}
}

// next returns the oldest waiting profile, waiting for one; ok is false
// when the sink is closed and empty, or abandoned.
func (s *Sink) next() (p Profile, ok bool) {
	for {
		if s.ctx.Err() != nil {
			return Profile{}, false
		}
		s.mu.Lock()
		if len(s.queue) > 0 {
			p = s.queue[0]
			s.queue[0] = Profile{}
			s.queue = s.queue[1:]
			s.qbytes -= int64(len(p.Data))
			more := len(s.queue) > 0
			s.mu.Unlock()
			if more {
				s.signal() // let another worker take the next one
			}
			return p, true
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			s.signal() // wake the other workers so they exit too
			return Profile{}, false
		}
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			return Profile{}, false
		}
	}
}

func (s *Sink) work() {
	defer s.wg.Done()
	for {
		if s.ctx.Err() != nil {
			return
		}
		p, ok := s.next()
		if !ok {
			return
		}
		s.deliverOne(&p)
	}
}

func (s *Sink) deliverOne(p *Profile) {
	var (
		where string
		err   error
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("recovered panic: %v", r)
				if s.opts.OnPanic != nil {
					s.opts.OnPanic("profiling-" + s.name)
				}
			}
		}()
		where, err = s.deliver(s.ctx, p)
	}()
	if err != nil {
		if s.ctx.Err() != nil {
			s.dropped("shutdown", 1)
			return
		}
		reason := failureReason(err)
		s.stats.fail(reason, err, time.Now())
		s.log.Log(s.name+"-fail", slog.LevelWarn, "perfagent: profile delivery failed",
			slog.String("sink", s.name), slog.String("kind", p.Kind), slog.String("reason", reason), slog.String("error", err.Error()))
		return
	}
	s.stats.ok(p.Kind, int64(len(p.Data)), where, time.Now())
}

// Discard cancels every delivery: uploads in flight end at once, and
// profiles waiting or sent later are never delivered (Close drops and
// counts them). Use it when the sink is torn down before it was ever used
// (a Start that failed), so nothing leaves the process on the way out. Call
// Close after it to stop the workers.
func (s *Sink) Discard() { s.cancel() }

// Close stops accepting profiles and delivers those waiting, within ctx.
// When ctx ends first, deliveries in flight are cancelled (an upload ends
// at once, its retries too; a file write in progress completes), the
// waiting profiles are dropped and counted, and ctx.Err() is returned.
// Every worker has exited when Close returns. A second call returns
// ErrSinkClosed.
func (s *Sink) Close(ctx context.Context) error {
	err := ErrSinkClosed
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.signal()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
			err = nil
		case <-ctx.Done():
			s.cancel()
			<-done // in-flight requests end at once when cancelled
			err = ctx.Err()
		}
		s.cancel()
		s.mu.Lock()
		left := int64(len(s.queue))
		s.queue, s.qbytes = nil, 0
		s.mu.Unlock()
		if left > 0 {
			s.dropped("shutdown", left)
		}
		if s.release != nil {
			s.release()
		}
	})
	return err
}

// SinkStats is a point-in-time account of a [Sink]'s deliveries, shaped for
// JSON.
type SinkStats struct {
	// Delivered counts profiles uploaded (or written), by kind.
	Delivered map[string]int64 `json:"delivered"`
	// Bytes is the size of the profiles delivered.
	Bytes int64 `json:"bytes"`
	// Failed counts profiles given up after their attempts, by reason:
	// "rejected" (4xx other than 429), "throttled" (429),
	// "server_error" (5xx), "network" (connection errors, timeouts),
	// "write" (file errors), "error" (anything else).
	Failed map[string]int64 `json:"failed,omitempty"`
	// Dropped counts profiles never delivered, by reason: "queue_full",
	// "shutdown" (abandoned at Close's deadline), "closed" (sent after
	// Close).
	Dropped map[string]int64 `json:"dropped,omitempty"`
	// Retries counts repeated attempts.
	Retries int64 `json:"retries"`
	// Queued and QueuedBytes are the profiles waiting now.
	Queued      int   `json:"queued"`
	QueuedBytes int64 `json:"queued_bytes"`
	// LastSuccess, LastFailure and LastError describe the latest
	// deliveries; LastPath is the latest file written (file sink).
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastPath    string    `json:"last_path,omitempty"`
}

// Stats returns the sink's counters.
func (s *Sink) Stats() SinkStats {
	st := s.stats.snapshot()
	s.mu.Lock()
	st.Queued, st.QueuedBytes = len(s.queue), s.qbytes
	s.mu.Unlock()
	return st
}

type sinkStats struct {
	mu          sync.Mutex
	delivered   map[string]int64
	failed      map[string]int64
	dropped     map[string]int64
	bytes       int64
	retries     int64
	lastSuccess time.Time
	lastFailure time.Time
	lastError   string
	lastPath    string
}

func (s *sinkStats) add(m *map[string]int64, key string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[key] += n
}

func (s *sinkStats) retry() {
	s.mu.Lock()
	s.retries++
	s.mu.Unlock()
}

func (s *sinkStats) ok(kind string, n int64, path string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delivered == nil {
		s.delivered = map[string]int64{}
	}
	s.delivered[kind]++
	s.bytes += n
	s.lastSuccess = now
	if path != "" {
		s.lastPath = path
	}
}

func (s *sinkStats) fail(reason string, err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = map[string]int64{}
	}
	s.failed[reason]++
	s.lastFailure, s.lastError = now, err.Error()
}

func (s *sinkStats) snapshot() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SinkStats{
		Delivered: cloneCounts(s.delivered), Bytes: s.bytes,
		Failed: cloneCounts(s.failed), Dropped: cloneCounts(s.dropped), Retries: s.retries,
		LastSuccess: s.lastSuccess, LastFailure: s.lastFailure, LastError: s.lastError, LastPath: s.lastPath,
	}
}

// ProfileWriter stores one profile file. snapshot.Store implements it: it
// writes data as <dir>/<kind>-<timestamp>.pb.gz atomically under its byte
// and file-count quotas and returns the path.
type ProfileWriter interface {
	Write(kind string, at time.Time, data []byte) (path string, err error)
}

// NewFileSink returns a sink writing each profile through w (kind and the
// profile's end time name the file), for local rolling profiles that open
// with `go tool pprof`. Write errors are counted as failed "write" and
// logged at most once a minute.
func NewFileSink(w ProfileWriter, o SinkOptions) (*Sink, error) {
	if w == nil {
		return nil, errors.New("exporters: file sink: nil writer")
	}
	if o.Workers <= 0 {
		o.Workers = 1 // files are written in order
	}
	return newSink("file", o, func(_ context.Context, p *Profile) (string, error) {
		path, err := w.Write(p.Kind, p.End, p.Data)
		if err != nil {
			return "", &writeError{err}
		}
		return path, nil
	}, nil).start(), nil
}

type writeError struct{ err error }

func (e *writeError) Error() string { return "write profile: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
