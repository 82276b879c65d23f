package load

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/perfagent/perfagent/results"
)

// Report is what a [Run] measured. Its JSON encoding is also the Detail of
// each [results.Benchmark] that [Report.BenchResults] writes (one endpoint at a
// time, see [EndpointReport]).
type Report struct {
	Scenario string `json:"scenario"`
	BaseURL  string `json:"base_url"`
	// Protocol is "HTTP/1.1" or "HTTP/2"; Engine names the client used
	// ("lean-http1" or "net/http").
	Protocol string `json:"protocol"`
	Engine   string `json:"engine"`
	// Load is the effective load, defaults applied.
	Load       Load          `json:"load"`
	Timeout    time.Duration `json:"timeout_ns"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at"`
	// Elapsed is the measured phase's length (setup excluded), from the
	// first send to the last response.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Partial is true when the run was cancelled, failed in setup or a
	// worker panicked: the numbers cover only what was measured.
	Partial bool `json:"partial,omitempty"`
	// Endpoints are the measured endpoints, in scenario order.
	Endpoints []EndpointReport `json:"endpoints"`
	// Setup is the setup traffic (authentication), one entry per step,
	// counting the initial run and every refresh. It is not part of Total.
	Setup []EndpointReport `json:"setup,omitempty"`
	// Refreshes counts setup reruns after a 401; RefreshErrors holds the
	// first few failures.
	Refreshes     int64    `json:"refreshes"`
	RefreshErrors []string `json:"refresh_errors,omitempty"`
	// Total sums the measured endpoints.
	Total Totals `json:"total"`
	// Open describes the open model's arrival process; nil for the closed
	// model.
	Open *OpenReport `json:"open,omitempty"`
	// Rounds are the windows the measured phase was cut into
	// ([Options.Rounds]); each endpoint's figures per round are in its
	// Rounds, in the same order.
	Rounds []Round `json:"rounds,omitempty"`
	// Series is the measured traffic per interval (1 s, doubled whenever
	// the series would exceed 3600 points).
	Series   Series   `json:"series"`
	Budgets  Budgets  `json:"budgets"`
	Warnings []string `json:"warnings,omitempty"`
	// Shard describes the shard this run was ([Options.Shard]); nil for a
	// whole run. Merge describes the shards a report of [MergeShards] was
	// built from; nil otherwise.
	Shard *ShardInfo `json:"shard,omitempty"`
	Merge *MergeInfo `json:"merge,omitempty"`
	// ShardResult is a shard's lossless result, for [MergeShards]; nil
	// for a whole run. It is not part of the report's JSON.
	ShardResult *ShardResult `json:"-"`
}

// Totals are counts and rates over many requests.
type Totals struct {
	// Requests counts completed requests: a response was read or the
	// request failed. Canceled requests (aborted by the run's context) are
	// counted apart and in no rate.
	Requests int64 `json:"requests"`
	Canceled int64 `json:"canceled,omitempty"`
	// Errors counts failed requests: transport failures of every kind and
	// responses whose status was not expected. Timeouts are included.
	Errors   int64 `json:"errors"`
	Timeouts int64 `json:"timeouts"`
	// Rate is Requests per second of Elapsed.
	Rate        float64 `json:"rate"`
	ErrorRate   float64 `json:"error_rate"`
	TimeoutRate float64 `json:"timeout_rate"`
	// Availability is the fraction of requests not failed by the server
	// side: every error counts except unexpected statuses below 500
	// (client errors such as 404 or 401). 0 when there were no requests:
	// a target that answered nothing was not shown to be available.
	Availability float64 `json:"availability"`
	// Latency covers requests that got a full response or timed out (at
	// their time of giving up); connection failures have no latency.
	Latency Summary `json:"latency"`
}

