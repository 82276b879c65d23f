package report_test

import (
	"math/rand/v2"
	"time"

	"github.com/perfagent/perfagent/bench"
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

func fnResult(name, category string, samples []float64, allocs, bytes float64) bench.Result {
	st, w := bench.Summarize(samples)
	return bench.Result{Name: name, Category: category, Kind: bench.KindFunc, Unit: bench.UnitNsPerOp,
		Iterations: int64(len(samples)) * 1000, Samples: samples, Stats: st, Warnings: w,
		AllocsPerOp: &allocs, BytesPerOp: &bytes, Labels: map[string]string{"ops_per_sample": "1000"}}
}

func httpResult(median float64, rps float64) bench.Result {
	return bench.Result{Name: "GET /health", Category: "health", Kind: bench.KindHTTP, Unit: bench.UnitNsPerOp, Iterations: 20000,
		Stats: bench.Stats{N: 20000, Mean: median * 1.2, Median: median, P50: median, P95: 2.5 * median, P99: 4 * median,
			Min: median / 3, Max: 12 * median},
		Metrics: []bench.Metric{{Unit: bench.UnitReqPerSec, Value: rps, Better: "higher"}, {Unit: bench.UnitP90, Value: 2 * median},
			{Unit: bench.UnitP999, Value: 7 * median}, {Unit: bench.UnitErrorRate, Value: 0.0004}},
		Labels: map[string]string{"url": "http://127.0.0.1:8080/health", "method": "GET"}}
}

func pageResult() bench.Result {
	return bench.Result{Name: "page/home", Category: "page", Kind: bench.KindPage, Unit: bench.UnitNsPerOp, Iterations: 5,
		Stats: bench.Stats{N: 5, Mean: 8.1e8, Median: 8e8, P50: 8e8, P95: 9e8, P99: 9.2e8, Min: 7.5e8, Max: 9.3e8},
		Metrics: []bench.Metric{{Unit: bench.UnitFCP, Value: 4.2e8}, {Unit: bench.UnitLCP, Value: 7.9e8}, {Unit: bench.UnitCLS, Value: 0.02},
			{Unit: "bytes-document", Value: 12 << 10}, {Unit: "bytes-script", Value: 180 << 10}, {Unit: "bytes-image", Value: 420 << 10}}}
}

func env() bench.Environment {
	return bench.Environment{GoVersion: "go1.26.8", GOOS: "linux", GOARCH: "amd64", CPU: "Test CPU @ 3.00GHz",
		NumCPU: 2, GOMAXPROCS: 2, Hostname: "ci-runner", Revision: "0123456789abcdef0123", Modified: true}
}

// fixture returns a baseline and a current run exercising every kind and
// every comparison status.
func fixture() (base, cur *bench.Results) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	failed := fnResult("db/query <slow> | join", "db", sample(12, 2e6, 0.05, 9), 40, 4096)
	failed.Error = "panic: connection refused\n(at db.go:12)"
	mem := bench.Result{Name: "memory/cache-fill", Category: "memory", Kind: bench.KindMemory, Unit: "B", Iterations: 1,
		Stats:   bench.Stats{N: 1, Mean: 48 << 20, Median: 48 << 20, P50: 48 << 20, P95: 48 << 20, P99: 48 << 20, Min: 48 << 20, Max: 48 << 20},
		Metrics: []bench.Metric{{Unit: bench.UnitRSSPeak, Value: 96 << 20}}}
	base = &bench.Results{Schema: bench.Schema, Suite: "all", StartedAt: t0.Add(-24 * time.Hour), FinishedAt: t0.Add(-24*time.Hour + 40*time.Second),
		Environment: env(),
		Benchmarks: []bench.Result{
			fnResult("parse/small", "parser", sample(200, 1030, 0.02, 1), 3, 240),
			fnResult("parse/large", "parser", sample(200, 101000, 0.02, 2), 31, 24576),
			fnResult("render/page", "render", sample(200, 52000, 0.02, 3), 12, 8192),
			httpResult(1.1e6, 4800),
			fnResult("db/query <slow> | join", "db", sample(12, 2e6, 0.05, 4), 40, 4096),
			fnResult("legacy/removed", "legacy", sample(20, 500, 0.02, 5), 0, 0),
		}}
	cur = &bench.Results{Schema: bench.Schema, Suite: "all", StartedAt: t0, FinishedAt: t0.Add(42 * time.Second),
		Environment: env(),
		Benchmarks: []bench.Result{
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
