// Package monitor is perfagent's continuous monitor: it samples a running
// target at an interval, keeps a bounded history, watches thresholds, asks
// an agent for heap profiles when one is breached, and writes the history
// as JSON (the metrics-history schema the agent writes too) and a Markdown
// report with charts. `perfagent monitor` is its
// command line.
//
// # Targets
//
// A [Source] reads one target:
//
//   - [AgentSource]: a service running perfagent's agent, by its base URL.
//     It confirms the target is an agent through /debug/perfagent/, scrapes
//     /metrics (the OpenTelemetry-named exposition) every interval, and
//     implements [HeapCapturer]: POST /debug/perfagent/capture?type=heap, with a
//     bearer token for agents that require one.
//   - [PrometheusSource]: any Prometheus exposition endpoint, parsed with
//     github.com/prometheus/common/expfmt. It recognises the OpenTelemetry
//     names and client_golang's (process_cpu_seconds_total,
//     process_resident_memory_bytes, go_goroutines, ...).
//   - [ProcessSource]: any local process by PID, from /proc: CPU, RSS, peak
//     RSS, threads and open file descriptors.
//
// # Series
//
// Each reading becomes a [Sample] of up to [NumSeries] series, each in a base
// unit: CPU in cores over the interval, RSS and heap in bytes, goroutines,
// threads, FDs, GC cycles per second, GC CPU fraction, and the scheduler
// latency p99 over the interval in seconds, computed from the change of the
// target's latency histogram between two readings (Prometheus'
// histogram_quantile interpolation). Counters that go down (a restart) give
// no value for that interval.
//
// # Bounded history
//
// [Run] keeps at most [Options.MaxSamples] points whatever the run's
// length: when full, neighbouring points are merged pairwise and later
// points each stand for twice as many readings. Minimum, mean, maximum and
// last value of each series stay exact over every reading; the report says
// when percentiles come from merged points. Breaches, captures and warnings
// are bounded too.
//
// # Usage
//
//	src, err := monitor.NewAgentSource("http://127.0.0.1:9464", monitor.HTTPOptions{})
//	if err != nil { ... }
//	defer src.Close()
//	h, err := monitor.Run(ctx, src, monitor.Options{
//		Interval:   5 * time.Second,
//		Duration:   time.Minute,
//		Thresholds: []monitor.Threshold{{Series: monitor.RSS, Max: 512 << 20}},
//	})
//	if h == nil { ... }              // the target was down at the start
//	store, _ := snapshot.OpenStore("perf/monitoring", snapshot.StoreOptions{})
//	files, _ := monitor.CreateFiles(store, h.StartedAt, h)
//	files.WriteReport(h, monitor.ReportOptions{})
//	files.Release()
//
// [RunSession] does all of this, rewriting the history at checkpoints.
//
// # Files
//
// The history is a document of perfagent's one metrics-history schema
// (snapshot.HistorySchema, "perfagent.metrics-history/v1"), the one the
// agent writes into the same monitoring/ directory: snapshot.ReadHistoryFile
// reads both, and [ReadHistory] also reads the monitor's files of earlier
// versions. Files are written through a snapshot.Store, so they share the
// directory's byte and file-count quota with the agent's (oldest first out)
// and a long or repeated run never fills the disk.
//
// # System budgets
//
// [History.System] holds the seed's system figures for the monitored
// process (memory baseline and peak, idle CPU, scheduler lag), and
// [History.BenchResults] turns them into bench results the budget package
// evaluates (`perfagent check`).
//
// # Concurrency
//
// Run uses the calling goroutine only and starts none. Sources may be read
// by one Run at a time; their Target method is safe to call concurrently.
// A History is a plain value: safe to read from several goroutines, not to
// modify concurrently.
package monitor
