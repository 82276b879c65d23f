package rtmetrics

import (
	"math"
	"slices"
)

// DefaultBoundaries returns the explicit histogram boundaries, in seconds,
// used for scheduler latency and GC pauses: 16 boundaries from 1µs to 10s.
// With the +Inf bucket, `_sum` and `_count`, a histogram is 19 Prometheus
// series instead of about 165.
func DefaultBoundaries() []float64 {
	return []float64{
		1e-6, 5e-6, 10e-6, 50e-6, 100e-6, 250e-6, 500e-6,
		1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
		1, 10,
	}
}

// ExponentialScale is the scale of exported exponential histograms: four
// buckets per power of two, the resolution of the runtime's own histograms.
const ExponentialScale = 2

// histConv converts one runtime histogram (fixed bucket layout) into OTel
// explicit or exponential form. It is built once per histogram.
type histConv struct {
	bounds []float64 // explicit boundaries
	toExp  []int32   // runtime bucket → exponential index; zeroIndex for values ≤ 0
	toExpl []int     // runtime bucket → explicit bucket index (len(bounds) is +Inf)
	mids   []float64 // representative value of each runtime bucket, for sums
}

const zeroIndex = math.MinInt32

func newHistConv(runtimeBuckets, bounds []float64) *histConv {
	n := len(runtimeBuckets) - 1
	if n < 1 {
		return nil
	}
	h := &histConv{
		bounds: bounds,
		toExp:  make([]int32, n),
		toExpl: make([]int, n),
		mids:   make([]float64, n),
	}
	for i := 0; i < n; i++ {
		lo, hi := runtimeBuckets[i], runtimeBuckets[i+1]
		var mid float64
		switch {
		case math.IsInf(lo, -1) || hi <= 0:
			mid = 0
		case math.IsInf(hi, 1):
			mid = lo
		default:
			mid = (lo + hi) / 2
		}
		h.mids[i] = mid
		if mid <= 0 {
			h.toExp[i] = zeroIndex
		} else {
			// OTel exponential bucket i holds (base^i, base^(i+1)].
			h.toExp[i] = int32(math.Ceil(math.Log2(mid)*(1<<ExponentialScale))) - 1
		}
		// The first explicit bucket whose bound is ≥ hi holds every value
		// of [lo, hi): a count is never placed below a value it contains.
		h.toExpl[i] = len(bounds)
		if !math.IsInf(hi, 1) {
			if j, _ := slices.BinarySearch(bounds, hi); j < len(bounds) {
				h.toExpl[i] = j
			}
		}
	}
	return h
}

// delta returns counts[i] - prev[i] (prev may be nil).
func delta(counts, prev []uint64, i int) uint64 {
	if prev == nil || i >= len(prev) || prev[i] > counts[i] {
		return counts[i]
	}
	return counts[i] - prev[i]
}

// explicit returns per-bucket counts for h.bounds (len(bounds)+1), the
// total and the estimated sum of counts (minus prev, when not nil).
func (h *histConv) explicit(counts, prev []uint64) (buckets []uint64, total uint64, sum float64) {
	buckets = make([]uint64, len(h.bounds)+1)
	for i := range counts {
		c := delta(counts, prev, i)
		if c == 0 {
			continue
		}
		buckets[h.toExpl[i]] += c
		total += c
		sum += float64(c) * h.mids[i]
	}
	return buckets, total, sum
}

// exponential returns the positive buckets (offset and counts, trimmed to
// the first and last non-empty bucket), the zero count, the total and the
// estimated sum.
func (h *histConv) exponential(counts, prev []uint64) (offset int32, buckets []uint64, zero, total uint64, sum float64) {
	first, last := int32(math.MaxInt32), int32(math.MinInt32)
	for i := range counts {
		c := delta(counts, prev, i)
		if c == 0 {
			continue
		}
		total += c
		sum += float64(c) * h.mids[i]
		idx := h.toExp[i]
		if idx == zeroIndex {
			zero += c
			continue
		}
		first, last = min(first, idx), max(last, idx)
	}
	if first > last {
		return 0, nil, zero, total, sum
	}
	buckets = make([]uint64, last-first+1)
	for i := range counts {
		if idx := h.toExp[i]; idx != zeroIndex {
			if c := delta(counts, prev, i); c != 0 {
				buckets[idx-first] += c
			}
		}
	}
	return first, buckets, zero, total, sum
}
