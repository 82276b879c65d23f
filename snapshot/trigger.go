package snapshot

import (
	"fmt"
	"time"
)

// Trigger names, as counted in [CaptureStats.Fired] and shown in
// [Capture.Trigger].
const (
	TriggerHeapGrowth     = "heap_growth"
	TriggerGoroutineSpike = "goroutine_spike"
	TriggerSchedLatency   = "sched_latency"
	TriggerGCCPU          = "gc_cpu"
)

// Trigger defaults.
const (
	DefaultHeapGrowth        = 0.5
	DefaultHeapGrowthMin     = 32 << 20
	DefaultTriggerWindow     = 10 * time.Minute
	DefaultGoroutineSpike    = 1.0
	DefaultGoroutineSpikeMin = 500
	DefaultSchedLatencyP99   = 50 * time.Millisecond
	DefaultGCCPUFraction     = 0.25
)

// Triggers say when a [Capturer] takes profiles on its own. The zero value
// means the defaults; a negative threshold turns its trigger off.
//
// A trigger fires when its condition starts to hold, and again while it
// keeps holding once per cooldown.
type Triggers struct {
	// HeapGrowth fires a heap capture when the live heap exceeds the lowest
	// live heap of the last Window by this fraction (default 0.5) and by at
	// least HeapGrowthMin bytes (default 32 MiB). It is armed once a whole
	// Window has been observed, so start-up growth does not fire it.
	HeapGrowth    float64
	HeapGrowthMin int64
	// GoroutineSpike fires a goroutine capture when the goroutine count
	// exceeds the lowest count of the last Window by this fraction
	// (default 1.0: it doubled) and by at least GoroutineSpikeMin (default
	// 500).
	GoroutineSpike    float64
	GoroutineSpikeMin int64
	// Window is the look-back of HeapGrowth and GoroutineSpike (default
	// 10m).
	Window time.Duration
	// SchedLatencyP99 fires a CPU and a goroutine capture when the 99th
	// percentile scheduling latency of an interval exceeds it (default
	// 50ms).
	SchedLatencyP99 time.Duration
	// GCCPUFraction fires an allocs and a heap capture when the GC used
	// more than this share of the CPU over an interval (default 0.25).
	GCCPUFraction float64
}

func (t *Triggers) defaults() {
	if t.HeapGrowth == 0 {
		t.HeapGrowth = DefaultHeapGrowth
	}
	if t.HeapGrowthMin == 0 {
		t.HeapGrowthMin = DefaultHeapGrowthMin
	}
	if t.GoroutineSpike == 0 {
		t.GoroutineSpike = DefaultGoroutineSpike
	}
	if t.GoroutineSpikeMin == 0 {
		t.GoroutineSpikeMin = DefaultGoroutineSpikeMin
	}
	if t.Window <= 0 {
		t.Window = DefaultTriggerWindow
	}
	if t.SchedLatencyP99 == 0 {
		t.SchedLatencyP99 = DefaultSchedLatencyP99
	}
	if t.GCCPUFraction == 0 {
		t.GCCPUFraction = DefaultGCCPUFraction
	}
}

// Off returns Triggers with every trigger turned off (captures on demand
// only).
func Off() Triggers {
	return Triggers{HeapGrowth: -1, GoroutineSpike: -1, SchedLatencyP99: -1, GCCPUFraction: -1}
}

type firing struct {
	name   string
	types  []string
	reason string
}

// buckets of the windowed minimum.
const minBuckets = 16

// triggerState is the memory of the triggers: per-bucket minima over the
// window and whether each condition held at the previous check. It is
// fixed-size.
type triggerState struct {
	first   time.Time
	start   [minBuckets]time.Time
	heapMin [minBuckets]uint64
	gMin    [minBuckets]uint64
	cur, n  int
	active  [4]bool
	lastAt  [4]time.Time
	out     []firing
}

var (
	heapTypes  = []string{Heap}
	gTypes     = []string{Goroutine}
	schedTypes = []string{CPU, Goroutine}
	gcTypes    = []string{Allocs, Heap}
)