// EndpointReport is one endpoint's or setup step's measurements.
//
// JSON (the Detail of a results.Benchmark of Kind "http"):
//
//	{"name", "category", "method", "url", "phase": "measured"|"setup",
//	 "requests", "canceled", "errors", "timeouts", "rate", "error_rate",
//	 "timeout_rate", "availability",
//	 "latency": Summary, "service_time": Summary (open model),
//	 "status_codes": {"200": n, ...}, "unexpected_status": {"500": n, ...},
//	 "error_kinds": {"timeout"|"dns"|"connect-refused"|"connect"|"tls"|
//	                 "reset"|"eof"|"protocol"|"status"|"other": n},
//	 "error_samples": ["timeout: ...", ...],
//	 "bytes_in", "bytes_out" (body bytes), "wire_bytes_in",
//	 "wire_bytes_out" (whole messages, HTTP/1.1 engine only),
//	 "phases": {"dns"|"connect"|"tls"|"ttfb"|"body": Summary},
//	 "reauth", "late", "generator_late", "targets": {...},
//	 "series": Series, "run": RunInfo}
//
// Summary durations are integer nanoseconds ("p99_ns"); rates are
// fractions.
type EndpointReport struct {
	Name     string `json:"name"`
	Category string `json:"category"`
	Method   string `json:"method"`
	URL      string `json:"url"`
	Phase    string `json:"phase"`
	Totals
	// ServiceTime is the open model's latency from the actual send, which
	// hides queueing in front of a stalled server; nil for the closed
	// model, where Latency is measured from the actual send.
	ServiceTime *Summary         `json:"service_time,omitempty"`
	StatusCodes map[string]int64 `json:"status_codes"`
	// UnexpectedStatus are the status codes counted as errors (not in
	// the endpoint's expected statuses).
	UnexpectedStatus map[string]int64 `json:"unexpected_status,omitempty"`
	ErrorKinds       map[string]int64 `json:"error_kinds,omitempty"`
	ErrorSamples     []string         `json:"error_samples,omitempty"`
	BytesIn          int64            `json:"bytes_in"`
	BytesOut         int64            `json:"bytes_out"`
	WireBytesIn      int64            `json:"wire_bytes_in,omitempty"`
	WireBytesOut     int64            `json:"wire_bytes_out,omitempty"`
	// Phases summarise the request phases: dns, connect and tls over new
	// connections only, ttfb (request written to first response byte) and
	// body (first to last response byte) over every response.
	Phases map[string]Summary `json:"phases"`
	// Reauth counts requests answered 401 that were sent again after the
	// setup refreshed the variables (the second answer is the one counted).
	Reauth int64 `json:"reauth,omitempty"`
	// Late counts open-model requests sent more than LateAfter after their
	// intended time; GeneratorLate those of them for which a connection was
	// free (the generator itself was slow).
	Late          int64   `json:"late,omitempty"`
	GeneratorLate int64   `json:"generator_late,omitempty"`
	Targets       Targets `json:"targets"`
	// StatusLatency summarises the latencies by status class ("2xx" ...
	// "5xx", "none" for timeouts), 2 significant digits; recorded by
	// shards only, so present in shard and merged reports.
	StatusLatency map[string]Summary `json:"status_latency,omitempty"`
	Series        Series             `json:"series"`
	// Rounds are the endpoint's figures per round of the run (see
	// [Report].Rounds); empty for setup steps.
	Rounds []EndpointRound `json:"rounds,omitempty"`
}

// MarshalJSON writes Targets in nanoseconds with percentile names.
func (t Targets) MarshalJSON() ([]byte, error) {
	m := map[string]int64{}
	for k, p := range t.byName() {
		if *p > 0 {
			m[k] = int64(*p)
		}
	}
	return json.Marshal(m)
}

// byName returns t's fields by their JSON names.
func (t *Targets) byName() map[string]*time.Duration {
	return map[string]*time.Duration{"p50_ns": &t.P50, "p90_ns": &t.P90, "p95_ns": &t.P95, "p99_ns": &t.P99, "p99.9_ns": &t.P999}
}

// OpenReport describes the open model's arrival process.
type OpenReport struct {
	// Rate is the intended steady rate (requests/s), RampFrom and Ramp its
	// ramp; Achieved the dispatched requests per second of the sending
	// window (the duration, or until the run was stopped).
	Rate     float64       `json:"rate"`
	RampFrom float64       `json:"ramp_from,omitempty"`
	Ramp     time.Duration `json:"ramp_ns,omitempty"`
	Achieved float64       `json:"achieved_rate"`
	// Intended counts requests due before the run stopped; Dispatched
	// those handed to a connection; Dropped = Intended − Dispatched (due
	// but never sent because the run ended first).
	Intended   int64 `json:"intended"`
	Dispatched int64 `json:"dispatched"`
	Dropped    int64 `json:"dropped"`
	// Waited counts requests that became due while every connection was
	// busy (Load.Concurrency reached): they were sent later, and their
	// latency includes that wait, as a real client's would.
	Waited int64 `json:"waited"`
	// SendLag is actual send − intended send over every request; Late and
	// GeneratorLate as in EndpointReport, summed.
	SendLag Summary `json:"send_lag"`
	// GeneratorLag is the send lag of the requests that became due with a
	// connection free: the generator's own delay, without the waits for a
	// busy connection.
	GeneratorLag  Summary       `json:"generator_lag"`
	LateAfter     time.Duration `json:"late_after_ns"`
	Late          int64         `json:"late"`
	GeneratorLate int64         `json:"generator_late"`
	// Behind is the longest stretch of the schedule (from the intended
	// time of its first request to that of its last) over which every
	// request the pacer handed to a free connection was more than
	// LateAfter late: the generator fell behind its schedule for that long.
	Behind time.Duration `json:"behind_longest_ns,omitempty"`
	// Saturated is true when the generator materially distorted the
	// latencies: it fell behind its schedule for at least [SustainedBehind]
	// (Behind), or GeneratorLag at p50 or p99 exceeds both LateAfter and
	// [DistortionFraction] of the latency at that percentile while the
	// generator's own late sends alone reach that percentile. Bursts of
	// lateness below these bounds are reported (Late, GeneratorLate,
	// SendLag, Behind) but do not saturate the run. Saturation says why
	// the verdict is what it is, in either case.
	Saturated  bool   `json:"saturated"`
	Saturation string `json:"saturation"`
}

