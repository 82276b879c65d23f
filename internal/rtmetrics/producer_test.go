package rtmetrics

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/perfagent/perfagent/internal/rtsample"
)

func collect(t testing.TB, cfg Config, readerOpts ...sdkmetric.ManualReaderOption) func() map[string]metricdata.Metrics {
	t.Helper()
	r := rtsample.New(rtsample.Options{Process: true})
	t.Cleanup(func() { r.Close() })
	if cfg.Temporality == nil && len(readerOpts) > 0 {
		// The reader's selector is applied by the caller through cfg.
		t.Fatal("pass the temporality selector in cfg too")
	}
	p, err := New(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mr := sdkmetric.NewManualReader(append(readerOpts, sdkmetric.WithProducer(p))...)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(mr))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	return func() map[string]metricdata.Metrics {
		var rm metricdata.ResourceMetrics
		if err := mr.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		out := map[string]metricdata.Metrics{}
		for _, sm := range rm.ScopeMetrics {
			if sm.Scope.SchemaURL != SchemaURL {
				t.Errorf("scope %q schema %q, want %q", sm.Scope.Name, sm.Scope.SchemaURL, SchemaURL)
			}
			for _, m := range sm.Metrics {
				if _, dup := out[m.Name]; dup {
					t.Errorf("metric %s produced twice", m.Name)
				}
				out[m.Name] = m
			}
		}
		return out
	}
}

// want describes a metric as the semantic conventions define it.
type want struct {
	unit  string
	kind  string // "counter", "updown", "gauge", "histogram"
	attrs []string
}

var semconvGo = map[string]want{
	"go.memory.used":                     {"By", "updown", []string{"go.memory.type=other", "go.memory.type=stack"}},
	"go.memory.limit":                    {"By", "updown", nil},
	"go.memory.allocated":                {"By", "counter", nil},
	"go.memory.allocations":              {"{allocation}", "counter", nil},
	"go.memory.gc.goal":                  {"By", "updown", nil},
	"go.goroutine.count":                 {"{goroutine}", "updown", nil},
	"go.processor.limit":                 {"{thread}", "updown", nil},
	"go.config.gogc":                     {"%", "updown", nil},
	"go.schedule.duration":               {"s", "histogram", nil},
	"go.memory.gc.cycles":                {"{gc_cycle}", "counter", nil},
	"go.memory.gc.pause.duration":        {"s", "histogram", nil},
	"go.cpu.time":                        {"s", "counter", []string{"go.cpu.state=gc", "go.cpu.state=idle", "go.cpu.state=scavenge", "go.cpu.state=user"}},
	"process.cpu.time":                   {"s", "counter", []string{"cpu.mode=system", "cpu.mode=user"}},
	"process.memory.usage":               {"By", "updown", nil},
	"process.memory.virtual":             {"By", "updown", nil},
	"process.thread.count":               {"{thread}", "updown", nil},
	"process.uptime":                     {"s", "gauge", nil},
	"process.unix.file_descriptor.count": {"{file_descriptor}", "updown", nil},
}

func kindOf(m metricdata.Metrics) (kind string, attrs []string) {
	addAttrs := func(s attribute.Set) {
		if s.Len() > 0 {
			for _, kv := range s.ToSlice() {
				attrs = append(attrs, string(kv.Key)+"="+kv.Value.Emit())
			}
		}
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		kind = "updown"
		if d.IsMonotonic {
			kind = "counter"
		}
		for _, p := range d.DataPoints {
			addAttrs(p.Attributes)
		}
	case metricdata.Sum[float64]:
		kind = "updown"
		if d.IsMonotonic {
			kind = "counter"
		}
		for _, p := range d.DataPoints {
			addAttrs(p.Attributes)
		}
	case metricdata.Gauge[float64]:
		kind = "gauge"
	case metricdata.Gauge[int64]:
		kind = "gauge"
	case metricdata.Histogram[float64], metricdata.ExponentialHistogram[float64]:
		kind = "histogram"
	default:
		kind = "unknown"
	}
	sort.Strings(attrs)
	return kind, attrs
}

