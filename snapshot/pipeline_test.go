package snapshot

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// manualTicker is an injected clock: the test sends the ticks.
type manualTicker struct {
	c       chan time.Time
	stopped chan struct{}
	once    sync.Once
}

func newManualTicker() *manualTicker {
	return &manualTicker{c: make(chan time.Time), stopped: make(chan struct{})}
}

func (m *manualTicker) new(d time.Duration) (<-chan time.Time, func()) {
	return m.c, func() { m.once.Do(func() { close(m.stopped) }) }
}

// recorder is an observer that keeps what it saw.
type recorder struct {
	mu   sync.Mutex
	seen []Snapshot
	got  chan struct{}
}

func (r *recorder) Observe(s *Snapshot) {
	r.mu.Lock()
	r.seen = append(r.seen, *s)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func TestPipeline(t *testing.T) {
	tk := newManualTicker()
	rec := &recorder{got: make(chan struct{}, 16)}
	h := NewHistory(10)
	var panics []any
	boom := ObserverFunc(func(s *Snapshot) {
		if s.Time.IsZero() {
			t.Error("observer got an empty snapshot")
		}
		panic("observer bug")
	})
	s := NewSampler(nil)
	defer s.Close()
	p, err := NewPipeline(s, PipelineOptions{Interval: time.Hour, NewTicker: tk.new,
		Observers: []Observer{h, boom, rec}, OnPanic: func(v any) { panics = append(panics, v) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Latest(); ok {
		t.Error("Latest before the first snapshot")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	<-rec.got // Start takes the first snapshot itself
	if err := p.Start(); err != nil {
		t.Errorf("second Start: %v", err)
	}
	for i := 0; i < 3; i++ {
		tk.c <- time.Now()
		<-rec.got
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tk.stopped:
	default:
		t.Error("Close did not stop the ticker")
	}
	// Every observer saw every snapshot, in order, though one panicked each time.
	if p.Ticks() != 4 || h.Len() != 4 || len(rec.seen) != 4 || len(panics) != 4 {
		t.Fatalf("ticks %d, history %d, recorder %d, panics %d; want 4 each", p.Ticks(), h.Len(), len(rec.seen), len(panics))
	}
	if rec.seen[0].IntervalSeconds != 0 || rec.seen[3].IntervalSeconds <= 0 || !rec.seen[3].Time.After(rec.seen[0].Time) {
		t.Errorf("snapshots not a sequence: %+v ... %+v", rec.seen[0], rec.seen[3])
	}
	if last, ok := p.Latest(); !ok || last != rec.seen[3] {
		t.Errorf("Latest %+v, want the newest", last)
	}
	if err := p.Close(context.Background()); !errors.Is(err, ErrPipelineClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := p.Start(); !errors.Is(err, ErrPipelineClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
		t.Error(err)
	}
}

func TestPipelineOptions(t *testing.T) {
	s := NewSampler(nil)
	defer s.Close()
	if _, err := NewPipeline(s, PipelineOptions{}); err == nil {
		t.Error("zero interval accepted")
	}
	if _, err := NewPipeline(nil, PipelineOptions{Interval: time.Second}); err == nil {
		t.Error("nil sampler accepted")
	}
	// Close before Start returns at once; a real ticker by default.
	p, _ := NewPipeline(s, PipelineOptions{Interval: time.Millisecond})
	if err := p.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

// Close honours its context while an observer is stuck.
func TestPipelineCloseDeadline(t *testing.T) {
	tk := newManualTicker()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	first := true
	stuck := ObserverFunc(func(*Snapshot) {
		if first { // the Start snapshot passes
			first = false
			return
		}
		entered <- struct{}{}
		<-release
	})
	s := NewSampler(nil)
	defer s.Close()
	p, _ := NewPipeline(s, PipelineOptions{Interval: time.Hour, NewTicker: tk.new, Observers: []Observer{stuck}})
	_ = p.Start()
	tk.c <- time.Now()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with a cancelled context: %v", err)
	}
	close(release)
	<-tk.stopped // the loop exits once the observer returns
}

func TestHistoryFlushEvery(t *testing.T) {
	store, err := OpenStore(t.TempDir(), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHistory(100)
	var errs []error
	flush := h.FlushEvery(store, time.Minute, func(err error) { errs = append(errs, err) })
	for i := 0; i <= 150; i += 10 { // a snapshot every 10s for 150s
		s := Snapshot{Time: t0.Add(time.Duration(i) * time.Second)}
		h.Observe(&s)
		flush.Observe(&s)
	}
	entries, _ := os.ReadDir(store.Dir())
	if len(entries) != 2 || len(errs) != 0 || h.Pending() != 3 {
		t.Errorf("files %d, errors %v, pending %d; want 2 files (at 60s and 120s) and 3 pending", len(entries), errs, h.Pending())
	}
}

func TestSamplerCgroupLimit(t *testing.T) {
	s := NewSampler(nil)
	defer s.Close()
	reads := 0
	s.cgroupLimit = func() (uint64, bool) { reads++; return 512 << 20, true }
	var snap Snapshot
	for i := 0; i < 3; i++ {
		s.Sample(&snap)
		if snap.CgroupMemLimit != 512<<20 {
			t.Fatalf("CgroupMemLimit %d", snap.CgroupMemLimit)
		}
	}
	if reads != 1 {
		t.Errorf("cgroup read %d times within a minute, want 1", reads)
	}
	s.cgroupAt = s.cgroupAt.Add(-CgroupRefresh)
	s.Sample(&snap)
	if reads != 2 {
		t.Errorf("cgroup not re-read after CgroupRefresh (%d reads)", reads)
	}
}

func TestGCCPUFraction(t *testing.T) {
	for _, c := range []struct {
		gc0, t0, gc1, t1, want float64
		ok                     bool
	}{
		{0, 0, 1, 4, 0.25, true},
		{1, 4, 1, 4, 0, false}, // no GC in between: the classes did not move
		{1, 4, 3, 3, 0, false}, // a total going back (a reset) is no interval
		{0, 0, 5, 4, 1, true},  // clamped
		{2, 0, 1, 4, 0, true},  // clamped
		{0, 10, 0.5, 20, 0.05, true},
	} {
		got, ok := GCCPUFraction(c.gc0, c.t0, c.gc1, c.t1)
		if got != c.want || ok != c.ok {
			t.Errorf("GCCPUFraction(%v, %v, %v, %v) = %v, %v; want %v, %v", c.gc0, c.t0, c.gc1, c.t1, got, ok, c.want, c.ok)
		}
	}
}

// BenchmarkPipelineTick is one tick with the history as observer: the
// pipeline adds no allocation to the sampler's.
func BenchmarkPipelineTick(b *testing.B) {
	s := NewSampler(nil)
	defer s.Close()
	p, _ := NewPipeline(s, PipelineOptions{Interval: time.Hour, Observers: []Observer{NewHistory(0)}})
	p.Tick()
	p.Tick()
	b.ReportAllocs()
	for b.Loop() {
		p.Tick()
	}
}
