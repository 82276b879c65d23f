package bench_test

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// Benchmarks that check the Runner against testing.B on the same
// functions. Compare the two sub-benchmarks' ns/op with benchstat:
//
//	go test -run '^$' -bench 'Agreement' -count 10 ./bench | tee agree.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /by agree.txt

var sink uint64

// trivial is about the cheapest operation that is not optimised away.
func trivial(context.Context) error {
	sink = sink*31 + 7
	return nil
}

var hashInput = []byte("GET /api/v1/users/12345?fields=name,email")

// small hashes 41 bytes: tens of nanoseconds.
func small(context.Context) error {
	h := fnv.New64a()
	h.Write(hashInput)
	sink += h.Sum64()
	return nil
}

// runnerOpts keeps each Runner measurement short so testing.B can repeat it.
var runnerOpts = bench.Options{WarmupRuns: 10, MeasurementRuns: 10, MinDuration: 100 * time.Millisecond, MaxDuration: -1}

// agreement runs fn under testing.B and under the Runner through the same
// loop function, so the two differ only in how they measure.
func agreement(b *testing.B, fn func(context.Context) error) {
	ctx := context.Background()
	loop := func(ctx context.Context, n int) error {
		for range n {
			if err := fn(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	b.Run("by=testing.B", func(b *testing.B) {
		if err := loop(ctx, b.N); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("by=runner", func(b *testing.B) {
		var mean, median float64
		for i := range b.N {
			r := bench.NewRunner(bench.WithOutputDir(b.TempDir()))
			res, err := r.RunN(ctx, "op", "", loop, runnerOpts)
			if err != nil {
				b.Fatal(err)
			}
			// The median is the figure reports show; the mean over all
			// samples (equal batches) is total time / ops, testing.B's formula.
			mean += (res.Stats.Mean - mean) / float64(i+1)
			median += (res.Stats.Median - median) / float64(i+1)
		}
		b.ReportMetric(median, "ns/op")
		b.ReportMetric(mean, "mean-ns/op")
	})
}

func BenchmarkAgreementTrivial(b *testing.B) { agreement(b, trivial) }
func BenchmarkAgreementFNV(b *testing.B)     { agreement(b, small) }

// BenchmarkAgreementInlined gives both sides the loop (RunN), so the
// operation is inlined in both.
func BenchmarkAgreementInlined(b *testing.B) {
	ctx := context.Background()
	b.Run("by=testing.B", func(b *testing.B) {
		for range b.N {
			sink = sink*31 + 7
		}
	})
	b.Run("by=runner", func(b *testing.B) {
		var median float64
		for i := range b.N {
			r := bench.NewRunner(bench.WithOutputDir(b.TempDir()))
			res, err := r.RunN(ctx, "op", "", func(_ context.Context, n int) error {
				for range n {
					sink = sink*31 + 7
				}
				return nil
			}, runnerOpts)
			if err != nil {
				b.Fatal(err)
			}
			median += (res.Stats.Median - median) / float64(i+1)
		}
		b.ReportMetric(median, "ns/op")
	})
}

// BenchmarkRunnerOverhead reports the Runner's own cost per sample (ns/op is
// ns per sample): an empty operation timed one call per sample, as slow
// operations are. It includes two clock reads, the panic guard and the
// bookkeeping of the measurement loop.
func BenchmarkRunnerOverhead(b *testing.B) {
	ctx := context.Background()
	b.Run("kind=batched", func(b *testing.B) {
		r := bench.NewRunner(bench.WithOutputDir(b.TempDir()))
		b.ReportAllocs()
		b.ResetTimer()
		_, err := r.RunN(ctx, "empty", "", func(context.Context, int) error { return nil },
			bench.Options{WarmupRuns: -1, MeasurementRuns: b.N, MinDuration: -1, MaxDuration: -1, BatchSize: 1, MaxSamples: b.N})
		if err != nil {
			b.Fatal(err)
		}
	})
	b.Run("kind=sampled", func(b *testing.B) {
		r := bench.NewRunner(bench.WithOutputDir(b.TempDir()))
		b.ReportAllocs()
		b.ResetTimer()
		_, err := r.RunSampled(ctx, "empty", "", "ns", func(context.Context) (float64, error) { return 1, nil },
			bench.Options{WarmupRuns: -1, MeasurementRuns: b.N, MinDuration: -1, MaxDuration: -1, MaxSamples: b.N})
		if err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkSummarize(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = rng.ExpFloat64()
	}
	b.ReportAllocs()
	for b.Loop() {
		results.Summarize(xs)
	}
}
