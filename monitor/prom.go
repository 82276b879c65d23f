package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// HTTPOptions configures the sources that read a target over HTTP
// ([AgentSource], [PrometheusSource]). The zero value means the defaults.
type HTTPOptions struct {
	// Client sends the requests. Default: a client of the source's own
	// whose idle connections Close releases; a caller's client is left
	// alone.
	Client *http.Client
	// Timeout bounds each request (a scrape, a status read, a capture
	// request gets 3× as long). Default [DefaultHTTPTimeout]; negative is
	// an error.
	Timeout time.Duration
	// Token, when set, is sent as "Authorization: Bearer <Token>" on every
	// request: the agent requires it on /debug/ endpoints when it was
	// started with PERFAGENT_DEBUG_TOKEN (always needed for agents on
	// non-loopback addresses), and protected Prometheus endpoints accept it
	// the same way.
	Token string
	// MaxBytes bounds a response body; a larger exposition is a failed
	// read, not a truncated one. Default [DefaultMaxBytes].
	MaxBytes int64
	// Now is the clock that stamps readings. Default time.Now.
	Now func() time.Time
}

// Defaults of [HTTPOptions].
const (
	DefaultHTTPTimeout       = 10 * time.Second
	DefaultMaxBytes    int64 = 32 << 20
)

func (o HTTPOptions) withDefaults() (HTTPOptions, error) {
	if o.Timeout < 0 || o.MaxBytes < 0 {
		return o, errors.New("monitor: negative HTTP timeout or size limit")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultHTTPTimeout
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// parseHTTPURL checks a target URL and returns it with a redacted form for
// files and messages (user information would otherwise leak into
// reports).
func parseHTTPURL(raw, what string) (*url.URL, string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, "", fmt.Errorf("%s %q: %w", what, raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("%s %q: want an http:// or https:// URL with a host", what, u.Redacted())
	}
	return u, u.Redacted(), nil
}

// scraper reads a Prometheus exposition over HTTP.
type scraper struct {
	o      HTTPOptions
	client *http.Client
	own    bool // client is ours: close its idle connections on Close
}

func newScraper(o HTTPOptions) (*scraper, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &scraper{o: o, client: o.Client}
	if s.client == nil {
		s.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		s.own = true
	}
	return s, nil
}

func (s *scraper) close() {
	if s.own {
		s.client.CloseIdleConnections()
	}
}

// do sends a request with the token and timeout and returns the response
// with its body limited to MaxBytes; the caller closes it.
func (s *scraper) do(ctx context.Context, method, u, redacted, accept string, timeout time.Duration) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("%s %s: %w", method, redacted, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if s.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.o.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("%s %s: %w", method, redacted, unwrapURLError(err))
	}
	resp.Body = &limitedBody{rc: resp.Body, left: s.o.MaxBytes, limit: s.o.MaxBytes, url: redacted}
	return resp, cancel, nil
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// method and URL the caller already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// limitedBody fails a read that goes past the size limit instead of
// silently truncating.
type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
	url         string
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe for one more byte: exactly the limit is fine.
		var one [1]byte
		if n, _ := l.rc.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("response from %s is larger than the %d-byte limit", l.url, l.limit)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }

// statusError describes an unexpected HTTP status with the first line of
// the body, which carries the server's explanation.
func statusError(method, u string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := strings.TrimSpace(string(b))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if msg != "" {
		msg = ": " + msg
	}
	return fmt.Errorf("%s %s: %s%s", method, u, resp.Status, msg)
}

// acceptExposition asks for the Prometheus text format, which every
// exporter speaks and which always carries classic histogram buckets.
const acceptExposition = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// scrape reads the exposition at u into r.
func (s *scraper) scrape(ctx context.Context, u, redacted string, r *Reading) (exposition, error) {
	resp, cancel, err := s.do(ctx, http.MethodGet, u, redacted, acceptExposition, s.o.Timeout)
	if err != nil {
		return exposition{}, err
	}
	defer cancel()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return exposition{}, statusError("GET", redacted, resp)
	}
	fams, err := decodeFamilies(resp.Body, expfmt.ResponseFormat(resp.Header))
	if err != nil {
		return exposition{}, fmt.Errorf("GET %s: %w", redacted, err)
	}
	r.Time = s.o.Now()
	return fillReading(fams, r), nil
}

// maxFamilies bounds the metric families kept from one exposition.
const maxFamilies = 100000

