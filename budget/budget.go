package budget

import (
	"maps"
	"slices"

	"github.com/perfagent/perfagent/results"
)

// Limit is one budget: the largest allowed value of a metric (the smallest,
// for availability), in the base unit of the metric's [Quantity]:
// nanoseconds, bytes, a fraction, a count or a score.
type Limit struct {
	Value float64
	// Source says where the limit came from: "default" for the built-in
	// tables, "file:line" for a budgets file.
	Source string
	// Off marks an explicit "off" in an override (a page path entry or an
	// endpoint): it removes the budget the override would otherwise
	// inherit. Limits with Off set are never evaluated.
	Off bool
}

// Targets maps a metric key ("p95", "cold-start", "script", "lcp", ...) to
// its limit. Which keys are valid depends on the section; see the package
// documentation.
type Targets map[string]Limit

// Budgets is a parsed budgets file: performance targets for HTTP endpoints,
// the system and pages. The zero value has no budgets at all; [Default]
// returns the built-in tables and [Load] overlays a file on them.
//
// A Budgets is not modified by [Evaluate] and may be shared by goroutines
// that only read it.
type Budgets struct {
	// File is the path the budgets were loaded from; empty for [Default].
	File string
	// API holds latency targets (keys "p50", "p95", "p99") per result
	// category ("health", "authentication", "ai-inference", "database",
	// "cache", or a user's own). They apply to results of Kind "http".
	API map[string]Targets
	// Endpoints holds per-endpoint overrides by result name. Keys are the
	// API keys and the Errors keys; each key replaces the category's or the
	// error budget's limit for that one result.
	Endpoints map[string]Targets
	// System holds "cold-start", "memory-baseline", "memory-peak",
	// "cpu-idle" and "scheduler-lag" targets, applied to any result that
	// carries the matching metric.
	System Targets
	// Errors holds the error budget: "availability" (a minimum),
	// "error-rate" and "timeout-rate" (maxima), applied to any result that
	// carries the matching metric.
	Errors Targets
	// Page holds page budgets, applied to results of Kind "page" whose URL
	// matches an entry's Path.
	Page []PageBudget
	// PageLastMatch selects Lighthouse's rule: only the last page budget
	// whose Path matches a URL applies. When false (perfagent files), every
	// matching entry applies in order, later keys replacing earlier ones.
	PageLastMatch bool
}

// PageBudget is one page budget, the unit of Lighthouse's budget.json.
type PageBudget struct {
	// Path is a robots.txt-style pattern matched against a URL's path and
	// query, with Lighthouse's rules: a plain pattern matches by prefix, one
	// "*" matches any run of characters, a trailing "$" anchors the end.
	// Empty matches every URL.
	Path string
	// Sizes are transfer-size budgets in bytes by resource type
	// ("document", "script", "stylesheet", "image", "font", "media",
	// "other", "third-party", "total").
	Sizes Targets
	// Counts are request-count budgets by the same resource types.
	Counts Targets
	// Timings are budgets for "ttfb", "fcp", "lcp", "tti", "tbt" (in
	// nanoseconds) and "cls" (a score), plus Lighthouse metrics perfagent
	// does not measure ("speed-index", ...), reported as not measured.
	Timings Targets
	// FirstPartyHosts lists host names ("example.com", "*.example.com")
	// that count as first party when classifying third-party requests, as
	// Lighthouse's options.firstPartyHostnames. The budget package does not
	// classify requests; the page measurement does (see
	// [Budgets.FirstPartyHosts]).
	FirstPartyHosts []string
	// Source is where the entry starts ("file:line"), or "default".
	Source string
}

// Resource types of page budgets, in report order; Lighthouse's names.
var ResourceTypes = []string{"document", "script", "stylesheet", "image", "font", "media", "other", "third-party", "total"}

// metric describes one budget key: how its value is written and which
// bench metric measures it.
type metric struct {
	key  string
	unit string // bench metric unit; "" for latency percentiles read from Stats
	q    Quantity
	min  bool // the budget is a minimum (availability)
}

var (
	apiMetrics = []metric{
		{key: "p50", q: Duration}, {key: "p95", q: Duration}, {key: "p99", q: Duration},
	}
	errorMetrics = []metric{
		{key: "availability", unit: results.UnitAvailable, q: Fraction, min: true},
		{key: "error-rate", unit: results.UnitErrorRate, q: Fraction},
		{key: "timeout-rate", unit: results.UnitTimeoutRate, q: Fraction},
	}
	systemMetrics = []metric{
		{key: "cold-start", unit: results.UnitColdStart, q: Duration},
		{key: "memory-baseline", unit: results.UnitRSSBaseline, q: Bytes},
		{key: "memory-peak", unit: results.UnitRSSPeak, q: Bytes},
		{key: "cpu-idle", unit: results.UnitCPUIdle, q: Fraction},
		{key: "scheduler-lag", unit: results.UnitSchedLagP99, q: Duration},
	}
	timingMetrics = []metric{
		{key: "ttfb", unit: results.UnitTTFB, q: Duration},
		{key: "fcp", unit: results.UnitFCP, q: Duration},
		{key: "lcp", unit: results.UnitLCP, q: Duration},
		{key: "tti", unit: results.UnitTTI, q: Duration},
		{key: "tbt", unit: UnitTBT, q: Duration},
		{key: "cls", unit: results.UnitCLS, q: Score},
		// Lighthouse timing metrics perfagent does not measure: accepted so
		// a budget.json loads, always reported as not measured.
		{key: "speed-index", unit: "speed-index-ns", q: Duration},
		{key: "first-meaningful-paint", unit: "fmp-ns", q: Duration},
		{key: "first-cpu-idle", unit: "first-cpu-idle-ns", q: Duration},
		{key: "max-potential-fid", unit: "max-potential-fid-ns", q: Duration},
		{key: "estimated-input-latency", unit: "estimated-input-latency-ns", q: Duration},
	}
	endpointMetrics = append(slices.Clip(apiMetrics), errorMetrics...)
)

