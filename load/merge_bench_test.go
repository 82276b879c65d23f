package load

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// lognormal fills a histogram with n latencies around median (sigma 1),
// wider than a loopback run's, so encodings and merges are realistic.
func lognormal(rng *rand.Rand, n int, median time.Duration, digits int) string {
	h := hdrhistogram.New(1, histMax, digits)
	for range n {
		record(h, time.Duration(float64(median)*math.Exp(rng.NormFloat64())))
	}
	return encodeHist(h)
}

// syntheticShards writes count shard files of a 20-endpoint, 10-round,
// 60-second open-model run to dir: the structure of a real shard result
// with wide latency distributions.
func syntheticShards(b *testing.B, dir string, count int) []string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var eps []Endpoint
	for i := range 20 {
		eps = append(eps, ep(fmt.Sprintf("e%d", i), fmt.Sprintf("/e%d", i)))
	}
	rep, err := Run(context.Background(), scenario(srv.URL, eps...), Options{
		Load: Load{Model: ModelOpen, Rate: 2000, Requests: 2000, Concurrency: count}, Rounds: 10, Shard: Shard{Index: 0, Count: count}})
	if err != nil {
		b.Fatal(err)
	}
	tmpl := rep.ShardResult
	rng := rand.New(rand.NewPCG(1, 2))
	var files []string
	for s := range count {
		sr := *tmpl
		sr.Shard = s
		sr.Endpoints = nil
		for _, te := range tmpl.Endpoints {
			se := te
			se.Latency = lognormal(rng, 6000, 5*time.Millisecond, histDigits)
			se.Service = lognormal(rng, 6000, 4*time.Millisecond, histDigits)
			se.Phases = map[string]string{"ttfb": lognormal(rng, 6000, 4*time.Millisecond, coarseDigits), "body": lognormal(rng, 6000, 50*time.Microsecond, coarseDigits)}
			se.StatusClasses = map[string]string{"2xx": lognormal(rng, 6000, 5*time.Millisecond, coarseDigits)}
			se.Rounds = make([]ShardRound, 10)
			for k := range se.Rounds {
				se.Rounds[k] = ShardRound{Requests: 600, Latency: lognormal(rng, 600, 5*time.Millisecond, histDigits)}
			}
			se.Series = make([]ShardPoint, 60)
			for k := range se.Series {
				se.Series[k] = ShardPoint{Second: 1_800_000_000 + int64(k), D: 1, Requests: 100, Latency: lognormal(rng, 100, 5*time.Millisecond, coarseDigits)}
			}
			se.Counts.Requests = 6000
			sr.Endpoints = append(sr.Endpoints, se)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("shard-%d.json", s)))
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteShard(f, &sr); err != nil {
			b.Fatal(err)
		}
		f.Close()
		files = append(files, f.Name())
	}
	return files
}

// BenchmarkMergeShards reads and merges 100 shard files of 20 endpoints
// each (10 rounds, 60 series seconds): time and memory of `perfagent
// merge`'s core.
func BenchmarkMergeShards(b *testing.B) {
	files := syntheticShards(b, b.TempDir(), 100)
	var size int64
	for _, f := range files {
		st, _ := os.Stat(f)
		size += st.Size()
	}
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	for b.Loop() {
		var shards []*ShardResult
		for _, f := range files {
			sr, err := ReadShardFile(f)
			if err != nil {
				b.Fatal(err)
			}
			shards = append(shards, sr)
		}
		rep, err := MergeShards(shards)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Total.Requests != 100*20*6000 {
			b.Fatalf("merged %d requests", rep.Total.Requests)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.ReportMetric(float64(size)/(1<<20), "MB-files")
	b.ReportMetric(float64(peak)/(1<<20), "MB-heap-inuse")
}
