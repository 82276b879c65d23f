package load

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// MaxRounds bounds [Options.Rounds].
const MaxRounds = 1000

// MinRoundLength is the shortest round a duration-bounded run may be cut
// into: shorter rounds hold too few requests for a median.
const MinRoundLength = 10 * time.Millisecond

// Round is one round of a run: a window of its measured phase in which
// every endpoint of the scenario mix was driven. A request belongs to the
// round in which it completed.
type Round struct {
	// Start is the round's start as an offset from the start of the
	// measured phase; Length its length (the last round ends when the last
	// request in flight completed).
	Start  time.Duration `json:"start_ns"`
	Length time.Duration `json:"length_ns"`
}

// EndpointRound is one endpoint's figures over one [Round]. Rates are
// fractions of the round's requests and are zero in a round without any;
// latency figures are zero when no request of the round got a response
// (LatencyN == 0).
type EndpointRound struct {
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	Timeouts     int64   `json:"timeouts"`
	Rate         float64 `json:"rate"`
	ErrorRate    float64 `json:"error_rate"`
	TimeoutRate  float64 `json:"timeout_rate"`
	Availability float64 `json:"availability"`
	// LatencyN counts the round's latencies (responses and timeouts); P50
	// and P99 are their percentiles from an HDR histogram (3 significant
	// digits).
	LatencyN int64         `json:"latency_n"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
}

// rounds tracks the closed rounds of a run. Rounds are closed by the
// collector (timed rounds) or by the worker completing a round's last
// request (rounds cut by count), and the last by run(); mu orders them.
type rounds struct {
	mu    sync.Mutex
	want  int
	cum   []*hdrhistogram.Histogram // per endpoint: latencies of every closed round
	tmp   []*hdrhistogram.Histogram // per endpoint: the round being closed
	wins  []Round
	eps   [][]EndpointRound // per endpoint, per closed round
	keep  bool              // keep each round's histograms, encoded (shard results)
	hists [][]string        // per endpoint, per closed round, when keep
	rcs   [][]roundCounts   // per endpoint, per closed round, when keep
	begin time.Time         // start of the current round (real time)
}

func newRounds(want, endpoints int, keep bool) *rounds {
	r := &rounds{want: max(want, 1), keep: keep, eps: make([][]EndpointRound, endpoints)}
	for range endpoints {
		r.cum = append(r.cum, newHist())
		r.tmp = append(r.tmp, newHist())
	}
	if keep {
		r.hists = make([][]string, endpoints)
		r.rcs = make([][]roundCounts, endpoints)
	}
	return r
}

// closeRound ends the current round at end (real time): the shards'
// round histograms and counters move into the round's figures and the
// run's totals, and the next round starts.
func (e *engine) closeRound(end time.Time) {
	r := e.rounds
	r.mu.Lock()
	defer r.mu.Unlock()
	counts := make([]roundCounts, len(e.eps))
	for _, sh := range e.shards {
		sh.mu.Lock()
		for i, s := range sh.eps {
			r.tmp[i].Merge(s.latency)
			s.latency.Reset()
			counts[i].add(s.rc)
			s.rc = roundCounts{}
		}
		sh.mu.Unlock()
	}
	win := Round{Start: r.begin.Sub(e.start), Length: end.Sub(r.begin)}
	secs := win.Length.Seconds()
	for i := range e.eps {
		h, c := r.tmp[i], counts[i]
		er := endpointRound(c, h)
		if secs > 0 {
			er.Rate = float64(c.requests) / secs
		}
		r.eps[i] = append(r.eps[i], er)
		if r.keep {
			r.hists[i] = append(r.hists[i], encodeHist(h))
			r.rcs[i] = append(r.rcs[i], c)
		}
		r.cum[i].Merge(h) // same geometry: nothing is dropped
		h.Reset()
	}
	r.wins = append(r.wins, win)
	r.begin = end
	e.closed.Add(1)
}

// timedCut reports whether the run's rounds are cut by time.
func (e *engine) timedCut() bool { return e.load.Duration > 0 && e.rounds.want > 1 }

// boundary is the end of timed round k-1 (the start of round k), 0 < k < want.
func (e *engine) boundary(k int) time.Time {
	return e.start.Add(time.Duration(float64(e.load.Duration) * float64(k) / float64(e.rounds.want)))
}

// roundOf returns the timed round (0-based) in which t falls.
func (e *engine) roundOf(t time.Time) int {
	k := int(float64(t.Sub(e.start)) * float64(e.rounds.want) / float64(e.load.Duration))
	return min(max(k, 0), e.rounds.want-1)
}

// closeThrough closes timed rounds, each at its boundary, until k rounds
// are closed (never the last one, which run() closes when every request
// completed). A request completing in the instant a boundary is crossed
// may still be recorded in the next round.
func (e *engine) closeThrough(k int) {
	e.cutMu.Lock()
	defer e.cutMu.Unlock()
	for c := int(e.closed.Load()); c < k && c < e.rounds.want-1; c++ {
		e.closeRound(e.boundary(c + 1))
	}
}

// endpointRound returns a round's figures from its counts and latencies
// (Rate left to the caller).
func endpointRound(c roundCounts, h *hdrhistogram.Histogram) EndpointRound {
	er := EndpointRound{Requests: c.requests, Errors: c.errors, Timeouts: c.timeouts, LatencyN: h.TotalCount()}
	if c.requests > 0 {
		n := float64(c.requests)
		er.ErrorRate, er.TimeoutRate = float64(c.errors)/n, float64(c.timeouts)/n
		er.Availability = 1 - float64(c.errors-c.clientErr)/n
	}
	if er.LatencyN > 0 {
		er.P50, er.P99 = time.Duration(h.ValueAtPercentile(50)), time.Duration(h.ValueAtPercentile(99))
	}
	return er
}
