package load

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Model is a load model: how requests are issued over time.
type Model string

const (
	// ModelClosed runs Load.Concurrency virtual users, each sending its next
	// request as soon as the previous one completed (as wrk, hey and ab do).
	// Throughput is whatever the server allows; latency is measured from the
	// actual send, so a stalled server slows the generator down and hides
	// part of its stall (coordinated omission). Use it to find capacity.
	ModelClosed Model = "closed"
	// ModelOpen sends requests at a constant (optionally ramped) arrival rate
	// whatever the server does, as real users do, with at most
	// Load.Concurrency requests in flight. Latency is measured from the
	// intended send time (as wrk2 does); service time from the actual send is
	// reported too. Use it to judge latency targets.
	ModelOpen Model = "open"
)

// Defaults applied by [Run] to a zero field of [Scenario] or [Load].
const (
	DefaultTimeout         = 10 * time.Second
	DefaultConcurrency     = 10
	DefaultOpenConcurrency = 100
	DefaultDuration        = 10 * time.Second
)

// Bounds of a [Load]: a rate is at most MaxRate requests per second, a
// concurrency at most MaxConcurrency connections.
const (
	MaxRate        = 10_000_000
	MaxConcurrency = 100_000
)

// Limits on a scenario's size; files beyond them are rejected.
const (
	MaxScenarioBytes = 1 << 20 // LoadScenarioFile refuses larger files
	maxEndpoints     = 200
	maxSteps         = 100
	maxHeaders       = 100
	maxExtracts      = 100
	maxVariables     = 1000
	maxWeight        = 1_000_000
)

// Scenario is an API benchmark: a target, an optional setup phase whose
// responses fill variables (an authentication flow), the endpoints measured
// with their weights and latency targets, the load and the error budgets.
//
// A Scenario is plain data: build one in Go, or parse a file with
// [ParseScenario] or [LoadScenarioFile]. [Run] validates it and never
// modifies it. Strings in Path, Headers and Body may contain variables,
// written ${name}; "$$" is a literal "$". A variable is defined by
// Variables or by a setup step's Extract.
type Scenario struct {
	// Name identifies the scenario; results are named "<Name>/<endpoint>".
	// Default "api".
	Name string
	// BaseURL is the target ("http://127.0.0.1:8080", "https://api.example/v1").
	// Endpoint paths are appended to its path.
	BaseURL string
	// Timeout bounds each request, from connecting to the last body byte.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// HTTP2 sends every request over HTTP/2 (TLS with ALPN "h2" for https,
	// prior-knowledge h2c for http) with net/http. When false, HTTP/1.1 with
	// keep-alive is used.
	HTTP2 bool
	// InsecureSkipVerify disables TLS certificate verification (self-signed
	// test targets).
	InsecureSkipVerify bool
	// Headers are sent with every request, setup steps included; a step's or
	// endpoint's own header of the same name replaces it.
	Headers []Header
	// Variables are the initial variable values.
	Variables map[string]string
	// Load is the default load; [Options].Load overrides it field by field.
	Load Load
	// Setup runs in order before the measured traffic and again whenever a
	// measured request that uses an extracted variable answers 401
	// Unauthorized. Its traffic is measured and reported apart.
	Setup []Step
	// Endpoints are the measured requests, chosen at random in proportion
	// to their Weight.
	Endpoints []Endpoint
	// Budgets are the run's error budgets; nil means DefaultBudgets.
	Budgets *Budgets
}

// Header is one HTTP header line.
type Header struct {
	Name  string
	Value string
}

// Request is what a setup step and an endpoint have in common.
type Request struct {
	// Name identifies the step or endpoint in reports; unique per scenario.
	Name string
	// Method is the HTTP method; default GET.
	Method string
	// Path is appended to the base URL's path and may hold a query
	// ("/api/items?limit=10").
	Path    string
	Headers []Header
	// Body is sent as is (after variable substitution).
	Body string
	// ExpectStatus lists the status codes that count as success; empty
	// means any status below 400.
	ExpectStatus []int
}

// Step is a setup request whose response fills variables.
type Step struct {
	Request
	// Extract sets variables from the step's response.
	Extract []Extract
}

// Extract names a value to take from a setup response.
type Extract struct {
	// Var is the variable set.
	Var string
	// JSONPointer (RFC 6901, e.g. "/token" or "/data/0/id") selects a value
	// of the JSON response body; strings are taken as is, other values as
	// JSON text. Exactly one of JSONPointer and Header is set.
	JSONPointer string
	// Header names a response header whose first value is taken.
	Header string
}

