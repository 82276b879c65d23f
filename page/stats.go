package page

import (
	"math"
	"slices"

	"github.com/perfagent/perfagent/bench"
)

// quantile is the type 7 (linear interpolation between closest ranks)
// quantile of sorted xs, the definition bench.Stats documents.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	h := q * float64(len(sorted)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

// summarize computes bench.Stats of a sample. The confidence interval is
// left empty: a handful of page loads is too few for a meaningful one.
func summarize(xs []float64) bench.Stats {
	if len(xs) == 0 {
		return bench.Stats{}
	}
	s := slices.Sorted(slices.Values(xs))
	var sum float64
	for _, x := range s {
		sum += x
	}
	mean := sum / float64(len(s))
	var ss float64
	for _, x := range s {
		ss += (x - mean) * (x - mean)
	}
	sd := 0.0
	if len(s) > 1 {
		sd = math.Sqrt(ss / float64(len(s)-1))
	}
	st := bench.Stats{
		N: len(s), Mean: mean, Median: quantile(s, 0.5), Stddev: sd,
		Min: s[0], Max: s[len(s)-1],
		P50: quantile(s, 0.5), P95: quantile(s, 0.95), P99: quantile(s, 0.99),
	}
	if mean != 0 {
		st.CV = sd / mean
	}
	q1, q3 := quantile(s, 0.25), quantile(s, 0.75)
	iqr := q3 - q1
	for _, x := range s {
		if x < q1-1.5*iqr || x > q3+1.5*iqr {
			st.Outliers++
		}
	}
	return st
}