// The saturation rule's bounds (see [OpenReport].Saturated).
const (
	// SustainedBehind is how long the generator may fall behind its
	// schedule without a break before the run is saturated.
	SustainedBehind = time.Second
	// DistortionFraction is the share of a latency percentile that the
	// generator's send lag at that percentile may take.
	DistortionFraction = 0.10
)

// judgeSaturation applies the saturation rule to o, whose latency
// percentiles over requests measured requests are lat. Merged shards are
// judged by the same rule on the merged figures.
func judgeSaturation(o *OpenReport, lat Summary, requests int64) {
	o.Saturated, o.Saturation = false, ""
	if requests == 0 {
		o.Saturation = "no request measured"
		return
	}
	if o.Behind >= SustainedBehind {
		o.Saturated = true
		o.Saturation = fmt.Sprintf("saturated: the generator fell behind its schedule for %v without a break (every send more than %v late with a connection free; limit %v)", roundDur(o.Behind), o.LateAfter, SustainedBehind)
		return
	}
	for _, q := range []struct {
		name     string
		lag, lat time.Duration
		tail     float64 // share of requests at or above the percentile
	}{{"p50", o.GeneratorLag.P50, lat.P50, 0.5}, {"p99", o.GeneratorLag.P99, lat.P99, 0.01}} {
		if q.lag > o.LateAfter && float64(q.lag) > DistortionFraction*float64(q.lat) && float64(o.GeneratorLate) >= q.tail*float64(requests) {
			o.Saturated = true
			o.Saturation = fmt.Sprintf("saturated: the generator's send lag %s %v is %.0f%% of latency %s %v (limit %.0f%% when above %v) and %d of %d sends were late with a connection free: the generator's delay distorts the latency",
				q.name, roundDur(q.lag), 100*float64(q.lag)/float64(max(q.lat, 1)), q.name, roundDur(q.lat), 100*DistortionFraction, o.LateAfter, o.GeneratorLate, requests)
			return
		}
	}
	o.Saturation = fmt.Sprintf("not saturated: the generator's send lag (connection free) p50 %v, p99 %v, max %v against latency p50 %v, p99 %v; longest stretch behind schedule %v (limit %v)",
		roundDur(o.GeneratorLag.P50), roundDur(o.GeneratorLag.P99), roundDur(o.GeneratorLag.Max), roundDur(lat.P50), roundDur(lat.P99), roundDur(o.Behind), SustainedBehind)
	if o.GeneratorLate > 0 {
		o.Saturation += fmt.Sprintf("; %d of %d sends more than %v late with a connection free, in bursts that do not distort the percentiles", o.GeneratorLate, requests, o.LateAfter)
	}
}

// Series is a time series of a run's traffic.
type Series struct {
	Interval time.Duration `json:"interval_ns"`
	Points   []Point       `json:"points"`
}

