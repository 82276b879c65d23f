// Package exporters builds the metric readers perfagent feeds: a Prometheus
// reader serving a private registry, OTLP over gRPC or HTTP, and a console
// reader for debugging. Each reader is paired with its own producer of
// runtime metrics, so a collection by one exporter never disturbs another's
// delta state.
//
// Export failures never reach the host: every push exporter is wrapped so
// that failures are counted in its [Health], logged at most once a minute,
// and recovered if the exporter panics. The wrapped exporter reports success
// to the SDK's periodic reader (which would otherwise send every failure to
// the global OpenTelemetry error handler, flooding stderr); the truth is in
// Health, served by the agent at /debug/perfagent/ and as
// perfagent.agent.export.* metrics.
//
// # Usage
//
//	pr, err := exporters.Prometheus(exporters.Config{Producer: newProducer})
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(pr.Reader))
//	http.Handle("/metrics", pr.Handler)
//
// The agent package does this wiring from options and environment variables;
// use this package directly only to assemble a pipeline by hand.
package exporters
