package budget

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/perfagent/perfagent/results"
)

// Status is the outcome of one [Check].
type Status string

// Statuses of a check.
const (
	Pass        Status = "pass"
	Fail        Status = "fail"
	NotMeasured Status = "not-measured" // no measurement exists for the budget: neither a pass nor a failure
)

// Sections of checks, naming the part of the budgets file a budget came
// from.
const (
	SectionAPI      = "api"
	SectionEndpoint = "endpoint"
	SectionErrors   = "errors"
	SectionSystem   = "system"
	SectionPage     = "page"
)

// Check is one budget applied to one measurement.
type Check struct {
	// Section is one of the Section constants.
	Section string `json:"section"`
	// Subject names what was measured: the result's name (its URL for
	// pages), or, for a budget nothing measured, the category, endpoint or
	// page path it applies to.
	Subject string `json:"subject"`
	// Category is the result's category for API checks.
	Category string `json:"category,omitempty"`
	// Metric names the budget: "p50", "p95", "p99", "availability",
	// "error-rate", "timeout-rate", "cold-start", "memory-baseline",
	// "memory-peak", "cpu-idle", "scheduler-lag", "bytes-<type>",
	// "requests-<type>", "ttfb", "fcp", "lcp", "tti", "tbt", "cls", ...
	Metric string `json:"metric"`
	// Quantity says how Budget and Measured are to be read.
	Quantity Quantity `json:"-"`
	// Budget is the limit in the quantity's base unit (ns, bytes,
	// fraction, count, score).
	Budget float64 `json:"budget"`
	// Min is true when the budget is a minimum (availability); otherwise it
	// is a maximum. A maximum fails when Measured > Budget, a minimum when
	// Measured < Budget.
	Min bool `json:"min,omitempty"`
	// Measured is the measured value in the same unit; nil when Status is
	// NotMeasured.
	Measured *float64 `json:"measured,omitempty"`
	Status   Status   `json:"status"`
	// Source is where the budget came from ("default", "file:line").
	Source string `json:"source"`
	// Note explains a NotMeasured status or names the override applied.
	Note string `json:"note,omitempty"`
}

// MarshalJSON adds the quantity's name and human-readable values.
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	out := struct {
		plain
		Quantity     string `json:"quantity"`
		BudgetText   string `json:"budget_text"`
		MeasuredText string `json:"measured_text,omitempty"`
	}{plain: plain(c), Quantity: c.Quantity.String(), BudgetText: c.Quantity.Format(c.Budget)}
	if c.Measured != nil {
		out.MeasuredText = c.Quantity.Format(*c.Measured)
	}
	return json.Marshal(out)
}

// String formats the check as one line, e.g.
//
//	FAIL api GET /users [health] p95: 132ms > budget 100ms (budgets.yaml:7)
func (c Check) String() string {
	var b strings.Builder
	switch c.Status {
	case Pass:
		b.WriteString("pass ")
	case Fail:
		b.WriteString("FAIL ")
	default:
		b.WriteString("not measured ")
	}
	b.WriteString(c.Section)
	if c.Subject != "" {
		b.WriteString(" " + c.Subject)
	}
	if c.Category != "" {
		b.WriteString(" [" + c.Category + "]")
	}
	b.WriteString(" " + c.Metric + ": ")
	op := ">"
	if c.Min {
		op = "<"
	}
	switch {
	case c.Measured == nil:
		bound := "max"
		if c.Min {
			bound = "min"
		}
		fmt.Fprintf(&b, "budget %s %s", bound, c.Quantity.Format(c.Budget))
	case c.Status == Fail:
		fmt.Fprintf(&b, "%s %s budget %s", c.Quantity.Format(*c.Measured), op, c.Quantity.Format(c.Budget))
	default:
		if c.Min {
			op = ">="
		} else {
			op = "<="
		}
		fmt.Fprintf(&b, "%s %s budget %s", c.Quantity.Format(*c.Measured), op, c.Quantity.Format(c.Budget))
	}
	b.WriteString(" (" + c.Source)
	if c.Note != "" {
		b.WriteString("; " + c.Note)
	}
	b.WriteString(")")
	return b.String()
}

// Verdict is the outcome of evaluating budgets against results.
type Verdict struct {
	// File is the budgets file evaluated ("" for the defaults).
	File string `json:"file,omitempty"`
	// Checks holds every check: those of measured results in result order,
	// then the budgets nothing measured.
	Checks []Check `json:"checks"`
	// Passed, Failures and Unmeasured count Checks by status.
	Passed     int `json:"passed"`
	Failures   int `json:"failed"`
	Unmeasured int `json:"not_measured"`
}

// Failed reports whether any check failed: the condition for exit status 1
// of `perfagent check`. Budgets that were not measured never fail.
func (v *Verdict) Failed() bool { return v.Failures > 0 }

// Status returns the checks with status s, in order.
func (v *Verdict) Status(s Status) []Check {
	var out []Check
	for _, c := range v.Checks {
		if c.Status == s {
			out = append(out, c)
		}
	}
	return out
}

