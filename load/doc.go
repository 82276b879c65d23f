// Package load is perfagent's HTTP API benchmark engine: scenarios with
// authentication flows, closed and open load models, latency measured
// honestly in HDR histograms, error and timeout rates, latency targets and
// error budgets, and results in the shared bench schema.
//
// # Scenarios
//
// A [Scenario] names a base URL, an optional setup phase and the endpoints
// to measure. Setup steps (typically POST /auth/login) run first; values
// extracted from their responses (a JSON pointer or a header) become
// variables that later requests use as ${name}, e.g. "Authorization: Bearer
// ${token}". When a measured request that uses such a variable answers 401,
// the setup runs again (once for all workers) and the request is sent once
// more. Setup traffic is measured and reported apart from the measured
// traffic. Scenarios are written in Go or in YAML or JSON files; see
// [ParseScenario] for the schema. [DefaultScenario] covers health, the auth
// flow, metrics and custom routes of the built-in demo target (package
// demo).
//
// # Load models
//
// The closed model ([ModelClosed]) runs N virtual users back to back, as
// wrk and hey do: it finds capacity, but a stalled server also stalls the
// generator, so the stall is under-counted (coordinated omission). The open
// model ([ModelOpen]) issues requests at a constant, optionally ramped,
// arrival rate and measures latency from each request's intended send time,
// as wrk2 does, so a stall shows in full; the service time from the actual
// send is reported beside it. The run reports its send lag, late sends,
// sends that waited for a free connection and intended sends dropped at the
// end, and judges whether its generator saturated (see below).
//
// # The pacer
//
// One pacer goroutine walks the schedule. For each request it sleeps on a
// runtime timer until 2 ms before the due time (the runtime's timers wake
// from epoll_pwait with millisecond resolution, so they are up to a
// millisecond or two late) and then on clock_nanosleep, a high-resolution
// kernel timer late by the thread's timer slack (50 µs by default); it
// never sends early. Requests due less than 250 µs apart (rates above some
// 4,000 req/s) are awaited on the runtime timer alone: a precise wake-up
// per request would cost more CPU than the request, and the pacer hands
// out every request due when it wakes. It gives each request to an idle
// connection through one unbuffered channel on which the idle workers
// wait: the send wakes one of them directly, so there is no queue to drain
// and no lock held across a request. A request due while every connection
// is busy waits for the first to free (counted as waited; its latency
// includes the wait, as a real client's would). Every request due before
// the end of the run is sent, however late the pacer wakes; past the end,
// requests still waiting for a connection wait at most one request timeout
// and the rest are counted as dropped.
//
// Its cost is one wake-up and one goroutine hand-off per request.
// BenchmarkPacer (a 2-core VM, a canned target in another process)
// measures the whole generator (pacer, client, recording): about 35-50 ms
// of CPU per second at 100 req/s, 100-125 ms at 1,000 req/s (about twice
// what a millisecond-late runtime timer costs) and 115-200 ms at 10,000
// req/s; send lag p50 about 0.12 ms at 100 and 1,000 req/s and 0.7 ms at
// 10,000 req/s, p99 0.4-1.1 ms at 1,000 req/s on a quiet machine. On a
// busy machine the tail of the send lag is the time the generator's
// threads wait for a CPU, which the benchmark reports beside it with the
// generator's GC pauses.
//
// The generator saturated, and the run's "generator" check fails, only when
// its delay materially distorts the latencies, which count from the
// intended send: when it fell behind its schedule for [SustainedBehind]
// without a break (every request it handed to a free connection more than
// LateAfter late), or when its own send lag (that of the requests due with
// a connection free; waits for a busy connection are the target's) at p50
// or p99 exceeds both LateAfter and [DistortionFraction] of the latency at
// that percentile while its late sends are numerous enough to reach that
// percentile. Bursts of lateness below these bounds are
// reported with their figures and do not fail the run; [OpenReport]
// Saturation says why the verdict is what it is. A merge of shards applies
// the same rule to the merged histograms and counts (taking the longest
// stretch behind of any shard).
//
// # Measurement
//
// Each group of workers records into its own HDR histograms (1 ns to 1 h,
// 3 significant digits), merged exactly at the end, so memory is fixed
// however long the run. Per endpoint: requests, rate, p50 to p99.9 and max,
// mean, status codes, errors by kind (timeout, dns, connect-refused,
// connect, tls, reset, eof, protocol, status, other), timeouts, bytes in
// and out, request phases (DNS, connect, TLS, time to first byte, body) and
// a 1 s time series. Failures are measurements, never errors of [Run]: an
// unreachable, resetting or hanging target is counted by kind.
//
// The measured traffic uses a lean HTTP/1.1 client (one keep-alive
// connection per worker, requests pre-serialised once per variable
// generation, no allocation per request) unless the scenario asks for
// HTTP/2 or a proxy applies, in which case net/http with httptrace is used
// ([EngineNetHTTP] forces it).
//
// Memory is fixed by the scenario, not the run's length: about 0.5 MB per
// endpoint per shard (0.75 MB in the open model), with one shard per
// GOMAXPROCS up to 8, fewer when the histograms would pass 128 MB; a
// scenario has at most 200 endpoints.
//
// # Results
//
// [Run] returns a [Report]. [Report.WriteSummary] writes a terminal
// summary, [Report.Verdict] evaluates latency targets and the error budgets
// (availability, error rate, timeout rate; defaults from the seed: 99.9%,
// 0.1%, 0.01%) into machine-readable checks, and [Report.BenchResults]
// converts the report to [results.Run] (Kind "http", Unit "ns/op") for
// baselines, comparisons and reports; each result's Detail is the
// endpoint's [EndpointReport] as JSON.
//
// # Shards
//
// One generator tops out well below what a production API serves, so a run
// can be split across generators: [Options.Shard] runs shard I of N. In the
// open model it sends exactly the requests of the run's schedule whose
// index is I mod N (ramps included), so the shards' union is the intended
// arrival process; in the closed model it runs its share of the users.
// [Options.StartAt] gives every shard one start: the schedule, the rounds
// and the duration count from it, and a shard that starts late still
// measures from it (its late requests count their latency from their
// intended time) and says how late it was.
//
// A shard's [Report] carries its [ShardResult]: every counter and every
// HDR histogram it recorded (per endpoint, per status class, per round, per
// wall-clock second of the series) in the HdrHistogram V2 encoding, with
// the scenario, its hash and the histogram settings. [WriteShard] writes it
// as one line (a pod's last log line), [ReadShardFile] reads it back, and
// [MergeShards] merges the shards exactly: counts and rates are sums,
// percentiles come from the merged histograms, rounds merge by index and
// the series by wall-clock second (so the generators' clocks must agree, as
// NTP keeps them), and [Report.Verdict] judges the merged data. Shards of
// other scenarios, settings or formats are refused; missing ones make the
// merged report partial and are named.
//
//	rep, _ := load.Run(ctx, s, load.Options{Shard: load.Shard{Index: i, Count: n}, StartAt: start})
//	_ = load.WriteShard(f, rep.ShardResult)
//	// ... later, with every shard's file:
//	merged, err := load.MergeShards(shards)
//
// # Usage
//
//	s, err := load.LoadScenarioFile("api.yaml")
//	if err != nil {
//		return err // names the file, line and field
//	}
//	rep, err := load.Run(ctx, s, load.Options{
//		Load: load.Load{Model: load.ModelOpen, Rate: 500, Duration: 30 * time.Second},
//	})
//	if err != nil {
//		return err
//	}
//	rep.WriteSummary(os.Stdout)
//	if !rep.Verdict().Pass {
//		// fail the CI job
//	}
//
// # Concurrency
//
// [Run] may be called from several goroutines; a Scenario is never
// modified. Every goroutine Run starts has exited when it returns.
// A [Report] is plain data, safe to read concurrently.
package load
