package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/perfagent/perfagent/exporters"
)

// Metric names of the demo target, in OpenTelemetry form. Prometheus
// exposition turns them into demo_http_requests_total,
// demo_http_request_duration_seconds and demo_token_count.
const (
	MetricRequests = "demo.http.requests"         // counter, {request}, by route and code
	MetricDuration = "demo.http.request.duration" // histogram, s, by route
	MetricTokens   = "demo.token.count"           // gauge, {token}: live tokens
)

// meterName is the instrumentation scope of the demo's instruments.
const meterName = "github.com/perfagent/perfagent/internal/demo"

// durationBounds are the latency histogram's bucket boundaries in seconds:
// 100µs to about 1.6s in steps of 4, nine buckets per route.
var durationBounds = []float64{0.0001, 0.0004, 0.0016, 0.0064, 0.0256, 0.1024, 0.4096, 1.6384}

// metrics is the demo's instrumentation: instruments from the host's meter
// provider (or a private one serving the demo's own /metrics).
type metrics struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	reg      metric.Registration
	// private is the demo's own provider and its /metrics handler, when
	// Options.MeterProvider is nil.
	private *sdkmetric.MeterProvider
	handler http.Handler
}

// newMetrics creates the instruments on mp, or on a private provider
// exposed as Prometheus text by metrics.handler when mp is nil. live is
// observed at each collection for MetricTokens.
func newMetrics(mp metric.MeterProvider, live func() int) (*metrics, error) {
	m := &metrics{}
	if mp == nil {
		r, err := exporters.Prometheus(exporters.Config{}, exporters.PrometheusOptions{WithoutTargetInfo: true})
		if err != nil {
			return nil, fmt.Errorf("demo: metrics: %w", err)
		}
		m.private = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Reader))
		m.handler = r.Handler
		mp = m.private
	}
	meter := mp.Meter(meterName)
	var errs [4]error
	m.requests, errs[0] = meter.Int64Counter(MetricRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests served by the perfagent demo target, by route and status code."))
	m.duration, errs[1] = meter.Float64Histogram(MetricDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to serve a request of the perfagent demo target, by route."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	tokens, err := meter.Int64ObservableGauge(MetricTokens, metric.WithUnit("{token}"),
		metric.WithDescription("Tokens issued by /auth/login and not yet forgotten."))
	errs[2] = err
	if err == nil {
		m.reg, errs[3] = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			o.ObserveInt64(tokens, int64(live()))
			return nil
		}, tokens)
	}
	if err := errors.Join(errs[:]...); err != nil {
		m.close(context.Background())
		return nil, fmt.Errorf("demo: metrics: %w", err)
	}
	return m, nil
}

// close unregisters the token gauge's callback, so a provider that outlives
// the demo no longer observes it, and shuts a private provider down.
func (m *metrics) close(ctx context.Context) error {
	var errs []error
	if m.reg != nil {
		errs = append(errs, m.reg.Unregister())
	}
	if m.private != nil {
		errs = append(errs, m.private.Shutdown(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("demo: metrics: %w", err)
	}
	return nil
}

// instrument counts h's requests by route and status code and records
// their latency by route.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	routeAttr := attribute.String("route", route)
	byRoute := metric.WithAttributeSet(attribute.NewSet(routeAttr))
	var byCode sync.Map // int → metric.AddOption; a few status codes per route
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		ctx := r.Context()
		m.duration.Record(ctx, time.Since(t0).Seconds(), byRoute)
		opt, ok := byCode.Load(sw.code)
		if !ok {
			// Note: the attribute set is built once per route and code, not
			// per request: the demo is a benchmark target and should cost
			// what a well-instrumented service costs.
			opt, _ = byCode.LoadOrStore(sw.code, metric.WithAttributeSet(attribute.NewSet(routeAttr, attribute.Int("code", sw.code))))
		}
		m.requests.Add(ctx, 1, opt.(metric.AddOption))
	})
}

// statusWriter records the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