func TestSemanticConventions(t *testing.T) {
	old := debug.SetMemoryLimit(1 << 40)
	defer debug.SetMemoryLimit(old)
	runtime.GC() // the runtime's CPU estimates, and so the GC CPU fraction, start with a GC cycle
	got := collect(t, Config{})()
	for name, w := range semconvGo {
		m, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if m.Unit != w.unit {
			t.Errorf("%s unit %q, want %q", name, m.Unit, w.unit)
		}
		if m.Description == "" {
			t.Errorf("%s has no description", name)
		}
		kind, attrs := kindOf(m)
		if kind != w.kind {
			t.Errorf("%s is a %s, want %s", name, kind, w.kind)
		}
		if !slices.Equal(attrs, w.attrs) {
			t.Errorf("%s attributes %v, want %v", name, attrs, w.attrs)
		}
	}
	for name := range got {
		if _, ok := semconvGo[name]; !ok && !strings.HasPrefix(name, "perfagent.") {
			t.Errorf("unexpected metric %s outside perfagent.*", name)
		}
	}
	for _, name := range []string{"perfagent.go.memory.heap.live", "perfagent.go.goroutine.count", "perfagent.go.goroutine.created",
		"perfagent.go.thread.count", "perfagent.go.sync.mutex.wait.time", "perfagent.go.gc.finalizer.backlog",
		"perfagent.go.gc.cleanup.backlog", "perfagent.go.gc.limiter.activations", "perfagent.go.gc.cpu.fraction"} {
		if _, ok := got[name]; !ok {
			t.Errorf("extra %s missing", name)
		}
	}
}

func intValue(t *testing.T, m metricdata.Metrics, attr string) int64 {
	t.Helper()
	d, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T", m.Name, m.Data)
	}
	k, v, _ := strings.Cut(attr, "=")
	for _, p := range d.DataPoints {
		if attr == "" {
			return p.Value
		}
		if got, ok := p.Attributes.Value(attribute.Key(k)); ok && got.Emit() == v {
			return p.Value
		}
	}
	t.Fatalf("%s has no point %q", m.Name, attr)
	return 0
}

type runtimeSample struct {
	name string
	v    uint64
}

func readRuntime(s []runtimeSample) {
	ms := make([]metrics.Sample, len(s))
	for i := range s {
		ms[i].Name = s[i].name
	}
	metrics.Read(ms)
	for i := range s {
		s[i].v = ms[i].Value.Uint64()
	}
}

func TestValues(t *testing.T) {
	old := debug.SetMemoryLimit(1 << 40)
	defer debug.SetMemoryLimit(old)
	oldGC := debug.SetGCPercent(123)
	defer debug.SetGCPercent(oldGC)
	got := collect(t, Config{})()
	if v := intValue(t, got["go.processor.limit"], ""); v != int64(runtime.GOMAXPROCS(0)) {
		t.Errorf("go.processor.limit = %d", v)
	}
	if v := intValue(t, got["go.config.gogc"], ""); v != 123 {
		t.Errorf("go.config.gogc = %d, want 123", v)
	}
	if v := intValue(t, got["go.memory.limit"], ""); v != 1<<40 {
		t.Errorf("go.memory.limit = %d", v)
	}
	if v := intValue(t, got["go.goroutine.count"], ""); v < 1 {
		t.Errorf("go.goroutine.count = %d", v)
	}
	stack := intValue(t, got["go.memory.used"], "go.memory.type=stack")
	other := intValue(t, got["go.memory.used"], "go.memory.type=other")
	if stack <= 0 || other <= 0 {
		t.Errorf("go.memory.used stack=%d other=%d", stack, other)
	}
	s := []runtimeSample{{"/memory/classes/total:bytes", 0}, {"/memory/classes/heap/released:bytes", 0}}
	readRuntime(s)
	used := int64(s[0].v - s[1].v)
	if sum := stack + other; sum < used/2 || sum > used*2 {
		t.Errorf("go.memory.used totals %d; runtime/metrics says %d", sum, used)
	}
	if v := intValue(t, got["process.memory.usage"], ""); v < 1<<20 {
		t.Errorf("process.memory.usage = %d", v)
	}
}

func TestSentinelsOmitted(t *testing.T) {
	old := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(old)
	oldGC := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(oldGC)
	got := collect(t, Config{})()
	for _, name := range []string{"go.memory.limit", "go.config.gogc"} {
		if m, ok := got[name]; ok {
			t.Errorf("%s exported with its sentinel: %+v", name, m.Data)
		}
	}
}

