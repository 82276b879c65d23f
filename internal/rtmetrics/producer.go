package rtmetrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/goconv"
	"go.opentelemetry.io/otel/semconv/v1.43.0/processconv"

	"github.com/perfagent/perfagent/internal/rtsample"
	"github.com/perfagent/perfagent/snapshot"
)

// Groups selects sets of metrics. Combine with |.
type Groups uint8

// Metric groups.
const (
	// Recommended are the nine recommended Go runtime metrics of the
	// semantic conventions (go.memory.used, go.memory.limit,
	// go.memory.allocated, go.memory.allocations, go.memory.gc.goal,
	// go.goroutine.count, go.processor.limit, go.config.gogc,
	// go.schedule.duration).
	Recommended Groups = 1 << iota
	// OptIn are the conventions' opt-in Go metrics: go.memory.gc.cycles,
	// go.memory.gc.pause.duration and go.cpu.time.
	OptIn
	// Extras are perfagent.go.* metrics the conventions lack.
	Extras
	// Process are the process.* metrics of the conventions.
	Process

	AllGroups = Recommended | OptIn | Extras | Process
)

// HistogramMode selects how runtime histograms are exported.
type HistogramMode int

// Histogram modes.
const (
	// HistogramExplicit re-buckets to a small set of explicit boundaries
	// (the default): classic Prometheus scrapes keep the distribution.
	HistogramExplicit HistogramMode = iota
	// HistogramExponential exports base-2 exponential histograms: native
	// histograms in Prometheus, exact buckets over OTLP. Scraped in the
	// Prometheus text format they show only _sum, _count and +Inf.
	HistogramExponential
)

// Config configures a [Producer]. The zero value exports every group with
// explicit histograms at DefaultBoundaries, cumulatively.
type Config struct {
	// Groups selects the metrics; zero means AllGroups.
	Groups Groups
	// Histograms selects explicit (default) or exponential histograms.
	Histograms HistogramMode
	// Boundaries are the explicit histogram boundaries in seconds, strictly
	// increasing and positive; nil means DefaultBoundaries().
	Boundaries []float64
	// Temporality is the reader's temporality selector; nil means
	// cumulative for everything.
	Temporality sdkmetric.TemporalitySelector
	// Scope is the instrumentation scope of the data; its SchemaURL is set
	// to the semantic conventions' schema.
	Scope instrumentation.Scope
	// Observe, when set, is called after each Produce with how long it took
	// and its error (for the agent's self-metrics). It must be fast and
	// must not call Produce.
	Observe func(time.Duration, error)
	// Extra, when set, is called during each Produce and its scopes are
	// added to the collection: the agent's own metrics ride along without
	// the SDK's instrument machinery (which would cost more than the
	// runtime read itself). Its data is exported as it is given.
	Extra func(now time.Time) []metricdata.ScopeMetrics
}

// SchemaURL is the semantic conventions schema the data follows.
const SchemaURL = semconv.SchemaURL

// Producer produces runtime and process metric data for one reader.
type Producer struct {
	r      *rtsample.Reader
	cfg    Config
	scope  instrumentation.Scope
	specs  []metricSpec
	sched  *histConv
	pauses *histConv

	tCounter, tUpDown, tHist metricdata.Temporality
	nInt, nFloat             int // data points per collection, by type

	mu        sync.Mutex
	cur, prev *rtsample.Sample // swapped after each collection
	samples   [2]rtsample.Sample
	havePrev  bool
	// Windowed GC CPU fraction: the runtime updates its CPU classes at the
	// end of GC cycles, so the window runs between the last two updates this
	// producer saw.
	wGC, wTotal, frac float64
	haveFrac          bool
}

var _ sdkmetric.Producer = (*Producer)(nil)

