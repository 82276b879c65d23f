package agent

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/perfagent/perfagent/exporters"
)

// selfStats is the agent's account of its own work, exported as
// perfagent.agent.* metrics and in the status document.
type selfStats struct {
	collections      atomic.Int64
	collectErrors    atomic.Int64
	collectNanos     atomic.Int64
	lastCollectNanos atomic.Int64

	mu      sync.Mutex
	panics  map[string]int64 // by component; few fixed keys
	dropped map[string]int64 // by kind; few fixed keys
}

func (s *selfStats) observeCollection(d time.Duration, err error) {
	s.collections.Add(1)
	s.collectNanos.Add(int64(d))
	s.lastCollectNanos.Store(int64(d))
	if err != nil {
		s.collectErrors.Add(1)
	}
}

func (s *selfStats) recoverPanic(component string) { s.add(&s.panics, component, 1) }

// drop counts n items of kind dropped because a bound was reached.
func (s *selfStats) drop(kind string, n int64) { s.add(&s.dropped, kind, n) }

func (s *selfStats) add(m *map[string]int64, key string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[key] += n
}

// counts returns a copy of *m read under the lock.
func (s *selfStats) counts(m *map[string]int64) map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(*m) == 0 {
		return nil // the common case: nothing dropped, no panic
	}
	out := make(map[string]int64, len(*m))
	for k, v := range *m {
		out[k] = v
	}
	return out
}

// selfMetrics returns the perfagent.agent.* metrics as metric data. It runs
// inside each collection of runtime metrics (rtmetrics.Config.Extra), so it
// costs no SDK instruments. Counters are cumulative since the agent started.
// Points share one backing array per value type and attribute sets are
// cached: it runs on every scrape.
//
// Note: the collection being produced is counted by the next one, since its
// duration is known only when it ends.
func (a *Agent) selfMetrics(now time.Time) []metricdata.ScopeMetrics {
	panics, dropped := a.self.counts(&a.self.panics), a.self.counts(&a.self.dropped)
	b := selfBuilder{
		start: a.started, now: now, sets: &a.sets,
		ints: make([]metricdata.DataPoint[int64], 0, 2+2*len(a.readers)+len(panics)+len(dropped)),
		ms:   make([]metricdata.Metrics, 0, 8),
	}
	empty := *attribute.EmptySet()
	n := b.pt(a.self.collections.Load(), empty)
	b.sum("perfagent.agent.collection.count", "Collections of runtime and process metrics (one per scrape or export).", "{collection}", n)
	n = b.pt(a.self.collectErrors.Load(), empty)
	b.sum("perfagent.agent.collection.errors", "Collections that failed (a recovered panic).", "{collection}", n)
	floats := make([]metricdata.DataPoint[float64], 2)
	floats[0] = metricdata.DataPoint[float64]{StartTime: b.start, Time: now, Value: time.Duration(a.self.collectNanos.Load()).Seconds()}
	floats[1] = metricdata.DataPoint[float64]{Time: now, Value: time.Duration(a.self.lastCollectNanos.Load()).Seconds()}
	b.ms = append(b.ms,
		metricdata.Metrics{Name: "perfagent.agent.collection.time", Description: "Time spent collecting runtime and process metrics, the agent's main cost.", Unit: "s",
			Data: metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: floats[0:1:1]}},
		metricdata.Metrics{Name: "perfagent.agent.collection.duration", Description: "Duration of the latest collection.", Unit: "s",
			Data: metricdata.Gauge[float64]{DataPoints: floats[1:2:2]}})
	a.exportMetrics(&b)
	n = b.keyed(panics, "component")
	b.sum("perfagent.agent.panics", "Panics recovered in the agent's goroutines, by component.", "{panic}", n)
	n = b.keyed(dropped, "kind")
	b.sum("perfagent.agent.dropped", "Items dropped at a bound (a full buffer, queue or quota, or Shutdown's deadline), by kind (file, profile, export).", "{item}", n)

	out := make([]metricdata.ScopeMetrics, 1, 2)
	out[0] = metricdata.ScopeMetrics{
		Scope:   instrumentation.Scope{Name: "github.com/perfagent/perfagent/agent", Version: a.version},
		Metrics: b.ms,
	}
	if l := a.leakMetrics.Load(); l != nil {
		sm := l.metricsData(&metricsBuilder{start: b.start, now: now, sets: &a.sets, ms: make([]metricdata.Metrics, 0, 7)})
		sm.Scope.Version = a.version
		out = append(out, sm)
	}
	if st := a.profMetrics.Load(); st != nil {
		sm := st.metricsData(&metricsBuilder{start: b.start, now: now, sets: &a.sets, ms: make([]metricdata.Metrics, 0, 9)})
		sm.Scope.Version = a.version
		out = append(out, sm)
	}
	return out
}

