package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/internal/cpuprof"
)

func parseProfile(t *testing.T, path string) *profile.Profile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.ParseData(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

func TestCaptureEveryType(t *testing.T) {
	store, _ := OpenStore(t.TempDir(), StoreOptions{})
	c := NewCapturer(store, CaptureConfig{CPU: &cpuprof.Profiler{}})
	defer c.Close(context.Background())
	want := map[string]string{Heap: "inuse_space", Allocs: "alloc_space", Goroutine: "goroutine", Mutex: "delay", Block: "delay", CPU: "cpu"}
	for _, typ := range Types {
		res, err := c.Capture(context.Background(), typ, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if filepath.Base(res.Path)[:len(typ)+1] != typ+"-" || res.Bytes == 0 || res.Trigger != OnDemand {
			t.Errorf("%s: %+v", typ, res)
		}
		p := parseProfile(t, res.Path)
		found := false
		for _, st := range p.SampleType {
			found = found || st.Type == want[typ]
		}
		if !found {
			t.Errorf("%s profile has sample types %v, want %s", typ, p.SampleType, want[typ])
		}
	}
	if st := c.Stats(); st.Taken[Heap] != 1 || st.Taken[CPU] != 1 || len(st.Recent) != 6 {
		t.Errorf("stats %+v", st)
	}
	if _, err := c.Capture(context.Background(), "threadcreate", 0); err == nil {
		t.Error("unknown type accepted")
	}
}

func TestCaptureCPUBusyAndCancel(t *testing.T) {
	store, _ := OpenStore(t.TempDir(), StoreOptions{})
	arb := &cpuprof.Profiler{}
	c := NewCapturer(store, CaptureConfig{CPU: arb})
	defer c.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Capture(ctx, CPU, time.Minute)
		errc <- err
	}()
	// Wait until the first capture holds the CPU type.
	for deadline := time.Now().Add(5 * time.Second); ; {
		c.mu.Lock()
		busy := c.running[CPU]
		c.mu.Unlock()
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("CPU capture did not start")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Capture(context.Background(), CPU, time.Second); !errors.Is(err, ErrBusy) {
		t.Errorf("second CPU capture: %v, want ErrBusy", err)
	}
	// Heap captures are not blocked by a CPU capture.
	if _, err := c.Capture(context.Background(), Heap, 0); err != nil {
		t.Errorf("heap during CPU: %v", err)
	}
	cancel() // a cancelled CPU capture stops early and keeps what it has
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("cancelled CPU capture: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CPU capture ignored its context")
	}
}

func TestCaptureWithoutStoreOrCPU(t *testing.T) {
	c := NewCapturer(nil, CaptureConfig{})
	defer c.Close(context.Background())
	if _, err := c.Capture(context.Background(), Heap, 0); !errors.Is(err, ErrDisabled) {
		t.Errorf("no store: %v", err)
	}
	if _, err := c.Capture(context.Background(), CPU, time.Millisecond); err == nil {
		t.Error("CPU capture without a profiler succeeded")
	}
	if st := c.Stats(); st.Failed[Heap] != 1 || st.Failed[CPU] != 1 {
		t.Errorf("failures not counted: %+v", st.Failed)
	}
}

// clock is a manual clock for trigger tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// waitTaken waits until the worker has taken n captures of typ.
func waitTaken(t *testing.T, c *Capturer, typ string, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Taken[typ] < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%s captures: %d, want %d (%+v)", typ, c.Stats().Taken[typ], n, c.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTriggersCooldownAndRateLimit(t *testing.T) {
	store, _ := OpenStore(t.TempDir(), StoreOptions{})
	clk := &clock{t: t0}
	trig := Off()
	trig.GCCPUFraction = 0.25
	c := NewCapturer(store, CaptureConfig{Now: clk.Now, Cooldown: time.Minute, RateEvery: 10 * time.Minute, RateBurst: 2, Triggers: trig})
	c.Start()
	defer c.Close(context.Background())

	snap := func(frac float64) *Snapshot {
		return &Snapshot{Time: clk.Now(), GCCPUFraction: frac, HeapLive: 1 << 20, Goroutines: Goroutines{Total: 10}}
	}
	if n := c.Check(snap(0.1)); n != 0 {
		t.Fatalf("fired below threshold")
	}
	if n := c.Check(snap(0.4)); n != 1 {
		t.Fatalf("did not fire above threshold")
	}
	waitTaken(t, c, Allocs, 1)
	waitTaken(t, c, Heap, 1)
	// Still above: no new firing until the cooldown has passed.
	clk.Add(10 * time.Second)
	if n := c.Check(snap(0.4)); n != 0 {
		t.Errorf("fired again while the condition held within the cooldown")
	}
	// Falls and rises again within the cooldown: fires, but is skipped.
	c.Check(snap(0.1))
	clk.Add(10 * time.Second)
	c.Check(snap(0.5))
	if st := c.Stats(); st.Skipped[SkipCooldown] != 1 {
		t.Errorf("cooldown skip not counted: %+v", st.Skipped)
	}
	// After the cooldown: the second token.
	clk.Add(time.Minute)
	c.Check(snap(0.5))
	waitTaken(t, c, Allocs, 2)
	// The bucket is empty now (burst 2, refill every 10m).
	clk.Add(2 * time.Minute)
	c.Check(snap(0.5))
	if st := c.Stats(); st.Skipped[SkipRateLimit] != 1 {
		t.Errorf("rate limit skip not counted: %+v", st.Skipped)
	}
	// Ten minutes refill a token.
	clk.Add(10 * time.Minute)
	c.Check(snap(0.5))
	waitTaken(t, c, Allocs, 3)
	if st := c.Stats(); st.Fired[TriggerGCCPU] != 5 {
		t.Errorf("fired %d, want 5", st.Fired[TriggerGCCPU])
	}
}

func TestTriggerConditions(t *testing.T) {
	tr := Triggers{Window: time.Minute}
	tr.defaults()
	var st triggerState
	at := t0
	check := func(heap, g uint64, p99 time.Duration, gc float64) []string {
		at = at.Add(5 * time.Second)
		s := &Snapshot{Time: at, HeapLive: heap, Goroutines: Goroutines{Total: g}, GCCPUFraction: gc, IntervalSeconds: 5,
			SchedLatency: Latency{Count: 100, P99: p99.Seconds()}}
		var names []string
		for _, f := range st.check(&tr, s, time.Hour) {
			names = append(names, f.name)
		}
		return names
	}
	// Start-up growth within the first window does not fire the heap trigger.
	if got := check(10<<20, 100, time.Millisecond, 0); got != nil {
		t.Errorf("fired: %v", got)
	}
	if got := check(200<<20, 100, time.Millisecond, 0); got != nil {
		t.Errorf("start-up growth fired: %v", got)
	}
	for i := 0; i < 15; i++ {
		check(100<<20, 100, time.Millisecond, 0)
	}
	// Steady at 100 MiB for a window; 160 MiB is +60% and +60 MiB.
	if got := check(160<<20, 100, time.Millisecond, 0); len(got) != 1 || got[0] != TriggerHeapGrowth {
		t.Errorf("heap growth: %v", got)
	}
	if got := check(160<<20, 100, time.Millisecond, 0); got != nil {
		t.Errorf("fired again while holding: %v", got)
	}
	// Goroutines: doubling by fewer than 500 does not fire; +900 does.
	if got := check(100<<20, 300, time.Millisecond, 0); got != nil {
		t.Errorf("small spike fired: %v", got)
	}
	if got := check(100<<20, 1000, time.Millisecond, 0); len(got) != 1 || got[0] != TriggerGoroutineSpike {
		t.Errorf("goroutine spike: %v", got)
	}
	if got := check(100<<20, 100, 80*time.Millisecond, 0.3); len(got) != 2 || got[0] != TriggerSchedLatency || got[1] != TriggerGCCPU {
		t.Errorf("latency and GC: %v", got)
	}
	off := Off()
	off.defaults()
	var st2 triggerState
	s := &Snapshot{Time: t0, HeapLive: 1 << 40, Goroutines: Goroutines{Total: 1 << 20}, GCCPUFraction: 1, SchedLatency: Latency{Count: 1, P99: 10}}
	if got := st2.check(&off, s, time.Hour); len(got) != 0 {
		t.Errorf("Off() fired %v", got)
	}
}

func TestTriggeredSkips(t *testing.T) {
	store, _ := OpenStore(t.TempDir(), StoreOptions{})
	trig := Off()
	trig.SchedLatencyP99 = time.Millisecond
	c := NewCapturer(store, CaptureConfig{Triggers: trig, MaxGoroutines: 5})
	// Not started: the queue fills and further captures are skipped.
	s := &Snapshot{Time: t0, Goroutines: Goroutines{Total: 10}, SchedLatency: Latency{Count: 1, P99: 1}}
	c.Check(s)
	st := c.Stats()
	if st.Skipped[SkipTooMany] != 1 || st.Skipped[SkipNoCPUProfiler] != 1 {
		t.Errorf("skips %+v", st.Skipped)
	}
	c.Close(context.Background())
	if err := c.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestQueueBound(t *testing.T) {
	store, _ := OpenStore(t.TempDir(), StoreOptions{})
	trig := Off()
	trig.GCCPUFraction = 0.1
	clk := &clock{t: t0}
	c := NewCapturer(store, CaptureConfig{Triggers: trig, Cooldown: time.Nanosecond, RateBurst: 100, Now: clk.Now})
	for i := 0; i < 10; i++ { // never started: nothing drains the queue
		clk.Add(time.Second)
		c.Check(&Snapshot{Time: clk.Now(), GCCPUFraction: 0.5})
		c.Check(&Snapshot{Time: clk.Now(), GCCPUFraction: 0})
	}
	if st := c.Stats(); st.Skipped[SkipBusy] != 20-queueSize {
		t.Errorf("busy skips %d, want %d", st.Skipped[SkipBusy], 20-queueSize)
	}
	c.Close(context.Background())
}

// A flood of on-demand captures never evicts a triggered capture: they
// have their own store (and quota).
func TestOnDemandNeverEvictsTriggered(t *testing.T) {
	store, _ := OpenStore(t.TempDir(), StoreOptions{MaxFiles: 2})
	c := NewCapturer(store, CaptureConfig{})
	defer c.Close(context.Background())
	trig, err := c.capture(context.Background(), Goroutine, "goroutine_spike", "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := c.Capture(context.Background(), Goroutine, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(trig.Path); err != nil {
		t.Errorf("the triggered capture was evicted by on-demand captures: %v", err)
	}
}

func TestOnDemandRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	store, _ := OpenStore(t.TempDir(), StoreOptions{})
	c := NewCapturer(store, CaptureConfig{OnDemandEvery: 10 * time.Second, OnDemandBurst: 2, Now: func() time.Time { return now }})
	defer c.Close(context.Background())
	for i := 0; i < 2; i++ {
		if _, err := c.Capture(context.Background(), Goroutine, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Capture(context.Background(), Goroutine, 0)
	var rl *RateLimitError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) || rl.RetryAfter != 10*time.Second {
		t.Fatalf("third capture: %v", err)
	}
	now = now.Add(10 * time.Second)
	if _, err := c.Capture(context.Background(), Goroutine, 0); err != nil {
		t.Errorf("after the refill: %v", err)
	}
	if st := c.Stats(); st.Skipped[SkipRateLimit] != 1 {
		t.Errorf("skipped %+v", st.Skipped)
	}
}
