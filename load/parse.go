package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/perfagent/perfagent/internal/posdecode"
	"github.com/perfagent/perfagent/internal/units"
)

// LoadScenarioFile reads and parses a scenario file (YAML, or JSON when the
// name ends in ".json" or the content starts with '{'). Files larger than
// MaxScenarioBytes are rejected.
func LoadScenarioFile(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load: scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxScenarioBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load: scenario %s: %w", path, err)
	}
	if len(data) > MaxScenarioBytes {
		return nil, &ScenarioError{File: path, Msg: fmt.Sprintf("file larger than %d bytes", MaxScenarioBytes)}
	}
	return ParseScenario(path, data)
}

// ParseScenario parses a scenario from data; name is the file name used in
// errors and to tell JSON (".json") from YAML. Every problem found is
// reported as a [*ScenarioError] with its line and field, joined with
// errors.Join. The schema, in YAML:
//
//	name: shop                      # results are named shop/<endpoint>
//	base_url: http://127.0.0.1:8080
//	timeout: 5s                     # per request; default 10s
//	http2: false                    # true: HTTP/2 (h2 over TLS, h2c over http)
//	insecure_skip_verify: false
//	headers: {User-Agent: perfagent}
//	variables: {user: demo, password: demo}
//	load:
//	  model: open                   # or closed (default)
//	  concurrency: 50               # closed: users; open: max in flight
//	  rate: 200                     # open: requests/s
//	  ramp: {from: 10, duration: 5s}
//	  duration: 30s                 # and/or
//	  requests: 10000
//	setup:                          # run first, and again on a 401
//	  - name: login
//	    method: POST
//	    path: /auth/login
//	    headers: {Content-Type: application/json}
//	    body: {username: "${user}", password: "${password}"}  # mapping → JSON
//	    expect_status: 200
//	    extract:
//	      token: {json: /token}     # or {header: X-Token}
//	endpoints:
//	  - name: items
//	    category: api               # health, authentication, database, ...
//	    method: GET
//	    path: /api/items?limit=10
//	    headers: {Authorization: "Bearer ${token}"}
//	    expect_status: [200, 204]   # or 2xx; default: any status < 400
//	    weight: 3
//	    targets: {p50: 20ms, p95: 50ms, p99: 100ms}
//	budgets: {availability: 99.9%, error_rate: 0.1%, timeout_rate: 0.01%}
//
// The JSON form has the same fields. Durations need a unit ("250ms");
// budgets are fractions (0.001) or percentages ("0.1%").
func ParseScenario(name string, data []byte) (*Scenario, error) {
	root, err := posdecode.Parse(name, data, posdecode.Limits{})
	if err != nil {
		return nil, scenarioErrors([]error{err})
	}
	if root == nil {
		return nil, &ScenarioError{File: name, Msg: "empty file"}
	}
	d := &decoder{Decoder: posdecode.NewDecoder(name, posdecode.Limits{}), pos: map[string]*yaml.Node{}}
	s := d.scenario(root)
	if errs := d.Errors(); len(errs) > 0 {
		return nil, scenarioErrors(errs)
	}
	verrs := s.validate()
	for _, e := range verrs {
		e.File = name
		if n := d.nodeFor(e.Field); n != nil {
			e.Line, e.Column = n.Line, n.Column
		}
	}
	if err := joinScenarioErrors(verrs); err != nil {
		return nil, err
	}
	return s, nil
}

// scenarioErrors turns the decoder's [*posdecode.Error] values into
// [*ScenarioError] values, joined.
func scenarioErrors(errs []error) error {
	out := make([]*ScenarioError, 0, len(errs))
	for _, err := range errs {
		var pe *posdecode.Error
		if errors.As(err, &pe) {
			out = append(out, &ScenarioError{File: pe.File, Line: pe.Line, Column: pe.Column, Field: pe.Field, Msg: pe.Err.Error()})
		} else {
			out = append(out, &ScenarioError{Msg: err.Error()})
		}
	}
	return joinScenarioErrors(out)
}

// decoder walks a YAML node tree into a Scenario, collecting errors with
// positions and remembering each field's node for validation errors.
type decoder struct {
	*posdecode.Decoder
	pos map[string]*yaml.Node
}

func (d *decoder) errf(n *yaml.Node, field, format string, args ...any) {
	d.Fail(n, field, format, args...)
}

