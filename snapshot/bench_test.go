package snapshot

import (
	"testing"
	"time"
)

// BenchmarkSample is the sampler's cost per tick: one read of the runtime
// and /proc/self and the snapshot computed from it.
func BenchmarkSample(b *testing.B) {
	s := NewSampler(nil)
	defer s.Close()
	var snap Snapshot
	s.Sample(&snap)
	s.Sample(&snap)
	b.ReportAllocs()
	for b.Loop() {
		s.Sample(&snap)
	}
}

func BenchmarkHistoryAdd(b *testing.B) {
	h := NewHistory(0)
	s := snapAt(1)
	b.ReportAllocs()
	for b.Loop() {
		h.Add(&s)
	}
}

// BenchmarkCheck is the triggers' cost per tick when none fires.
func BenchmarkCheck(b *testing.B) {
	c := NewCapturer(nil, CaptureConfig{})
	s := Snapshot{Time: t0, HeapLive: 100 << 20, Goroutines: Goroutines{Total: 100}, SchedLatency: Latency{Count: 10, P99: 1e-4}}
	b.ReportAllocs()
	for b.Loop() {
		s.Time = s.Time.Add(10 * time.Second)
		c.Check(&s)
	}
}
