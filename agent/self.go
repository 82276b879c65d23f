package agent

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
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
//
// Note: the collection being produced is counted by the next one, since its
// duration is known only when it ends.
func (a *Agent) selfMetrics(now time.Time) []metricdata.ScopeMetrics {
	start := a.started
	sum := func(name, desc, unit string, pts ...metricdata.DataPoint[int64]) metricdata.Metrics {
		return metricdata.Metrics{Name: name, Description: desc, Unit: unit,
			Data: metricdata.Sum[int64]{DataPoints: pts, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}}
	}
	pt := func(v int64, attrs ...attribute.KeyValue) metricdata.DataPoint[int64] {
		set := *attribute.EmptySet()
		if len(attrs) > 0 {
			set = attribute.NewSet(attrs...)
		}
		return metricdata.DataPoint[int64]{Attributes: set, StartTime: start, Time: now, Value: v}
	}
	ms := []metricdata.Metrics{
		sum("perfagent.agent.collection.count", "Collections of runtime and process metrics (one per scrape or export).", "{collection}",
			pt(a.self.collections.Load())),
		sum("perfagent.agent.collection.errors", "Collections that failed (a recovered panic).", "{collection}",
			pt(a.self.collectErrors.Load())),
		{Name: "perfagent.agent.collection.time", Description: "Time spent collecting runtime and process metrics, the agent's main cost.", Unit: "s",
			Data: metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
				DataPoints: []metricdata.DataPoint[float64]{{StartTime: start, Time: now, Value: time.Duration(a.self.collectNanos.Load()).Seconds()}}}},
		{Name: "perfagent.agent.collection.duration", Description: "Duration of the latest collection.", Unit: "s",
			Data: metricdata.Gauge[float64]{DataPoints: []metricdata.DataPoint[float64]{{Time: now, Value: time.Duration(a.self.lastCollectNanos.Load()).Seconds()}}}},
	}
	var exports, failures []metricdata.DataPoint[int64]
	for _, r := range a.readers {
		if r.Health == nil {
			continue
		}
		st := r.Health.Status()
		attrs := attribute.NewSet(attribute.String("exporter", r.Name))
		exports = append(exports, metricdata.DataPoint[int64]{Attributes: attrs, StartTime: start, Time: now, Value: st.Exports})
		failures = append(failures, metricdata.DataPoint[int64]{Attributes: attrs, StartTime: start, Time: now, Value: st.Failures})
	}
	if len(exports) > 0 {
		ms = append(ms,
			sum("perfagent.agent.export.count", "Push exports attempted, by exporter.", "{export}", exports...),
			sum("perfagent.agent.export.failures", "Push exports that failed, by exporter.", "{export}", failures...))
	}
	if pts := keyedPoints(a.self.counts(&a.self.panics), "component", pt); len(pts) > 0 {
		ms = append(ms, sum("perfagent.agent.panics", "Panics recovered in the agent's goroutines, by component.", "{panic}", pts...))
	}
	if pts := keyedPoints(a.self.counts(&a.self.dropped), "kind", pt); len(pts) > 0 {
		ms = append(ms, sum("perfagent.agent.dropped", "Items dropped because a bounded buffer, queue or quota was full, by kind.", "{item}", pts...))
	}
	out := []metricdata.ScopeMetrics{{
		Scope:   instrumentation.Scope{Name: "github.com/perfagent/perfagent/agent", Version: a.version},
		Metrics: ms,
	}}
	if l := a.leakMetrics.Load(); l != nil {
		sm := l.metricsData(start, now)
		sm.Scope.Version = a.version
		out = append(out, sm)
	}
	return out
}

func keyedPoints(m map[string]int64, key string, pt func(int64, ...attribute.KeyValue) metricdata.DataPoint[int64]) []metricdata.DataPoint[int64] {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pts := make([]metricdata.DataPoint[int64], 0, len(keys))
	for _, k := range keys {
		pts = append(pts, pt(m[k], attribute.String(key, k)))
	}
	return pts
}
