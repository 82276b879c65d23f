package rtmetrics

import (
	"math"
	"slices"
	"testing"

	"github.com/perfagent/perfagent/internal/rtsample"
)

func TestHistConvPlacement(t *testing.T) {
	r := rtsample.New(rtsample.Options{})
	rb := r.SchedLatencyBuckets()
	bounds := DefaultBoundaries()
	h := newHistConv(rb, bounds)
	for i := 0; i+1 < len(rb); i++ {
		lo, hi := rb[i], rb[i+1]
		j := h.toExpl[i]
		// Every value of [lo, hi) is ≤ the explicit bucket's upper bound...
		if j < len(bounds) && hi > bounds[j] {
			t.Errorf("runtime bucket [%g,%g) placed under bound %g", lo, hi, bounds[j])
		}
		// ...and the bucket is the first that can hold it.
		if j > 0 && j <= len(bounds) && !math.IsInf(hi, 1) && hi <= bounds[j-1] {
			t.Errorf("runtime bucket [%g,%g) placed at %d, bound %g would hold it", lo, hi, j, bounds[j-1])
		}
		if mid := h.mids[i]; mid > 0 {
			idx := h.toExp[i]
			base := math.Exp2(math.Exp2(-ExponentialScale))
			if !(math.Pow(base, float64(idx)) < mid*(1+1e-12) && mid <= math.Pow(base, float64(idx+1))*(1+1e-12)) {
				t.Errorf("midpoint %g not in exponential bucket %d", mid, idx)
			}
		}
	}
	// Distinct runtime sub-buckets land in distinct exponential buckets.
	seen := map[int32]bool{}
	for i, idx := range h.toExp {
		if idx == zeroIndex || math.IsInf(rb[i+1], 1) {
			continue
		}
		if seen[idx] {
			t.Errorf("two runtime buckets share exponential bucket %d", idx)
		}
		seen[idx] = true
	}
}

func TestHistConvCountsAndSum(t *testing.T) {
	rb := []float64{math.Inf(-1), 0, 1, 2, 4, math.Inf(1)}
	h := newHistConv(rb, []float64{1.5, 3})
	counts := []uint64{0, 10, 20, 30, 5}
	prev := []uint64{0, 5, 0, 0, 0}
	b, total, sum := h.explicit(counts, nil)
	// [0,1) → ≤1.5; [1,2) → ≤3; [2,4) → +Inf; [4,+Inf) → +Inf
	if want := []uint64{10, 20, 35}; !slices.Equal(b, want) || total != 65 {
		t.Errorf("explicit = %v total %d, want %v 65", b, total, want)
	}
	if want := 10*0.5 + 20*1.5 + 30*3 + 5*4.0; sum != want {
		t.Errorf("sum = %g, want %g", sum, want)
	}
	b, total, _ = h.explicit(counts, prev)
	if want := []uint64{5, 20, 35}; !slices.Equal(b, want) || total != 60 {
		t.Errorf("delta explicit = %v total %d", b, total)
	}
	off, eb, zero, total, _ := h.exponential(counts, nil)
	var n uint64
	for _, c := range eb {
		n += c
	}
	if zero != 0 || n != 65 || total != 65 || eb[0] == 0 || eb[len(eb)-1] == 0 {
		t.Errorf("exponential offset %d buckets %v zero %d total %d", off, eb, zero, total)
	}
}
