package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Engine selects the HTTP client of the measured traffic.
type Engine string

const (
	// EngineAuto uses the lean HTTP/1.1 client (one keep-alive connection
	// per worker, no allocation per request) unless the scenario asks for
	// HTTP/2 or a proxy from the environment applies to the target, in
	// which case net/http is used.
	EngineAuto Engine = ""
	// EngineNetHTTP always uses net/http (with httptrace phase timing).
	EngineNetHTTP Engine = "net/http"
)

// Options tune a [Run]. The zero value runs the scenario as written.
type Options struct {
	// Load overrides the scenario's load field by field (a zero field
	// keeps the scenario's value); Duration and Requests are one bound
	// together: setting either replaces both.
	Load Load
	// Timeout, when positive, overrides the scenario's request timeout.
	Timeout time.Duration
	// Engine selects the HTTP client; see [Engine].
	Engine Engine
	// TLSConfig, when set, is the base TLS configuration (custom roots,
	// client certificates); it is cloned, never modified.
	TLSConfig *tls.Config
	// Rounds cuts the measured phase into this many consecutive rounds of
	// equal length (Duration/Rounds; for a run bounded only by Requests,
	// Requests/Rounds completed requests), each driving the whole scenario
	// mix. Every request belongs to the round in which it completed; the
	// report gives each endpoint's figures per round ([EndpointReport].Rounds),
	// which are the independent replications that comparisons test. A run
	// stopped early has fewer rounds. Default 1; at most [MaxRounds]; a
	// duration-bounded round must last at least [MinRoundLength].
	Rounds int
	// Seed makes the random choice of endpoints repeatable; workers draw
	// from PCG streams seeded with (Seed, shard index << 32 | worker
	// index), so the shards of a run draw independent streams.
	Seed uint64
	// LateAfter is the open model's lateness threshold: a request sent
	// more than LateAfter after its intended time is late. Default 5ms.
	LateAfter time.Duration
	// Progress, when set, is called every ProgressInterval (default 1s)
	// and once at the end, from one goroutine at a time. It must return
	// quickly; the library never prints.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// Now is the clock of every measurement (default time.Now). Tests
	// inject one; timers (duration, pacing, series) use real time, so the
	// open model needs Now to follow real time.
	Now func() time.Time
	// Shard runs one shard of a run split across several generators (see
	// [Shard]); the zero value runs the whole scenario. A shard's [Report]
	// carries its lossless [ShardResult] for [MergeShards].
	Shard Shard
	// StartAt, when set, is the start of the measured phase shared by
	// every shard: after its setup the run waits until StartAt, and the
	// open model's schedule, the rounds and the duration bound all count
	// from it. A run whose setup ends after StartAt starts at once and
	// still measures from StartAt: requests whose intended time has
	// passed are sent at once, their latency counting from the intended
	// time, and the report says how late the start was
	// ([ShardInfo].StartLate). A StartAt more than the run's duration in
	// the past leaves nothing to measure: the run then ends at once.
	StartAt time.Time
	// OnRequest, when set, is called with every measured request right
	// after it was recorded, from the worker that sent it (so from many
	// goroutines at once); it must be safe for concurrent use and return
	// quickly. It sees exactly the values the histograms record.
	OnRequest func(RequestRecord)

	merging bool // the engine only reports merged shards
}

// Shard is one shard of a run split across Count generators. In the open
// model shard Index sends exactly the requests of the run's schedule whose
// index i satisfies i mod Count == Index (ramps included), so the shards'
// union is the run's arrival process; Load.Concurrency and Load.Requests
// are the run's totals, split like the closed model's users. In the closed
// model it runs its share of Load.Concurrency users (Concurrency/Count,
// the first Concurrency mod Count shards one more) and of Load.Requests
// likewise. Count 0 means no sharding.
type Shard struct {
	Index, Count int
}

// MaxShards bounds [Shard].Count.
const MaxShards = 10_000

// share returns shard index's part of total split in count parts, the
// remainder spread over the first shards.
func share(total int64, index, count int) int64 {
	n := total / int64(count)
	if int64(index) < total%int64(count) {
		n++
	}
	return n
}