// New returns a Producer reading through r. It fails on invalid Boundaries.
func New(r *rtsample.Reader, cfg Config) (*Producer, error) {
	if r == nil {
		return nil, errors.New("rtmetrics: nil reader")
	}
	if cfg.Groups == 0 {
		cfg.Groups = AllGroups
	}
	if cfg.Boundaries == nil {
		cfg.Boundaries = DefaultBoundaries()
	} else {
		cfg.Boundaries = slices.Clone(cfg.Boundaries)
		for i, b := range cfg.Boundaries {
			if !(b > 0) || (i > 0 && b <= cfg.Boundaries[i-1]) {
				return nil, fmt.Errorf("rtmetrics: histogram boundaries must be positive and strictly increasing, got %v", cfg.Boundaries)
			}
		}
	}
	sel := cfg.Temporality
	if sel == nil {
		sel = sdkmetric.DefaultTemporalitySelector
	}
	p := &Producer{
		r:        r,
		cfg:      cfg,
		scope:    cfg.Scope,
		tCounter: sel(sdkmetric.InstrumentKindObservableCounter),
		tUpDown:  sel(sdkmetric.InstrumentKindObservableUpDownCounter),
		tHist:    sel(sdkmetric.InstrumentKindHistogram),
	}
	p.cur, p.prev = &p.samples[0], &p.samples[1]
	p.scope.SchemaURL = SchemaURL
	if p.scope.Name == "" {
		p.scope.Name = "github.com/perfagent/perfagent/runtime"
	}
	p.sched = newHistConv(r.SchedLatencyBuckets(), cfg.Boundaries)
	p.pauses = newHistConv(r.GCPauseBuckets(), cfg.Boundaries)
	p.specs = p.buildSpecs()
	for _, m := range p.specs {
		if m.series[0].f != nil {
			p.nFloat += len(m.series)
		} else {
			p.nInt += len(m.series)
		}
	}
	return p, nil
}

// instrument kinds as exported.
type kind int

const (
	kCounter kind = iota
	kUpDown
	kGauge
)

type series struct {
	attrs attribute.Set
	i     func(*rtsample.Sample) (int64, bool)
	f     func(*rtsample.Sample) (float64, bool)
}

type metricSpec struct {
	group            Groups
	name, desc, unit string
	kind             kind
	series           []series
}

func key(k rtsample.Key) func(*rtsample.Sample) (int64, bool) {
	return func(s *rtsample.Sample) (int64, bool) {
		v, ok := s.Uint(k)
		return int64(v), ok
	}
}

func fkey(k rtsample.Key) func(*rtsample.Sample) (float64, bool) {
	return func(s *rtsample.Sample) (float64, bool) { return s.Float(k) }
}

func diff(a, b rtsample.Key) func(*rtsample.Sample) (int64, bool) {
	return func(s *rtsample.Sample) (int64, bool) {
		x, ok1 := s.Uint(a)
		y, ok2 := s.Uint(b)
		if !ok1 || !ok2 || y > x {
			return 0, false
		}
		return int64(x - y), true
	}
}

func one(f func(*rtsample.Sample) (int64, bool)) []series { return []series{{i: f}} }

