package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/perfagent/perfagent/exporters"
	"github.com/perfagent/perfagent/results"
)

// pushResults sends res to an OpenTelemetry collector as gauges, so
// benchmark history lands next to the service's telemetry:
//
//	perfagent.bench.value   one point per benchmark and statistic
//	                        (median, mean, p50, p95, p99, min, max, stddev),
//	                        attributes benchmark, category, suite, kind, unit
//	perfagent.bench.metric  one point per benchmark metric (req/s,
//	                        error-rate, ...), attribute metric
//
// endpoint is the collector's URL, or "env" to leave it to the
// OTEL_EXPORTER_OTLP_* variables. The protocol follows
// OTEL_EXPORTER_OTLP_PROTOCOL (default http/protobuf).
func pushResults(ctx context.Context, endpoint string, res *results.Run) error {
	// Results measured before a Ctrl-C are still pushed, within a bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	o := exporters.OTLPOptions{Protocol: os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")}
	if o.Protocol == "" {
		o.Protocol = exporters.ProtocolHTTP
	}
	if endpoint != "env" {
		o.Endpoint = endpoint
	}
	r, err := exporters.OTLP(ctx, exporters.Config{Interval: time.Hour, Timeout: 15 * time.Second}, o)
	if err != nil {
		return err
	}
	rsc, _ := resource.New(ctx, resource.WithFromEnv(), resource.WithAttributes(semconv.ServiceName("perfagent")))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Reader), sdkmetric.WithResource(rsc))
	defer mp.Shutdown(context.Background())
	m := mp.Meter("github.com/perfagent/perfagent/bench")
	value, err := m.Float64Gauge("perfagent.bench.value", metric.WithDescription("A benchmark statistic, in the unit named by the unit attribute."))
	if err != nil {
		return err
	}
	extra, err := m.Float64Gauge("perfagent.bench.metric", metric.WithDescription("A benchmark metric (req/s, error-rate, ...), named by the metric attribute."))
	if err != nil {
		return err
	}
	for _, b := range res.Benchmarks {
		unit := b.Unit
		if unit == "" {
			unit = results.UnitNsPerOp
		}
		kind := b.Kind
		if kind == "" {
			kind = results.KindFunc
		}
		common := []attribute.KeyValue{
			attribute.String("benchmark", b.Name), attribute.String("category", b.Category),
			attribute.String("suite", res.Suite), attribute.String("kind", kind),
		}
		for _, s := range []struct {
			name string
			v    float64
		}{{"median", b.Stats.Median}, {"mean", b.Stats.Mean}, {"p50", b.Stats.P50}, {"p95", b.Stats.P95},
			{"p99", b.Stats.P99}, {"min", b.Stats.Min}, {"max", b.Stats.Max}, {"stddev", b.Stats.Stddev}} {
			value.Record(ctx, s.v, metric.WithAttributes(append(common, attribute.String("statistic", s.name), attribute.String("unit", unit))...))
		}
		for _, mt := range b.Metrics {
			extra.Record(ctx, mt.Value, metric.WithAttributes(append(common, attribute.String("metric", mt.Unit))...))
		}
	}
	if err := mp.ForceFlush(ctx); err != nil {
		return err
	}
	if failed, msg := r.Health.LastFailed(); failed {
		return fmt.Errorf("%w: %s", exporters.ErrExportFailed, msg)
	}
	if r.Health.Status().Exports == 0 {
		return errors.New("nothing was exported")
	}
	return nil
}