// RequestRecord is one measured request as [Options.OnRequest] sees it.
type RequestRecord struct {
	// Endpoint is the index of the endpoint in Scenario.Endpoints.
	Endpoint int
	// Status is the response's status code, 0 when there was none.
	Status int
	// Intended is the open model's intended send time of the request
	// (its place in the schedule); zero in the closed model.
	Intended time.Time
	// HasLatency is true when the request got a response or timed out;
	// Latency is then what the latency histogram recorded (from the
	// intended send in the open model), clamped to its range.
	HasLatency bool
	Latency    time.Duration
}

// Progress is a snapshot of a running benchmark.
type Progress struct {
	Elapsed  time.Duration
	Duration time.Duration // the run's duration bound; 0 when unbounded
	Requests int64         // measured requests completed so far
	Limit    int64         // the run's request bound; 0 when unbounded
	Errors   int64
	// Fraction estimates how much of the run is done, in [0, 1].
	Fraction float64
	// Final is true for the last call, after the run ended.
	Final bool
}

// Defaults of Options.
const (
	DefaultLateAfter        = 5 * time.Millisecond
	DefaultProgressInterval = time.Second
	seriesInterval          = time.Second
	maxSeriesPoints         = 3600
	refreshBackoff          = time.Second
)

// ErrSetup is wrapped by the error [Run] returns when the setup phase
// failed before any measured request.
var ErrSetup = errors.New("setup failed")