// Endpoint is a measured request.
type Endpoint struct {
	Request
	// Category groups endpoints for budgets and reports: "health",
	// "authentication", "ai-inference", "database", "cache", "metrics" or
	// "api". Empty means inferred from the path: /health* and /ready* are
	// "health", /auth*, /login* and /token* "authentication", /metrics*
	// "metrics", anything else "api".
	Category string
	// Weight is the endpoint's share of the traffic relative to the other
	// endpoints; zero means 1.
	Weight int
	// Targets are the endpoint's latency targets; zero fields are unchecked.
	Targets Targets
}

// Targets are latency percentiles an endpoint must not exceed (inclusive).
// Zero means unchecked.
type Targets struct {
	P50, P90, P95, P99, P999 time.Duration
}

// Budgets are run-level error budgets, evaluated over the measured traffic
// (setup traffic excluded). Each is inclusive: an error rate equal to
// ErrorRate passes.
type Budgets struct {
	// Availability is the minimum fraction of requests not failed by the
	// server side (see [Totals.Availability]); 0 disables the check.
	Availability float64 `json:"availability"`
	// ErrorRate is the maximum fraction of failed requests; 1 disables it.
	ErrorRate float64 `json:"error_rate"`
	// TimeoutRate is the maximum fraction of timed-out requests; 1
	// disables it.
	TimeoutRate float64 `json:"timeout_rate"`
}

// DefaultBudgets returns the error budgets of the seed's performance
// budgets: availability 99.9%, error rate at most 0.1%, timeout rate at most
// 0.01%.
func DefaultBudgets() Budgets {
	return Budgets{Availability: 0.999, ErrorRate: 0.001, TimeoutRate: 0.0001}
}

// Load describes how much traffic to send. A zero field means the default
// (or, in [Options].Load, the scenario's value).
type Load struct {
	// Model is ModelClosed (the default) or ModelOpen.
	Model Model `json:"model"`
	// Concurrency is the number of virtual users (closed) or the maximum
	// number of requests in flight (open); each has its own keep-alive
	// connection. Default DefaultConcurrency (closed) or
	// DefaultOpenConcurrency (open).
	Concurrency int `json:"concurrency"`
	// Rate is the open model's arrival rate at steady state in requests per
	// second. Required for the open model, not allowed for the closed one.
	Rate float64 `json:"rate,omitempty"`
	// RampFrom and RampDuration ramp the open model's rate linearly from
	// RampFrom up (or down) to Rate over RampDuration; zero RampDuration
	// means no ramp.
	RampFrom     float64       `json:"ramp_from,omitempty"`
	RampDuration time.Duration `json:"ramp_ns,omitempty"`
	// Duration bounds the run; Requests bounds the number of measured
	// requests. When both are set the first reached ends the run; when
	// neither is, Duration is DefaultDuration.
	Duration time.Duration `json:"duration_ns,omitempty"`
	Requests int64         `json:"requests,omitempty"`
}

// merge returns l with every zero field replaced by base's.
func (l Load) merge(base Load) Load {
	if l.Model == "" {
		l.Model = base.Model
	}
	if l.Concurrency == 0 {
		l.Concurrency = base.Concurrency
	}
	if l.Rate == 0 {
		l.Rate = base.Rate
	}
	if l.RampFrom == 0 {
		l.RampFrom = base.RampFrom
	}
	if l.RampDuration == 0 {
		l.RampDuration = base.RampDuration
	}
	if l.Duration == 0 && l.Requests == 0 {
		l.Duration, l.Requests = base.Duration, base.Requests
	}
	return l
}

// withDefaults fills the defaults of an already merged Load.
func (l Load) withDefaults() Load {
	if l.Model == "" {
		l.Model = ModelClosed
	}
	if l.Concurrency == 0 {
		l.Concurrency = DefaultConcurrency
		if l.Model == ModelOpen {
			l.Concurrency = DefaultOpenConcurrency
		}
	}
	if l.Duration == 0 && l.Requests == 0 {
		l.Duration = DefaultDuration
	}
	return l
}

// validate checks a Load; field is the path prefix for errors.
func (l Load) validate(field string, add func(field, format string, args ...any)) {
	switch l.Model {
	case "", ModelClosed, ModelOpen:
	default:
		add(field+".model", "unknown model %q (want %q or %q)", l.Model, ModelClosed, ModelOpen)
	}
	if l.Concurrency < 0 || l.Concurrency > MaxConcurrency {
		add(field+".concurrency", "must be between 1 and %d, got %d", MaxConcurrency, l.Concurrency)
	}
	if l.Rate < 0 || l.Rate > MaxRate || l.Rate != l.Rate {
		add(field+".rate", "must be between 0 and 1e7 requests per second, got %g", l.Rate)
	}
	if l.RampFrom < 0 || l.RampFrom > MaxRate || l.RampFrom != l.RampFrom {
		add(field+".ramp.from", "must be between 0 and 1e7 requests per second, got %g", l.RampFrom)
	}
	if l.RampDuration < 0 {
		add(field+".ramp.duration", "must not be negative, got %v", l.RampDuration)
	}
	if l.Duration < 0 {
		add(field+".duration", "must not be negative, got %v", l.Duration)
	}
	if l.Requests < 0 {
		add(field+".requests", "must not be negative, got %d", l.Requests)
	}
	if l.Model == ModelClosed && (l.Rate != 0 || l.RampDuration != 0) {
		add(field+".rate", "the closed model takes no rate or ramp (use model: open)")
	}
}

