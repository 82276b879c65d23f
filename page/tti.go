package page

import (
	"math"
	"slices"
)

// Timings in this file are float64 milliseconds from navigation start
// (performance.timeOrigin), the page's own clock.

// span is a time interval [start, end); end is +Inf for a request still in
// flight.
type span struct{ start, end float64 }

// longTaskMs is the duration above which a task blocks the main thread.
const longTaskMs = 50

// interactive finds Time to Interactive the way Lighthouse defines it: the
// start of the first CPU quiet period (no long task) that overlaps a network
// quiet period (at most two requests in flight) for window ms, both ending
// after fcp+window; TTI is that start, at least fcp and dcl. observedEnd is
// how far the page has been watched: the last, open periods end there. ok is
// false while no such window has been seen yet.
func interactive(fcp, dcl float64, longTasks, requests []span, observedEnd, window float64) (tti float64, ok bool) {
	long := func(p span) bool { return p.end > fcp+window && p.end-p.start >= window }
	cpu := filter(cpuQuiet(longTasks, observedEnd), long)
	net := filter(networkQuiet(requests, observedEnd), long)
	for len(cpu) > 0 && len(net) > 0 {
		c, n := cpu[0], net[0]
		if c.start >= n.start {
			if n.end >= c.start+window {
				return math.Max(c.start, math.Max(fcp, dcl)), true
			}
			net = net[1:]
		} else {
			if c.end >= n.start+window {
				return math.Max(c.start, math.Max(fcp, dcl)), true
			}
			cpu = cpu[1:]
		}
	}
	return 0, false
}

func filter(ps []span, keep func(span) bool) []span {
	out := ps[:0]
	for _, p := range ps {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// cpuQuiet returns the gaps between long tasks, from 0 to end.
func cpuQuiet(tasks []span, end float64) []span {
	tasks = slices.Clone(tasks)
	slices.SortFunc(tasks, func(a, b span) int { return cmpFloat(a.start, b.start) })
	var out []span
	at := 0.0
	for _, t := range tasks {
		if t.end-t.start <= longTaskMs {
			continue
		}
		if t.start > at {
			out = append(out, span{at, t.start})
		}
		at = math.Max(at, t.end)
	}
	if end > at {
		out = append(out, span{at, end})
	}
	return out
}

// networkQuiet returns the periods, from 0 to end, in which at most two
// requests were in flight.
func networkQuiet(reqs []span, end float64) []span {
	type edge struct {
		t     float64
		delta int
	}
	edges := make([]edge, 0, 2*len(reqs))
	for _, r := range reqs {
		edges = append(edges, edge{r.start, +1})
		if !math.IsInf(r.end, 1) {
			edges = append(edges, edge{r.end, -1})
		}
	}
	// At equal times, ends before starts, so back-to-back requests do not
	// count as overlapping.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := cmpFloat(a.t, b.t); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	var out []span
	inflight, quietFrom := 0, 0.0
	for _, e := range edges {
		if e.t > end {
			break
		}
		was := inflight <= 2
		inflight += e.delta
		now := inflight <= 2
		switch {
		case was && !now:
			if e.t > quietFrom {
				out = append(out, span{quietFrom, e.t})
			}
		case !was && now:
			quietFrom = e.t
		}
	}
	if inflight <= 2 && end > quietFrom {
		out = append(out, span{quietFrom, end})
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// blockingTime is Total Blocking Time: for each long task, the part of it
// beyond 50 ms, counting only the task's time between fcp and tti.
func blockingTime(fcp, tti float64, tasks []span) float64 {
	total := 0.0
	for _, t := range tasks {
		start, end := math.Max(t.start, fcp), math.Min(t.end, tti)
		if d := end - start; d > longTaskMs {
			total += d - longTaskMs
		}
	}
	return total
}

// shift is one layout-shift entry.
type shift struct {
	start, value float64
	hadInput     bool
}

// layoutShift is Cumulative Layout Shift as defined since 2021: the largest
// session window of shifts not caused by recent input, where a window ends
// at a gap of 1 s or after 5 s.
func layoutShift(shifts []shift) float64 {
	var best, cur, winStart, last float64
	started := false
	for _, s := range shifts {
		if s.hadInput || s.value < 0 || math.IsNaN(s.value) {
			continue
		}
		if !started || s.start-last > 1000 || s.start-winStart > 5000 {
			winStart, cur, started = s.start, 0, true
		}
		cur += s.value
		last = s.start
		best = math.Max(best, cur)
	}
	return best
}