// Run benchmarks the scenario and returns what it measured.
//
// The run ends when its duration or request bound is reached; requests in
// flight then complete (bounded by the timeout) and are counted. When ctx
// is cancelled, requests in flight are aborted (counted as canceled, not
// as errors) and Run returns the measurements so far with Report.Partial
// set and a nil error. Run returns an error for an invalid scenario or
// options (a nil Report), a failed setup phase (wrapping ErrSetup, with a
// Report holding the setup traffic) or a panic in a worker (with a
// Report). Failed requests are never errors of Run: they are counted by
// kind in the Report.
//
// Run may be called concurrently; it starts goroutines that have all
// exited when it returns.
func Run(ctx context.Context, s *Scenario, opts Options) (*Report, error) {
	e, err := newEngine(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	defer e.cancel()
	return e.run(ctx)
}

// endpointSpec is a compiled request.
type endpointSpec struct {
	name, category, method string
	path                   template
	headers                []headerTmpl
	body                   template
	expect                 statusSet
	usesAuth               bool // references a variable extracted by setup
	weight                 int
	targets                Targets
}

type headerTmpl struct {
	name string
	val  template
}

type stepSpec struct {
	endpointSpec
	extract []Extract
}

// renderSet holds the prepared requests for one generation of variables.
type renderSet struct {
	gen  uint64
	reqs []prepared
}

type token struct {
	at     time.Time
	waited bool // no worker was free when the request became due
}

type engine struct {
	s        *Scenario
	load     Load
	opts     Options
	budgets  Budgets
	now      func() time.Time
	cfg      clientConfig
	base     *url.URL
	protocol string
	useStd   bool
	hc       *http.Client
	tr       *http.Transport

	eps       []endpointSpec
	steps     []stepSpec
	cumWeight []int

	abort  context.Context
	cancel context.CancelFunc

	rendered atomic.Pointer[renderSet]

	authMu      sync.Mutex
	authClient  *stdClient
	setup       *shard
	lastFail    time.Time
	refreshes   int64
	refreshErrs []string

	shards  []*shard
	stopped atomic.Bool
	stopCh  chan struct{}
	stopMu  sync.Once
	issued  atomic.Int64
	start   time.Time
	stopAt  atomic.Int64 // offset from start when stop was first requested (ns)
	tokens  chan token
	pacer   pacerStats
	panicMu sync.Mutex
	panics  []string

	series      []seriesAcc
	totalSeries seriesAcc

	rounds    *rounds
	shard     Shard
	workers   int   // workers (users or connections) of this run or shard
	limit     int64 // measured requests this run or shard issues; 0 when unbounded by count
	late      time.Duration
	secs      [][]secPoint // per endpoint: the lossless series of a shard
	secStep   []int64      // per endpoint: seconds per point of secs
	merge     *mergeState  // set when the engine reports merged shards
	scenario  []byte       // the scenario as JSON, for a shard result
	completed atomic.Int64 // measured requests completed, counted when rounds are cut by count
	countCut  bool         // rounds are cut by completed requests, not by time
	cutMu     sync.Mutex   // orders closing rounds (and, when countCut, recording and counting)
	closed    atomic.Int32 // rounds closed so far
}

type pacerStats struct {
	dispatched, waited int64
	behind             time.Duration // longest stretch behind schedule
}

func newEngine(ctx context.Context, s *Scenario, opts Options) (*engine, error) {
	if s == nil {
		return nil, errors.New("load: nil scenario")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	l := opts.Load.merge(s.Load).withDefaults()
	var lerrs []*ScenarioError
	l.validateRun(func(field, format string, args ...any) {
		lerrs = append(lerrs, &ScenarioError{Field: field, Msg: fmt.Sprintf(format, args...)})
	})
	if opts.Timeout < 0 || opts.LateAfter < 0 || opts.ProgressInterval < 0 {
		lerrs = append(lerrs, &ScenarioError{Field: "options", Msg: "Timeout, LateAfter and ProgressInterval must not be negative"})
	}
	switch {
	case opts.Rounds < 0 || opts.Rounds > MaxRounds:
		lerrs = append(lerrs, &ScenarioError{Field: "options.rounds", Msg: fmt.Sprintf("must be between 1 and %d, got %d", MaxRounds, opts.Rounds)})
	case l.Duration > 0 && opts.Rounds > 1 && l.Duration/time.Duration(opts.Rounds) < MinRoundLength:
		lerrs = append(lerrs, &ScenarioError{Field: "options.rounds", Msg: fmt.Sprintf("%d rounds of a %v run last %v each; a round needs at least %v", opts.Rounds, l.Duration, l.Duration/time.Duration(opts.Rounds), MinRoundLength)})
	case l.Duration == 0 && l.Requests > 0 && int64(opts.Rounds) > l.Requests:
		lerrs = append(lerrs, &ScenarioError{Field: "options.rounds", Msg: fmt.Sprintf("%d rounds of %d requests leave rounds without a request", opts.Rounds, l.Requests)})
	}
	sh := opts.Shard
	switch {
	case sh.Count < 0 || sh.Count > MaxShards:
		lerrs = append(lerrs, &ScenarioError{Field: "options.shard", Msg: fmt.Sprintf("the number of shards must be between 1 and %d, got %d", MaxShards, sh.Count)})
	case sh.Count > 0 && (sh.Index < 0 || sh.Index >= sh.Count):
		lerrs = append(lerrs, &ScenarioError{Field: "options.shard", Msg: fmt.Sprintf("shard index %d outside 0..%d", sh.Index, sh.Count-1)})
	case sh.Count > l.Concurrency:
		lerrs = append(lerrs, &ScenarioError{Field: "options.shard", Msg: fmt.Sprintf("%d shards need at least %d connections in all (load.concurrency is %d)", sh.Count, sh.Count, l.Concurrency)})
	case sh.Count > 0 && l.Requests > 0 && l.Requests < int64(sh.Count)*int64(max(opts.Rounds, 1)):
		lerrs = append(lerrs, &ScenarioError{Field: "options.shard", Msg: fmt.Sprintf("%d requests leave some of %d shards without a request per round", l.Requests, sh.Count)})
	}
	switch opts.Engine {
	case EngineAuto, EngineNetHTTP:
	default:
		lerrs = append(lerrs, &ScenarioError{Field: "options.engine", Msg: fmt.Sprintf("unknown engine %q", opts.Engine)})
	}
	if err := joinScenarioErrors(lerrs); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	e := &engine{s: s, load: l, opts: opts, now: opts.Now, stopCh: make(chan struct{}), shard: sh, workers: l.Concurrency, limit: l.Requests}
	if sh.Count > 0 {
		e.workers = int(share(int64(l.Concurrency), sh.Index, sh.Count))
		e.limit = share(l.Requests, sh.Index, sh.Count)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.opts.LateAfter == 0 {
		e.opts.LateAfter = DefaultLateAfter
	}
	if e.opts.ProgressInterval == 0 {
		e.opts.ProgressInterval = DefaultProgressInterval
	}
	e.budgets = DefaultBudgets()
	if s.Budgets != nil {
		e.budgets = *s.Budgets
	}
	e.base, _ = url.Parse(s.BaseURL) // validated
	timeout := s.Timeout
	if opts.Timeout > 0 {
		timeout = opts.Timeout
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	e.abort, e.cancel = context.WithCancel(ctx)
	e.cfg = clientConfig{
		scheme:   e.base.Scheme,
		host:     e.base.Host,
		hostname: e.base.Hostname(),
		timeout:  timeout,
		now:      e.now,
		abort:    e.abort,
	}
	port := e.base.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[e.base.Scheme]
	}
	e.cfg.addr = net.JoinHostPort(e.cfg.hostname, port)
	if e.base.Scheme == "https" {
		tc := &tls.Config{}
		if opts.TLSConfig != nil {
			tc = opts.TLSConfig.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = e.cfg.hostname
		}
		if s.InsecureSkipVerify {
			tc.InsecureSkipVerify = true
		}
		tc.NextProtos = []string{"http/1.1"}
		e.cfg.tls = tc
	}
	e.protocol = "HTTP/1.1"
	if s.HTTP2 {
		e.protocol = "HTTP/2"
	}
	proxied := false
	if pu, err := http.ProxyFromEnvironment(&http.Request{URL: e.base}); err == nil && pu != nil {
		proxied = true
	}
	e.useStd = opts.Engine == EngineNetHTTP || s.HTTP2 || proxied
	e.tr = newTransport(&e.cfg, s.HTTP2, e.workers+1)
	e.hc = newHTTPClient(e.tr)

	// Compile.
	extracted := map[string]bool{}
	for _, st := range s.Setup {
		sp := stepSpec{endpointSpec: compile(&st.Request, s.Headers, ""), extract: st.Extract}
		e.steps = append(e.steps, sp)
		for _, x := range st.Extract {
			extracted[x.Var] = true
		}
	}
	total := 0
	for _, ep := range s.Endpoints {
		sp := compile(&ep.Request, s.Headers, ep.Category)
		sp.weight = max(ep.Weight, 1)
		sp.targets = ep.Targets
		for _, v := range sp.vars() {
			if extracted[v] {
				sp.usesAuth = true
			}
		}
		total += sp.weight
		e.cumWeight = append(e.cumWeight, total)
		e.eps = append(e.eps, sp)
	}
	open := l.Model == ModelOpen
	// Note: a shard holds about epStatsBytes per endpoint whatever the
	// run's length; shards beyond GOMAXPROCS would only cost memory.
	perShard := len(e.eps) * epStatsBytes(open)
	nShards := max(1, min(e.workers, runtime.GOMAXPROCS(0), 8, maxStatsBytes/perShard))
	if opts.merging {
		nShards = 1
	}
	for range nShards {
		sh := &shard{}
		for range e.eps {
			sh.eps = append(sh.eps, newEpStats(open, e.keep()))
		}
		if open {
			sh.sendLag, sh.genLag = newCoarse(), newCoarse()
		}
		e.shards = append(e.shards, sh)
	}
	e.setup = &shard{}
	for range e.steps {
		e.setup.eps = append(e.setup.eps, newEpStats(false, false))
	}
	e.authClient = newStdClient(&e.cfg, e.hc)
	e.series = make([]seriesAcc, len(e.eps))
	for i := range e.series {
		e.series[i] = newSeriesAcc()
	}
	e.totalSeries = newSeriesAcc()
	e.rounds = newRounds(opts.Rounds, len(e.eps), e.keep())
	if e.keep() {
		e.secs = make([][]secPoint, len(e.eps))
		e.secStep = make([]int64, len(e.eps))
		for i := range e.secStep {
			e.secStep[i] = 1
		}
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("load: encoding the scenario: %w", err)
		}
		e.scenario = b
	}
	e.countCut = l.Duration == 0 && e.rounds.want > 1
	return e, nil
}

func compile(r *Request, common []Header, category string) endpointSpec {
	sp := endpointSpec{name: r.Name, method: r.Method, category: category, expect: newStatusSet(r.ExpectStatus)}
	if sp.method == "" {
		sp.method = http.MethodGet
	}
	if sp.category == "" {
		sp.category = inferCategory(r.Path)
	}
	sp.path, _ = parseTemplate(r.Path) // validated
	sp.body, _ = parseTemplate(r.Body)
	add := func(h Header) {
		t, _ := parseTemplate(h.Value)
		for i := range sp.headers {
			if strings.EqualFold(sp.headers[i].name, h.Name) {
				sp.headers[i].val = t
				return
			}
		}
		sp.headers = append(sp.headers, headerTmpl{name: h.Name, val: t})
	}
	for _, h := range common {
		add(h)
	}
	for _, h := range r.Headers {
		add(h)
	}
	return sp
}

func (sp *endpointSpec) vars() []string {
	vs := append(sp.path.vars(), sp.body.vars()...)
	for _, h := range sp.headers {
		vs = append(vs, h.val.vars()...)
	}
	return vs
}

// render prepares sp with vars.
func (e *engine) render(sp *endpointSpec, vars map[string]string) (prepared, error) {
	path, err := sp.path.expand(vars)
	if err != nil {
		return prepared{}, err
	}
	if strings.ContainsAny(path, " \t\r\n") {
		return prepared{}, fmt.Errorf("path %q contains white space after substitution", path)
	}
	target := strings.TrimSuffix(e.base.EscapedPath(), "/") + path
	body, err := sp.body.expand(vars)
	if err != nil {
		return prepared{}, err
	}
	p := prepared{
		method:     sp.method,
		url:        e.base.Scheme + "://" + e.base.Host + target,
		header:     http.Header{},
		body:       []byte(body),
		head:       sp.method == http.MethodHead,
		replayable: slices.Contains([]string{"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}, sp.method),
	}
	if _, err := url.Parse(p.url); err != nil {
		return prepared{}, fmt.Errorf("bad URL after substitution: %w", err)
	}
	var w bytes.Buffer
	w.WriteString(sp.method + " " + target + " HTTP/1.1\r\nHost: " + e.base.Host + "\r\n")
	hasUA := false
	for _, h := range sp.headers {
		v, err := h.val.expand(vars)
		if err != nil {
			return prepared{}, err
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return prepared{}, fmt.Errorf("header %s contains CR, LF or NUL after substitution", h.name)
		}
		if strings.EqualFold(h.name, "User-Agent") {
			hasUA = true
		}
		p.header.Add(h.name, v)
		w.WriteString(h.name + ": " + v + "\r\n")
	}
	if !hasUA {
		p.header.Set("User-Agent", userAgent)
		w.WriteString("User-Agent: " + userAgent + "\r\n")
	}
	if len(body) > 0 || sp.method == "POST" || sp.method == "PUT" || sp.method == "PATCH" {
		w.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	w.WriteString("\r\n")
	w.WriteString(body)
	p.wire = w.Bytes()
	return p, nil
}

const userAgent = "perfagent-load/1"

func (e *engine) renderAll(vars map[string]string, gen uint64) (*renderSet, error) {
	set := &renderSet{gen: gen, reqs: make([]prepared, len(e.eps))}
	for i := range e.eps {
		p, err := e.render(&e.eps[i], vars)
		if err != nil {
			return nil, fmt.Errorf("endpoint %q: %w", e.eps[i].name, err)
		}
		set.reqs[i] = p
	}
	return set, nil
}

// runSetup runs the setup steps and returns the variables. The caller
// holds authMu.
func (e *engine) runSetup() (map[string]string, error) {
	vars := make(map[string]string, len(e.s.Variables))
	for k, v := range e.s.Variables {
		vars[k] = v
	}
	var keep bytes.Buffer
	var a attempt
	for i := range e.steps {
		st := &e.steps[i]
		p, err := e.render(&st.endpointSpec, vars)
		if err != nil {
			return nil, fmt.Errorf("setup step %q: %w", st.name, err)
		}
		keep.Reset()
		hdr := e.authClient.doKeep(&p, &a, &keep)
		o := outcome{a: &a, latency: a.end.Sub(a.start), hasLatency: a.kind == errNone || a.kind == errTimeout}
		e.setup.add(i, &o, &st.expect)
		switch {
		case a.kind == errCanceled:
			return nil, fmt.Errorf("setup step %q: %w", st.name, context.Canceled)
		case a.kind != errNone:
			return nil, fmt.Errorf("setup step %q: %s %s: %s: %w", st.name, p.method, p.url, a.kind, a.err)
		case !st.expect.has(a.status):
			return nil, fmt.Errorf("setup step %q: %s %s: unexpected status %d: %s", st.name, p.method, p.url, a.status, snippet(keep.Bytes()))
		}
		for _, x := range st.extract {
			v, err := extract(x, hdr, keep.Bytes())
			if err != nil {
				return nil, fmt.Errorf("setup step %q: extract %s: %w", st.name, x.Var, err)
			}
			vars[x.Var] = v
		}
	}
	return vars, nil
}

func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return strconv.Quote(s)
}

// extract takes one value from a setup response.
func extract(x Extract, hdr http.Header, body []byte) (string, error) {
	if x.Header != "" {
		v := hdr.Get(x.Header)
		if v == "" {
			return "", fmt.Errorf("no header %s in the response", x.Header)
		}
		return v, nil
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("response is not JSON (%v): %s", err, snippet(body))
	}
	v, err := jsonPointer(doc, x.JSONPointer)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case nil:
		return "", fmt.Errorf("null at JSON pointer %s", x.JSONPointer)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
}

// jsonPointer resolves an RFC 6901 pointer in a decoded JSON document.
func jsonPointer(doc any, ptr string) (any, error) {
	if ptr == "" {
		return doc, nil
	}
	if ptr[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q does not start with '/'", ptr)
	}
	cur := doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("no member %q at JSON pointer %s", tok, ptr)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || (len(tok) > 1 && tok[0] == '0') {
				return nil, fmt.Errorf("no element %q at JSON pointer %s (array of %d)", tok, ptr, len(c))
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("JSON pointer %s goes through a %T", ptr, cur)
		}
	}
	return cur, nil
}

// refresh reruns the setup after a 401 on generation gen. It returns true
// when a newer generation of variables is available.
func (e *engine) refresh(gen uint64) bool {
	e.authMu.Lock()
	defer e.authMu.Unlock()
	cur := e.rendered.Load()
	if cur.gen != gen {
		return true
	}
	if !e.lastFail.IsZero() && time.Since(e.lastFail) < refreshBackoff {
		return false
	}
	vars, err := e.runSetup()
	var set *renderSet
	if err == nil {
		set, err = e.renderAll(vars, gen+1)
	}
	if err != nil {
		if e.abort.Err() == nil {
			e.lastFail = time.Now()
			if len(e.refreshErrs) < maxErrSamples {
				e.refreshErrs = append(e.refreshErrs, err.Error())
			}
		}
		return false
	}
	e.refreshes++
	e.rendered.Store(set)
	return true
}

func (e *engine) stop() {
	e.stopMu.Do(func() {
		e.stopAt.Store(int64(time.Since(e.start)))
		e.stopped.Store(true)
		close(e.stopCh)
	})
}

func (e *engine) recoverWorker() {
	if r := recover(); r != nil {
		buf := make([]byte, 4<<10)
		buf = buf[:runtime.Stack(buf, false)]
		e.panicMu.Lock()
		e.panics = append(e.panics, fmt.Sprintf("%v\n%s", r, buf))
		e.panicMu.Unlock()
		e.stop()
	}
}

func (e *engine) run(ctx context.Context) (*Report, error) {
	started := e.now()
	e.start = time.Now()
	e.authMu.Lock()
	vars, err := e.runSetup()
	var set *renderSet
	if err == nil {
		set, err = e.renderAll(vars, 1)
	}
	e.authMu.Unlock()
	if err != nil {
		rep := e.report(started, e.now(), ctx.Err() != nil)
		if ctx.Err() != nil {
			return rep, nil
		}
		return rep, fmt.Errorf("load: %w: %w", ErrSetup, err)
	}
	e.rendered.Store(set)

	// The measured phase starts after the setup, at StartAt when given.
	if at := e.opts.StartAt; !at.IsZero() {
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-e.abort.Done():
				t.Stop()
				return e.report(started, e.now(), true), nil
			}
		}
		// Note: the shared schedule is the origin even when this run is
		// late; the wall clock and Now differ only in tests.
		e.late = max(0, time.Since(at))
		e.start = at
		started = e.now().Add(-e.late)
	} else {
		started = e.now()
		e.start = time.Now()
	}
	e.rounds.begin = e.start
	stopAbort := context.AfterFunc(e.abort, e.stop)
	defer stopAbort()
	var durTimer *time.Timer
	if e.load.Duration > 0 && e.load.Model != ModelOpen {
		durTimer = time.AfterFunc(time.Until(e.start.Add(e.load.Duration)), e.stop)
		defer durTimer.Stop()
	}

	var wg sync.WaitGroup
	open := e.load.Model == ModelOpen
	if open {
		e.tokens = make(chan token)
	}
	for i := range e.workers {
		w := &worker{
			e:   e,
			sh:  e.shards[i%len(e.shards)],
			rng: rand.New(rand.NewPCG(e.opts.Seed, uint64(e.shard.Index)<<32|uint64(i))),
		}
		if e.useStd {
			w.c = newStdClient(&e.cfg, e.hc)
		} else {
			w.c = newH1Client(&e.cfg)
		}
		wg.Go(w.run)
	}
	if open {
		wg.Go(e.pace)
	}
	collectorDone := make(chan struct{})
	collectorExited := make(chan struct{})
	go e.collect(collectorDone, collectorExited)
	wg.Wait()
	finished := e.now()
	close(collectorDone)
	<-collectorExited
	end := time.Now()
	if e.timedCut() {
		e.closeThrough(e.roundOf(end))
	}
	e.closeRound(end)
	e.tr.CloseIdleConnections()

	partial := ctx.Err() != nil
	rep := e.report(started, finished, partial)
	if e.keep() {
		rep.ShardResult = e.shardResult(rep, e.scenario)
	}
	e.panicMu.Lock()
	defer e.panicMu.Unlock()
	if len(e.panics) > 0 {
		rep.Partial = true
		return rep, fmt.Errorf("load: panic in a run goroutine: %s", e.panics[0])
	}
	return rep, nil
}

// pace is the open model's arrival process: it hands each request to a
// free worker at its intended time, never earlier; requests due while
// every worker is busy wait, keeping their intended time. See the package
// doc ("The pacer") for its design and cost.
//
// Every request due before the end of the run is dispatched, however late
// the pacer itself wakes: the end of a duration-bounded open run is the
// pacer's to declare (no duration timer races its last requests). Past the
// end, requests still waiting for a connection wait at most one request
// timeout (the longest a connection stays busy); the rest are dropped.
func (e *engine) pace() {
	defer close(e.tokens)
	defer e.stop()
	defer e.recoverWorker()
	sched := newSchedule(e.load)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// Note: the runtime's timers are late by up to a millisecond or two
	// (epoll_pwait has millisecond resolution); the pacer sleeps on one
	// until coarse before the due time, then on a precise clock.
	const coarse = 2 * time.Millisecond
	// A request due sooner than batchBelow (rates above some 4,000 req/s)
	// is awaited on the runtime timer.
	const batchBelow = 250 * time.Microsecond
	var busyUntil, behindFrom time.Time
	// A shard sends the schedule's requests of its residue class; those
	// already due when a late shard starts queued behind its start, not
	// behind a slow generator.
	first, step := int64(0), int64(1)
	if e.shard.Count > 0 {
		first, step = int64(e.shard.Index), int64(e.shard.Count)
	}
	startedAt := e.start.Add(e.late)
	var end time.Time
	if e.load.Duration > 0 {
		end = e.start.Add(e.load.Duration)
		if e.late >= e.load.Duration {
			return // started after the whole run: nothing to measure
		}
	}
	for i := first; ; i += step {
		if e.stopped.Load() {
			return // cancelled or a worker panicked
		}
		if e.load.Requests > 0 && i >= e.load.Requests {
			return
		}
		off := sched.at(i)
		if e.load.Duration > 0 && off >= e.load.Duration {
			// The sending window is the whole duration.
			if d := time.Until(end); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-e.stopCh:
				}
			}
			return
		}
		at := e.start.Add(off)
		switch d := time.Until(at); {
		case d > coarse:
			timer.Reset(d - coarse)
			select {
			case <-timer.C:
			case <-e.stopCh:
				return
			}
			preciseSleep(at)
		case d > batchBelow:
			preciseSleep(at)
		case d > 0:
			// Note: at high rates a precise wake-up per request costs
			// more than the request; the runtime timer wakes within the
			// scheduler's next round and the pacer then hands out every
			// request due by then.
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-e.stopCh:
				return
			}
		}
		// A request that became due while the pacer was still handing out
		// requests that had waited for a connection waited too: it queued
		// behind them, not behind a slow generator.
		tok := token{at: at, waited: !at.After(busyUntil) || at.Before(startedAt)}
		select {
		case e.tokens <- tok:
		default:
			tok.waited = true
			if !e.handOff(tok, end) {
				return
			}
		}
		now := time.Now()
		if tok.waited {
			e.pacer.waited++
			busyUntil = now
		} else if now.Sub(at) > e.opts.LateAfter {
			// Behind schedule with a connection free: the generator's
			// own delay, measured over the schedule it fell behind.
			if behindFrom.IsZero() {
				behindFrom = at
			}
			e.pacer.behind = max(e.pacer.behind, at.Sub(behindFrom))
		} else {
			behindFrom = time.Time{}
		}
		e.pacer.dispatched++
	}
}