// exportMetrics adds perfagent.agent.export.count and .failures, from one
// status read per exporter so its failures never exceed its exports.
func (a *Agent) exportMetrics(b *selfBuilder) {
	type exporterStatus struct {
		attrs attribute.Set
		st    exporters.HealthStatus
	}
	var stBuf [4]exporterStatus
	statuses := stBuf[:0]
	for _, r := range a.readers {
		if r.Health != nil {
			statuses = append(statuses, exporterStatus{a.sets.one("exporter", r.Name), r.Health.Status()})
		}
	}
	n := len(b.ints)
	for _, e := range statuses {
		b.pt(e.st.Exports, e.attrs)
	}
	b.sum("perfagent.agent.export.count", "Push exports attempted, by exporter.", "{export}", n)
	n = len(b.ints)
	for _, e := range statuses {
		b.pt(e.st.Failures, e.attrs)
	}
	b.sum("perfagent.agent.export.failures", "Push exports that failed, by exporter.", "{export}", n)
}

// selfBuilder builds the agent's own metric data for one collection. The
// int64 points of every sum share one backing array (ints).
type selfBuilder struct {
	start, now time.Time
	sets       *attrCache
	ints       []metricdata.DataPoint[int64]
	ms         []metricdata.Metrics
}

// pt adds a point and returns the index it was added at.
func (b *selfBuilder) pt(v int64, attrs attribute.Set) int {
	b.ints = append(b.ints, metricdata.DataPoint[int64]{Attributes: attrs, StartTime: b.start, Time: b.now, Value: v})
	return len(b.ints) - 1
}

// sum adds a cumulative sum of the points added since index from; none
// means no metric.
func (b *selfBuilder) sum(name, desc, unit string, from int) {
	if len(b.ints) == from {
		return
	}
	b.ms = append(b.ms, metricdata.Metrics{Name: name, Description: desc, Unit: unit,
		Data: metricdata.Sum[int64]{DataPoints: b.ints[from:len(b.ints):len(b.ints)], Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}})
}

// keyed adds one point per key of m, in key order, and returns the index
// of the first.
func (b *selfBuilder) keyed(m map[string]int64, key string) int {
	from := len(b.ints)
	var buf [8]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.pt(m[k], b.sets.one(key, k))
	}
	return from
}

// attrCache caches attribute sets of one or two attributes by their keys
// and values: the metric data built on every collection reuses them instead
// of building (and allocating) a set per point. The values are few and fixed
// (exporter names, components, profile kinds, reasons, sinks), so the cache
// stays small. Each Agent has its own; the zero value is ready to use.
type attrCache struct {
	mu sync.RWMutex
	m  map[[4]string]attribute.Set
}

// one returns the set {key=value}.
func (c *attrCache) one(key, value string) attribute.Set {
	return c.get([4]string{key, value}, func() attribute.Set { return attribute.NewSet(attribute.String(key, value)) })
}

// two returns the set {k1=v1, k2=v2}.
func (c *attrCache) two(k1, v1, k2, v2 string) attribute.Set {
	return c.get([4]string{k1, v1, k2, v2}, func() attribute.Set {
		return attribute.NewSet(attribute.String(k1, v1), attribute.String(k2, v2))
	})
}

func (c *attrCache) get(id [4]string, build func() attribute.Set) attribute.Set {
	c.mu.RLock()
	s, ok := c.m[id]
	c.mu.RUnlock()
	if ok {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[4]string]attribute.Set{}
	}
	if s, ok := c.m[id]; ok {
		return s
	}
	s = build()
	c.m[id] = s
	return s
}