// WriteText writes the verdict for a terminal: a summary line, the
// failures, the passes, then the budgets nothing measured.
func (v *Verdict) WriteText(w io.Writer) error {
	file := v.File
	if file == "" {
		file = "default budgets"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "budgets (%s): %d failed, %d passed, %d not measured\n", file, v.Failures, v.Passed, v.Unmeasured)
	for _, s := range []Status{Fail, Pass, NotMeasured} {
		for _, c := range v.Checks {
			if c.Status == s {
				b.WriteString("  " + c.String() + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (v *Verdict) add(c Check) {
	switch c.Status {
	case Pass:
		v.Passed++
	case Fail:
		v.Failures++
	default:
		v.Unmeasured++
	}
	v.Checks = append(v.Checks, c)
}

// Evaluate applies budgets to every benchmark of every results value (nil
// values are skipped) and returns the verdict. A nil b means [Default].
//
//   - API latency targets apply to results of Kind "http" by Category,
//     replaced key by key by b.Endpoints[result.Name]; they read Stats.P50,
//     P95 and P99 (Unit "ns/op", or "sec/op", "ms/op", "us/op").
//   - The error budget and system targets apply to any result carrying the
//     metric ("error-rate", "cold-start-ns", ...); endpoint overrides
//     replace error budget keys for one result.
//   - Page budgets apply to results of Kind "page", matched by the URL in
//     Labels["url"] (else Name), reading the "bytes-<type>",
//     "requests-<type>", "ttfb-ns", "fcp-ns", "lcp-ns", "tti-ns", "tbt-ns"
//     and "cls" metrics.
//
// A budget no result measured is listed once as NotMeasured; a page budget
// a page result lacks is listed as NotMeasured for that page.
func Evaluate(b *Budgets, runs ...*results.Run) *Verdict {
	if b == nil {
		b = Default()
	}
	e := &evaluator{b: b, v: &Verdict{File: b.File}, seen: map[string]bool{}}
	pages := 0
	for _, rs := range runs {
		if rs == nil {
			continue
		}
		for i := range rs.Benchmarks {
			r := &rs.Benchmarks[i]
			if r.Kind == results.KindHTTP {
				e.api(r)
			}
			e.metrics(r, SectionErrors, errorMetrics, b.Errors)
			e.metrics(r, SectionSystem, systemMetrics, b.System)
			if r.Kind == results.KindPage {
				pages++
				e.page(r)
			}
		}
	}
	e.unmeasured(pages)
	return e.v
}

type evaluator struct {
	b    *Budgets
	v    *Verdict
	seen map[string]bool // budgets that met a measurement, by seenKey
}

func seenKey(section, subject, key string) string { return section + "\x00" + subject + "\x00" + key }

func (e *evaluator) check(r *results.Benchmark, section string, m metric, l Limit, value float64, measured bool, note string) {
	c := Check{Section: section, Subject: r.Name, Metric: m.key, Quantity: m.q, Budget: l.Value, Min: m.min, Source: l.Source, Note: note}
	switch {
	case !measured || math.IsNaN(value):
		c.Status = NotMeasured
	case (m.min && value < l.Value) || (!m.min && value > l.Value):
		c.Status, c.Measured = Fail, &value
	default:
		c.Status, c.Measured = Pass, &value
	}
	e.v.add(c)
}

// nsFactor converts a result's unit to nanoseconds.
func nsFactor(unit string) (float64, bool) {
	switch unit {
	case "", "ns/op":
		return 1, true
	case "us/op", "µs/op":
		return 1e3, true
	case "ms/op":
		return 1e6, true
	case "sec/op", "s/op":
		return 1e9, true
	}
	return 0, false
}

func (e *evaluator) api(r *results.Benchmark) {
	cat := e.b.API[r.Category]
	over := e.b.Endpoints[r.Name]
	factor, timeUnit := nsFactor(r.Unit)
	for _, m := range apiMetrics {
		l, ok := over[m.key]
		section, subject := SectionEndpoint, r.Name
		if !ok {
			l, ok = cat[m.key]
			section, subject = SectionAPI, r.Category
		}
		if !ok || l.Off {
			continue
		}
		e.seen[seenKey(section, subject, m.key)] = true
		// Note: latency targets are percentiles of single requests, so they
		// read the per-operation distribution; the samples' percentiles are
		// those of per-round medians and say nothing about the tail.
		var v float64
		q := map[string]float64{"p50": 0.5, "p95": 0.95, "p99": 0.99}[m.key]
		v, hasOp := r.PerOp.Quantile(q)
		note, measured := "", true
		switch {
		case !hasOp || r.PerOp.N == 0:
			note, measured = "no single requests measured", false
			if r.Error != "" {
				note = "benchmark failed: " + r.Error
			}
		case !timeUnit:
			note, measured = fmt.Sprintf("unit %q is not a time per operation", r.Unit), false
		}
		e.check(r, section, m, l, v*factor, measured, note)
		e.v.Checks[len(e.v.Checks)-1].Category = r.Category
	}
}

// metrics applies a metric-based section (errors, system) to r; endpoint
// overrides replace keys for the one result.
func (e *evaluator) metrics(r *results.Benchmark, section string, list []metric, base Targets) {
	over := e.b.Endpoints[r.Name]
	for _, m := range list {
		v, ok := metricValue(r, m.unit)
		if !ok {
			continue
		}
		l, has := over[m.key]
		sec, subject := SectionEndpoint, r.Name
		if !has {
			l, has = base[m.key]
			sec, subject = section, ""
		}
		if !has || l.Off {
			continue
		}
		e.seen[seenKey(sec, subject, m.key)] = true
		e.check(r, sec, m, l, v, true, "")
	}
}

func metricValue(r *results.Benchmark, unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// pageURL is the URL page budgets match for a page result.
func pageURL(r *results.Benchmark) string {
	if u := r.Labels["url"]; u != "" {
		return u
	}
	return r.Name
}

// PageTargets returns the page budgets that apply to url, merged by the
// rules of b ([Budgets.PageLastMatch]): sizes, counts and timings.
func (b *Budgets) PageTargets(url string) (sizes, counts, timings Targets) {
	sizes, counts, timings = Targets{}, Targets{}, Targets{}
	for _, p := range b.pageBudgets(url) {
		overlay(sizes, p.Sizes)
		overlay(counts, p.Counts)
		overlay(timings, p.Timings)
	}
	return sizes, counts, timings
}

func (e *evaluator) page(r *results.Benchmark) {
	sizes, counts, timings := e.b.PageTargets(pageURL(r))
	e.pageGroup(r, sizes, resourceMetrics(sizeMetric), "bytes-")
	e.pageGroup(r, counts, resourceMetrics(countMetric), "requests-")
	e.pageGroup(r, timings, timingMetrics, "")
}

func resourceMetrics(mk func(string) metric) []metric {
	out := make([]metric, len(ResourceTypes))
	for i, t := range ResourceTypes {
		out[i] = mk(t)
	}
	return out
}

func (e *evaluator) pageGroup(r *results.Benchmark, t Targets, list []metric, prefix string) {
	for _, m := range list {
		l, ok := t[m.key]
		if !ok {
			continue
		}
		v, measured := metricValue(r, m.unit)
		note := ""
		switch {
		case r.Error != "":
			// Note: a page whose every load failed measured nothing, even
			// if zeros were recorded: its budgets are not measured, never
			// passed.
			note, measured = "page failed: "+r.Error, false
		case !measured:
			note = "no " + m.unit + " metric"
		}
		shown := m
		shown.key = prefix + m.key
		e.check(r, SectionPage, shown, l, v, measured, note)
	}
}

// unmeasured lists every budget no result measured.
func (e *evaluator) unmeasured(pages int) {
	add := func(section, subject string, m metric, l Limit, note string) {
		if l.Off || e.seen[seenKey(section, subject, m.key)] {
			return
		}
		e.v.add(Check{Section: section, Subject: subject, Metric: m.key, Quantity: m.q, Budget: l.Value, Min: m.min, Status: NotMeasured, Source: l.Source, Note: note})
	}
	for _, cat := range sortedKeys(e.b.API) {
		for _, m := range apiMetrics {
			if l, ok := e.b.API[cat][m.key]; ok {
				add(SectionAPI, cat, m, l, fmt.Sprintf("no http result in category %q", cat))
			}
		}
	}
	for _, name := range sortedKeys(e.b.Endpoints) {
		for _, m := range endpointMetrics {
			if l, ok := e.b.Endpoints[name][m.key]; ok {
				note := fmt.Sprintf("no http result named %q", name)
				if m.unit != "" {
					note = fmt.Sprintf("no result named %q with a %s metric", name, m.unit)
				}
				add(SectionEndpoint, name, m, l, note)
			}
		}
	}
	for _, s := range []struct {
		section string
		list    []metric
		t       Targets
	}{{SectionErrors, errorMetrics, e.b.Errors}, {SectionSystem, systemMetrics, e.b.System}} {
		for _, m := range s.list {
			if l, ok := s.t[m.key]; ok {
				add(s.section, "", m, l, "no result has a "+m.unit+" metric")
			}
		}
	}
	if pages > 0 {
		return
	}
	for _, p := range e.b.Page {
		subject := p.Path
		if subject == "" {
			subject = "every page"
		}
		groups := []struct {
			t      Targets
			list   []metric
			prefix string
		}{{p.Sizes, resourceMetrics(sizeMetric), "bytes-"}, {p.Counts, resourceMetrics(countMetric), "requests-"}, {p.Timings, timingMetrics, ""}}
		for _, g := range groups {
			for _, m := range g.list {
				if l, ok := g.t[m.key]; ok && !l.Off {
					shown := m
					shown.key = g.prefix + m.key
					e.v.add(Check{Section: SectionPage, Subject: subject, Metric: shown.key, Quantity: m.q, Budget: l.Value, Status: NotMeasured, Source: l.Source, Note: "no page result"})
				}
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
