package monitor

import (
	"math"
	"slices"
	"time"
)

// Reading is one raw read of a target, as a [Source] delivers it: gauges as
// they are, and cumulative counters and histograms as totals since the
// target started. The monitor turns consecutive readings into [Sample]
// values (CPU cores, GC rate and scheduler-lag p99 over each interval).
//
// A Source fills a Reading the monitor owns and reuses: a Source must not
// keep references into it (Sched's slices are the Reading's own, to be
// refilled with append(r.Sched.Bounds[:0], ...)).
type Reading struct {
	// Time is when the target was read.
	Time time.Time
	// Gauges holds the instantaneous series the target exposes (RSS, Heap,
	// HeapGoal, Goroutines, Threads, FDs, GCCPU). Interval series set here
	// are ignored: they are derived from the counters below.
	Gauges Sample
	// CPUSeconds is the process's cumulative CPU time (user + system) in
	// seconds, when HasCPU.
	CPUSeconds float64
	HasCPU     bool
	// GCCycles is the cumulative number of completed GC cycles, when HasGC.
	GCCycles float64
	HasGC    bool
	// Sched is the cumulative histogram of scheduler latencies in seconds;
	// empty when the target does not expose one.
	Sched Histogram
	// RSSPeak is the kernel's high-water mark of the resident set (VmHWM)
	// in bytes over the process's whole life, or 0 when unknown.
	RSSPeak float64
	// Origins names, per series, the exposition metric (or /proc file) the
	// value came from, e.g. "process_resident_memory_bytes". Reports show
	// it so a reader knows what was measured.
	Origins [NumSeries]string
}

// reset clears r for the next read, keeping the histogram's storage.
func (r *Reading) reset() {
	b, c := r.Sched.Bounds[:0], r.Sched.Counts[:0]
	*r = Reading{}
	r.Sched.Bounds, r.Sched.Counts = b, c
}

// copyFrom makes r a deep copy of o, reusing r's histogram storage.
func (r *Reading) copyFrom(o *Reading) {
	b := append(r.Sched.Bounds[:0], o.Sched.Bounds...)
	c := append(r.Sched.Counts[:0], o.Sched.Counts...)
	*r = *o
	r.Sched.Bounds, r.Sched.Counts = b, c
}

// Histogram is a cumulative histogram in Prometheus' classic form: Counts[i]
// observations were ≤ Bounds[i]. Bounds ascend; the last bound is +Inf, so
// its count is the total.
type Histogram struct {
	Bounds []float64
	Counts []float64
}

// Empty reports whether h has no buckets.
func (h *Histogram) Empty() bool { return len(h.Bounds) == 0 }

// valid reports whether h is well formed: bounds strictly ascending ending in
// +Inf, counts finite, non-negative and non-decreasing.
func (h *Histogram) valid() bool {
	n := len(h.Bounds)
	if n == 0 || n != len(h.Counts) || !math.IsInf(h.Bounds[n-1], 1) {
		return false
	}
	for i := range n {
		c := h.Counts[i]
		if math.IsNaN(c) || math.IsInf(c, 0) || c < 0 || math.IsNaN(h.Bounds[i]) {
			return false
		}
		if i > 0 && (h.Bounds[i] <= h.Bounds[i-1] || c < h.Counts[i-1]) {
			return false
		}
	}
	return true
}

// sameBounds reports whether a and b have identical buckets.
func sameBounds(a, b *Histogram) bool { return slices.Equal(a.Bounds, b.Bounds) }

