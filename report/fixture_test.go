package report_test

import (
	"math/rand/v2"
	"time"

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

func httpResult(median float64, rps float64) results.Benchmark {
	return results.Benchmark{Name: "GET /health", Category: "health", Kind: results.KindHTTP, Unit: results.UnitNsPerOp, Iterations: 20000,
		Stats: results.Stats{N: 20000, Mean: median * 1.2, Median: median, P50: median, P95: 2.5 * median, P99: 4 * median,
			Min: median / 3, Max: 12 * median},
		Metrics: []results.Metric{{Unit: results.UnitReqPerSec, Value: rps, Better: "higher"}, {Unit: results.UnitP90, Value: 2 * median},
			{Unit: results.UnitP999, Value: 7 * median}, {Unit: results.UnitErrorRate, Value: 0.0004}},
		Labels: map[string]string{"url": "http://127.0.0.1:8080/health", "method": "GET"}}
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
		Metrics: []results.Metric{{Unit: results.UnitRSSPeak, Value: 96 << 20}}}
	base = &results.Run{Schema: results.Schema, Suite: "all", StartedAt: t0.Add(-24 * time.Hour), FinishedAt: t0.Add(-24*time.Hour + 40*time.Second),
		Environment: env(),
		Benchmarks: []results.Benchmark{
			fnResult("parse/small", "parser", sample(200, 1030, 0.02, 1), 3, 240),
			fnResult("parse/large", "parser", sample(200, 101000, 0.02, 2), 31, 24576),
			fnResult("render/page", "render", sample(200, 52000, 0.02, 3), 12, 8192),
			httpResult(1.1e6, 4800),
			fnResult("db/query <slow> | join", "db", sample(12, 2e6, 0.05, 4), 40, 4096),
			fnResult("legacy/removed", "legacy", sample(20, 500, 0.02, 5), 0, 0),
		}}
	cur = &results.Run{Schema: results.Schema, Suite: "all", StartedAt: t0, FinishedAt: t0.Add(42 * time.Second),
		Environment: env(),
		Benchmarks: []results.Benchmark{
			fnResult("parse/small", "parser", sample(200, 1032, 0.02, 11), 3, 240),
			fnResult("parse/large", "parser", sample(200, 121000, 0.02, 12), 35, 28672),
			fnResult("render/page", "render", sample(200, 45000, 0.02, 13), 10, 6144),
			httpResult(1.15e6, 4700),
			failed,
			pageResult(),
			mem,
			fnResult("sched/new", "system", sample(5, 800, 0.3, 14), 0, 0),
		},
		Warnings: []string{"GOMAXPROCS=2: results on a 2-core machine are noisy"}}
	return base, cur
}