// nodeFor returns the node of field or of its closest recorded parent.
func (d *decoder) nodeFor(field string) *yaml.Node {
	for f := field; f != ""; {
		if n := d.pos[f]; n != nil {
			return n
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return d.pos[""]
}

// mapping calls fn for each key of a mapping node, in order, rejecting
// keys not in known (nil: any key) and recording each field's node.
func (d *decoder) mapping(n *yaml.Node, field string, known []string, fn func(key string, v *yaml.Node, field string)) {
	if r := d.Resolve(n); r != nil {
		d.pos[field] = r
	}
	d.Mapping(n, field, func(key, sub string, k, v *yaml.Node) {
		if known != nil && !slices.Contains(known, key) {
			d.errf(k, sub, "unknown field (known: %s)", strings.Join(known, ", "))
			return
		}
		d.pos[sub] = v
		fn(key, v, sub)
	})
}

func (d *decoder) sequence(n *yaml.Node, field string, limit int, fn func(i int, v *yaml.Node, field string)) {
	if r := d.Resolve(n); r != nil {
		d.pos[field] = r
	}
	d.Sequence(n, field, limit, func(i int, sub string, v *yaml.Node) {
		d.pos[sub] = v
		fn(i, v, sub)
	})
}

var kindName = posdecode.Describe

func (d *decoder) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errf(n, field, "want a string, got %s", kindName(n))
		return ""
	}
	return n.Value
}

func (d *decoder) boolean(n *yaml.Node, field string) bool {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "true", "True", "TRUE":
			return true
		case "false", "False", "FALSE":
			return false
		}
	}
	d.errf(n, field, "want true or false, got %s", kindName(n))
	return false
}

// integer parses a whole number; ok is false (and an error recorded) when
// the node is not one.
func (d *decoder) integer(n *yaml.Node, field string) (v int64, ok bool) {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64); err == nil {
			return v, true
		}
	}
	d.errf(n, field, "want a whole number, got %s", kindName(n))
	return 0, false
}

func (d *decoder) number(n *yaml.Node, field string) float64 {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return v
		}
	}
	d.errf(n, field, "want a number, got %s", kindName(n))
	return 0
}

// fraction accepts 0.001 or "0.1%".
func (d *decoder) fraction(n *yaml.Node, field string) float64 {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		v, err := units.ParseFraction(n.Value)
		if err == nil {
			return v
		}
		d.errf(n, field, "%v", err)
		return 0
	}
	d.errf(n, field, "want a fraction (0.001) or a percentage (\"0.1%%\"), got %s", kindName(n))
	return 0
}

func (d *decoder) duration(n *yaml.Node, field string) time.Duration {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		v, err := time.ParseDuration(n.Value)
		if err == nil {
			return v
		}
		if _, nerr := strconv.ParseFloat(n.Value, 64); nerr == nil {
			d.errf(n, field, "want a duration with a unit like \"250ms\" or \"5s\", got %s", n.Value)
			return 0
		}
	}
	d.errf(n, field, "want a duration like \"250ms\" or \"5s\", got %s", kindName(n))
	return 0
}

func (d *decoder) scenario(n *yaml.Node) *Scenario {
	s := &Scenario{}
	d.pos[""] = n
	d.mapping(n, "", []string{"name", "base_url", "timeout", "http2", "insecure_skip_verify", "headers", "variables", "load", "setup", "endpoints", "budgets"},
		func(key string, v *yaml.Node, f string) {
			switch key {
			case "name":
				s.Name = d.str(v, f)
			case "base_url":
				s.BaseURL = d.str(v, f)
			case "timeout":
				s.Timeout = d.duration(v, f)
			case "http2":
				s.HTTP2 = d.boolean(v, f)
			case "insecure_skip_verify":
				s.InsecureSkipVerify = d.boolean(v, f)
			case "headers":
				s.Headers = d.headers(v, f)
			case "variables":
				s.Variables = map[string]string{}
				d.mapping(v, f, nil, func(k string, v *yaml.Node, f string) { s.Variables[k] = d.str(v, f) })
			case "load":
				s.Load = d.load(v, f)
			case "setup":
				d.sequence(v, f, maxSteps, func(_ int, v *yaml.Node, f string) { s.Setup = append(s.Setup, d.step(v, f)) })
			case "endpoints":
				d.sequence(v, f, maxEndpoints, func(_ int, v *yaml.Node, f string) { s.Endpoints = append(s.Endpoints, d.endpoint(v, f)) })
			case "budgets":
				b := DefaultBudgets()
				d.mapping(v, f, []string{"availability", "error_rate", "timeout_rate"}, func(k string, v *yaml.Node, f string) {
					switch k {
					case "availability":
						b.Availability = d.fraction(v, f)
					case "error_rate":
						b.ErrorRate = d.fraction(v, f)
					case "timeout_rate":
						b.TimeoutRate = d.fraction(v, f)
					}
				})
				s.Budgets = &b
			}
		})
	return s
}

func (d *decoder) headers(n *yaml.Node, field string) []Header {
	var hs []Header
	d.mapping(n, field, nil, func(k string, v *yaml.Node, f string) {
		hs = append(hs, Header{Name: k, Value: d.str(v, f)})
	})
	return hs
}