// histogramQuantile returns the q quantile of the observations counted by
// the cumulative bucket counts, the way Prometheus' histogram_quantile does:
// linear interpolation inside the bucket holding the rank, the lower bound
// of the first bucket taken as 0 (when its upper bound is positive), and
// the highest finite bound when the rank falls in the +Inf bucket. ok is
// false when there are no observations.
//
// Note: the answer's resolution is the bucket width; with the agent's
// default buckets a p99 between 50ms and 100ms is interpolated in that
// bucket. Reports say so.
func histogramQuantile(bounds, counts []float64, q float64) (float64, bool) {
	n := len(bounds)
	if n == 0 || len(counts) != n {
		return 0, false
	}
	total := counts[n-1]
	if !(total > 0) {
		return 0, false
	}
	rank := q * total
	i := 0
	for i < n-1 && counts[i] < rank {
		i++
	}
	if math.IsInf(bounds[i], 1) {
		if i == 0 {
			return 0, false
		}
		return bounds[i-1], true
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = bounds[i-1], counts[i-1]
	} else if bounds[0] <= 0 {
		return bounds[0], true
	}
	inBucket := counts[i] - below
	if inBucket <= 0 {
		return bounds[i], true
	}
	return lo + (bounds[i]-lo)*(rank-below)/inBucket, true
}

// deriver turns consecutive readings into samples. It keeps the previous
// reading and the run's accumulated scheduler-latency histogram.
type deriver struct {
	prev    Reading
	havePrv bool
	delta   []float64 // per-interval bucket counts, reused
	// run accumulates the per-interval histogram deltas over the whole run
	// (resets excluded), for the run's scheduler-lag p99.
	runBounds []float64
	runCounts []float64
	resets    int // counter resets seen (the target restarted)
}

// derive computes the sample for r: r's gauges, and the interval series from
// the counters' change since the previous reading. The first reading has no
// interval series. A counter that went down (the target restarted) gives no
// value for that interval and is counted in d.resets.
func (d *deriver) derive(r *Reading) Sample {
	s := r.Gauges
	s.Time = r.Time
	s.N = 1
	for x := Series(0); x < NumSeries; x++ {
		if !x.info().gauge {
			s.Set(x, math.NaN())
		}
	}
	if d.havePrv {
		p := &d.prev
		dt := r.Time.Sub(p.Time).Seconds()
		reset := false
		if dt > 0 {
			if r.HasCPU && p.HasCPU {
				if dc := r.CPUSeconds - p.CPUSeconds; dc >= 0 {
					s.Set(CPU, dc/dt)
				} else {
					reset = true
				}
			}
			if r.HasGC && p.HasGC {
				if dg := r.GCCycles - p.GCCycles; dg >= 0 {
					s.Set(GCRate, dg/dt)
				} else {
					reset = true
				}
			}
		}
		if !r.Sched.Empty() && !p.Sched.Empty() && sameBounds(&r.Sched, &p.Sched) {
			d.delta = d.delta[:0]
			ok := true
			for i, c := range r.Sched.Counts {
				dc := c - p.Sched.Counts[i]
				if dc < 0 {
					ok = false
					break
				}
				d.delta = append(d.delta, dc)
			}
			if !ok {
				reset = true
			} else {
				if v, has := histogramQuantile(r.Sched.Bounds, d.delta, 0.99); has {
					s.Set(SchedLagP99, v)
				}
				d.accumulate(r.Sched.Bounds, d.delta)
			}
		}
		if reset {
			d.resets++
		}
	}
	d.prev.copyFrom(r)
	d.havePrv = true
	return s
}

// accumulate adds one interval's bucket deltas to the run histogram; when
// the target's buckets change mid-run the run histogram restarts with the
// new ones.
func (d *deriver) accumulate(bounds, delta []float64) {
	if !slices.Equal(d.runBounds, bounds) {
		d.runBounds = append(d.runBounds[:0], bounds...)
		d.runCounts = append(d.runCounts[:0], delta...)
		return
	}
	for i, c := range delta {
		d.runCounts[i] += c
	}
}

// runSchedP99 is the scheduler-latency p99 over every interval of the run.
func (d *deriver) runSchedP99() (float64, bool) {
	return histogramQuantile(d.runBounds, d.runCounts, 0.99)
}
