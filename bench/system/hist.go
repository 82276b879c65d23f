package system

import (
	"runtime/metrics"
	"slices"

	"github.com/perfagent/perfagent/internal/rtsample"
)

// histReader reads the change of a cumulative runtime/metrics histogram
// over an interval. It is not safe for concurrent use.
type histReader struct {
	s       [1]metrics.Sample
	counts0 []uint64
}

func newHistReader(name string) *histReader {
	h := &histReader{}
	h.s[0].Name = name
	return h
}

// start records the histogram's counts now.
func (h *histReader) start() {
	metrics.Read(h.s[:])
	h.counts0 = nil
	if h.s[0].Value.Kind() == metrics.KindFloat64Histogram {
		// Note: the runtime may reuse the histogram's memory on the next
		// Read, so the counts are copied.
		h.counts0 = slices.Clone(h.s[0].Value.Float64Histogram().Counts)
	}
}

// delta returns the counts added since start. A metric this Go version
// lacks gives an empty histogram.
func (h *histReader) delta() hist {
	metrics.Read(h.s[:])
	if h.s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return hist{}
	}
	cur := h.s[0].Value.Float64Histogram()
	d := hist{counts: slices.Clone(cur.Counts), buckets: cur.Buckets}
	if len(h.counts0) == len(d.counts) {
		for i := range d.counts {
			d.counts[i] -= h.counts0[i]
		}
	}
	return d
}

// hist is a histogram in the layout of metrics.Float64Histogram: counts[i]
// values fell in [buckets[i], buckets[i+1]).
type hist struct {
	counts  []uint64
	buckets []float64
}

func (h hist) total() uint64 {
	var n uint64
	for _, c := range h.counts {
		n += c
	}
	return n
}

// quantile returns the upper bound of the bucket holding the q quantile
// (the lower bound when that bucket is unbounded above): an upper estimate
// at the histogram's resolution. It returns 0 for an empty histogram.
func (h hist) quantile(q float64) float64 {
	v, _ := rtsample.Quantile(h.buckets, h.counts, nil, q)
	return v
}

// max returns the bound of the highest non-empty bucket, as quantile does.
func (h hist) max() float64 {
	v, _ := rtsample.Max(h.buckets, h.counts, nil)
	return v
}

func uint64Of(s metrics.Sample) uint64 {
	if s.Value.Kind() == metrics.KindUint64 {
		return s.Value.Uint64()
	}
	return 0
}

func float64Of(s metrics.Sample) float64 {
	if s.Value.Kind() == metrics.KindFloat64 {
		return s.Value.Float64()
	}
	return 0
}
