package load

import (
	"math"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry. Latencies are recorded in nanoseconds from 1 ns to one
// hour with 3 significant digits (0.1% relative precision), so percentiles
// are within 0.1% of the exact order statistics; values above an hour are
// clamped to an hour. Phase and per-second histograms use 2 digits (1%).
// Memory is fixed by the geometry, whatever the run's length.
const (
	histMax      = int64(time.Hour)
	histDigits   = 3
	coarseDigits = 2
)

func newHist() *hdrhistogram.Histogram   { return hdrhistogram.New(1, histMax, histDigits) }
func newCoarse() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, coarseDigits) }

// record adds d to h, clamped to the histogram's range.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(int64(clamp(d))) // cannot fail within the range
}

// clamp returns d within the histograms' range.
func clamp(d time.Duration) time.Duration {
	return min(max(d, 0), time.Duration(histMax))
}

// errKind classifies a failed request.
type errKind uint8

const (
	errNone     errKind = iota
	errStatus           // a response with a status not expected
	errTimeout          // no full response within the timeout
	errDNS              // the host name did not resolve
	errRefused          // connection refused
	errConnect          // other connection failures (unreachable, ...)
	errTLS              // TLS handshake or certificate failure
	errReset            // connection reset by the peer
	errEOF              // connection closed before a full response
	errProtocol         // malformed HTTP response
	errOther            // anything else
	numErrKinds

	// errCanceled marks a request aborted by the run's context; it is
	// counted apart and is neither a success nor a failure.
	errCanceled errKind = 255
)

func (k errKind) String() string {
	if k == errCanceled {
		return "canceled"
	}
	return [numErrKinds]string{"", "status", "timeout", "dns", "connect-refused", "connect", "tls", "reset", "eof", "protocol", "other"}[k]
}

// Request phases timed per request. DNS, connect and TLS happen only on new
// connections.
const (
	phaseDNS = iota
	phaseConnect
	phaseTLS
	phaseTTFB // request written → first response byte
	phaseBody // first response byte → last body byte
	numPhases
)

func phaseName(p int) string {
	return [numPhases]string{"dns", "connect", "tls", "ttfb", "body"}[p]
}

// statusSet is a set of HTTP status codes 0-639.
type statusSet [10]uint64

func (s *statusSet) add(c int) {
	if c >= 0 && c < 640 {
		s[c/64] |= 1 << (c % 64)
	}
}

func (s *statusSet) has(c int) bool { return c >= 0 && c < 640 && s[c/64]&(1<<(c%64)) != 0 }

func newStatusSet(codes []int) statusSet {
	var s statusSet
	if len(codes) == 0 {
		for c := 100; c < 400; c++ {
			s.add(c)
		}
	}
	for _, c := range codes {
		s.add(c)
	}
	return s
}

// counts are one endpoint's counters.
type counts struct {
	requests  int64 // completed (response or failure), not canceled
	canceled  int64
	errors    int64 // every failure, status errors included
	timeouts  int64
	clientErr int64 // unexpected status below 500 (not a server-side failure)
	reauth    int64 // 401 answers that refreshed the setup variables
	late      int64 // open model: sent later than LateAfter
	genLate   int64 // open model: late although a connection was free
	bytesIn   int64 // response body bytes
	bytesOut  int64 // request body bytes
	wireIn    int64 // response bytes on the wire (HTTP/1.1 engine)
	wireOut   int64 // request bytes on the wire (HTTP/1.1 engine)
	status    [600]int64
	errKinds  [numErrKinds]int64
}

func (c *counts) add(o *counts) {
	c.requests += o.requests
	c.canceled += o.canceled
	c.errors += o.errors
	c.timeouts += o.timeouts
	c.clientErr += o.clientErr
	c.reauth += o.reauth
	c.late += o.late
	c.genLate += o.genLate
	c.bytesIn += o.bytesIn
	c.bytesOut += o.bytesOut
	c.wireIn += o.wireIn
	c.wireOut += o.wireOut
	for i := range c.status {
		c.status[i] += o.status[i]
	}
	for i := range c.errKinds {
		c.errKinds[i] += o.errKinds[i]
	}
}

