package snapshot

import (
	"math"
	"time"

	"github.com/perfagent/perfagent/internal/rtsample"
)

// Snapshot is one sampling of the runtime and the process. Rates, fractions
// and latency quantiles cover the interval since the previous snapshot of
// the same [Sampler] (they are zero in a sampler's first snapshot). Sizes
// are in bytes, times in seconds.
//
// A Snapshot holds no pointers or slices: copying it is cheap and it can be
// stored in a ring without allocating.
type Snapshot struct {
	// Time is when the snapshot was read.
	Time time.Time `json:"time"`
	// IntervalSeconds is the time since the previous snapshot (0 for the
	// first).
	IntervalSeconds float64 `json:"interval_seconds"`

	// HeapLive is the heap marked live by the last completed GC
	// (/gc/heap/live:bytes): the measure a leak grows.
	HeapLive uint64 `json:"heap_live_bytes"`
	// HeapGoal is the heap size at which the next GC starts.
	HeapGoal uint64 `json:"heap_goal_bytes"`
	// HeapInUse is the memory occupied by heap objects, live or not yet
	// swept (/memory/classes/heap/objects:bytes), like MemStats.HeapAlloc.
	HeapInUse uint64 `json:"heap_in_use_bytes"`
	// MemTotal is all memory mapped by the Go runtime
	// (/memory/classes/total:bytes), like MemStats.Sys.
	MemTotal uint64 `json:"memory_total_bytes"`
	// HeapReleased is heap memory returned to the operating system
	// (/memory/classes/heap/released:bytes); MemTotal minus HeapReleased
	// is what the memory limit governs.
	HeapReleased uint64 `json:"heap_released_bytes"`
	// MemLimit is the runtime's memory limit (GOMEMLIMIT); 0 when none is
	// set.
	MemLimit uint64 `json:"memory_limit_bytes,omitempty"`
	// CgroupMemLimit is the memory limit of the process's cgroup
	// (memory.max, or memory.limit_in_bytes under cgroup v1); 0 when there
	// is none or it cannot be read. The Sampler re-reads it once every
	// [CgroupRefresh].
	CgroupMemLimit uint64 `json:"cgroup_memory_limit_bytes,omitempty"`
	// AllocBytes is the cumulative number of bytes allocated on the heap.
	AllocBytes uint64 `json:"alloc_bytes_total"`
	// AllocRate and AllocObjectsRate are heap allocations per second over
	// the interval.
	AllocRate        float64 `json:"alloc_bytes_per_second"`
	AllocObjectsRate float64 `json:"alloc_objects_per_second"`

	// GCCycles is the cumulative number of completed GC cycles.
	GCCycles uint64 `json:"gc_cycles"`
	// GCRate is the number of GC cycles completed per second over the
	// interval.
	GCRate float64 `json:"gc_cycles_per_second"`
	// GCCPUFraction is the share of the available CPU the GC used over the
	// interval, in [0, 1]: the GC's part of /cpu/classes over the same
	// span. The runtime updates these estimates at the end of each GC, so
	// the span runs from the GC before the previous snapshot to the GC
	// before this one, and the fraction is 0 when no GC ran in between.
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	// GCPauseMax is the longest stop-the-world GC pause in the interval
	// (the upper bound of its histogram bucket), in seconds.
	GCPauseMax float64 `json:"gc_pause_max_seconds"`

	// Goroutines counts goroutines, in total and by state.
	Goroutines Goroutines `json:"goroutines"`
	// SchedLatency summarises how long goroutines waited runnable before
	// running, over the interval.
	SchedLatency Latency `json:"sched_latency"`
	// GOMAXPROCS is the runtime's GOMAXPROCS.
	GOMAXPROCS uint64 `json:"gomaxprocs"`

	// RSS is the process's resident set size (0 when unknown: outside
	// Linux, or process reading off).
	RSS uint64 `json:"rss_bytes"`
	// CPUSeconds is the process's cumulative CPU time (user + system).
	CPUSeconds float64 `json:"process_cpu_seconds"`
	// CPUUtilization is the CPU the process used over the interval, in
	// cores (1.5 means one and a half CPUs busy on average).
	CPUUtilization float64 `json:"process_cpu_utilization"`
	// FDs is the number of open file descriptors, -1 when unknown.
	FDs int64 `json:"open_fds"`
	// Threads is the number of OS threads of the process (from /proc on
	// Linux, else the runtime's count).
	Threads int64 `json:"threads"`

	// Readings is the number of readings the snapshot averages when its
	// writer downsampled a long history (`perfagent monitor` merges
	// neighbouring points); 0 (omitted) means one.
	Readings uint32 `json:"readings,omitempty"`
}

