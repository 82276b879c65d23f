// Package agent is perfagent's in-process agent: one call adds
// OpenTelemetry metrics for the Go runtime and the process to a service,
// exports them to Prometheus and OTLP pipelines, and serves a status and
// debugging surface.
//
//	a, err := agent.Start(ctx, agent.WithServiceName("checkout"))
//	if err != nil {
//		return err
//	}
//	defer a.Shutdown(context.Background()) // bounded by DefaultShutdownTimeout (5s)
//
// By default the agent serves http://127.0.0.1:9464/metrics (Prometheus
// exposition from a private registry) and /debug/perfagent/ (JSON status),
// and pushes OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set. Metric names
// follow the OpenTelemetry semantic conventions for Go runtime and process
// metrics (schema 1.43.0); perfagent's own additions are under perfagent.*.
//
// # Configuration
//
// Options override environment variables, which override defaults. The
// agent reads OpenTelemetry's variables (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_*,
// OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_TIMEOUT) and the PERFAGENT_*
// variables named by the Env* constants. An invalid option or variable
// fails Start with an error naming it and its value.
//
// # Continuous profiling
//
// With [WithProfiling] or PYROSCOPE_SERVER_ADDRESS the agent streams CPU and
// heap profiles (goroutine, mutex and block on request) to Grafana Pyroscope,
// labelled per request by [TagHTTP] and [Tag]. It takes the profiles itself
// (godeltaprof deltas, no forced GC, no stop-the-world for heap profiles)
// and owns the process's CPU profiler, handing it over to
// /debug/pprof/profile and on-demand captures for their duration. Uploads
// are queued (bounded, oldest dropped and counted) and retried a few times;
// Shutdown delivers the final profiles within its deadline.
//
// # Execution traces
//
// With [WithFlightRecorder] (or PERFAGENT_TRACE=true; off by default) the
// agent keeps the execution tracer's flight recorder and writes its window
// (trace-<ts>.out and a trace-<ts>.json report) when a request through
// [Agent.TraceHTTP] is slow, when a snapshot's scheduling latency or GC CPU
// share spikes, or on POST /debug/perfagent/capture?type=trace. The runtime
// allows one flight recorder per process: a second agent's is reported not
// available in [Agent.TraceStatus], and the host's own trace.Start keeps
// working.
//
// # Cost and safety
//
// A collection (one scrape or one export) reads runtime/metrics and
// /proc/self once, without stopping the world and without allocating on the
// read path. It takes about 10µs in a tight benchmark loop and 100–220µs in
// a running service scraped every few seconds (cold caches between
// scrapes); perfagent.agent.collection.duration reports the latest one, and
// the status document the mean. The agent never blocks its host on the
// network: OTLP exports run on their own goroutine with a timeout, and
// failures are counted (perfagent.agent.export.failures) and logged at most
// once a minute. Panics in the agent's goroutines and handlers are
// recovered and counted (perfagent.agent.panics).
//
// # Concurrency
//
// An Agent's methods are safe for concurrent use. Shutdown stops every
// goroutine the agent started before it returns, also when its context
// ends first (it then returns an error wrapping the context's error). It is
// bounded by its context's deadline, or by [DefaultShutdownTimeout] when
// there is none: the listener drains for at most a fifth of that time,
// profile uploads for at most two fifths, and the final metric export (the
// longest part) has the rest; what is not delivered in time is dropped and
// counted (perfagent.agent.dropped). A Start that fails returns within its
// context and sends nothing: no final export, no profile upload.
//
// # Security
//
// The built-in listener binds a loopback address unless told otherwise.
// /debug/ endpoints (status, and pprof when enabled) answer requests that
// arrive on a non-loopback address, or that carry a proxy header
// (Forwarded, X-Forwarded-For, X-Real-IP), only with a bearer token
// (PERFAGENT_DEBUG_TOKEN; the scheme is case-insensitive) or an explicit
// opt-in (PERFAGENT_DEBUG_REMOTE). The built-in listener keeps at most
// [DefaultMaxConnections] connections open ([WithMaxConnections]) and
// answers more with 503; it has header, read, write and idle timeouts
// ([DefaultReadHeaderTimeout] and the others), extended for requests that
// stream for the seconds they ask for. On-demand captures are rate limited
// (429 with Retry-After) and kept apart from triggered captures, which they
// can never evict.
package agent
