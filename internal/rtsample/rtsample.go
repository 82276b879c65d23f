package rtsample

import (
	"math"
	"runtime/metrics"
	"sync"
	"time"
)

// Key names one scalar value of a [Sample].
type Key int

// Scalar keys. The comment gives the runtime/metrics name each is read from.
const (
	MemTotal             Key = iota // /memory/classes/total:bytes
	MemHeapReleased                 // /memory/classes/heap/released:bytes
	MemHeapStacks                   // /memory/classes/heap/stacks:bytes
	MemOSStacks                     // /memory/classes/os-stacks:bytes
	MemHeapObjects                  // /memory/classes/heap/objects:bytes
	MemLimit                        // /gc/gomemlimit:bytes; absent when no limit is set
	HeapAllocBytes                  // /gc/heap/allocs:bytes (cumulative)
	HeapAllocObjects                // /gc/heap/allocs:objects (cumulative)
	HeapFreeBytes                   // /gc/heap/frees:bytes (cumulative)
	HeapGoal                        // /gc/heap/goal:bytes
	HeapLive                        // /gc/heap/live:bytes (marked live heap at the end of the last GC)
	HeapObjectCount                 // /gc/heap/objects:objects
	GCCycles                        // /gc/cycles/total:gc-cycles (cumulative)
	GCCyclesForced                  // /gc/cycles/forced:gc-cycles (cumulative)
	GOGC                            // /gc/gogc:percent; absent when GOGC=off
	GCLimiterLastEnabled            // /gc/limiter/last-enabled:gc-cycle (0: never)
	FinalizersQueued                // /gc/finalizers/queued:finalizers (cumulative)
	FinalizersExecuted              // /gc/finalizers/executed:finalizers (cumulative)
	CleanupsQueued                  // /gc/cleanups/queued:cleanups (cumulative)
	CleanupsExecuted                // /gc/cleanups/executed:cleanups (cumulative)
	Goroutines                      // /sched/goroutines:goroutines
	GoroutinesCreated               // /sched/goroutines-created:goroutines (cumulative)
	GoroutinesNotInGo               // /sched/goroutines/not-in-go:goroutines
	GoroutinesRunnable              // /sched/goroutines/runnable:goroutines
	GoroutinesRunning               // /sched/goroutines/running:goroutines
	GoroutinesWaiting               // /sched/goroutines/waiting:goroutines
	GOMAXPROCS                      // /sched/gomaxprocs:threads
	Threads                         // /sched/threads/total:threads
	CPUTotal                        // /cpu/classes/total:cpu-seconds (cumulative)
	CPUUser                         // /cpu/classes/user:cpu-seconds (cumulative)
	CPUGC                           // /cpu/classes/gc/total:cpu-seconds (cumulative)
	CPUScavenge                     // /cpu/classes/scavenge/total:cpu-seconds (cumulative)
	CPUIdle                         // /cpu/classes/idle:cpu-seconds (cumulative)
	MutexWait                       // /sync/mutex/wait/total:seconds (cumulative)
	numKeys
)

var keyNames = [numKeys]string{
	MemTotal:             "/memory/classes/total:bytes",
	MemHeapReleased:      "/memory/classes/heap/released:bytes",
	MemHeapStacks:        "/memory/classes/heap/stacks:bytes",
	MemOSStacks:          "/memory/classes/os-stacks:bytes",
	MemHeapObjects:       "/memory/classes/heap/objects:bytes",
	MemLimit:             "/gc/gomemlimit:bytes",
	HeapAllocBytes:       "/gc/heap/allocs:bytes",
	HeapAllocObjects:     "/gc/heap/allocs:objects",
	HeapFreeBytes:        "/gc/heap/frees:bytes",
	HeapGoal:             "/gc/heap/goal:bytes",
	HeapLive:             "/gc/heap/live:bytes",
	HeapObjectCount:      "/gc/heap/objects:objects",
	GCCycles:             "/gc/cycles/total:gc-cycles",
	GCCyclesForced:       "/gc/cycles/forced:gc-cycles",
	GOGC:                 "/gc/gogc:percent",
	GCLimiterLastEnabled: "/gc/limiter/last-enabled:gc-cycle",
	FinalizersQueued:     "/gc/finalizers/queued:finalizers",
	FinalizersExecuted:   "/gc/finalizers/executed:finalizers",
	CleanupsQueued:       "/gc/cleanups/queued:cleanups",
	CleanupsExecuted:     "/gc/cleanups/executed:cleanups",
	Goroutines:           "/sched/goroutines:goroutines",
	GoroutinesCreated:    "/sched/goroutines-created:goroutines",
	GoroutinesNotInGo:    "/sched/goroutines/not-in-go:goroutines",
	GoroutinesRunnable:   "/sched/goroutines/runnable:goroutines",
	GoroutinesRunning:    "/sched/goroutines/running:goroutines",
	GoroutinesWaiting:    "/sched/goroutines/waiting:goroutines",
	GOMAXPROCS:           "/sched/gomaxprocs:threads",
	Threads:              "/sched/threads/total:threads",
	CPUTotal:             "/cpu/classes/total:cpu-seconds",
	CPUUser:              "/cpu/classes/user:cpu-seconds",
	CPUGC:                "/cpu/classes/gc/total:cpu-seconds",
	CPUScavenge:          "/cpu/classes/scavenge/total:cpu-seconds",
	CPUIdle:              "/cpu/classes/idle:cpu-seconds",
	MutexWait:            "/sync/mutex/wait/total:seconds",
}