func (p *Producer) buildSpecs() []metricSpec {
	stack := func(s *rtsample.Sample) (int64, bool) {
		a, ok1 := s.Uint(rtsample.MemHeapStacks)
		b, ok2 := s.Uint(rtsample.MemOSStacks)
		return int64(a + b), ok1 && ok2
	}
	other := func(s *rtsample.Sample) (int64, bool) {
		total, ok1 := s.Uint(rtsample.MemTotal)
		released, ok2 := s.Uint(rtsample.MemHeapReleased)
		st, ok3 := stack(s)
		if !ok1 || !ok2 || !ok3 {
			return 0, false
		}
		return int64(total-released) - st, true
	}
	memType := func(v goconv.MemoryTypeAttr) attribute.Set {
		return attribute.NewSet(goconv.MemoryUsed{}.AttrMemoryType(v))
	}
	cpuState := func(v goconv.CPUStateAttr) attribute.Set {
		return attribute.NewSet(goconv.CPUTimeObservable{}.AttrCPUState(v))
	}
	cpuMode := func(v processconv.CPUModeAttr) attribute.Set {
		return attribute.NewSet(attribute.String("cpu.mode", string(v)))
	}
	state := func(v string) attribute.Set {
		return attribute.NewSet(attribute.String("state", v))
	}
	proc := func(f func(*rtsample.Process) (int64, bool)) []series {
		return one(func(s *rtsample.Sample) (int64, bool) {
			if !s.Process.OK {
				return 0, false
			}
			return f(&s.Process)
		})
	}
	specs := []metricSpec{
		{group: Recommended, name: goconv.MemoryUsed{}.Name(), desc: goconv.MemoryUsed{}.Description(), unit: goconv.MemoryUsed{}.Unit(), kind: kUpDown,
			series: []series{{attrs: memType(goconv.MemoryTypeStack), i: stack}, {attrs: memType(goconv.MemoryTypeOther), i: other}}},
		{group: Recommended, name: goconv.MemoryLimit{}.Name(), desc: goconv.MemoryLimit{}.Description(), unit: goconv.MemoryLimit{}.Unit(), kind: kUpDown,
			series: one(key(rtsample.MemLimit))},
		{group: Recommended, name: goconv.MemoryAllocated{}.Name(), desc: goconv.MemoryAllocated{}.Description(), unit: goconv.MemoryAllocated{}.Unit(), kind: kCounter,
			series: one(key(rtsample.HeapAllocBytes))},
		{group: Recommended, name: goconv.MemoryAllocations{}.Name(), desc: goconv.MemoryAllocations{}.Description(), unit: goconv.MemoryAllocations{}.Unit(), kind: kCounter,
			series: one(key(rtsample.HeapAllocObjects))},
		{group: Recommended, name: goconv.MemoryGCGoal{}.Name(), desc: goconv.MemoryGCGoal{}.Description(), unit: goconv.MemoryGCGoal{}.Unit(), kind: kUpDown,
			series: one(key(rtsample.HeapGoal))},
		{group: Recommended, name: goconv.GoroutineCount{}.Name(), desc: goconv.GoroutineCount{}.Description(), unit: goconv.GoroutineCount{}.Unit(), kind: kUpDown,
			series: one(key(rtsample.Goroutines))},
		{group: Recommended, name: goconv.ProcessorLimit{}.Name(), desc: goconv.ProcessorLimit{}.Description(), unit: goconv.ProcessorLimit{}.Unit(), kind: kUpDown,
			series: one(key(rtsample.GOMAXPROCS))},
		{group: Recommended, name: goconv.ConfigGogc{}.Name(), desc: goconv.ConfigGogc{}.Description(), unit: goconv.ConfigGogc{}.Unit(), kind: kUpDown,
			series: one(key(rtsample.GOGC))},

		{group: OptIn, name: goconv.MemoryGCCyclesObservable{}.Name(), desc: goconv.MemoryGCCyclesObservable{}.Description(), unit: goconv.MemoryGCCyclesObservable{}.Unit(), kind: kCounter,
			series: one(key(rtsample.GCCycles))},
		{group: OptIn, name: goconv.CPUTimeObservable{}.Name(), desc: goconv.CPUTimeObservable{}.Description(), unit: goconv.CPUTimeObservable{}.Unit(), kind: kCounter,
			series: []series{
				{attrs: cpuState(goconv.CPUStateUser), f: fkey(rtsample.CPUUser)},
				{attrs: cpuState(goconv.CPUStateGC), f: fkey(rtsample.CPUGC)},
				{attrs: cpuState(goconv.CPUStateScavenge), f: fkey(rtsample.CPUScavenge)},
				{attrs: cpuState(goconv.CPUStateIdle), f: fkey(rtsample.CPUIdle)},
			}},

		{group: Extras, name: "perfagent.go.memory.heap.live", unit: "By", kind: kUpDown,
			desc:   "Heap memory occupied by live objects, as marked by the last completed GC cycle.",
			series: one(key(rtsample.HeapLive))},
		{group: Extras, name: "perfagent.go.gc.cpu.fraction", unit: "1", kind: kGauge,
			desc: "Fraction of the Go runtime's CPU time spent in GC between the last two GC-cycle updates of the runtime's CPU estimates.",
			series: []series{{f: func(*rtsample.Sample) (float64, bool) {
				return p.frac, p.haveFrac
			}}}},
		{group: Extras, name: "perfagent.go.goroutine.count", unit: "{goroutine}", kind: kUpDown,
			desc: "Live goroutines by scheduling state (an approximate snapshot).",
			series: []series{
				{attrs: state("running"), i: key(rtsample.GoroutinesRunning)},
				{attrs: state("runnable"), i: key(rtsample.GoroutinesRunnable)},
				{attrs: state("waiting"), i: key(rtsample.GoroutinesWaiting)},
				{attrs: state("not_in_go"), i: key(rtsample.GoroutinesNotInGo)},
			}},
		{group: Extras, name: "perfagent.go.goroutine.created", unit: "{goroutine}", kind: kCounter,
			desc: "Goroutines created since the program started.", series: one(key(rtsample.GoroutinesCreated))},
		{group: Extras, name: "perfagent.go.thread.count", unit: "{thread}", kind: kUpDown,
			desc: "OS threads owned by the Go runtime.", series: one(key(rtsample.Threads))},
		{group: Extras, name: "perfagent.go.sync.mutex.wait.time", unit: "s", kind: kCounter,
			desc: "Time goroutines spent blocked on sync.Mutex, sync.RWMutex or runtime-internal locks.", series: []series{{f: fkey(rtsample.MutexWait)}}},
		{group: Extras, name: "perfagent.go.gc.finalizer.backlog", unit: "{finalizer}", kind: kUpDown,
			desc: "Finalizers queued but not yet run.", series: one(diff(rtsample.FinalizersQueued, rtsample.FinalizersExecuted))},
		{group: Extras, name: "perfagent.go.gc.cleanup.backlog", unit: "{cleanup}", kind: kUpDown,
			desc: "Cleanups (runtime.AddCleanup) queued but not yet run.", series: one(diff(rtsample.CleanupsQueued, rtsample.CleanupsExecuted))},
		{group: Extras, name: "perfagent.go.gc.limiter.activations", unit: "{activation}", kind: kCounter,
			desc: "Times the GC CPU limiter was seen turning on (a lower bound: activations between two reads count once).",
			series: one(func(s *rtsample.Sample) (int64, bool) {
				return int64(s.LimiterActivations), s.Has(rtsample.GCLimiterLastEnabled)
			})},

		{group: Process, name: processconv.CPUTime{}.Name(), desc: processconv.CPUTime{}.Description(), unit: processconv.CPUTime{}.Unit(), kind: kCounter,
			series: []series{
				{attrs: cpuMode(processconv.CPUModeUser), f: func(s *rtsample.Sample) (float64, bool) { return s.Process.CPUUser, s.Process.OK }},
				{attrs: cpuMode(processconv.CPUModeSystem), f: func(s *rtsample.Sample) (float64, bool) { return s.Process.CPUSystem, s.Process.OK }},
			}},
		{group: Process, name: processconv.MemoryUsageObservable{}.Name(), desc: processconv.MemoryUsageObservable{}.Description(), unit: processconv.MemoryUsageObservable{}.Unit(), kind: kUpDown,
			series: proc(func(p *rtsample.Process) (int64, bool) { return int64(p.RSS), p.RSS > 0 })},
		{group: Process, name: processconv.MemoryVirtualObservable{}.Name(), desc: processconv.MemoryVirtualObservable{}.Description(), unit: processconv.MemoryVirtualObservable{}.Unit(), kind: kUpDown,
			series: proc(func(p *rtsample.Process) (int64, bool) { return int64(p.Virtual), p.Virtual > 0 })},
		{group: Process, name: processconv.UnixFileDescriptorCountObservable{}.Name(), desc: processconv.UnixFileDescriptorCountObservable{}.Description(), unit: processconv.UnixFileDescriptorCountObservable{}.Unit(), kind: kUpDown,
			series: proc(func(p *rtsample.Process) (int64, bool) { return p.FDs, p.FDs >= 0 })},
		{group: Process, name: processconv.ThreadCountObservable{}.Name(), desc: processconv.ThreadCountObservable{}.Description(), unit: processconv.ThreadCountObservable{}.Unit(), kind: kUpDown,
			series: proc(func(p *rtsample.Process) (int64, bool) { return p.Threads, p.Threads > 0 })},
		{group: Process, name: processconv.UptimeObservable{}.Name(), desc: processconv.UptimeObservable{}.Description(), unit: processconv.UptimeObservable{}.Unit(), kind: kGauge,
			series: []series{{f: func(s *rtsample.Sample) (float64, bool) {
				if s.Process.Start.IsZero() {
					return 0, false
				}
				return s.Time.Sub(s.Process.Start).Seconds(), true
			}}}},
	}
	return slices.DeleteFunc(specs, func(m metricSpec) bool { return p.cfg.Groups&m.group == 0 })
}

