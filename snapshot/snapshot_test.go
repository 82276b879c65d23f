package snapshot

import (
	"math"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/internal/rtsample"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var sink [][]byte

func TestSamplerValues(t *testing.T) {
	s := NewSampler(nil)
	defer s.Close()
	var first, snap Snapshot
	s.Sample(&first)
	if first.IntervalSeconds != 0 || first.AllocRate != 0 {
		t.Errorf("first snapshot has interval values: %+v", first)
	}
	if first.HeapGoal == 0 || first.MemTotal == 0 || first.Goroutines.Total == 0 || first.GOMAXPROCS == 0 {
		t.Fatalf("implausible snapshot: %+v", first)
	}
	// Allocate, let GCs run and goroutines wait, then sample again.
	for i := 0; i < 64; i++ {
		sink = append(sink, make([]byte, 64<<10))
	}
	runtime.GC()
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() { <-done }()
	}
	time.Sleep(20 * time.Millisecond)
	s.Sample(&snap)
	close(done)
	sink = nil
	if snap.IntervalSeconds <= 0 || snap.AllocRate <= 0 || snap.AllocObjectsRate <= 0 {
		t.Errorf("no interval values: %+v", snap)
	}
	if snap.GCCycles <= first.GCCycles {
		t.Errorf("GC cycles %d → %d after runtime.GC", first.GCCycles, snap.GCCycles)
	}
	if want := float64(snap.GCCycles-first.GCCycles) / snap.IntervalSeconds; snap.GCRate != want {
		t.Errorf("GC rate %v, want %v", snap.GCRate, want)
	}
	if snap.HeapLive < 4<<20 {
		t.Errorf("live heap %d after keeping 4 MiB live", snap.HeapLive)
	}
	if snap.Goroutines.Waiting < 4 || snap.Goroutines.Total < snap.Goroutines.Waiting {
		t.Errorf("goroutines %+v, want ≥ 4 waiting", snap.Goroutines)
	}
	if snap.GCCPUFraction < 0 || snap.GCCPUFraction > 1 {
		t.Errorf("GC CPU fraction %v", snap.GCCPUFraction)
	}
	if snap.SchedLatency.Count > 0 && (snap.SchedLatency.P50 > snap.SchedLatency.P99 || snap.SchedLatency.P99 > snap.SchedLatency.Max) {
		t.Errorf("latency quantiles out of order: %+v", snap.SchedLatency)
	}
	if runtime.GOOS == "linux" && (snap.RSS == 0 || snap.FDs < 3 || snap.Threads < 1 || snap.CPUSeconds <= 0) {
		t.Errorf("process values missing: rss %d fds %d threads %d cpu %v", snap.RSS, snap.FDs, snap.Threads, snap.CPUSeconds)
	}
}

func TestQuantilesFromDeltas(t *testing.T) {
	buckets := []float64{math.Inf(-1), 0, 1e-6, 1e-3, 1e-2, 1e-1, math.Inf(1)}
	prev := rtsample.Hist{Buckets: buckets, Counts: []uint64{0, 5, 100, 0, 0, 7}}
	cur := rtsample.Hist{Buckets: buckets, Counts: []uint64{0, 5, 198, 1, 1, 7}}
	l := quantiles(&cur, &prev)
	// 100 new values: 98 in [1µs,1ms), 1 in [1ms,10ms), 1 in [10ms,100ms).
	if l.Count != 100 || l.P50 != 1e-3 || l.P99 != 1e-2 || l.Max != 1e-1 {
		t.Errorf("got %+v", l)
	}
	// Values in the +Inf bucket report its lower bound.
	cur.Counts[5] = 8
	if l := quantiles(&cur, &prev); l.Max != 1e-1 || l.Count != 101 {
		t.Errorf("+Inf bucket: %+v", l)
	}
	if l := quantiles(&prev, &prev); l != (Latency{}) {
		t.Errorf("no change: %+v", l)
	}
	if l := quantiles(&rtsample.Hist{}, &prev); l != (Latency{}) {
		t.Errorf("empty: %+v", l)
	}
}

func TestSampleDoesNotAllocate(t *testing.T) {
	s := NewSampler(nil)
	defer s.Close()
	var snap Snapshot
	s.Sample(&snap)
	s.Sample(&snap)
	if n := testing.AllocsPerRun(100, func() { s.Sample(&snap) }); n != 0 {
		t.Errorf("Sample allocates %v times per call", n)
	}
}