// decodeFamilies parses an exposition (Prometheus text, or delimited
// protobuf when the server chose it) with the Prometheus exposition parser.
func decodeFamilies(r io.Reader, format expfmt.Format) (map[string]*dto.MetricFamily, error) {
	if format == expfmt.FmtUnknown {
		format = expfmt.NewFormat(expfmt.TypeTextPlain)
	}
	dec := expfmt.NewDecoder(r, format)
	fams := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return fams, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parsing the exposition: %w", err)
		}
		if len(fams) >= maxFamilies {
			return nil, fmt.Errorf("parsing the exposition: more than %d metric families", maxFamilies)
		}
		fams[mf.GetName()] = mf
	}
}

// exposition is what an exposition says about the target itself.
type exposition struct {
	service string // service_name of target_info
	pid     int    // process_pid of target_info
}

// The exposition metrics each series is read from, in order of preference:
// the OpenTelemetry semantic-convention names perfagent's agent exports
// first, then client_golang's Go and process collectors.
func gaugeNames(s Series) []string {
	switch s {
	case RSS:
		return []string{"process_memory_usage_bytes", "process_resident_memory_bytes"}
	case Heap:
		return []string{"perfagent_go_memory_heap_live_bytes", "go_memstats_heap_alloc_bytes"}
	case HeapGoal:
		return []string{"go_memory_gc_goal_bytes", "go_gc_heap_goal_bytes", "go_memstats_next_gc_bytes"}
	case Goroutines:
		return []string{"go_goroutine_count", "go_goroutines"}
	case Threads:
		return []string{"process_thread_count", "go_threads"}
	case FDs:
		return []string{"process_unix_file_descriptor_count", "process_open_fds"}
	case GCCPU:
		return []string{"perfagent_go_gc_cpu_fraction", "go_memstats_gc_cpu_fraction"}
	}
	return nil
}

func cpuNames() []string {
	return []string{"process_cpu_time_seconds_total", "process_cpu_seconds_total"}
}

// gcNames: go_gc_duration_seconds is client_golang's summary of GC pauses,
// whose count is the number of completed cycles.
func gcNames() []string {
	return []string{"go_memory_gc_cycles_total", "go_gc_cycles_total_gc_cycles_total", "go_gc_duration_seconds"}
}

func schedNames() []string {
	return []string{"go_schedule_duration_seconds", "go_sched_latencies_seconds"}
}

// family returns the first of names present, also under the name without
// "_total" (how OpenMetrics-style parsers name counter families).
func family(fams map[string]*dto.MetricFamily, names []string) (*dto.MetricFamily, string) {
	for _, n := range names {
		if mf := fams[n]; mf != nil && len(mf.GetMetric()) > 0 {
			return mf, n
		}
		if base, ok := strings.CutSuffix(n, "_total"); ok {
			if mf := fams[base]; mf != nil && len(mf.GetMetric()) > 0 {
				return mf, base
			}
		}
	}
	return nil, ""
}