// Point is one interval of a Series. Latencies (from a 2-digit
// histogram) cover the requests completed in the interval; after
// downsampling a point keeps the larger of its halves' percentiles.
type Point struct {
	T        float64       `json:"t_s"` // interval start, seconds from the start of the run
	D        float64       `json:"d_s"` // interval length in seconds (the last may be shorter)
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	Timeouts int64         `json:"timeouts"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
}

// seriesAcc builds one Series.
type seriesAcc struct {
	acc    *hdrhistogram.Histogram
	iv     intervalCounts
	series Series
}

func newSeriesAcc() seriesAcc {
	return seriesAcc{acc: newCoarse(), series: Series{Interval: seriesInterval}}
}

func (s *seriesAcc) push(t, d float64) {
	p := Point{T: t, D: d, Requests: s.iv.requests, Errors: s.iv.errors, Timeouts: s.iv.timeouts}
	if s.acc.TotalCount() > 0 {
		p.P50 = time.Duration(s.acc.ValueAtPercentile(50))
		p.P99 = time.Duration(s.acc.ValueAtPercentile(99))
		p.Max = time.Duration(s.acc.Max())
	}
	s.series.Points = append(s.series.Points, p)
	if len(s.series.Points) > maxSeriesPoints {
		s.compact()
	}
}

// compact halves the series' resolution.
func (s *seriesAcc) compact() {
	pts := s.series.Points
	out := pts[:0]
	for i := 0; i < len(pts); i += 2 {
		p := pts[i]
		if i+1 < len(pts) {
			q := pts[i+1]
			p.D += q.D
			p.Requests += q.Requests
			p.Errors += q.Errors
			p.Timeouts += q.Timeouts
			p.P50, p.P99, p.Max = max(p.P50, q.P50), max(p.P99, q.P99), max(p.Max, q.Max)
		}
		out = append(out, p)
	}
	s.series.Points = out
	s.series.Interval *= 2
}

// collect closes a series interval every second and reports progress until
// done is closed.
func (e *engine) collect(done <-chan struct{}, exited chan<- struct{}) {
	defer close(exited)
	defer e.recoverWorker()
	// Note: a shard's series intervals end on whole wall-clock seconds,
	// so the shards' series align when merged.
	st := time.NewTimer(e.nextTick(e.start) - time.Since(e.start))
	defer st.Stop()
	pt := time.NewTicker(e.opts.ProgressInterval)
	defer pt.Stop()
	// Round boundaries: timed for a duration-bounded run, polled against
	// the completed count for one bounded by requests. The last round is
	// closed by run() once every request completed.
	want, next := e.rounds.want, 1
	var roundC <-chan time.Time
	var roundTimer *time.Timer
	if e.timedCut() {
		roundTimer = time.NewTimer(time.Until(e.boundary(next)))
		defer roundTimer.Stop()
		roundC = roundTimer.C
	}
	last := e.start
	for {
		select {
		case <-done:
			e.tick(last, time.Now())
			e.progress(true)
			return
		case now := <-st.C:
			st.Reset(e.nextTick(now))
			e.tick(last, now)
			last = now
		case <-pt.C:
			e.progress(false)
		case <-roundC:
			// Rounds no request has closed yet (an idle target).
			e.closeThrough(next)
			if next++; next < want {
				roundTimer.Reset(time.Until(e.boundary(next)))
			} else {
				roundC = nil
			}
		}
	}
}

// nextTick returns the wait from now until the end of the current series
// interval.
func (e *engine) nextTick(now time.Time) time.Duration {
	if !e.keep() {
		// One interval after the previous boundary, as a ticker would.
		k := now.Sub(e.start) / seriesInterval
		return e.start.Add((k + 1) * seriesInterval).Sub(now)
	}
	return now.Truncate(seriesInterval).Add(seriesInterval).Sub(now)
}

func (e *engine) tick(from, to time.Time) {
	for i := range e.series {
		e.series[i].acc.Reset()
		e.series[i].iv = intervalCounts{}
	}
	for _, sh := range e.shards {
		sh.mu.Lock()
		for i, s := range sh.eps {
			acc := &e.series[i]
			acc.acc.Merge(s.interval)
			s.interval.Reset()
			acc.iv.requests += s.iv.requests
			acc.iv.errors += s.iv.errors
			acc.iv.timeouts += s.iv.timeouts
			s.iv = intervalCounts{}
		}
		sh.mu.Unlock()
	}
	t, d := from.Sub(e.start).Seconds(), to.Sub(from).Seconds()
	tot := &e.totalSeries
	tot.acc.Reset()
	tot.iv = intervalCounts{}
	for i := range e.series {
		acc := &e.series[i]
		if e.keep() {
			e.pushSec(i, from, d, acc.iv, acc.acc)
		}
		acc.push(t, d)
		tot.acc.Merge(acc.acc)
		tot.iv.requests += acc.iv.requests
		tot.iv.errors += acc.iv.errors
		tot.iv.timeouts += acc.iv.timeouts
	}
	tot.push(t, d)
}

func (e *engine) progress(final bool) {
	if e.opts.Progress == nil {
		return
	}
	p := Progress{Elapsed: time.Since(e.start), Duration: e.load.Duration, Limit: e.limit, Final: final}
	for _, sh := range e.shards {
		sh.mu.Lock()
		for _, s := range sh.eps {
			p.Requests += s.requests
			p.Errors += s.errors
		}
		sh.mu.Unlock()
	}
	if p.Duration > 0 {
		p.Fraction = min(1, p.Elapsed.Seconds()/p.Duration.Seconds())
	}
	if p.Limit > 0 {
		p.Fraction = max(p.Fraction, min(1, float64(p.Requests)/float64(p.Limit)))
	}
	if final {
		p.Fraction = 1
	}
	e.opts.Progress(p)
}

// sendEnd is the end of the open model's sending window from the start:
// when the run was stopped, at most its duration.
func (e *engine) sendEnd() time.Duration {
	end := time.Duration(e.stopAt.Load())
	if end == 0 || (e.load.Duration > 0 && end > e.load.Duration) {
		end = e.load.Duration
	}
	return end
}

// report merges the shards into a Report.
func (e *engine) report(started, finished time.Time, partial bool) *Report {
	r := &Report{
		Scenario:   e.s.Name,
		BaseURL:    e.s.BaseURL,
		Protocol:   e.protocol,
		Engine:     "lean-http1",
		Load:       e.load,
		Timeout:    e.cfg.timeout,
		StartedAt:  started.UTC(),
		FinishedAt: finished.UTC(),
		Elapsed:    finished.Sub(started),
		Partial:    partial,
		Budgets:    e.budgets,
		Series:     e.totalSeries.series,
	}
	if r.Scenario == "" {
		r.Scenario = "api"
	}
	if e.useStd {
		r.Engine = "net/http"
	}
	secs := r.Elapsed.Seconds()
	open := e.load.Model == ModelOpen
	var all []*hdrhistogram.Histogram
	var tot counts
	for i := range e.eps {
		sp := &e.eps[i]
		var stats []*epStats
		for _, sh := range e.shards {
			stats = append(stats, sh.eps[i])
		}
		lat := e.rounds.cum[i]
		er := endpointReport(sp, e.s.Endpoints[i].Path, stats, lat, secs, "measured", e)
		er.Series = e.series[i].series
		er.Rounds = slices.Clone(e.rounds.eps[i])
		all = append(all, lat)
		c := sumCounts(stats)
		tot.add(&c)
		r.Endpoints = append(r.Endpoints, er)
	}
	r.Total = totals(&tot, merged(all), secs)
	r.Rounds = slices.Clone(e.rounds.wins)
	for i := range e.steps {
		st := e.setup.eps[i]
		er := endpointReport(&e.steps[i].endpointSpec, e.s.Setup[i].Path, []*epStats{st}, st.latency, secs, "setup", e)
		er.Rate = 0 // setup requests are not a throughput
		r.Setup = append(r.Setup, er)
	}
	e.authMu.Lock()
	r.Refreshes, r.RefreshErrors = e.refreshes, slices.Clone(e.refreshErrs)
	e.authMu.Unlock()
	if open {
		o := &OpenReport{Rate: e.load.Rate, LateAfter: e.opts.LateAfter, Dispatched: e.pacer.dispatched, Waited: e.pacer.waited}
		if e.load.RampDuration > 0 {
			o.RampFrom, o.Ramp = e.load.RampFrom, e.load.RampDuration
		}
		end := e.sendEnd()
		if end > 0 {
			o.Intended = newSchedule(e.load).due(end)
		} else {
			o.Intended = o.Dispatched
		}
		if e.load.Requests > 0 && o.Intended > e.load.Requests {
			o.Intended = e.load.Requests
		}
		if sh := e.shard; sh.Count > 0 {
			// This shard's residue class of the schedule, and its share
			// of the rate.
			if end > 0 {
				o.Intended = share(o.Intended, sh.Index, sh.Count)
			}
			o.Rate /= float64(sh.Count)
			o.RampFrom /= float64(sh.Count)
		}
		// The sending window, not the tail of the last responses.
		if w := end.Seconds(); w > 0 {
			o.Achieved = float64(o.Dispatched) / w
		} else if secs > 0 {
			o.Achieved = float64(o.Dispatched) / secs
		}
		if m := e.merge; m != nil {
			o.Intended, o.Achieved = m.intended, m.achieved
		}
		o.Dropped = max(0, o.Intended-o.Dispatched)
		var lags, gen []*hdrhistogram.Histogram
		for _, sh := range e.shards {
			lags, gen = append(lags, sh.sendLag), append(gen, sh.genLag)
		}
		o.SendLag, o.GeneratorLag = summarize(merged(lags)), summarize(merged(gen))
		o.Late, o.GeneratorLate = tot.late, tot.genLate
		o.Behind = e.pacer.behind
		judgeSaturation(o, r.Total.Latency, tot.requests)
		r.Open = o
		switch {
		case o.Saturated:
			r.Warnings = append(r.Warnings, "generator "+o.Saturation)
		case o.GeneratorLate > 0:
			r.Warnings = append(r.Warnings, "generator late in bursts, not failed: "+o.Saturation)
		}
		if o.Waited > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%d requests became due while all %d connections were busy; their latency includes the wait (raise load.concurrency if the target should absorb more in flight)", o.Waited, e.load.Concurrency))
		}
		if o.Dropped > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%d intended requests were never sent before the run ended (backlog behind busy connections)", o.Dropped))
		}
	}
	if partial && e.merge == nil {
		r.Warnings = append(r.Warnings, "partial run: interrupted before its end")
	}
	if e.keep() {
		r.Shard = &ShardInfo{Index: e.shard.Index, Count: e.shard.Count, Workers: e.workers, StartAt: e.opts.StartAt, StartLate: e.late}
	}
	if e.late > e.opts.LateAfter && !e.opts.StartAt.IsZero() {
		r.Warnings = append(r.Warnings, fmt.Sprintf("started %v after --start-at %s; measured from the shared schedule, so requests already due were sent late and their latency includes the delay",
			roundDur(e.late), e.opts.StartAt.UTC().Format(time.RFC3339Nano)))
	}
	if len(r.RefreshErrors) > 0 {
		r.Warnings = append(r.Warnings, "setup refresh failed: "+r.RefreshErrors[0])
	}
	return r
}

func sumCounts(stats []*epStats) counts {
	var c counts
	for _, s := range stats {
		c.add(&s.counts)
	}
	return c
}

func totals(c *counts, lat *hdrhistogram.Histogram, secs float64) Totals {
	t := Totals{Requests: c.requests, Canceled: c.canceled, Errors: c.errors, Timeouts: c.timeouts, Latency: summarizeOutliers(lat)}
	if secs > 0 {
		t.Rate = float64(c.requests) / secs
	}
	if c.requests > 0 {
		n := float64(c.requests)
		t.ErrorRate = float64(c.errors) / n
		t.TimeoutRate = float64(c.timeouts) / n
		t.Availability = 1 - float64(c.errors-c.clientErr)/n
	}
	return t
}

// endpointReport summarises one endpoint's (or setup step's) shard stats,
// with lat its latencies.
func endpointReport(sp *endpointSpec, path string, stats []*epStats, lat *hdrhistogram.Histogram, secs float64, phase string, e *engine) EndpointReport {
	c := sumCounts(stats)
	var svcs []*hdrhistogram.Histogram
	phases := make([][]*hdrhistogram.Histogram, numPhases)
	var samples errSamples
	for _, s := range stats {
		if s.service != nil {
			svcs = append(svcs, s.service)
		}
		for p := range phases {
			phases[p] = append(phases[p], s.phases[p])
		}
		for _, m := range s.samples.msgs {
			samples.add(m)
		}
	}
	er := EndpointReport{
		Name:          sp.name,
		Category:      sp.category,
		Method:        sp.method,
		URL:           strings.TrimSuffix(e.s.BaseURL, "/") + path,
		Phase:         phase,
		Totals:        totals(&c, lat, secs),
		StatusCodes:   map[string]int64{},
		BytesIn:       c.bytesIn,
		BytesOut:      c.bytesOut,
		Phases:        map[string]Summary{},
		Reauth:        c.reauth,
		Late:          c.late,
		GeneratorLate: c.genLate,
		Targets:       sp.targets,
		ErrorSamples:  samples.msgs,
	}
	if !e.useStd {
		er.WireBytesIn, er.WireBytesOut = c.wireIn, c.wireOut
	}
	if svc := merged(svcs); svc != nil {
		s := summarize(svc)
		er.ServiceTime = &s
	}
	for code, n := range c.status {
		if n > 0 {
			er.StatusCodes[strconv.Itoa(code)] = n
			if !sp.expect.has(code) {
				if er.UnexpectedStatus == nil {
					er.UnexpectedStatus = map[string]int64{}
				}
				er.UnexpectedStatus[strconv.Itoa(code)] = n
			}
		}
	}
	er.ErrorKinds = c.errKindsByName()
	for p, hs := range phases {
		if s := summarize(merged(hs)); s.N > 0 {
			er.Phases[phaseName(p)] = s
		}
	}
	for k := range numClasses {
		var hs []*hdrhistogram.Histogram
		for _, s := range stats {
			if s.classes != nil {
				hs = append(hs, s.classes[k])
			}
		}
		if s := summarize(merged(hs)); s.N > 0 {
			if er.StatusLatency == nil {
				er.StatusLatency = map[string]Summary{}
			}
			er.StatusLatency[className(k)] = s
		}
	}
	return er
}

// BenchResults returns the report in the shared results schema: one
// results.Benchmark per measured endpoint (Name "<scenario>/<endpoint>") and
// per setup step (Name "<scenario>/setup/<step>", Label phase=setup), with
// Kind results.KindHTTP, Unit ns/op (request latency) and the
// EndpointReport as Detail, with the run's description added under "run".
//
// A measured endpoint's Samples are its per-round median latencies (one
// per round in which it got a response; see [Options.Rounds]), Stats
// summarises those rounds, and PerOp is the distribution of every single
// request from the HDR histogram merged over the rounds. Its Metrics are
// req/s, error-rate, timeout-rate, availability and p99-ns with
// per-round Samples, and p90-ns, p99.9-ns (and in the open model
// service-p99-ns and send-lag-p99-ns) measured once over the run. Note:
// the Value of a metric with samples is the figure over the whole run
// (errors over every request, p99 over every latency), not the median of
// its rounds: a budget must see the one bad round that a median of ten
// hides. An endpoint without any request has no rate metrics (nothing
// was measured) and an Error, as has one whose every request failed.
// Setup steps are measured once: no samples, PerOp and once-measured
// metrics.
func (r *Report) BenchResults() *results.Run {
	res := &results.Run{
		Schema:      results.Schema,
		Suite:       "api",
		StartedAt:   r.StartedAt,
		FinishedAt:  r.FinishedAt,
		Partial:     r.Partial,
		Environment: results.CurrentEnvironment(),
		Warnings:    slices.Clone(r.Warnings),
	}
	for _, ep := range r.Endpoints {
		res.Benchmarks = append(res.Benchmarks, r.benchResult(ep, r.Scenario+"/"+ep.Name))
	}
	for _, ep := range r.Setup {
		res.Benchmarks = append(res.Benchmarks, r.benchResult(ep, r.Scenario+"/setup/"+ep.Name))
	}
	return res
}

// runInfo describes the run in each Result's Detail.
type runInfo struct {
	Scenario string        `json:"scenario"`
	Protocol string        `json:"protocol"`
	Engine   string        `json:"engine"`
	Load     Load          `json:"load"`
	Timeout  time.Duration `json:"timeout_ns"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Rounds   []Round       `json:"rounds,omitempty"`
	Open     *OpenReport   `json:"open,omitempty"`
}

