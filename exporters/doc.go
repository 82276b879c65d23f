// Package exporters builds the metric readers perfagent feeds: a Prometheus
// reader serving a private registry, OTLP over gRPC or HTTP, and a console
// reader for debugging; and the continuous profiling pipeline: a
// [Profiler] that takes profiles and a [Sink] that delivers them to a
// Pyroscope server or to profile files. Each reader is paired with its own producer of
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
//
// # Continuous profiling
//
// A [Profiler] collects, a [ProfileSink] delivers (the split pyroscope-go
// makes between its session and its upstream). The profiler takes a CPU
// profile per period (or a slice of each period), delta heap, mutex and
// block profiles from pyroscope-go's godeltaprof, and goroutine profiles,
// and hands each to the sink; it never forces a GC or stops the world to
// do so. It owns the process's CPU profiler while running and yields it
// through PauseCPU/ResumeCPU, the contract of perfagent's CPU profiler
// arbiter, so /debug/pprof/profile and on-demand captures keep working.
//
// [NewPyroscopeSink] uploads with Pyroscope's ingest protocol, as
// pyroscope-go does, but with bounded retries, a bounded queue, counted
// outcomes ([SinkStats]) and a Close that delivers within its deadline;
// [NewFileSink] writes rolling profile files through a [ProfileWriter].
//
//	sink, err := exporters.NewPyroscopeSink(exporters.PyroscopeOptions{
//		ServerAddress: "http://pyroscope:4040", ApplicationName: "checkout",
//	}, exporters.SinkOptions{})
//	p, err := exporters.StartProfiler(exporters.ProfilerConfig{}, sink)
//	defer p.Stop(ctx) // final profiles, delivered within ctx
package exporters
