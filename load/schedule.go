package load

import (
	"math"
	"time"
)

// schedule is the open model's arrival process: request i is intended at
// offset at(i) from the start. The rate ramps linearly from from to to over
// ramp, then stays at to (requests per second).
type schedule struct {
	from, to float64
	ramp     float64 // seconds
}

func newSchedule(l Load) schedule {
	s := schedule{from: l.Rate, to: l.Rate}
	if l.RampDuration > 0 {
		s.from, s.ramp = l.RampFrom, l.RampDuration.Seconds()
	}
	return s
}

// n returns how many requests are due by offset t (a real number: the
// integral of the rate).
func (s schedule) n(t float64) float64 {
	if t <= 0 {
		return 0
	}
	if t <= s.ramp {
		return s.from*t + (s.to-s.from)*t*t/(2*s.ramp)
	}
	return s.n0() + s.to*(t-s.ramp)
}

// n0 is the number of requests in the ramp.
func (s schedule) n0() float64 {
	if s.ramp == 0 {
		return 0
	}
	return (s.from + s.to) * s.ramp / 2
}

// at returns the intended offset of request i (0-based).
func (s schedule) at(i int64) time.Duration {
	x := float64(i)
	if x <= 0 {
		return 0
	}
	var t float64
	if n0 := s.n0(); x <= n0 {
		a := (s.to - s.from) / (2 * s.ramp)
		b := s.from
		// Root of a t² + b t - x = 0 in the stable form 2x / (b + √(b²+4ax)).
		disc := b*b + 4*a*x
		if disc < 0 {
			disc = 0
		}
		den := b + math.Sqrt(disc)
		if den <= 0 {
			t = s.ramp
		} else {
			t = 2 * x / den
		}
	} else {
		t = s.ramp + (x-n0)/s.to
	}
	if t > math.MaxInt64/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(t * float64(time.Second))
}

// due returns how many requests are intended strictly before offset d.
func (s schedule) due(d time.Duration) int64 {
	n := s.n(d.Seconds())
	if n >= math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	c := int64(math.Ceil(n))
	// Rounding: count exactly the i with at(i) < d.
	for c > 0 && s.at(c-1) >= d {
		c--
	}
	for s.at(c) < d {
		c++
	}
	return c
}