// validateRun checks the effective Load of a run.
func (l Load) validateRun(add func(field, format string, args ...any)) {
	l.validate("load", add)
	if l.Model == ModelOpen && l.Rate <= 0 {
		add("load.rate", "the open model needs a rate in requests per second")
	}
}

// ScenarioError is a problem in a scenario, with its position when it came
// from a file. Parse and validation return every problem found, joined with
// errors.Join; use errors.As to get the first.
type ScenarioError struct {
	File   string // file name as given, may be empty
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Field  string // path of the field, e.g. "endpoints[2].method"
	Msg    string
}

// Error formats the problem as "scenario FILE:LINE:COL: FIELD: MESSAGE",
// leaving out what is unknown.
func (e *ScenarioError) Error() string {
	var b strings.Builder
	b.WriteString("scenario ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteString(":" + strconv.Itoa(e.Column))
			}
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Validate reports every problem of s as a [ScenarioError], joined with
// errors.Join; nil when s can be run. [Run] calls it.
func (s *Scenario) Validate() error {
	return joinScenarioErrors(s.validate())
}

func (s *Scenario) validate() []*ScenarioError {
	var errs []*ScenarioError
	add := func(field, format string, args ...any) {
		errs = append(errs, &ScenarioError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if s.BaseURL == "" {
		add("base_url", "missing (e.g. http://127.0.0.1:8080)")
	} else if u, err := url.Parse(s.BaseURL); err != nil {
		add("base_url", "not a URL: %v", err)
	} else if u.Scheme != "http" && u.Scheme != "https" {
		add("base_url", "scheme must be http or https, got %q", u.Scheme)
	} else if u.Host == "" {
		add("base_url", "no host in %q", s.BaseURL)
	} else if u.RawQuery != "" || u.Fragment != "" {
		add("base_url", "must not have a query or fragment; put them in the endpoint paths")
	} else if u.User != nil {
		add("base_url", "must not hold credentials; send them in a header (Authorization: Basic ...)")
	}
	if s.Timeout < 0 {
		add("timeout", "must not be negative, got %v", s.Timeout)
	}
	if len(s.Variables) > maxVariables {
		add("variables", "at most %d variables, got %d", maxVariables, len(s.Variables))
	}
	for name := range s.Variables {
		if !validVarName(name) {
			add("variables."+name, "invalid variable name (letters, digits, '_', '-', '.'; not starting with a digit)")
		}
	}
	checkHeaders("headers", s.Headers, add)
	s.Load.validate("load", add)
	if s.Budgets != nil {
		b := s.Budgets
		for _, f := range []struct {
			name string
			v    float64
		}{{"budgets.availability", b.Availability}, {"budgets.error_rate", b.ErrorRate}, {"budgets.timeout_rate", b.TimeoutRate}} {
			if !(f.v >= 0 && f.v <= 1) {
				add(f.name, "must be a fraction between 0 and 1 (0.001 is 0.1%%), got %g", f.v)
			}
		}
	}

	// Variables known before each step: the scenario's, then each step's
	// extracted ones.
	known := map[string]bool{}
	for name := range s.Variables {
		known[name] = true
	}
	names := map[string]string{}
	if len(s.Setup) > maxSteps {
		add("setup", "at most %d steps, got %d", maxSteps, len(s.Setup))
	}
	for i, st := range s.Setup {
		field := fmt.Sprintf("setup[%d]", i)
		checkRequest(field, &st.Request, known, names, add)
		if len(st.Extract) > maxExtracts {
			add(field+".extract", "at most %d values, got %d", maxExtracts, len(st.Extract))
		}
		for j, x := range st.Extract {
			xf := fmt.Sprintf("%s.extract[%d]", field, j)
			if !validVarName(x.Var) {
				add(xf+".var", "invalid variable name %q", x.Var)
			}
			switch {
			case x.JSONPointer != "" && x.Header != "":
				add(xf, "set either json (a JSON pointer) or header, not both")
			case x.JSONPointer == "" && x.Header == "":
				add(xf, "set json (a JSON pointer like /token) or header")
			case x.JSONPointer != "" && x.JSONPointer[0] != '/':
				add(xf+".json", "a JSON pointer starts with '/', got %q", x.JSONPointer)
			case x.Header != "" && !validToken(x.Header):
				add(xf+".header", "invalid header name %q", x.Header)
			}
			known[x.Var] = true
		}
	}
	if len(s.Endpoints) == 0 {
		add("endpoints", "no endpoints to measure")
	}
	if len(s.Endpoints) > maxEndpoints {
		add("endpoints", "at most %d endpoints, got %d", maxEndpoints, len(s.Endpoints))
	}
	for i, ep := range s.Endpoints {
		field := fmt.Sprintf("endpoints[%d]", i)
		checkRequest(field, &ep.Request, known, names, add)
		if ep.Weight < 0 || ep.Weight > maxWeight {
			add(field+".weight", "must be between 1 and %d, got %d", maxWeight, ep.Weight)
		}
		if ep.Category != "" && !validToken(ep.Category) {
			add(field+".category", "invalid category %q (one word, e.g. health, database)", ep.Category)
		}
		t := ep.Targets
		for _, f := range []struct {
			name string
			v    time.Duration
		}{{"p50", t.P50}, {"p90", t.P90}, {"p95", t.P95}, {"p99", t.P99}, {"p99.9", t.P999}} {
			if f.v < 0 {
				add(field+".targets."+f.name, "must not be negative, got %v", f.v)
			}
		}
	}
	return errs
}

func checkRequest(field string, r *Request, known map[string]bool, names map[string]string, add func(field, format string, args ...any)) {
	switch {
	case r.Name == "":
		add(field+".name", "missing")
	case strings.ContainsAny(r.Name, " \t\r\n"):
		add(field+".name", "must not contain white space, got %q", r.Name)
	case names[r.Name] != "":
		add(field+".name", "%q is also the name of %s", r.Name, names[r.Name])
	default:
		names[r.Name] = field
	}
	if r.Method != "" && !validToken(r.Method) {
		add(field+".method", "invalid method %q", r.Method)
	}
	if !strings.HasPrefix(r.Path, "/") {
		add(field+".path", "must start with '/', got %q", r.Path)
	} else if strings.ContainsAny(r.Path, " \t\r\n#") {
		add(field+".path", "must not contain white space or '#', got %q (escape it: %%20)", r.Path)
	}
	checkTemplate(field+".path", r.Path, known, add)
	checkHeaders(field+".headers", r.Headers, add)
	for _, h := range r.Headers {
		checkTemplate(field+".headers."+h.Name, h.Value, known, add)
	}
	checkTemplate(field+".body", r.Body, known, add)
	for i, c := range r.ExpectStatus {
		if c < 100 || c > 599 {
			add(fmt.Sprintf("%s.expect_status[%d]", field, i), "not an HTTP status code: %d", c)
		}
	}
}

func checkTemplate(field, s string, known map[string]bool, add func(field, format string, args ...any)) {
	t, err := parseTemplate(s)
	if err != nil {
		add(field, "%v", err)
		return
	}
	for _, v := range t.vars() {
		if !known[v] {
			add(field, "undefined variable ${%s} (define it under variables or extract it in an earlier setup step)", v)
		}
	}
}

func checkHeaders(field string, hs []Header, add func(field, format string, args ...any)) {
	if len(hs) > maxHeaders {
		add(field, "at most %d headers, got %d", maxHeaders, len(hs))
	}
	for _, h := range hs {
		if !validToken(h.Name) {
			add(field, "invalid header name %q", h.Name)
			continue
		}
		if strings.ContainsAny(h.Value, "\r\n\x00") {
			add(field+"."+h.Name, "header value must not contain CR, LF or NUL")
		}
		switch strings.ToLower(h.Name) {
		case "host", "content-length", "transfer-encoding", "connection":
			add(field+"."+h.Name, "set by the client, cannot be overridden")
		}
	}
}

// validToken reports whether s is an RFC 9110 token (header names, methods).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// inferCategory returns the budget category of a path without one.
func inferCategory(path string) string {
	p := strings.ToLower(path)
	for _, c := range []struct{ prefix, cat string }{
		{"/health", "health"}, {"/ready", "health"}, {"/live", "health"}, {"/ping", "health"},
		{"/auth", "authentication"}, {"/login", "authentication"}, {"/token", "authentication"}, {"/oauth", "authentication"},
		{"/metrics", "metrics"},
	} {
		if strings.HasPrefix(p, c.prefix) {
			return c.cat
		}
	}
	return "api"
}

func joinScenarioErrors(errs []*ScenarioError) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	es := make([]error, len(errs))
	for i, e := range errs {
		es[i] = e
	}
	return errors.Join(es...)
}