// Units of the per-round p99 metric of HTTP results.
const unitP99 = "p99-ns"

func (r *Report) benchResult(ep EndpointReport, name string) results.Benchmark {
	l := ep.Latency
	b := results.Benchmark{
		Name:       name,
		Category:   ep.Category,
		Kind:       results.KindHTTP,
		Unit:       results.UnitNsPerOp,
		Iterations: ep.Requests,
		Labels: map[string]string{
			"method":   ep.Method,
			"url":      ep.URL,
			"phase":    ep.Phase,
			"scenario": r.Scenario,
			"model":    string(r.Load.Model),
			"protocol": r.Protocol,
		},
	}
	if l.N > 0 {
		b.PerOp = &results.Distribution{N: l.N, Mean: float64(l.Mean), P50: float64(l.P50), P90: float64(l.P90),
			P95: float64(l.P95), P99: float64(l.P99), P999: float64(l.P999), Max: float64(l.Max)}
	}
	var med, p99, rate, errRate, toRate, avail []float64
	for _, rd := range ep.Rounds {
		if rd.LatencyN > 0 {
			med = append(med, float64(rd.P50))
			p99 = append(p99, float64(rd.P99))
		}
		if rd.Requests > 0 {
			errRate = append(errRate, rd.ErrorRate)
			toRate = append(toRate, rd.TimeoutRate)
			avail = append(avail, rd.Availability)
		}
		rate = append(rate, rd.Rate)
	}
	if len(med) > 0 {
		b.Samples = med
		b.Stats, b.Warnings = results.Summarize(med)
	} else if l.N > 0 {
		// Measured once (setup steps): the distribution of its requests.
		b.Stats = results.Stats{N: 1, Mean: float64(l.Mean), Median: float64(l.P50), Min: float64(l.Min), Max: float64(l.Max),
			P50: float64(l.P50), P95: float64(l.P95), P99: float64(l.P99)}
	}
	if ep.Phase != "setup" && len(ep.Rounds) > len(med) && len(med) > 0 {
		b.Warnings = append(b.Warnings, fmt.Sprintf("%d of %d rounds had no response for this endpoint; its samples are the other %d", len(ep.Rounds)-len(med), len(ep.Rounds), len(med)))
	}
	if ep.Requests > 0 {
		if ep.Phase != "setup" {
			b.Metrics = append(b.Metrics, results.Metric{Unit: results.UnitReqPerSec, Value: ep.Rate, Samples: rate, Better: results.BetterHigher})
		}
		b.Metrics = append(b.Metrics,
			results.Metric{Unit: results.UnitErrorRate, Value: ep.ErrorRate, Samples: errRate},
			results.Metric{Unit: results.UnitTimeoutRate, Value: ep.TimeoutRate, Samples: toRate},
			results.Metric{Unit: results.UnitAvailable, Value: ep.Availability, Samples: avail, Better: results.BetterHigher})
	}
	if l.N > 0 {
		b.Metrics = append(b.Metrics,
			results.Metric{Unit: unitP99, Value: float64(l.P99), Samples: p99},
			results.Metric{Unit: results.UnitP90, Value: float64(l.P90)},
			results.Metric{Unit: results.UnitP999, Value: float64(l.P999)})
	}
	if ep.ServiceTime != nil && ep.ServiceTime.N > 0 {
		b.Metrics = append(b.Metrics, results.Metric{Unit: "service-p99-ns", Value: float64(ep.ServiceTime.P99)})
	}
	if r.Open != nil && ep.Phase != "setup" {
		if r.Open.SendLag.N > 0 {
			b.Metrics = append(b.Metrics, results.Metric{Unit: "send-lag-p99-ns", Value: float64(r.Open.SendLag.P99)})
		}
		b.Labels["rate"] = strconv.FormatFloat(r.Load.Rate, 'g', -1, 64)
	}
	b.Labels["concurrency"] = strconv.Itoa(r.Load.Concurrency)
	kinds := make([]string, 0, len(ep.ErrorKinds))
	for k, n := range ep.ErrorKinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	switch {
	case ep.Requests == 0 && ep.Phase == "setup":
	case ep.Requests == 0:
		b.Error = "no request completed"
		if len(r.Setup) > 0 && r.setupFailed() {
			b.Error += " (the setup failed, see " + r.Scenario + "/setup)"
		}
	case l.N == 0:
		b.Error = fmt.Sprintf("no response: all %d requests failed (%s)", ep.Requests, strings.Join(kinds, ", "))
	}
	if ep.ErrorRate > 0 && l.N > 0 {
		b.Warnings = append(b.Warnings, fmt.Sprintf("%d of %d requests failed (%s)", ep.Errors, ep.Requests, strings.Join(kinds, ", ")))
	}
	if r.Open != nil && r.Open.Saturated {
		b.Warnings = append(b.Warnings, "generator saturated")
	}
	detail := struct {
		EndpointReport
		Run runInfo `json:"run"`
	}{ep, runInfo{Scenario: r.Scenario, Protocol: r.Protocol, Engine: r.Engine, Load: r.Load, Timeout: r.Timeout, Elapsed: r.Elapsed, Rounds: r.Rounds, Open: r.Open}}
	if raw, err := json.Marshal(detail); err == nil {
		b.Detail = raw
	}
	return b
}

// setupFailed reports whether a setup step ended in an error.
func (r *Report) setupFailed() bool {
	for _, s := range r.Setup {
		if s.Errors > 0 && s.Errors == s.Requests {
			return true
		}
	}
	return false
}

// UnmarshalJSON reads the encoding of [Targets.MarshalJSON].
func (t *Targets) UnmarshalJSON(b []byte) error {
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*t = Targets{}
	fields := t.byName()
	for k, v := range m {
		p, ok := fields[k]
		if !ok {
			return fmt.Errorf("unknown latency target %q", k)
		}
		*p = time.Duration(v)
	}
	return nil
}