// UnitTBT is the page metric for total blocking time: the sum over long
// tasks between FCP and TTI of each task's time beyond 50 ms, in ns.
const UnitTBT = "tbt-ns"

// lighthouseTimings maps Lighthouse's timing metric names to budget keys.
var lighthouseTimings = map[string]string{
	"first-contentful-paint":   "fcp",
	"largest-contentful-paint": "lcp",
	"interactive":              "tti",
	"total-blocking-time":      "tbt",
	"cumulative-layout-shift":  "cls",
	"speed-index":              "speed-index",
	"first-meaningful-paint":   "first-meaningful-paint",
	"first-cpu-idle":           "first-cpu-idle",
	"max-potential-fid":        "max-potential-fid",
	"estimated-input-latency":  "estimated-input-latency",
}

func findMetric(list []metric, key string) (metric, bool) {
	for _, m := range list {
		if m.key == key {
			return m, true
		}
	}
	return metric{}, false
}

func sizeMetric(typ string) metric {
	return metric{key: typ, unit: results.UnitBytesPrefix + typ, q: Bytes}
}
func countMetric(typ string) metric {
	return metric{key: typ, unit: results.UnitReqsPrefix + typ, q: Count}
}

const ms = 1e6 // nanoseconds per millisecond

// Default returns the built-in budgets, the seed suite's tables:
//
//	API (p50/p95/p99)  health 50/100/200ms, authentication 100/200/500ms,
//	                   ai-inference 500ms/2s/5s, database 20/50/100ms,
//	                   cache 5/10/20ms
//	system             cold-start 3s, memory-baseline 512MiB,
//	                   memory-peak 2GiB, cpu-idle 5%, scheduler-lag 50ms
//	errors             availability >= 99.9%, error-rate 0.1%,
//	                   timeout-rate 0.01%
//	page sizes         document 15KiB, stylesheet 50KiB, script 200KiB,
//	                   image 500KiB, total 1MiB
//	page timings       ttfb 200ms, fcp 1.8s, lcp 2.5s, tti 3.8s
//
// Sizes are read as binary units (1 KiB = 1024 B) because Lighthouse reads
// budget.json kilobytes that way, so the same number means the same limit
// in both formats. Each call returns a new value the caller may modify.
func Default() *Budgets {
	lim := func(v float64) Limit { return Limit{Value: v, Source: "default"} }
	lat := func(p50, p95, p99 float64) Targets {
		return Targets{"p50": lim(p50 * ms), "p95": lim(p95 * ms), "p99": lim(p99 * ms)}
	}
	return &Budgets{
		API: map[string]Targets{
			"health":         lat(50, 100, 200),
			"authentication": lat(100, 200, 500),
			"ai-inference":   lat(500, 2000, 5000),
			"database":       lat(20, 50, 100),
			"cache":          lat(5, 10, 20),
		},
		Endpoints: map[string]Targets{},
		System: Targets{
			"cold-start":      lim(3000 * ms),
			"memory-baseline": lim(512 << 20),
			"memory-peak":     lim(2 << 30),
			"cpu-idle":        lim(0.05),
			"scheduler-lag":   lim(50 * ms),
		},
		Errors: Targets{
			"availability": lim(0.999),
			"error-rate":   lim(0.001),
			"timeout-rate": lim(0.0001),
		},
		Page: []PageBudget{{
			Source: "default",
			Sizes: Targets{
				"document":   lim(15 << 10),
				"stylesheet": lim(50 << 10),
				"script":     lim(200 << 10),
				"image":      lim(500 << 10),
				"total":      lim(1 << 20),
			},
			Counts: Targets{},
			Timings: Targets{
				"ttfb": lim(200 * ms),
				"fcp":  lim(1800 * ms),
				"lcp":  lim(2500 * ms),
				"tti":  lim(3800 * ms),
			},
		}},
	}
}

// FirstPartyHosts returns the first-party host names of every page budget
// that applies to url, for the page measurement's third-party
// classification. It returns nil when none are set.
func (b *Budgets) FirstPartyHosts(url string) []string {
	var hosts []string
	for _, p := range b.pageBudgets(url) {
		hosts = append(hosts, p.FirstPartyHosts...)
	}
	return hosts
}

// pageBudgets returns the entries that apply to url in application order.
func (b *Budgets) pageBudgets(url string) []PageBudget {
	path := urlPath(url)
	var out []PageBudget
	for _, p := range b.Page {
		if MatchPath(p.Path, path) {
			out = append(out, p)
		}
	}
	if b.PageLastMatch && len(out) > 1 {
		out = out[len(out)-1:]
	}
	return out
}

func cloneTargets(t Targets) Targets {
	if t == nil {
		return Targets{}
	}
	return maps.Clone(t)
}

// overlay copies src over dst: a limit replaces dst's, an Off limit
// deletes it.
func overlay(dst, src Targets) {
	for k, l := range src {
		if l.Off {
			delete(dst, k)
		} else {
			dst[k] = l
		}
	}
}