// scalar returns the value of a gauge, counter or untyped metric, or the
// count of a summary or histogram.
func scalar(m *dto.Metric) (float64, bool) {
	var v float64
	switch {
	case m.GetGauge() != nil:
		v = m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		v = m.GetCounter().GetValue()
	case m.GetUntyped() != nil:
		v = m.GetUntyped().GetValue()
	case m.GetSummary() != nil:
		v = float64(m.GetSummary().GetSampleCount())
	case m.GetHistogram() != nil:
		v = float64(m.GetHistogram().GetSampleCount())
		if f := m.GetHistogram().SampleCountFloat; f != nil {
			v = *f
		}
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// sum adds the values of every series of the family: the CPU modes of
// process_cpu_time_seconds_total, for example. An endpoint is expected to
// describe one process; several label sets of a gauge are summed too.
func sum(mf *dto.MetricFamily) (float64, bool) {
	var total float64
	found := false
	for _, m := range mf.GetMetric() {
		if v, ok := scalar(m); ok {
			total += v
			found = true
		}
	}
	return total, found
}

// fillReading reads the series out of the parsed families into r.
func fillReading(fams map[string]*dto.MetricFamily, r *Reading) exposition {
	for s := Series(0); s < NumSeries; s++ {
		if mf, name := family(fams, gaugeNames(s)); mf != nil {
			if v, ok := sum(mf); ok && v >= 0 {
				r.Gauges.Set(s, v)
				r.Origins[s] = name
			}
		}
	}
	// Note: the agent's live heap is 0 until the first GC cycle has marked
	// the heap: that is "not known yet", not an empty heap.
	if v, ok := r.Gauges.Get(Heap); ok && v == 0 && r.Origins[Heap] == "perfagent_go_memory_heap_live_bytes" {
		r.Gauges.Set(Heap, math.NaN())
		r.Origins[Heap] = ""
	}
	if mf, name := family(fams, cpuNames()); mf != nil {
		if v, ok := sum(mf); ok && v >= 0 {
			r.CPUSeconds, r.HasCPU = v, true
			r.Origins[CPU] = name
		}
	}
	if mf, name := family(fams, gcNames()); mf != nil {
		if v, ok := sum(mf); ok && v >= 0 {
			r.GCCycles, r.HasGC = v, true
			r.Origins[GCRate] = name
		}
	}
	if mf, name := family(fams, schedNames()); mf != nil {
		if readHistogram(mf, &r.Sched) {
			r.Origins[SchedLagP99] = name
		}
	}
	var x exposition
	if mf := fams["target_info"]; mf != nil && len(mf.GetMetric()) > 0 {
		for _, l := range mf.GetMetric()[0].GetLabel() {
			switch l.GetName() {
			case "service_name":
				x.service = l.GetValue()
			case "process_pid":
				if pid, err := strconv.Atoi(l.GetValue()); err == nil && pid > 0 {
					x.pid = pid
				}
			}
		}
	}
	return x
}

// maxBuckets bounds the histogram buckets kept from a target.
const maxBuckets = 1024

// readHistogram copies the first classic histogram of the family into h
// (with a +Inf bucket holding the total), or leaves h empty and returns
// false when the family holds none or it is malformed.
func readHistogram(mf *dto.MetricFamily, h *Histogram) bool {
	h.Bounds, h.Counts = h.Bounds[:0], h.Counts[:0]
	for _, m := range mf.GetMetric() {
		ph := m.GetHistogram()
		if ph == nil || len(ph.GetBucket()) == 0 || len(ph.GetBucket()) > maxBuckets {
			continue
		}
		for _, b := range ph.GetBucket() {
			ub := b.GetUpperBound()
			if math.IsInf(ub, 1) {
				continue
			}
			c := float64(b.GetCumulativeCount())
			if b.CumulativeCountFloat != nil {
				c = b.GetCumulativeCountFloat()
			}
			h.Bounds = append(h.Bounds, ub)
			h.Counts = append(h.Counts, c)
		}
		total, _ := scalar(m)
		h.Bounds = append(h.Bounds, math.Inf(1))
		h.Counts = append(h.Counts, total)
		if h.valid() {
			return true
		}
		h.Bounds, h.Counts = h.Bounds[:0], h.Counts[:0]
	}
	return false
}

// PrometheusSource reads any Prometheus exposition endpoint. It recognises
// the OpenTelemetry semantic-convention names perfagent's agent exports
// (process_cpu_time_seconds_total, process_memory_usage_bytes,
// go_goroutine_count, go_schedule_duration_seconds, ...) and client_golang's
// (process_cpu_seconds_total, process_resident_memory_bytes, go_goroutines,
// go_memstats_heap_alloc_bytes, go_sched_latencies_seconds, ...); a series
// neither exposes is left out. The exposition is parsed with
// github.com/prometheus/common/expfmt.
type PrometheusSource struct {
	u, redacted string
	sc          *scraper

	mu     sync.Mutex
	target Target
}

var _ Source = (*PrometheusSource)(nil)

// NewPrometheusSource returns a source reading the exposition at metricsURL
// (the full URL, e.g. http://localhost:9090/metrics). It does not contact
// the target; the first Read does.
func NewPrometheusSource(metricsURL string, o HTTPOptions) (*PrometheusSource, error) {
	u, red, err := parseHTTPURL(metricsURL, "metrics URL")
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	sc, err := newScraper(o)
	if err != nil {
		return nil, err
	}
	return &PrometheusSource{u: u.String(), redacted: red, sc: sc,
		target: Target{Kind: KindPrometheus, Name: u.Host, URL: red}}, nil
}

// Target describes the endpoint.
func (p *PrometheusSource) Target() Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// Read scrapes the endpoint once.
func (p *PrometheusSource) Read(ctx context.Context, r *Reading) error {
	x, err := p.sc.scrape(ctx, p.u, p.redacted, r)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if x.pid > 0 {
		p.target.PID = x.pid
	}
	p.mu.Unlock()
	return nil
}

// Close releases idle connections of the source's own HTTP client.
func (p *PrometheusSource) Close() error {
	p.sc.close()
	return nil
}