// Produce reads the runtime and the process once and returns their metric
// data. It is safe for concurrent use; it never panics (a panic is
// recovered and returned as an error).
func (p *Producer) Produce(context.Context) (out []metricdata.ScopeMetrics, err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rtmetrics: recovered panic while producing runtime metrics: %v", r)
			out = nil
		}
		if p.cfg.Observe != nil {
			p.cfg.Observe(time.Since(start), err)
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()

	p.r.Read(p.cur)
	p.updateWindow()
	ms := make([]metricdata.Metrics, 0, len(p.specs)+2)
	// One backing array per value type for every data point of this
	// collection, instead of one slice per metric.
	bufs := pointBufs{
		i: make([]metricdata.DataPoint[int64], 0, p.nInt),
		f: make([]metricdata.DataPoint[float64], 0, p.nFloat),
	}
	for i := range p.specs {
		if m, ok := p.scalar(&p.specs[i], &bufs); ok {
			ms = append(ms, m)
		}
	}
	if p.cfg.Groups&Recommended != 0 && p.sched != nil && len(p.cur.SchedLatency.Counts) > 0 {
		ms = append(ms, p.histogram(goconv.ScheduleDuration{}.Name(), goconv.ScheduleDuration{}.Description(), goconv.ScheduleDuration{}.Unit(),
			p.sched, p.cur.SchedLatency.Counts, p.prev.SchedLatency.Counts))
	}
	if p.cfg.Groups&OptIn != 0 && p.pauses != nil && len(p.cur.GCPauses.Counts) > 0 {
		ms = append(ms, p.histogram(goconv.MemoryGCPauseDuration{}.Name(), goconv.MemoryGCPauseDuration{}.Description(), goconv.MemoryGCPauseDuration{}.Unit(),
			p.pauses, p.cur.GCPauses.Counts, p.prev.GCPauses.Counts))
	}
	now := p.cur.Time
	p.prev, p.cur = p.cur, p.prev
	p.havePrev = true
	out = []metricdata.ScopeMetrics{{Scope: p.scope, Metrics: ms}}
	if p.cfg.Extra != nil {
		out = append(out, p.cfg.Extra(now)...)
	}
	return out, nil
}

