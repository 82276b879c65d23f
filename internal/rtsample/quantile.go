package rtsample

import "math"

// Quantile returns an upper estimate of the q quantile (0 < q ≤ 1) of the
// values a runtime/metrics histogram counted between two readings: counts
// minus prev, bucket by bucket (prev nil: counts alone; a bucket that went
// down counts as 0). The estimate is the histogram's resolution: the value
// of the bucket holding rank ⌈q·n⌉, which is its upper bound, or its lower
// bound when it is unbounded above, and never below 0 (the runtime's
// histograms are of durations). ok is false when no values were counted or
// the slices do not fit buckets (len(buckets) == len(counts)+1,
// len(prev) == len(counts) when prev is not nil).
//
// It does not allocate: the snapshot pipeline, the system benchmarks and
// anything else that summarises [Hist] values use it.
func Quantile(buckets []float64, counts, prev []uint64, q float64) (v float64, ok bool) {
	total, ok := deltaTotal(buckets, counts, prev)
	if !ok {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var seen uint64
	for i := range counts {
		seen += delta(counts, prev, i)
		if seen >= rank {
			return BucketValue(buckets[i], buckets[i+1]), true
		}
	}
	return BucketValue(buckets[len(counts)-1], buckets[len(counts)]), true
}

// Max returns the value of the highest bucket that counted a value between
// the two readings, as [Quantile] reports buckets; ok is false when none
// did.
func Max(buckets []float64, counts, prev []uint64) (v float64, ok bool) {
	if _, ok := deltaTotal(buckets, counts, prev); !ok {
		return 0, false
	}
	for i := len(counts) - 1; i >= 0; i-- {
		if delta(counts, prev, i) > 0 {
			return BucketValue(buckets[i], buckets[i+1]), true
		}
	}
	return 0, false
}

// Quantile returns the q quantile of the values in h, as the function
// [Quantile] does; 0 when h is empty.
func (h *Hist) Quantile(q float64) float64 {
	v, _ := Quantile(h.Buckets, h.Counts, nil, q)
	return v
}

// BucketValue is the value reported for the bucket [lo, hi): hi when it is
// finite, else lo when that is, else 0; never below 0.
func BucketValue(lo, hi float64) float64 {
	switch {
	case !math.IsInf(hi, 0):
		return math.Max(hi, 0)
	case !math.IsInf(lo, 0):
		return math.Max(lo, 0)
	}
	return 0
}

func delta(counts, prev []uint64, i int) uint64 {
	if prev == nil {
		return counts[i]
	}
	if counts[i] < prev[i] {
		return 0
	}
	return counts[i] - prev[i]
}

func deltaTotal(buckets []float64, counts, prev []uint64) (uint64, bool) {
	n := len(counts)
	if n == 0 || len(buckets) != n+1 || (prev != nil && len(prev) != n) {
		return 0, false
	}
	var total uint64
	for i := range counts {
		total += delta(counts, prev, i)
	}
	return total, total > 0
}
