package report_test

import (
	"math/rand/v2"
	"time"

	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/results"
)

// sample draws n values around mean with a relative spread and a few slow
// outliers, from a fixed seed.
func sample(n int, mean, spread float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = mean * (1 + spread*rng.NormFloat64())
		if i%50 == 49 {
			xs[i] *= 1.3
		}
	}
	return xs
}

func fnResult(name, category string, samples []float64, allocs, bytes float64) results.Benchmark {
	st, w := results.Summarize(samples)
	return results.Benchmark{Name: name, Category: category, Kind: results.KindFunc, Unit: results.UnitNsPerOp,
		Iterations: int64(len(samples)) * 1000, Samples: samples, Stats: st, Warnings: w,
		AllocsPerOp: &allocs, BytesPerOp: &bytes, Labels: map[string]string{"ops_per_sample": "1000"}}
}

// schedResult is a benchmark that measures single operations (scheduler
// wake-ups): rounds and a per-operation distribution.
func schedResult(name string, median float64, seed uint64) results.Benchmark {
	rounds := sample(10, median, 0.03, seed)
	st, w := results.Summarize(rounds)
	return results.Benchmark{Name: name, Category: "system", Kind: results.KindFunc, Unit: "ns/wakeup", Iterations: 50000,
		Samples: rounds, Stats: st, Warnings: w,
		PerOp:   &results.Distribution{N: 50000, Mean: 1.1 * median, P50: median, P90: 2 * median, P95: 3 * median, P99: 9 * median, P999: 20 * median, Max: 60 * median},
		Metrics: []results.Metric{{Unit: results.UnitSchedLagP99, Value: 9 * median}}}
}

// apiReport is what package load reports for one endpoint measured in
// five rounds, with latency targets (p99 missed), an unexpected 503 and
// timeouts, request phases and a per-second series. scale multiplies its
// latencies.
func apiReport(scale float64) *load.Report {
	d := func(ns float64) time.Duration { return time.Duration(ns * scale) }
	lat := load.Summary{N: 9990, Min: d(2e5), Mean: d(1.2e6), Stddev: d(6e5), P50: d(1.1e6), P90: d(2.2e6), P95: d(2.8e6), P99: d(4.4e6), P999: d(7.7e6), Max: d(1.3e7)}
	var rounds []load.EndpointRound
	var wins []load.Round
	rng := rand.New(rand.NewPCG(uint64(scale*1000), 7))
	for i := range 5 {
		f := 1 + 0.02*rng.NormFloat64()
		rounds = append(rounds, load.EndpointRound{Requests: 2000, Errors: 2, Timeouts: 1, Rate: 1000 * f, ErrorRate: 0.001, TimeoutRate: 0.0005,
			Availability: 0.9995, LatencyN: 1998, P50: d(1.1e6 * f), P99: d(4.4e6 * f)})
		wins = append(wins, load.Round{Start: time.Duration(i) * 2 * time.Second, Length: 2 * time.Second})
	}
	var pts []load.Point
	for i := range 10 {
		pts = append(pts, load.Point{T: float64(i), D: 1, Requests: 1000 + int64(10*i), Errors: int64(i % 2), P50: d(1.1e6), P99: d(4e6 + 1e5*float64(i)), Max: d(9e6)})
	}
	// The run's last responses, after the last full second.
	pts = append(pts, load.Point{T: 10, D: 0.05, Requests: 12, P50: d(1.1e6), P99: d(3e6), Max: d(3e6)})
	ep := load.EndpointReport{Name: "health", Category: "health", Method: "GET", URL: "http://127.0.0.1:8080/health", Phase: "measured",
		Totals:      load.Totals{Requests: 10000, Errors: 10, Timeouts: 5, Rate: 1000, ErrorRate: 0.0015, TimeoutRate: 0.0005, Availability: 0.9985, Latency: lat},
		StatusCodes: map[string]int64{"200": 9985, "503": 10}, UnexpectedStatus: map[string]int64{"503": 10},
		ErrorKinds: map[string]int64{"status": 10, "timeout": 5}, ErrorSamples: []string{"timeout: no response within 2s"},
		BytesIn: 150000, BytesOut: 0, WireBytesIn: 1290000, WireBytesOut: 620000,
		Phases: map[string]load.Summary{
			"dns":     {N: 4, P50: d(2e4), P90: d(3e4), P99: d(3e4), Max: d(3e4)},
			"connect": {N: 4, P50: d(9e4), P90: d(1.2e5), P99: d(1.2e5), Max: d(1.2e5)},
			"ttfb":    {N: 9990, P50: d(1e6), P90: d(2e6), P99: d(4.2e6), Max: d(1.2e7)},
			"body":    {N: 9985, P50: d(2e3), P90: d(5e3), P99: d(9e3), Max: d(4e4)},
		},
		Targets: load.Targets{P50: 5 * time.Millisecond, P95: 10 * time.Millisecond, P99: 4 * time.Millisecond},
		Series:  load.Series{Interval: time.Second, Points: pts},
		Rounds:  rounds,
	}
	return &load.Report{Scenario: "api", BaseURL: "http://127.0.0.1:8080", Protocol: "HTTP/1.1", Engine: "lean-http1",
		Load: load.Load{Model: load.ModelClosed, Concurrency: 10, Duration: 10 * time.Second}, Timeout: 2 * time.Second,
		Elapsed: 10 * time.Second, Endpoints: []load.EndpointReport{ep}, Total: ep.Totals, Rounds: wins, Series: ep.Series}
}