// handOff waits for a free worker to take tok. Past end (when not zero)
// it waits at most one request timeout after end; it returns false when
// tok was not taken.
func (e *engine) handOff(tok token, end time.Time) bool {
	var giveUp <-chan time.Time
	if !end.IsZero() {
		t := time.NewTimer(time.Until(end.Add(e.cfg.timeout)))
		defer t.Stop()
		giveUp = t.C
	}
	select {
	case e.tokens <- tok:
		return true
	case <-e.stopCh:
	case <-giveUp:
	}
	return false
}

// worker is one virtual user (closed) or connection (open).
type worker struct {
	e   *engine
	sh  *shard
	c   client
	rng *rand.Rand
	a   attempt
	o   outcome
}

func (w *worker) run() {
	defer w.e.recoverWorker()
	defer w.c.close()
	e := w.e
	if e.tokens != nil {
		for tok := range e.tokens {
			if e.abort.Err() != nil {
				continue // drain; the pacer stops soon
			}
			w.one(tok, true)
		}
		return
	}
	for !e.stopped.Load() {
		if e.limit > 0 && e.issued.Add(1) > e.limit {
			e.stop()
			return
		}
		w.one(token{}, false)
	}
}

func (w *worker) pick() int {
	e := w.e
	if len(e.eps) == 1 {
		return 0
	}
	r := w.rng.IntN(e.cumWeight[len(e.cumWeight)-1])
	i, _ := slices.BinarySearch(e.cumWeight, r+1)
	return i
}