// Goroutines counts goroutines by state (Go 1.26 /sched/goroutines*
// metrics; the states are absent, zero, on older runtimes).
type Goroutines struct {
	Total    uint64 `json:"total"`
	Runnable uint64 `json:"runnable"`
	Running  uint64 `json:"running"`
	Waiting  uint64 `json:"waiting"`
	NotInGo  uint64 `json:"not_in_go"`
	// Created is the cumulative number of goroutines created.
	Created uint64 `json:"created"`
}

// Latency summarises a latency histogram over an interval: quantiles are
// the upper bounds of the runtime histogram buckets that hold them (the
// buckets are narrow: a few percent of their value).
type Latency struct {
	P50   float64 `json:"p50_seconds"`
	P99   float64 `json:"p99_seconds"`
	Max   float64 `json:"max_seconds"`
	Count uint64  `json:"count"`
}

// Sampler turns reads of an [rtsample.Reader] into Snapshots. It keeps the
// previous read to compute rates and histogram deltas. A Sampler is not
// safe for concurrent use: one goroutine drives it. After its first call,
// Sample does not allocate.
type Sampler struct {
	r         *rtsample.Reader
	own       bool
	cur, prev rtsample.Sample
	havePrev  bool

	cgroupLimit func() (uint64, bool)
	cgroup      uint64
	cgroupAt    time.Time // when cgroup was read; zero before the first read
}

// CgroupRefresh is how often a [Sampler] re-reads the cgroup memory limit
// (a few small files; limits change rarely, when an operator resizes the
// container).
const CgroupRefresh = time.Minute

// NewSampler returns a Sampler reading r, perfagent's shared reader (the
// agent passes its own). With r nil, the Sampler creates a reader of the
// runtime and the process and owns it; [Sampler.Close] releases it.
func NewSampler(r *rtsample.Reader) *Sampler {
	if r == nil {
		return &Sampler{r: rtsample.New(rtsample.Options{Process: true}), own: true, cgroupLimit: rtsample.CgroupMemoryMax}
	}
	return &Sampler{r: r, cgroupLimit: rtsample.CgroupMemoryMax}
}

// Close releases the reader the Sampler created (a shared reader is left
// open). The Sampler must not be used after Close.
func (s *Sampler) Close() error {
	if s.own {
		return s.r.Close()
	}
	return nil
}

// Sample reads the runtime and the process once and fills out. It
// allocates only when it re-reads the cgroup limit (see [CgroupRefresh]).
func (s *Sampler) Sample(out *Snapshot) {
	s.prev, s.cur = s.cur, s.prev
	s.r.Read(&s.cur)
	fill(out, &s.cur, &s.prev, s.havePrev)
	s.havePrev = true
	if s.cgroupAt.IsZero() || out.Time.Sub(s.cgroupAt) >= CgroupRefresh || out.Time.Before(s.cgroupAt) {
		s.cgroup, _ = s.cgroupLimit()
		s.cgroupAt = out.Time
	}
	out.CgroupMemLimit = s.cgroup
}

func u(x *rtsample.Sample, k rtsample.Key) uint64 {
	v, _ := x.Uint(k)
	return v
}

func f(x *rtsample.Sample, k rtsample.Key) float64 {
	v, _ := x.Float(k)
	return v
}