// Name returns the runtime/metrics name k is read from.
func (k Key) Name() string {
	if k < 0 || k >= numKeys {
		return ""
	}
	return keyNames[k]
}

// Histogram names.
const (
	schedLatenciesName = "/sched/latencies:seconds"
	gcPausesName       = "/sched/pauses/total/gc:seconds"
)

// Hist is a copy of a runtime/metrics Float64Histogram. Buckets has
// len(Counts)+1 boundaries in seconds: Counts[i] counts values in
// [Buckets[i], Buckets[i+1]). The first and last boundaries may be -Inf and
// +Inf. Buckets is shared by every Sample of a Reader and must not be
// modified; Counts belongs to the Sample.
type Hist struct {
	Buckets []float64
	Counts  []uint64
}

// Total returns the number of values in h.
func (h *Hist) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Process is the process-level part of a [Sample].
type Process struct {
	// OK reports whether the process values were read.
	OK bool
	// CPUUser and CPUSystem are the process's CPU time in seconds since it
	// started: from /proc/self/stat on Linux (10ms resolution, as the
	// kernel keeps it there), getrusage elsewhere.
	CPUUser, CPUSystem float64
	// RSS and Virtual are resident and virtual memory in bytes (Linux only;
	// zero elsewhere).
	RSS, Virtual uint64
	// Threads is the number of OS threads (Linux only; zero elsewhere).
	Threads int64
	// FDs is the number of open file descriptors, -1 when unknown. When
	// counting would exceed the Reader's MaxFDs, FDs is MaxFDs and
	// FDsTruncated is true.
	FDs          int64
	FDsTruncated bool
	// Start is when the process started (zero when unknown).
	Start time.Time
}

// Sample is one reading of the runtime and the process. The zero value is
// ready to be filled by [Reader.Read]; a Sample reused across reads does not
// allocate after its first read.
type Sample struct {
	// Time is when the sample was read (with a monotonic reading).
	Time time.Time

	present uint64 // bit k set when key k has a value
	u       [numKeys]uint64
	f       [numKeys]float64

	// SchedLatency is /sched/latencies:seconds: how long goroutines waited
	// runnable before running. Empty when the runtime lacks it.
	SchedLatency Hist
	// GCPauses is /sched/pauses/total/gc:seconds: GC stop-the-world pauses.
	GCPauses Hist

	// LimiterActivations counts changes of GCLimiterLastEnabled the Reader
	// observed since it was created: a lower bound on how often the GC CPU
	// limiter turned on (several activations between two reads count once).
	LimiterActivations uint64

	// Process holds process values when the Reader reads them.
	Process Process
}

// Has reports whether k has a value in s.
func (s *Sample) Has(k Key) bool { return k >= 0 && k < numKeys && s.present&(1<<uint(k)) != 0 }

// Uint returns k's value for an integer key. For float keys it returns the
// value truncated.
func (s *Sample) Uint(k Key) (uint64, bool) {
	if !s.Has(k) {
		return 0, false
	}
	if isFloat(k) {
		return uint64(s.f[k]), true
	}
	return s.u[k], true
}

// Float returns k's value as a float64.
func (s *Sample) Float(k Key) (float64, bool) {
	if !s.Has(k) {
		return 0, false
	}
	if isFloat(k) {
		return s.f[k], true
	}
	return float64(s.u[k]), true
}

// isFloat reports whether k is a float64 key: the CPU and mutex-wait
// seconds, listed last.
func isFloat(k Key) bool { return k >= CPUTotal && k < numKeys }

// Options configure a [Reader]. The zero value reads the runtime only.
type Options struct {
	// Process enables reading process values (CPU, RSS, threads, FDs).
	Process bool
	// MaxFDs bounds the work of counting open file descriptors where the
	// kernel cannot report the count directly: counting stops there and the
	// sample is marked truncated. Zero means 65536; negative disables FD
	// counting.
	MaxFDs int
}

