package leak

import (
	"math"
)

// Robust trend statistics on short series, allocation-free with
// caller-owned buffers.

// theilSen returns the Theil–Sen slope of (x, y): the median of the slopes
// of all pairs with distinct x. buf must have room for len(x)*(len(x)-1)/2
// values. It returns NaN for fewer than two distinct x.
func theilSen(x, y, buf []float64) float64 {
	buf = buf[:0]
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			if dx := x[j] - x[i]; dx != 0 {
				buf = append(buf, (y[j]-y[i])/dx)
			}
		}
	}
	if len(buf) == 0 {
		return math.NaN()
	}
	return median(buf)
}

// mannKendallZ returns the Mann–Kendall trend statistic of y (in time
// order) as a standard normal score with continuity correction: large
// positive values mean a significant upward trend. Ties count zero; the
// variance is not corrected for them, which makes the test conservative
// on series with many ties (goroutine counts).
func mannKendallZ(y []float64) float64 {
	n := len(y)
	if n < 3 {
		return 0
	}
	var s float64
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			switch {
			case y[j] > y[i]:
				s++
			case y[j] < y[i]:
				s--
			}
		}
	}
	fn := float64(n)
	v := fn * (fn - 1) * (2*fn + 5) / 18
	switch {
	case s > 0:
		return (s - 1) / math.Sqrt(v)
	case s < 0:
		return (s + 1) / math.Sqrt(v)
	}
	return 0
}

// median returns the median of v, reordering v. v must not be empty.
func median(v []float64) float64 {
	n := len(v)
	k := n / 2
	m := quickselect(v, k)
	if n%2 == 1 {
		return m
	}
	// The lower middle is the largest of v[:k] after selection.
	lo := v[0]
	for _, x := range v[1:k] {
		lo = math.Max(lo, x)
	}
	return (lo + m) / 2
}

// quickselect partially sorts v so that v[k] is the k-th smallest value,
// with smaller-or-equal values before it, and returns it.
func quickselect(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		// Median of three as the pivot keeps sorted input linear.
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}