// one sends one measured request (and its retry after a token refresh).
func (w *worker) one(tok token, open bool) {
	e := w.e
	ep := w.pick()
	set := e.rendered.Load()
	w.c.do(&set.reqs[ep], &w.a)
	first := w.a.start
	o := &w.o
	*o = outcome{a: &w.a, open: open}
	if w.a.kind == errNone && w.a.status == http.StatusUnauthorized && e.eps[ep].usesAuth && e.abort.Err() == nil {
		if e.refresh(set.gen) {
			set = e.rendered.Load()
			w.c.do(&set.reqs[ep], &w.a)
			o.reauth = true
		}
	}
	o.hasLatency = w.a.kind == errNone || w.a.kind == errTimeout
	if open {
		o.latency = w.a.end.Sub(tok.at)
		o.service = w.a.end.Sub(w.a.start)
		o.sendLag = first.Sub(tok.at)
		o.late = o.sendLag > e.opts.LateAfter
		o.free = !tok.waited
		o.genLate = o.late && o.free
	} else {
		o.latency = w.a.end.Sub(first)
	}
	if e.opts.OnRequest != nil && w.a.kind != errCanceled {
		defer e.opts.OnRequest(RequestRecord{Endpoint: ep, Status: w.a.status, Intended: tok.at, HasLatency: o.hasLatency, Latency: clamp(o.latency)})
	}
	if !e.countCut || w.a.kind == errCanceled {
		if e.timedCut() && w.a.kind != errCanceled {
			// A request belongs to the round in which it completed:
			// the first worker to see a request past a boundary closes
			// the rounds before it (a collector running late would
			// otherwise fold them into one).
			if k := e.roundOf(w.a.end); k > int(e.closed.Load()) {
				e.closeThrough(k)
			}
		}
		w.sh.add(ep, o, &e.eps[ep].expect)
		return
	}
	// Rounds cut by count: a request belongs to the round of its
	// completion index, so recording it, counting it and closing the round
	// it completes happen under one lock; otherwise a worker preempted
	// between counting and closing lets a later round close first and
	// take the earlier round's requests.
	e.cutMu.Lock()
	defer e.cutMu.Unlock()
	w.sh.add(ep, o, &e.eps[ep].expect)
	n, want, total := e.completed.Add(1), int64(e.rounds.want), e.limit
	if n*want/total > (n-1)*want/total && n < total {
		e.closeRound(time.Now())
	}
}
