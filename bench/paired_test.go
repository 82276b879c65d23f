package bench

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/results"
)

func TestSignedRankExact(t *testing.T) {
	for _, tc := range []struct {
		base, cur []float64
		p         float64
	}{
		// Every pair worse: the most extreme of 2^n patterns, both sides.
		{[]float64{1, 1, 1, 1, 1}, []float64{1.1, 1.2, 1.3, 1.4, 1.5}, 2.0 / 32},
		{[]float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []float64{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 2.0 / 1024},
		// d = +1,-2,+3 (ranks 1,2,3): W = 2; |S| >= 2 in 6 of 8 patterns.
		{[]float64{1, 1, 1}, []float64{math.E, math.Exp(-2), math.Exp(3)}, 6.0 / 8},
		// No difference at all.
		{[]float64{5, 5, 5}, []float64{5, 5, 5}, 1},
	} {
		p, _, ok := signedRankTest(tc.base, tc.cur)
		if !ok || math.Abs(p-tc.p) > 1e-12 {
			t.Errorf("base %v cur %v: p %v (ok %v), want %v", tc.base, tc.cur, p, ok, tc.p)
		}
	}
	if _, _, ok := signedRankTest([]float64{1}, []float64{2}); ok {
		t.Error("one pair tested")
	}
}

// The test holds its level on pairs that differ only by noise, however much
// the machine drifts between pairs, and sees through a drift that
// Mann-Whitney U cannot.
func TestSignedRankLevelAndDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const trials = 2000
	fired := 0
	for range trials {
		base, cur := make([]float64, 10), make([]float64, 10)
		for i := range base {
			drift := math.Exp(rng.NormFloat64() * 0.3) // the machine's speed in this round
			base[i] = 1000 * drift * math.Exp(rng.NormFloat64()*0.02)
			cur[i] = 1000 * drift * math.Exp(rng.NormFloat64()*0.02)
		}
		if p, _, _ := signedRankTest(base, cur); p <= 0.05 {
			fired++
		}
	}
	// The exact test's level is at most 5% (discreteness keeps it a little
	// below); 2000 trials put a 5% rate within about ±1%.
	if rate := float64(fired) / trials; rate > 0.06 {
		t.Errorf("A/A: p <= 0.05 in %.1f%% of trials", 100*rate)
	}

	base, cur := make([]float64, 10), make([]float64, 10)
	for i := range base {
		drift := math.Exp(rng.NormFloat64() * 0.3)
		base[i] = 1000 * drift * math.Exp(rng.NormFloat64()*0.01)
		cur[i] = 1050 * drift * math.Exp(rng.NormFloat64()*0.01)
	}
	p, delta, _ := signedRankTest(base, cur)
	if p > 0.01 || math.Abs(delta-0.05) > 0.02 {
		t.Errorf("5%% slower under drift: p %v delta %v", p, delta)
	}
	c := Compare(oneBench(base, ""), oneBench(cur, ""), CompareOptions{})
	if r := c.Rows[0]; r.Paired || r.Status == StatusRegression {
		t.Logf("unpaired under drift: %+v", r) // may or may not fire; shown for contrast
	}
	c = Compare(oneBench(base, "s1"), oneBench(cur, "s1"), CompareOptions{}) // the paired default threshold: 2%
	if r := c.Rows[0]; !c.Paired || !r.Paired || r.Status != StatusRegression || c.TestName() != "Wilcoxon signed-rank, paired" {
		t.Errorf("paired: %+v (comparison paired %v)", r, c.Paired)
	}
	// Different sessions are never paired.
	if c := Compare(oneBench(base, "s1"), oneBench(cur, "s2"), CompareOptions{}); c.Paired || c.Rows[0].Paired {
		t.Error("runs of different sessions paired")
	}
}

func oneBench(samples []float64, session string) *results.Run {
	b := results.Benchmark{Name: "x", Unit: "ns/op", Samples: samples, Iterations: int64(len(samples))}
	b.Stats, _ = results.Summarize(samples)
	return &results.Run{Session: session, Benchmarks: []results.Benchmark{b}}
}

func TestPairedPowerWarning(t *testing.T) {
	few := []float64{1, 2, 3, 4, 5, 6}
	slower := []float64{2, 3, 4, 5, 6, 7}
	c := Compare(oneBench(few, "s"), oneBench(slower, "s"), CompareOptions{})
	// One row, 6 pairs: smallest p 2^-5 = 0.031 <= 0.05, no warning.
	if len(c.Warnings) != 0 {
		t.Errorf("warnings %q", c.Warnings)
	}
	two := func(s []float64) *results.Run {
		r := oneBench(s, "s")
		b := r.Benchmarks[0]
		b.Name = "y"
		r.Benchmarks = append(r.Benchmarks, b)
		return r
	}
	c = Compare(two(few), two(slower), CompareOptions{})
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "6 pairs cannot show a significant change across 2 gated rows") || !strings.Contains(c.Warnings[0], "at least 7 rounds") {
		t.Errorf("warnings %q", c.Warnings)
	}
}
