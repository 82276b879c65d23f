package rtsample

import (
	"math"
	"runtime/metrics"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	buckets := []float64{math.Inf(-1), 0.001, 0.01, 0.1, inf}
	for _, tc := range []struct {
		name         string
		counts, prev []uint64
		q, want      float64
		ok           bool
	}{
		{"p50 in the middle", []uint64{0, 10, 10, 0}, nil, 0.5, 0.01, true},
		{"p50 at the edge", []uint64{0, 10, 10, 0}, nil, 0.49, 0.01, true},
		{"rank rounds up", []uint64{0, 99, 1, 0}, nil, 0.99, 0.01, true},
		{"p99 of 100 in the first", []uint64{0, 99, 1, 0}, nil, 0.985, 0.01, true},
		{"first bucket unbounded below", []uint64{5, 0, 0, 0}, nil, 0.5, 0.001, true},
		{"last bucket unbounded above", []uint64{0, 0, 0, 3}, nil, 0.99, 0.1, true},
		{"delta of two readings", []uint64{0, 10, 15, 1}, []uint64{0, 10, 5, 0}, 0.99, 0.1, true},
		{"delta p50", []uint64{0, 10, 15, 1}, []uint64{0, 10, 5, 0}, 0.5, 0.1, true},
		{"counts that went down", []uint64{0, 1, 0, 0}, []uint64{0, 0, 5, 0}, 0.99, 0.01, true},
		{"empty", []uint64{0, 0, 0, 0}, nil, 0.5, 0, false},
		{"no change", []uint64{1, 2, 3, 4}, []uint64{1, 2, 3, 4}, 0.5, 0, false},
		{"bad shape", []uint64{1, 2, 3}, nil, 0.5, 0, false},
		{"bad prev", []uint64{1, 2, 3, 4}, []uint64{1}, 0.5, 0, false},
	} {
		got, ok := Quantile(buckets, tc.counts, tc.prev, tc.q)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: Quantile = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if m, ok := Max(buckets, []uint64{0, 10, 15, 1}, []uint64{0, 10, 5, 1}); m != 0.1 || !ok {
		t.Errorf("Max = %v, %v", m, ok)
	}
	if _, ok := Max(buckets, []uint64{0, 0, 0, 0}, nil); ok {
		t.Error("Max of nothing")
	}
}

// TestQuantileOfRuntimeHistogram reads the runtime's own scheduler latency
// histogram: its quantiles are ordered and lie on its bucket bounds.
func TestQuantileOfRuntimeHistogram(t *testing.T) {
	for range 100 {
		go func() {}()
	}
	time.Sleep(time.Millisecond)
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		t.Skip("no scheduler latency histogram")
	}
	rh := s[0].Value.Float64Histogram()
	h := Hist{Buckets: rh.Buckets, Counts: rh.Counts}
	p50, p99 := h.Quantile(0.5), h.Quantile(0.99)
	m, _ := Max(h.Buckets, h.Counts, nil)
	if !(0 < p50 && p50 <= p99 && p99 <= m) {
		t.Errorf("p50 %v, p99 %v, max %v", p50, p99, m)
	}
}

func TestQuantileAllocs(t *testing.T) {
	buckets := []float64{0, 1, 2, math.Inf(1)}
	cur, prev := []uint64{1, 2, 3}, []uint64{0, 1, 1}
	if n := testing.AllocsPerRun(100, func() { _, _ = Quantile(buckets, cur, prev, 0.99) }); n != 0 {
		t.Errorf("Quantile allocates %v times", n)
	}
}