func TestGroups(t *testing.T) {
	got := collect(t, Config{Groups: Recommended})()
	for name := range got {
		switch name {
		case "go.memory.used", "go.memory.limit", "go.memory.allocated", "go.memory.allocations", "go.memory.gc.goal",
			"go.goroutine.count", "go.processor.limit", "go.config.gogc", "go.schedule.duration":
		default:
			t.Errorf("group Recommended exported %s", name)
		}
	}
	if len(got) < 7 {
		t.Errorf("only %d recommended metrics", len(got))
	}
}

func TestDeltaTemporality(t *testing.T) {
	sel := func(sdkmetric.InstrumentKind) metricdata.Temporality { return metricdata.DeltaTemporality }
	next := collect(t, Config{Temporality: sel}, sdkmetric.WithTemporalitySelector(sel))
	next()
	big := make([]byte, 8<<20)
	runtime.KeepAlive(big)
	got := next()
	alloc := intValue(t, got["go.memory.allocated"], "")
	if alloc < 8<<20 || alloc > 1<<30 {
		t.Errorf("delta go.memory.allocated = %d after allocating 8 MiB", alloc)
	}
	s := got["go.memory.allocated"].Data.(metricdata.Sum[int64])
	if s.Temporality != metricdata.DeltaTemporality {
		t.Errorf("temporality %v", s.Temporality)
	}
	// An up-down counter is exported as the selector says too.
	if g := got["go.goroutine.count"].Data.(metricdata.Sum[int64]); g.Temporality != metricdata.DeltaTemporality {
		t.Errorf("updown temporality %v", g.Temporality)
	}
	h := got["go.schedule.duration"].Data.(metricdata.Histogram[float64])
	if h.Temporality != metricdata.DeltaTemporality || !h.DataPoints[0].StartTime.Before(h.DataPoints[0].Time) {
		t.Errorf("histogram temporality %v start %v time %v", h.Temporality, h.DataPoints[0].StartTime, h.DataPoints[0].Time)
	}
}

func TestHistogramsCumulativeAndConsistent(t *testing.T) {
	next := collect(t, Config{})
	first := next()["go.schedule.duration"].Data.(metricdata.Histogram[float64]).DataPoints[0]
	for i := 0; i < 100; i++ {
		done := make(chan struct{})
		go func() { close(done) }()
		<-done
	}
	second := next()["go.schedule.duration"].Data.(metricdata.Histogram[float64]).DataPoints[0]
	if second.Count <= first.Count {
		t.Errorf("count did not grow: %d then %d", first.Count, second.Count)
	}
	var sum uint64
	for _, c := range second.BucketCounts {
		sum += c
	}
	if sum != second.Count || len(second.BucketCounts) != len(second.Bounds)+1 || len(second.Bounds) != 16 {
		t.Errorf("buckets %v (sum %d) bounds %v count %d", second.BucketCounts, sum, second.Bounds, second.Count)
	}
	if !second.StartTime.Equal(first.StartTime) {
		t.Errorf("cumulative start time moved")
	}
}

func TestExponential(t *testing.T) {
	got := collect(t, Config{Histograms: HistogramExponential})()
	h, ok := got["go.schedule.duration"].Data.(metricdata.ExponentialHistogram[float64])
	if !ok {
		t.Fatalf("go.schedule.duration is %T", got["go.schedule.duration"].Data)
	}
	p := h.DataPoints[0]
	var n uint64 = p.ZeroCount
	for _, c := range p.PositiveBucket.Counts {
		n += c
	}
	if n != p.Count || p.Count == 0 || p.Scale != ExponentialScale {
		t.Errorf("exponential point %+v: buckets total %d", p, n)
	}
}

func TestInvalidBoundaries(t *testing.T) {
	r := rtsample.New(rtsample.Options{})
	for _, b := range [][]float64{{1, 1}, {0, 1}, {2, 1}, {math.NaN()}} {
		if _, err := New(r, Config{Boundaries: b}); err == nil {
			t.Errorf("boundaries %v accepted", b)
		}
	}
}

func BenchmarkCollect(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"default", Config{}}, {"exponential", Config{Histograms: HistogramExponential}}} {
		b.Run(tc.name, func(b *testing.B) {
			r := rtsample.New(rtsample.Options{Process: true})
			defer r.Close()
			p, _ := New(r, tc.cfg)
			mr := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(mr))
			defer mp.Shutdown(context.Background())
			var rm metricdata.ResourceMetrics
			b.ReportAllocs()
			for b.Loop() {
				if err := mr.Collect(context.Background(), &rm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