// errKindsByName returns the non-zero error kind counts by name, nil when
// there are none.
func (c *counts) errKindsByName() map[string]int64 {
	var m map[string]int64
	for k, n := range c.errKinds {
		if n > 0 {
			if m == nil {
				m = map[string]int64{}
			}
			m[errKind(k).String()] = n
		}
	}
	return m
}

// epStats is one endpoint's measurements in one shard.
type epStats struct {
	counts
	// latency holds the latencies (from the intended send in the open
	// model, the actual send in the closed one) since the current round
	// began: closing a round moves them into the engine's totals.
	latency  *hdrhistogram.Histogram
	service  *hdrhistogram.Histogram // open model: from the actual send; nil otherwise
	phases   [numPhases]*hdrhistogram.Histogram
	interval *hdrhistogram.Histogram // latencies of the current series interval
	// classes are the latencies by status class (shard runs only, else
	// nil): 1xx to 5xx, then requests without a status (timeouts).
	classes []*hdrhistogram.Histogram
	iv      intervalCounts
	rc      roundCounts
	samples errSamples
}

type intervalCounts struct{ requests, errors, timeouts int64 }

// roundCounts are one endpoint's counters over the current round.
type roundCounts struct{ requests, errors, timeouts, clientErr int64 }

func (r *roundCounts) add(o roundCounts) {
	r.requests += o.requests
	r.errors += o.errors
	r.timeouts += o.timeouts
	r.clientErr += o.clientErr
}

// maxStatsBytes bounds the histograms' memory when choosing the number of
// shards (one shard is always used).
const maxStatsBytes = 128 << 20

// epStatsBytes is the approximate size of one epStats.
func epStatsBytes(open bool) int {
	n := 2*32*1024*8 + (1+numPhases)*4*1024*8 // latency (+ service), interval and phases
	if !open {
		n -= 32 * 1024 * 8
	}
	return n
}

// Status classes of epStats.classes.
const numClasses = 6

