package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
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
	out := make(map[string]int64, len(*m))
	for k, v := range *m {
		out[k] = v
	}
	return out
}

func (a *Agent) registerSelfMetrics() error {
	m := a.mp.Meter("github.com/perfagent/perfagent/agent", metric.WithInstrumentationVersion(a.version))
	collections, err := m.Int64ObservableCounter("perfagent.agent.collection.count", metric.WithUnit("{collection}"),
		metric.WithDescription("Collections of runtime and process metrics (one per scrape or export)."))
	if err != nil {
		return err
	}
	collectErrs, err := m.Int64ObservableCounter("perfagent.agent.collection.errors", metric.WithUnit("{collection}"),
		metric.WithDescription("Collections that failed (a recovered panic)."))
	if err != nil {
		return err
	}
	collectTime, err := m.Float64ObservableCounter("perfagent.agent.collection.time", metric.WithUnit("s"),
		metric.WithDescription("Time spent collecting runtime and process metrics, the agent's main cost."))
	if err != nil {
		return err
	}
	lastCollect, err := m.Float64ObservableGauge("perfagent.agent.collection.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the latest collection."))
	if err != nil {
		return err
	}
	exports, err := m.Int64ObservableCounter("perfagent.agent.export.count", metric.WithUnit("{export}"),
		metric.WithDescription("Push exports attempted, by exporter."))
	if err != nil {
		return err
	}
	failures, err := m.Int64ObservableCounter("perfagent.agent.export.failures", metric.WithUnit("{export}"),
		metric.WithDescription("Push exports that failed, by exporter."))
	if err != nil {
		return err
	}
	panics, err := m.Int64ObservableCounter("perfagent.agent.panics", metric.WithUnit("{panic}"),
		metric.WithDescription("Panics recovered in the agent's goroutines, by component."))
	if err != nil {
		return err
	}
	dropped, err := m.Int64ObservableCounter("perfagent.agent.dropped", metric.WithUnit("{item}"),
		metric.WithDescription("Items dropped because a bounded buffer, queue or quota was full, by kind."))
	if err != nil {
		return err
	}
	exporterAttrs := make([]metric.ObserveOption, len(a.readers))
	for i, r := range a.readers {
		exporterAttrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("exporter", r.Name)))
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(collections, a.self.collections.Load())
		o.ObserveInt64(collectErrs, a.self.collectErrors.Load())
		o.ObserveFloat64(collectTime, time.Duration(a.self.collectNanos.Load()).Seconds())
		o.ObserveFloat64(lastCollect, time.Duration(a.self.lastCollectNanos.Load()).Seconds())
		for i, r := range a.readers {
			if r.Health == nil {
				continue
			}
			st := r.Health.Status()
			o.ObserveInt64(exports, st.Exports, exporterAttrs[i])
			o.ObserveInt64(failures, st.Failures, exporterAttrs[i])
		}
		for k, v := range a.self.counts(&a.self.panics) {
			o.ObserveInt64(panics, v, metric.WithAttributes(attribute.String("component", k)))
		}
		for k, v := range a.self.counts(&a.self.dropped) {
			o.ObserveInt64(dropped, v, metric.WithAttributes(attribute.String("kind", k)))
		}
		return nil
	}, collections, collectErrs, collectTime, lastCollect, exports, failures, panics, dropped)
	return err
}
