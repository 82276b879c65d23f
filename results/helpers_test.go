package results_test

import (
	"math/rand/v2"

	"github.com/perfagent/perfagent/results"
)

// sampled builds a result from samples drawn around mean with relative
// spread, from a fixed seed.
func sampled(name string, n int, mean, spread float64, seed uint64) results.Benchmark {
	rng := rand.New(rand.NewPCG(seed, 7))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = mean * (1 + spread*rng.NormFloat64())
	}
	st, w := results.Summarize(xs)
	return results.Benchmark{Name: name, Unit: "ns/op", Iterations: int64(n), Samples: xs, Stats: st, Warnings: w}
}
