package leak

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/perfagent/perfagent/snapshot"
)

// synth is an injected sample source: a service's live heap and goroutine
// count over simulated time, sampled every interval, with measurement
// noise, occasional spikes (requests in flight at the end of a GC) and GC
// cycles that do not complete in every interval.
type synth struct {
	rng      *rand.Rand
	start    time.Time
	interval time.Duration
	base     float64 // steady live heap, bytes
	noise    float64 // relative standard deviation of the live heap
	spikes   float64 // probability of a +10% spike at a sample
	gcProb   float64 // probability a GC completed within an interval
	heap     func(sec float64) float64
	gBase    float64
	gNoise   float64 // standard deviation of the goroutine count
	gor      func(sec float64) float64

	i      int
	cycles uint64
}

func newSynth(seed uint64) *synth {
	return &synth{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		start:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		interval: 5 * time.Second,
		base:     64 << 20,
		noise:    0.005,
		spikes:   0.02,
		gcProb:   0.9,
		heap:     func(float64) float64 { return 0 },
		gBase:    200,
		gNoise:   5,
		gor:      func(float64) float64 { return 0 },
	}
}

// next returns the next snapshot.
func (s *synth) next() snapshot.Snapshot {
	sec := float64(s.i) * s.interval.Seconds()
	// Jitter the sampling time a little, as a ticker does.
	at := s.start.Add(time.Duration(sec*1e9) + time.Duration(s.rng.IntN(50))*time.Millisecond)
	s.i++
	if s.rng.Float64() < s.gcProb {
		s.cycles++
	}
	live := s.base + s.heap(sec) + s.noise*s.base*s.rng.NormFloat64()
	if s.rng.Float64() < s.spikes {
		live += 0.1 * s.base
	}
	g := s.gBase + s.gor(sec) + s.gNoise*s.rng.NormFloat64()
	return snapshot.Snapshot{
		Time:       at,
		HeapLive:   uint64(math.Max(live, 1)),
		GCCycles:   s.cycles,
		Goroutines: snapshot.Goroutines{Total: uint64(math.Max(math.Round(g), 1))},
	}
}

const mib = 1 << 20

// Heap shapes, in extra bytes at a time in seconds.
func leakRate(bytesPerMin float64) func(float64) float64 {
	return func(sec float64) float64 { return bytesPerMin * sec / 60 }
}

func sawtooth(period, amp float64) func(float64) float64 {
	return func(sec float64) float64 { return amp * math.Mod(sec, period) / period }
}

func plateau(size, tau float64) func(float64) float64 {
	return func(sec float64) float64 { return size * (1 - math.Exp(-sec/tau)) }
}

// ramp rises linearly by amp from start over up seconds, holds for hold
// seconds, and falls back over down seconds.
func ramp(start, up, hold, down, amp float64) func(float64) float64 {
	return func(sec float64) float64 {
		switch t := sec - start; {
		case t < 0:
			return 0
		case t < up:
			return amp * t / up
		case t < up+hold:
			return amp
		case t < up+hold+down:
			return amp * (1 - (t-up-hold)/down)
		}
		return 0
	}
}

func step(at, size float64) func(float64) float64 {
	return func(sec float64) float64 {
		if sec >= at {
			return size
		}
		return 0
	}
}

// batch raises the heap by amp for dur seconds every period seconds,
// starting at offset.
func batch(period, offset, dur, amp float64) func(float64) float64 {
	return func(sec float64) float64 {
		if sec < offset {
			return 0
		}
		if math.Mod(sec-offset, period) < dur {
			return amp
		}
		return 0
	}
}

// mapLeak is a leak through a map: values growing at bytesPerMin, and the
// map's bucket array (a tenth of the values) doubling when they double.
func mapLeak(bytesPerMin float64) func(float64) float64 {
	return func(sec float64) float64 {
		v := bytesPerMin * sec / 60
		if v < 1 {
			return v
		}
		return v + 0.1*math.Exp2(math.Ceil(math.Log2(v)))
	}
}
