package bench

import (
	"math"
	"math/rand/v2"
	"slices"
)

// maxExactPairs is the largest number of pairs whose sign-flip
// distribution [signedRankTest] enumerates exactly (2^n sign patterns);
// beyond it the p-value is estimated from signFlipDraws random patterns.
const (
	maxExactPairs = 20
	signFlipDraws = 200000
)

// signedRankTest is the Wilcoxon signed-rank test of paired samples: pair i
// is (base[i], cur[i]), measured next to each other (one A/B round), and
// the null hypothesis is that the log-ratio log(cur[i]/base[i]) is
// symmetric about 0. Ranks of |d| are averaged over ties and zero
// differences take part with rank but no sign, so the exact distribution
// under the null is that of every sign pattern over the non-zero
// differences; it is enumerated for up to maxExactPairs pairs and sampled
// (with a fixed seed, so a verdict is reproducible) beyond. It returns the
// two-sided p-value and the median of the pairs' ratios cur/base - 1 (the
// paired estimate of the change), and ok false when fewer than two pairs
// have positive values on both sides.
func signedRankTest(base, cur []float64) (p, delta float64, ok bool) {
	n := min(len(base), len(cur))
	d := make([]float64, 0, n)
	ratios := make([]float64, 0, n)
	for i := range n {
		if !(base[i] > 0 && cur[i] > 0) {
			continue
		}
		d = append(d, math.Log(cur[i]/base[i]))
		ratios = append(ratios, cur[i]/base[i])
	}
	if len(d) < 2 {
		return 0, 0, false
	}
	slices.Sort(ratios)
	m := len(ratios)
	delta = (ratios[(m-1)/2]+ratios[m/2])/2 - 1
	ranks := absRanks(d)
	var w float64 // signed-rank statistic: sum of signed ranks
	var nz []float64
	for i, v := range d {
		switch {
		case v > 0:
			w += ranks[i]
			nz = append(nz, ranks[i])
		case v < 0:
			w -= ranks[i]
			nz = append(nz, ranks[i])
		}
	}
	if len(nz) == 0 {
		return 1, delta, true
	}
	obs := math.Abs(w) - 1e-9 // ranks are multiples of 0.5: a tolerance for float sums
	var extreme, total float64
	if len(nz) <= maxExactPairs {
		for pat := range uint64(1) << len(nz) {
			var s float64
			for j, r := range nz {
				if pat&(1<<j) != 0 {
					s += r
				} else {
					s -= r
				}
			}
			if math.Abs(s) >= obs {
				extreme++
			}
			total++
		}
	} else {
		rng := rand.New(rand.NewPCG(1, uint64(len(nz))))
		for range signFlipDraws {
			var s float64
			for _, r := range nz {
				if rng.Uint64()&1 != 0 {
					s += r
				} else {
					s -= r
				}
			}
			if math.Abs(s) >= obs {
				extreme++
			}
			total++
		}
		// Count the observed pattern itself, so the estimate is never 0.
		extreme, total = extreme+1, total+1
	}
	return extreme / total, delta, true
}

// absRanks returns the ranks (1-based, ties averaged) of |d|.
func absRanks(d []float64) []float64 {
	idx := make([]int, len(d))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmpFloat(math.Abs(d[a]), math.Abs(d[b])) })
	ranks := make([]float64, len(d))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && math.Abs(d[idx[j+1]]) == math.Abs(d[idx[i]]) {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[idx[k]] = r
		}
		i = j + 1
	}
	return ranks
}