// Reader reads the runtime and the process. Create it with [New]; it is safe
// for concurrent use. Call Close to release the process files it keeps open.
type Reader struct {
	mu        sync.Mutex
	samples   []metrics.Sample
	keyOf     []Key // keyOf[i] is the key of samples[i], or -1/-2 for histograms
	lastLimit uint64
	limitActs uint64

	schedBuckets []float64
	pauseBuckets []float64

	proc    *procReader // nil when Options.Process is false
	created time.Time
}

const (
	histSched Key = -1
	histPause Key = -2
)

// New returns a Reader. It never fails: keys the runtime lacks are skipped,
// and when process files cannot be opened process values are reported as
// not OK.
func New(opts Options) *Reader {
	r := &Reader{created: time.Now()}
	want := make(map[string]Key, numKeys+2)
	for k := Key(0); k < numKeys; k++ {
		want[keyNames[k]] = k
	}
	want[schedLatenciesName] = histSched
	want[gcPausesName] = histPause
	// Only keys the running Go version describes, with the kind we expect,
	// are read: new or removed keys never break a read.
	for _, d := range metrics.All() {
		k, ok := want[d.Name]
		if !ok {
			continue
		}
		wantKind := metrics.KindUint64
		switch {
		case k < 0:
			wantKind = metrics.KindFloat64Histogram
		case isFloat(k):
			wantKind = metrics.KindFloat64
		}
		if d.Kind != wantKind {
			continue
		}
		r.samples = append(r.samples, metrics.Sample{Name: d.Name})
		r.keyOf = append(r.keyOf, k)
	}
	// A first read sizes the runtime's histogram buffers, so later reads do
	// not allocate, and fixes the bucket boundaries.
	metrics.Read(r.samples)
	for i, k := range r.keyOf {
		switch k {
		case histSched:
			r.schedBuckets = r.samples[i].Value.Float64Histogram().Buckets
		case histPause:
			r.pauseBuckets = r.samples[i].Value.Float64Histogram().Buckets
		case GCLimiterLastEnabled:
			r.lastLimit = r.samples[i].Value.Uint64()
		}
	}
	if opts.Process {
		max := opts.MaxFDs
		if max == 0 {
			max = 65536
		}
		r.proc = newProcReader(max)
	}
	return r
}

// Created returns when the Reader was created.
func (r *Reader) Created() time.Time { return r.created }

// SchedLatencyBuckets returns the boundaries of [Sample.SchedLatency], or nil
// when the runtime lacks the histogram. The slice must not be modified.
func (r *Reader) SchedLatencyBuckets() []float64 { return r.schedBuckets }

// GCPauseBuckets returns the boundaries of [Sample.GCPauses], or nil.
func (r *Reader) GCPauseBuckets() []float64 { return r.pauseBuckets }

// Read fills s with the current values. It does not allocate once s has been
// filled before (histogram counts are copied into s's own slices).
func (r *Reader) Read(s *Sample) {
	r.mu.Lock()
	s.Time = time.Now()
	metrics.Read(r.samples)
	s.present = 0
	for i, k := range r.keyOf {
		v := r.samples[i].Value
		switch k {
		case histSched:
			copyHist(&s.SchedLatency, r.schedBuckets, v)
			continue
		case histPause:
			copyHist(&s.GCPauses, r.pauseBuckets, v)
			continue
		}
		switch v.Kind() {
		case metrics.KindUint64:
			u := v.Uint64()
			if (k == MemLimit && u == math.MaxInt64) || (k == GOGC && u > math.MaxInt32) {
				continue // sentinel: no limit, GOGC=off
			}
			s.u[k] = u
		case metrics.KindFloat64:
			s.f[k] = v.Float64()
		default:
			continue
		}
		s.present |= 1 << uint(k)
	}
	if s.Has(GCLimiterLastEnabled) && s.u[GCLimiterLastEnabled] != r.lastLimit {
		r.lastLimit = s.u[GCLimiterLastEnabled]
		r.limitActs++
	}
	s.LimiterActivations = r.limitActs
	r.mu.Unlock()

	if r.proc != nil {
		r.proc.read(&s.Process)
	} else {
		s.Process = Process{FDs: -1}
	}
}

func copyHist(dst *Hist, buckets []float64, v metrics.Value) {
	if v.Kind() != metrics.KindFloat64Histogram {
		dst.Buckets, dst.Counts = nil, dst.Counts[:0]
		return
	}
	h := v.Float64Histogram()
	dst.Buckets = buckets
	if cap(dst.Counts) < len(h.Counts) {
		dst.Counts = make([]uint64, len(h.Counts))
	}
	dst.Counts = dst.Counts[:len(h.Counts)]
	copy(dst.Counts, h.Counts)
}

// Close releases the files the Reader keeps open. Reads after Close report
// process values as not OK; runtime values are unaffected.
func (r *Reader) Close() error {
	if r.proc == nil {
		return nil
	}
	return r.proc.close()
}