// check updates the state with s and returns the triggers that fire.
func (st *triggerState) check(t *Triggers, s *Snapshot, repeat time.Duration) []firing {
	st.out = st.out[:0]
	now := s.Time
	if st.first.IsZero() {
		st.first = now
	}
	span := t.Window / minBuckets
	if st.n == 0 || now.Sub(st.start[st.cur]) >= span {
		if st.n > 0 {
			st.cur = (st.cur + 1) % minBuckets
		}
		st.n = min(st.n+1, minBuckets)
		st.start[st.cur], st.heapMin[st.cur], st.gMin[st.cur] = now, s.HeapLive, s.Goroutines.Total
	} else {
		st.heapMin[st.cur] = min(st.heapMin[st.cur], s.HeapLive)
		st.gMin[st.cur] = min(st.gMin[st.cur], s.Goroutines.Total)
	}
	heapMin, gMin := s.HeapLive, s.Goroutines.Total
	for i := 0; i < st.n; i++ {
		j := (st.cur - i + minBuckets) % minBuckets
		if now.Sub(st.start[j]) > t.Window {
			continue
		}
		heapMin, gMin = min(heapMin, st.heapMin[j]), min(gMin, st.gMin[j])
	}
	armed := now.Sub(st.first) >= t.Window

	cond := [4]bool{}
	reasons := [4]string{}
	if t.HeapGrowth > 0 && armed && heapMin > 0 {
		grow := float64(s.HeapLive) - float64(heapMin)
		if grow >= t.HeapGrowth*float64(heapMin) && grow >= float64(t.HeapGrowthMin) {
			cond[0] = true
			reasons[0] = fmt.Sprintf("live heap %d bytes is %.0f%% above the window's low of %d bytes", s.HeapLive, 100*grow/float64(heapMin), heapMin)
		}
	}
	if t.GoroutineSpike > 0 && gMin > 0 {
		grow := float64(s.Goroutines.Total) - float64(gMin)
		if grow >= t.GoroutineSpike*float64(gMin) && grow >= float64(t.GoroutineSpikeMin) {
			cond[1] = true
			reasons[1] = fmt.Sprintf("%d goroutines, up from %d within %s", s.Goroutines.Total, gMin, t.Window)
		}
	}
	if t.SchedLatencyP99 > 0 && s.SchedLatency.Count > 0 && s.SchedLatency.P99 > t.SchedLatencyP99.Seconds() {
		cond[2] = true
		reasons[2] = fmt.Sprintf("scheduling latency p99 %s over %.0fs (threshold %s)",
			time.Duration(s.SchedLatency.P99*1e9), s.IntervalSeconds, t.SchedLatencyP99)
	}
	if t.GCCPUFraction > 0 && s.GCCPUFraction > t.GCCPUFraction {
		cond[3] = true
		reasons[3] = fmt.Sprintf("GC used %.0f%% of the CPU (threshold %.0f%%)", 100*s.GCCPUFraction, 100*t.GCCPUFraction)
	}
	names := [4]string{TriggerHeapGrowth, TriggerGoroutineSpike, TriggerSchedLatency, TriggerGCCPU}
	types := [4][]string{heapTypes, gTypes, schedTypes, gcTypes}
	return st.edges(cond, reasons, names, types, now, repeat)
}

// edges turns conditions into firings: on a rising edge, and while the
// condition holds once per repeat.
func (st *triggerState) edges(cond [4]bool, reasons, names [4]string, types [4][]string, now time.Time, repeat time.Duration) []firing {
	for i := range cond {
		if !cond[i] {
			st.active[i] = false
			continue
		}
		if !st.active[i] || now.Sub(st.lastAt[i]) >= repeat {
			st.out = append(st.out, firing{name: names[i], types: types[i], reason: reasons[i]})
			st.lastAt[i] = now
		}
		st.active[i] = true
	}
	return st.out
}