// fill computes a Snapshot from the current sample and, when havePrev, the
// previous one.
func fill(out *Snapshot, cur, prev *rtsample.Sample, havePrev bool) {
	*out = Snapshot{
		Time:         cur.Time,
		HeapLive:     u(cur, rtsample.HeapLive),
		HeapGoal:     u(cur, rtsample.HeapGoal),
		HeapInUse:    u(cur, rtsample.MemHeapObjects),
		MemTotal:     u(cur, rtsample.MemTotal),
		MemLimit:     u(cur, rtsample.MemLimit),
		HeapReleased: u(cur, rtsample.MemHeapReleased),
		AllocBytes:   u(cur, rtsample.HeapAllocBytes),
		GCCycles:     u(cur, rtsample.GCCycles),
		Goroutines: Goroutines{
			Total:    u(cur, rtsample.Goroutines),
			Runnable: u(cur, rtsample.GoroutinesRunnable),
			Running:  u(cur, rtsample.GoroutinesRunning),
			Waiting:  u(cur, rtsample.GoroutinesWaiting),
			NotInGo:  u(cur, rtsample.GoroutinesNotInGo),
			Created:  u(cur, rtsample.GoroutinesCreated),
		},
		GOMAXPROCS: u(cur, rtsample.GOMAXPROCS),
		FDs:        -1,
		Threads:    int64(u(cur, rtsample.Threads)),
	}
	p := &cur.Process
	if p.OK {
		out.RSS = p.RSS
		out.CPUSeconds = p.CPUUser + p.CPUSystem
		out.FDs = p.FDs
		if p.Threads > 0 {
			out.Threads = p.Threads
		}
	}
	if !havePrev {
		return
	}
	dt := cur.Time.Sub(prev.Time).Seconds()
	out.IntervalSeconds = dt
	if dt > 0 {
		out.AllocRate = float64(sub(u(cur, rtsample.HeapAllocBytes), u(prev, rtsample.HeapAllocBytes))) / dt
		out.AllocObjectsRate = float64(sub(u(cur, rtsample.HeapAllocObjects), u(prev, rtsample.HeapAllocObjects))) / dt
		out.GCRate = float64(sub(u(cur, rtsample.GCCycles), u(prev, rtsample.GCCycles))) / dt
		if p.OK && prev.Process.OK {
			out.CPUUtilization = math.Max(0, out.CPUSeconds-(prev.Process.CPUUser+prev.Process.CPUSystem)) / dt
		}
	}
	out.GCCPUFraction, _ = GCCPUFraction(f(prev, rtsample.CPUGC), f(prev, rtsample.CPUTotal), f(cur, rtsample.CPUGC), f(cur, rtsample.CPUTotal))
	out.SchedLatency = quantiles(&cur.SchedLatency, &prev.SchedLatency)
	out.GCPauseMax = quantiles(&cur.GCPauses, &prev.GCPauses).Max
}

// GCCPUFraction is the share of CPU time the GC used between two readings
// of the runtime's cumulative CPU classes (/cpu/classes/gc/total:cpu-seconds
// and /cpu/classes/total:cpu-seconds), clamped to [0, 1]. ok is false, and
// the fraction 0, when no CPU time passed between the readings: the runtime
// updates these classes at the end of each GC, so equal totals mean no GC
// ran in between. It is perfagent's one definition of the GC CPU fraction.
func GCCPUFraction(gcPrev, totalPrev, gcCur, totalCur float64) (fraction float64, ok bool) {
	total := totalCur - totalPrev
	if !(total > 0) {
		return 0, false
	}
	return math.Min(1, math.Max(0, (gcCur-gcPrev)/total)), true
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// quantiles summarises the difference of two readings of one cumulative
// histogram without allocating.
func quantiles(cur, prev *rtsample.Hist) Latency {
	n := len(cur.Counts)
	if n == 0 || len(cur.Buckets) != n+1 || len(prev.Counts) != n {
		return Latency{}
	}
	var total uint64
	for i := 0; i < n; i++ {
		total += sub(cur.Counts[i], prev.Counts[i])
	}
	if total == 0 {
		return Latency{Count: 0}
	}
	l := Latency{Count: total}
	r50 := (total + 1) / 2
	r99 := total - total/100 // rank of the 99th percentile (ceil(0.99 n))
	var seen uint64
	for i := 0; i < n; i++ {
		d := sub(cur.Counts[i], prev.Counts[i])
		if d == 0 {
			continue
		}
		v := bucketValue(cur.Buckets[i], cur.Buckets[i+1])
		if seen < r50 && seen+d >= r50 {
			l.P50 = v
		}
		if seen < r99 && seen+d >= r99 {
			l.P99 = v
		}
		seen += d
		l.Max = v
	}
	return l
}

// bucketValue is the value reported for a bucket: its upper bound, or its
// lower bound for the last (+Inf) bucket.
func bucketValue(lo, hi float64) float64 {
	if math.IsInf(hi, 1) {
		return math.Max(lo, 0)
	}
	return math.Max(hi, 0)
}
