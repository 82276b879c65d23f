package results_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aclements/go-moremath/stats"
	"golang.org/x/perf/benchmath"

	"github.com/perfagent/perfagent/results"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestSummarizeHandComputed(t *testing.T) {
	// 1..10 shuffled: the input order must not matter and must be kept.
	in := []float64{7, 3, 10, 1, 5, 9, 2, 8, 4, 6}
	orig := slices.Clone(in)
	st, warns := results.Summarize(in)
	if !slices.Equal(in, orig) {
		t.Fatalf("Summarize modified its input: %v", in)
	}
	want := results.Stats{
		N: 10, Mean: 5.5, Median: 5.5, Min: 1, Max: 10,
		// sum of squared deviations = 82.5; /9
		Stddev: math.Sqrt(82.5 / 9),
		P50:    5.5,
		P95:    9.55, // h = 9*0.95 = 8.55 → x[8] + 0.55*(x[9]-x[8]) = 9 + 0.55
		P99:    9.91, // h = 8.91
		// Median CI at 95% for n=10 uses order statistics 2 and 9 (1-based):
		CILow: 2, CIHigh: 9, CIConfidence: 0.978515625,
		CV: math.Sqrt(82.5/9) / 5.5,
	}
	check := func(name string, got, want float64) {
		t.Helper()
		if !near(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if st.N != want.N || st.Outliers != 0 {
		t.Errorf("N=%d outliers=%d, want 10, 0", st.N, st.Outliers)
	}
	check("mean", st.Mean, want.Mean)
	check("median", st.Median, want.Median)
	check("stddev", st.Stddev, want.Stddev)
	check("min", st.Min, want.Min)
	check("max", st.Max, want.Max)
	check("p50", st.P50, want.P50)
	check("p95", st.P95, want.P95)
	check("p99", st.P99, want.P99)
	check("ci low", st.CILow, want.CILow)
	check("ci high", st.CIHigh, want.CIHigh)
	check("ci confidence", st.CIConfidence, want.CIConfidence)
	check("cv", st.CV, want.CV)
	// CV is 55%: a noise warning.
	if len(warns) != 1 || !strings.Contains(warns[0], "high variation") {
		t.Errorf("warnings = %q, want one high-variation warning", warns)
	}
}

func TestSummarizeOutliers(t *testing.T) {
	// Q1 = 2.25... for {1,2,3,4,5,6,7,8,9,10,100}: type-7 Q1 = x[2.5] = 3.5,
	// Q3 = x[7.5] = 8.5, IQR 5, fences [-4, 16]: only 100 is out.
	st, _ := results.Summarize([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100})
	if st.Outliers != 1 {
		t.Errorf("outliers = %d, want 1", st.Outliers)
	}
}

func TestSummarizeSmallAndEmpty(t *testing.T) {
	if st, w := results.Summarize(nil); st != (results.Stats{}) || w != nil {
		t.Errorf("Summarize(nil) = %+v, %q; want zero", st, w)
	}
	st, w := results.Summarize([]float64{42})
	if st.N != 1 || st.Mean != 42 || st.Median != 42 || st.P99 != 42 || st.Stddev != 0 {
		t.Errorf("one sample: %+v", st)
	}
	if st.CILow != 0 || st.CIHigh != 0 {
		t.Errorf("one sample has a CI: %+v", st)
	}
	if len(w) == 0 || !strings.Contains(w[0], "need >= 6 samples") {
		t.Errorf("one sample: warnings %q, want a too-few-samples warning", w)
	}
}

// TestSummarizeAgreesWithBenchmath checks the statistics against the
// reference implementations on random samples of several sizes and shapes.
func TestSummarizeAgreesWithBenchmath(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{6, 7, 20, 101, 1000} {
		for shape := range 3 {
			xs := make([]float64, n)
			for i := range xs {
				switch shape {
				case 0:
					xs[i] = 100 + rng.NormFloat64()
				case 1:
					xs[i] = rng.ExpFloat64() * 1e6
				case 2:
					xs[i] = float64(rng.IntN(5)) // many ties
				}
			}
			st, _ := results.Summarize(xs)
			ref := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(xs), &benchmath.DefaultThresholds), results.Confidence)
			if st.Median != ref.Center || st.CILow != ref.Lo || st.CIHigh != ref.Hi || st.CIConfidence != ref.Confidence {
				t.Errorf("n=%d shape=%d: median %v [%v, %v] @%v, benchmath %v [%v, %v] @%v", n, shape, st.Median, st.CILow, st.CIHigh, st.CIConfidence, ref.Center, ref.Lo, ref.Hi, ref.Confidence)
			}
			s := stats.Sample{Xs: xs}
			if !near(st.Mean, s.Mean()) || !near(st.Stddev, s.StdDev()) {
				t.Errorf("n=%d shape=%d: mean %v stddev %v, moremath %v %v", n, shape, st.Mean, st.Stddev, s.Mean(), s.StdDev())
			}
			if st.Median != st.P50 {
				t.Errorf("n=%d shape=%d: median %v != p50 %v", n, shape, st.Median, st.P50)
			}
			lo, hi := s.Bounds()
			if st.Min != lo || st.Max != hi {
				t.Errorf("n=%d shape=%d: min/max %v %v, want %v %v", n, shape, st.Min, st.Max, lo, hi)
			}
		}
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{40, 10, 30, 20}
	for _, tc := range []struct{ q, want float64 }{
		{0, 10}, {-1, 10}, {1, 40}, {2, 40}, {0.5, 25}, {1.0 / 3, 20}, {0.9, 37},
	} {
		if got := results.Quantile(xs, tc.q); !near(got, tc.want) {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if !math.IsNaN(results.Quantile(nil, 0.5)) {
		t.Error("Quantile(nil) is not NaN")
	}
}
