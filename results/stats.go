package results

import (
	"fmt"
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
)

// Confidence is the confidence level of the median interval in [Stats]
// (CILow, CIHigh).
const Confidence = 0.95

// NoisyCV is the coefficient of variation above which [Summarize] adds a
// noise warning: a spread of more than 10% of the mean makes differences of a
// few percent undetectable without many more samples.
const NoisyCV = 0.10

// Summarize computes [Stats] of samples and returns the warnings a reader of
// those statistics needs (too few samples for a confidence interval, high
// variation). samples is not modified; NaN and infinite values are the
// caller's error and make every statistic NaN. An empty sample gives zero
// Stats and no warnings.
//
// Mean and Stddev (with Bessel's correction, n-1) are computed directly.
// Percentiles P50, P95 and P99 are exact order statistics with linear
// interpolation between the closest ranks: for sorted x[0..n-1] the q
// quantile is x[h] + (h-⌊h⌋)(x[⌊h⌋+1]-x[⌊h⌋]) with h = (n-1)q (type 7 of
// Hyndman and Fan, the default of R and NumPy). Median and the distribution-free
// confidence interval for it come from golang.org/x/perf/benchmath (the same
// summary benchstat prints); the median equals P50. Outliers are samples
// outside the Tukey fences [Q1-1.5 IQR, Q3+1.5 IQR] with type-7 quartiles.
func Summarize(samples []float64) (Stats, []string) {
	n := len(samples)
	if n == 0 {
		return Stats{}, nil
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)

	var sum float64
	for _, v := range sorted {
		sum += v
	}
	mean := sum / float64(n)
	var ss float64
	for _, v := range sorted {
		d := v - mean
		ss += d * d
	}
	var stddev float64
	if n > 1 {
		stddev = math.Sqrt(ss / float64(n-1))
	}

	st := Stats{
		N:      n,
		Mean:   mean,
		Stddev: stddev,
		Min:    sorted[0],
		Max:    sorted[n-1],
		P50:    quantileSorted(sorted, 0.50),
		P95:    quantileSorted(sorted, 0.95),
		P99:    quantileSorted(sorted, 0.99),
	}
	if mean != 0 {
		st.CV = stddev / math.Abs(mean)
	}

	q1, q3 := quantileSorted(sorted, 0.25), quantileSorted(sorted, 0.75)
	lo, hi := q1-1.5*(q3-q1), q3+1.5*(q3-q1)
	for _, v := range sorted {
		if v < lo || v > hi {
			st.Outliers++
		}
	}

	var warnings []string
	// benchmath.NewSample sorts in place and keeps the slice: sorted is ours.
	sum95 := benchmath.AssumeNothing.Summary(benchmath.NewSample(sorted, &benchmath.DefaultThresholds), Confidence)
	st.Median = sum95.Center
	if math.IsInf(sum95.Lo, 0) || math.IsInf(sum95.Hi, 0) {
		for _, w := range sum95.Warnings {
			warnings = append(warnings, "no confidence interval: "+w.Error())
		}
	} else {
		st.CILow, st.CIHigh, st.CIConfidence = sum95.Lo, sum95.Hi, sum95.Confidence
	}
	if n > 1 && st.CV > NoisyCV {
		warnings = append(warnings, fmt.Sprintf("high variation: CV %.1f%% > %.0f%%; the machine is noisy or the operation's cost varies (raise MinDuration, close other programs)", 100*st.CV, 100*NoisyCV))
	}
	return st, warnings
}

// Quantile returns the q quantile (0 ≤ q ≤ 1) of samples with the type-7
// interpolation documented at [Summarize]. It returns NaN for an empty sample
// and does not modify samples.
func Quantile(samples []float64, q float64) float64 {
	if len(samples) == 0 {
		return math.NaN()
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	return quantileSorted(sorted, q)
}

// quantileSorted is [Quantile] on an already sorted, non-empty sample.
func quantileSorted(sorted []float64, q float64) float64 {
	n := len(sorted)
	switch {
	case q <= 0:
		return sorted[0]
	case q >= 1:
		return sorted[n-1]
	}
	h := float64(n-1) * q
	i := int(h)
	if i >= n-1 {
		return sorted[n-1]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}