func (p *Producer) updateWindow() {
	gc, ok1 := p.cur.Float(rtsample.CPUGC)
	total, ok2 := p.cur.Float(rtsample.CPUTotal)
	if !ok1 || !ok2 {
		return
	}
	if frac, ok := snapshot.GCCPUFraction(p.wGC, p.wTotal, gc, total); ok {
		p.frac = frac
		p.wGC, p.wTotal, p.haveFrac = gc, total, true
	}
}

// startTime is the start of cumulative series: the process start when known.
func (p *Producer) startTime() time.Time {
	if !p.cur.Process.Start.IsZero() {
		return p.cur.Process.Start
	}
	return p.r.Created()
}

// pointBufs hold the data points of one collection.
type pointBufs struct {
	i []metricdata.DataPoint[int64]
	f []metricdata.DataPoint[float64]
}

func (p *Producer) scalar(m *metricSpec, bufs *pointBufs) (metricdata.Metrics, bool) {
	out := metricdata.Metrics{Name: m.name, Description: m.desc, Unit: m.unit}
	now := p.cur.Time
	temporality := metricdata.CumulativeTemporality
	switch m.kind {
	case kCounter:
		temporality = p.tCounter
	case kUpDown:
		temporality = p.tUpDown
	}
	isDelta := temporality == metricdata.DeltaTemporality && p.havePrev
	startT := p.startTime()
	if isDelta {
		startT = p.prev.Time
	}
	isFloat := m.series[0].f != nil
	if isFloat {
		start := len(bufs.f)
		for _, s := range m.series {
			v, ok := s.f(p.cur)
			if !ok {
				continue
			}
			if isDelta {
				pv, _ := s.f(p.prev)
				v -= pv
			}
			bufs.f = append(bufs.f, metricdata.DataPoint[float64]{Attributes: s.attrs, StartTime: startT, Time: now, Value: v})
		}
		pts := bufs.f[start:len(bufs.f):len(bufs.f)]
		if len(pts) == 0 {
			return out, false
		}
		switch m.kind {
		case kGauge:
			out.Data = metricdata.Gauge[float64]{DataPoints: pts}
		default:
			out.Data = metricdata.Sum[float64]{DataPoints: pts, Temporality: temporality, IsMonotonic: m.kind == kCounter}
		}
		return out, true
	}
	start := len(bufs.i)
	for _, s := range m.series {
		v, ok := s.i(p.cur)
		if !ok {
			continue
		}
		if isDelta {
			pv, _ := s.i(p.prev)
			v -= pv
		}
		bufs.i = append(bufs.i, metricdata.DataPoint[int64]{Attributes: s.attrs, StartTime: startT, Time: now, Value: v})
	}
	pts := bufs.i[start:len(bufs.i):len(bufs.i)]
	if len(pts) == 0 {
		return out, false
	}
	switch m.kind {
	case kGauge:
		out.Data = metricdata.Gauge[int64]{DataPoints: pts}
	default:
		out.Data = metricdata.Sum[int64]{DataPoints: pts, Temporality: temporality, IsMonotonic: m.kind == kCounter}
	}
	return out, true
}