// httpResult is the results.Benchmark package load writes for apiReport.
func httpResult(scale float64) results.Benchmark {
	return apiReport(scale).BenchResults().Benchmarks[0]
}

func pageResult() results.Benchmark {
	return results.Benchmark{Name: "page/home", Category: "page", Kind: results.KindPage, Unit: results.UnitNsPerOp, Iterations: 5,
		Stats: results.Stats{N: 5, Mean: 8.1e8, Median: 8e8, P50: 8e8, P95: 9e8, P99: 9.2e8, Min: 7.5e8, Max: 9.3e8},
		Metrics: []results.Metric{{Unit: results.UnitFCP, Value: 4.2e8}, {Unit: results.UnitLCP, Value: 7.9e8}, {Unit: results.UnitCLS, Value: 0.02},
			{Unit: "bytes-document", Value: 12 << 10}, {Unit: "bytes-script", Value: 180 << 10}, {Unit: "bytes-image", Value: 420 << 10}}}
}

func env() results.Environment {
	return results.Environment{GoVersion: "go1.26.8", GOOS: "linux", GOARCH: "amd64", CPU: "Test CPU @ 3.00GHz",
		NumCPU: 2, GOMAXPROCS: 2, Hostname: "ci-runner", Revision: "0123456789abcdef0123", Modified: true}
}

// fixture returns a baseline and a current run exercising every kind and
// every comparison status.
func fixture() (base, cur *results.Run) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	failed := fnResult("db/query <slow> | join", "db", sample(12, 2e6, 0.05, 9), 40, 4096)
	failed.Error = "panic: connection refused\n(at db.go:12)"
	mem := results.Benchmark{Name: "memory/cache-fill", Category: "memory", Kind: results.KindMemory, Unit: "B", Iterations: 1,
		Stats:   results.Stats{N: 1, Mean: 48 << 20, Median: 48 << 20, P50: 48 << 20, P95: 48 << 20, P99: 48 << 20, Min: 48 << 20, Max: 48 << 20},
		Metrics: []results.Metric{{Unit: results.UnitRSSPeak, Value: 96 << 20}, {Unit: "heap-growth-bytes/s", Value: 205000}}}
	once := results.Benchmark{Name: "system/throughput", Category: "system", Kind: results.KindFunc, Unit: "MB/s", Iterations: 1,
		Stats: results.Stats{N: 1, Mean: 1931, Median: 1931}}
	onceBase := once
	onceBase.Stats.Mean, onceBase.Stats.Median = 2600, 2600
	params := map[string]string{"system.rounds": "10", "api.duration": "10s"}
	base = &results.Run{Schema: results.Schema, Suite: "all", StartedAt: t0.Add(-24 * time.Hour), FinishedAt: t0.Add(-24*time.Hour + 40*time.Second),
		Environment: env(), Parameters: params,
		Benchmarks: []results.Benchmark{
			fnResult("parse/small", "parser", sample(200, 1030, 0.02, 1), 3, 240),
			fnResult("parse/large", "parser", sample(200, 101000, 0.02, 2), 31, 24576),
			fnResult("render/page", "render", sample(200, 52000, 0.02, 3), 12, 8192),
			httpResult(1),
			fnResult("db/query <slow> | join", "db", sample(12, 2e6, 0.05, 4), 40, 4096),
			schedResult("sched/latency", 12000, 5),
			onceBase,
			fnResult("legacy/removed", "legacy", sample(20, 500, 0.02, 5), 0, 0),
		}}
	cur = &results.Run{Schema: results.Schema, Suite: "all", StartedAt: t0, FinishedAt: t0.Add(42 * time.Second),
		Environment: env(), Parameters: params,
		Benchmarks: []results.Benchmark{
			fnResult("parse/small", "parser", sample(200, 1032, 0.02, 11), 3, 240),
			fnResult("parse/large", "parser", sample(200, 121000, 0.02, 12), 35, 28672),
			fnResult("render/page", "render", sample(200, 45000, 0.02, 13), 10, 6144),
			httpResult(1.01),
			failed,
			schedResult("sched/latency", 12100, 15),
			once,
			pageResult(),
			mem,
			fnResult("sched/new", "system", sample(5, 800, 0.3, 14), 0, 0),
		},
		Warnings: []string{"GOMAXPROCS=2: results on a 2-core machine are noisy"}}
	return base, cur
}