func (d *decoder) load(n *yaml.Node, field string) Load {
	var l Load
	d.mapping(n, field, []string{"model", "concurrency", "rate", "ramp", "duration", "requests"}, func(k string, v *yaml.Node, f string) {
		switch k {
		case "model":
			l.Model = Model(d.str(v, f))
		case "concurrency":
			c, ok := d.integer(v, f)
			if ok && (c < 1 || c > MaxConcurrency) {
				d.errf(v, f, "must be between 1 and 100000, got %d", c)
				c = 0
			}
			l.Concurrency = int(c)
		case "rate":
			l.Rate = d.number(v, f)
		case "ramp":
			d.mapping(v, f, []string{"from", "duration"}, func(k string, v *yaml.Node, f string) {
				if k == "from" {
					l.RampFrom = d.number(v, f)
				} else {
					l.RampDuration = d.duration(v, f)
				}
			})
		case "duration":
			l.Duration = d.duration(v, f)
		case "requests":
			l.Requests, _ = d.integer(v, f)
		}
	})
	return l
}

// requestFields returns the fields of a Request in a file.
func requestFields(more ...string) []string {
	return append([]string{"name", "method", "path", "headers", "body", "expect_status"}, more...)
}

func (d *decoder) request(r *Request, key string, v *yaml.Node, f string) {
	switch key {
	case "name":
		r.Name = d.str(v, f)
	case "method":
		r.Method = strings.ToUpper(d.str(v, f))
	case "path":
		r.Path = d.str(v, f)
	case "headers":
		r.Headers = d.headers(v, f)
	case "body":
		r.Body = d.body(v, f)
	case "expect_status":
		r.ExpectStatus = d.statuses(v, f)
	}
}

// body takes a string as is and encodes a mapping or list as JSON.
func (d *decoder) body(n *yaml.Node, field string) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	var v any
	if err := n.Decode(&v); err != nil {
		d.errf(n, field, "cannot encode as JSON: %v", err)
		return ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		d.errf(n, field, "cannot encode as JSON: %v", err)
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// statuses accepts 200, "2xx" or a list of them.
func (d *decoder) statuses(n *yaml.Node, field string) []int {
	var out []int
	one := func(v *yaml.Node, f string) {
		if v.Kind == yaml.ScalarNode && len(v.Value) == 3 && v.Value[0] >= '1' && v.Value[0] <= '5' && strings.EqualFold(v.Value[1:], "xx") {
			base := int(v.Value[0]-'0') * 100
			for c := base; c < base+100; c++ {
				out = append(out, c)
			}
			return
		}
		c, ok := d.integer(v, f)
		if !ok {
			return
		}
		if c < 100 || c > 599 {
			d.errf(v, f, "not an HTTP status code (100-599 or a class like 2xx): %s", v.Value)
			return
		}
		out = append(out, int(c))
	}
	if n.Kind == yaml.SequenceNode {
		d.sequence(n, field, 600, func(_ int, v *yaml.Node, f string) { one(v, f) })
	} else {
		one(n, field)
	}
	return out
}

func (d *decoder) step(n *yaml.Node, field string) Step {
	var s Step
	d.mapping(n, field, requestFields("extract"), func(k string, v *yaml.Node, f string) {
		if k != "extract" {
			d.request(&s.Request, k, v, f)
			return
		}
		d.mapping(v, f, nil, func(name string, v *yaml.Node, f string) {
			x := Extract{Var: name}
			d.mapping(v, f, []string{"json", "header"}, func(k string, v *yaml.Node, f string) {
				if k == "json" {
					x.JSONPointer = d.str(v, f)
				} else {
					x.Header = d.str(v, f)
				}
			})
			s.Extract = append(s.Extract, x)
		})
	})
	return s
}

func (d *decoder) endpoint(n *yaml.Node, field string) Endpoint {
	var e Endpoint
	d.mapping(n, field, requestFields("category", "weight", "targets"), func(k string, v *yaml.Node, f string) {
		switch k {
		case "category":
			e.Category = d.str(v, f)
		case "weight":
			w, ok := d.integer(v, f)
			if ok && (w < 1 || w > maxWeight) {
				d.errf(v, f, "must be between 1 and %d, got %d", maxWeight, w)
				w = 1
			}
			e.Weight = int(w)
		case "targets":
			d.mapping(v, f, []string{"p50", "p90", "p95", "p99", "p99.9"}, func(k string, v *yaml.Node, f string) {
				t := d.duration(v, f)
				switch k {
				case "p50":
					e.Targets.P50 = t
				case "p90":
					e.Targets.P90 = t
				case "p95":
					e.Targets.P95 = t
				case "p99":
					e.Targets.P99 = t
				case "p99.9":
					e.Targets.P999 = t
				}
			})
		default:
			d.request(&e.Request, k, v, f)
		}
	})
	return e
}