func (p *Producer) histogram(name, desc, unit string, h *histConv, counts, prevCounts []uint64) metricdata.Metrics {
	startT := p.startTime()
	if p.tHist == metricdata.DeltaTemporality && p.havePrev {
		startT = p.prev.Time
	} else {
		prevCounts = nil
	}
	out := metricdata.Metrics{Name: name, Description: desc, Unit: unit}
	if p.cfg.Histograms == HistogramExponential {
		offset, buckets, zero, total, sum := h.exponential(counts, prevCounts)
		out.Data = metricdata.ExponentialHistogram[float64]{
			Temporality: p.tHist,
			DataPoints: []metricdata.ExponentialHistogramDataPoint[float64]{{
				StartTime: startT, Time: p.cur.Time, Count: total, Sum: sum,
				Scale: ExponentialScale, ZeroCount: zero,
				PositiveBucket: metricdata.ExponentialBucket{Offset: offset, Counts: buckets},
			}},
		}
		return out
	}
	buckets, total, sum := h.explicit(counts, prevCounts)
	out.Data = metricdata.Histogram[float64]{
		Temporality: p.tHist,
		DataPoints: []metricdata.HistogramDataPoint[float64]{{
			StartTime: startT, Time: p.cur.Time, Count: total, Sum: sum,
			Bounds: slices.Clone(h.bounds), BucketCounts: buckets,
		}},
	}
	return out
}
