// Package integration holds perfagent's tests against real servers (a
// Prometheus server from the Debian package, an OpenTelemetry Collector
// pipeline built from the collector's own modules, a Pyroscope-protocol
// ingest peer) and its comparison benchmarks against the tools users know
// (the OTel contrib runtime instrumentation, client_golang's Go and process
// collectors). It is a separate module so none of that weight reaches
// perfagent's users.
package integration