func className(c int) string {
	return [numClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx", "none"}[c]
}

// statusClass returns the class index of a response status (0 for none).
func statusClass(status int) int {
	if status >= 100 && status < 600 {
		return status/100 - 1
	}
	return numClasses - 1
}

func newEpStats(open, classes bool) *epStats {
	s := &epStats{latency: newHist(), interval: newCoarse()}
	if open {
		s.service = newHist()
	}
	if classes {
		for range numClasses {
			s.classes = append(s.classes, newCoarse())
		}
	}
	for i := range s.phases {
		s.phases[i] = newCoarse()
	}
	return s
}

// errSamples keeps the first few distinct error messages.
type errSamples struct {
	msgs []string
}

const maxErrSamples = 5

func (e *errSamples) add(msg string) {
	if len(e.msgs) >= maxErrSamples {
		return
	}
	for _, m := range e.msgs {
		if m == msg {
			return
		}
	}
	e.msgs = append(e.msgs, msg)
}

// shard holds the measurements of a group of workers; workers of one shard
// share its mutex, so recording never contends across shards.
type shard struct {
	mu      sync.Mutex
	eps     []*epStats
	sendLag *hdrhistogram.Histogram // open model: actual send − intended
	genLag  *hdrhistogram.Histogram // open model: send lag of requests sent with a connection free
}

// outcome is what a worker records for one logical request.
type outcome struct {
	latency, service time.Duration
	hasLatency       bool
	sendLag          time.Duration
	open             bool
	late, genLate    bool
	free             bool // open model: a connection was free when the request became due
	a                *attempt
	reauth           bool
}

// add records one request in the shard. It is the per-request hot path:
// no allocation unless an error message is new.
func (sh *shard) add(ep int, o *outcome, expect *statusSet) {
	a := o.a
	sh.mu.Lock()
	s := sh.eps[ep]
	if a.kind == errCanceled {
		s.canceled++
		sh.mu.Unlock()
		return
	}
	s.requests++
	s.iv.requests++
	s.rc.requests++
	if o.reauth {
		s.reauth++
	}
	if o.open {
		record(sh.sendLag, o.sendLag)
		if o.free {
			record(sh.genLag, o.sendLag)
		}
		if o.late {
			s.late++
		}
		if o.genLate {
			s.genLate++
		}
	}
	s.bytesIn += a.bodyIn
	s.bytesOut += a.bodyOut
	s.wireIn += a.wireIn
	s.wireOut += a.wireOut
	kind := a.kind
	if kind == errNone && !expect.has(a.status) {
		kind = errStatus
	}
	if a.status > 0 && a.status < len(s.status) {
		s.status[a.status]++
	}
	if kind != errNone {
		s.errors++
		s.iv.errors++
		s.rc.errors++
		s.errKinds[kind]++
		if kind == errStatus && a.status < 500 {
			s.clientErr++
			s.rc.clientErr++
		}
		if kind == errTimeout {
			s.timeouts++
			s.iv.timeouts++
			s.rc.timeouts++
		}
		if a.err != nil {
			s.samples.add(kind.String() + ": " + a.err.Error())
		}
	}
	if o.hasLatency {
		record(s.latency, o.latency)
		record(s.interval, o.latency)
		if s.service != nil {
			record(s.service, o.service)
		}
		if s.classes != nil {
			record(s.classes[statusClass(a.status)], o.latency)
		}
		if a.newConn {
			record(s.phases[phaseDNS], a.dns)
			record(s.phases[phaseConnect], a.connect)
			if a.tls > 0 {
				record(s.phases[phaseTLS], a.tls)
			}
		}
		if a.gotFirstByte {
			record(s.phases[phaseTTFB], a.ttfb)
			record(s.phases[phaseBody], a.body)
		}
	}
	sh.mu.Unlock()
}

// Summary describes a latency distribution; durations are in nanoseconds in
// JSON. Percentiles come from an HDR histogram with 3 significant digits
// (2 for phases and series), so they are within 0.1% (1%) of the exact
// order statistic.
type Summary struct {
	N      int64         `json:"n"`
	Min    time.Duration `json:"min_ns"`
	Mean   time.Duration `json:"mean_ns"`
	Stddev time.Duration `json:"stddev_ns"`
	P50    time.Duration `json:"p50_ns"`
	P90    time.Duration `json:"p90_ns"`
	P95    time.Duration `json:"p95_ns"`
	P99    time.Duration `json:"p99_ns"`
	P999   time.Duration `json:"p99.9_ns"`
	Max    time.Duration `json:"max_ns"`
	// Outliers counts values outside the Tukey fences (1.5 IQR beyond the
	// quartiles), to histogram precision. It is computed for request
	// latency only (zero in phases, service time and send lag).
	Outliers int64 `json:"outliers,omitempty"`
}

// summarize summarises h without outliers; summarizeOutliers adds them
// (a full scan of the histogram, a few milliseconds).
func summarize(h *hdrhistogram.Histogram) Summary {
	if h == nil || h.TotalCount() == 0 {
		return Summary{}
	}
	q := func(p float64) time.Duration { return time.Duration(h.ValueAtPercentile(p)) }
	s := Summary{
		N:      h.TotalCount(),
		Min:    time.Duration(h.Min()),
		Mean:   time.Duration(math.Round(h.Mean())),
		Stddev: time.Duration(math.Round(h.StdDev())),
		P50:    q(50),
		P90:    q(90),
		P95:    q(95),
		P99:    q(99),
		P999:   q(99.9),
		Max:    time.Duration(h.Max()),
	}
	return s
}

func summarizeOutliers(h *hdrhistogram.Histogram) Summary {
	s := summarize(h)
	if s.N == 0 {
		return s
	}
	q1, q3 := float64(h.ValueAtPercentile(25)), float64(h.ValueAtPercentile(75))
	lo, hi := q1-1.5*(q3-q1), q3+1.5*(q3-q1)
	for _, b := range h.Distribution() {
		if b.Count > 0 && (float64(b.To) < lo || float64(b.From) > hi) {
			s.Outliers += b.Count
		}
	}
	return s
}

// merged returns the sum of hs (nil entries skipped), or nil when all are nil.
func merged(hs []*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	var out *hdrhistogram.Histogram
	for _, h := range hs {
		if h == nil {
			continue
		}
		if out == nil {
			out = hdrhistogram.New(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures()))
		}
		out.Merge(h)
	}
	return out
}
