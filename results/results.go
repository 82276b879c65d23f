package results

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Schema is the value of [Run.Schema] for files this version writes.
// Readers accept exactly this value and reject any other with an error naming
// the file and the version found. Version 2 made samples rounds (independent
// replications) where version 1 kept one sample per timed batch; a v1 file
// cannot be compared with a v2 one, so it is refused with its own message.
const Schema = "perfagent.bench/v2"

// SchemaV1 is the schema of files written before rounds; readers refuse it
// with a message saying to measure again.
const SchemaV1 = "perfagent.bench/v1"

// Kinds of [Benchmark], telling reports how to read [Benchmark.Detail].
const (
	KindFunc   = "func"   // a function benchmark run by Runner or imported from `go test -bench`
	KindHTTP   = "http"   // an HTTP endpoint measured by package load
	KindPage   = "page"   // a page load measured in a browser
	KindMemory = "memory" // a memory profile of a workload
)

// Run is one run of one or more benchmarks: the unit that is saved as
// benchmark-<ts>.json, kept as baseline.json, compared and reported.
//
// The JSON encoding of Results is the versioned contract between the bench,
// load, page, report, budget and cmd/perfagent packages and users' tools.
// Fields are only ever added; a field's meaning never changes within a schema
// version.
type Run struct {
	// Schema is always [Schema] when written by this package.
	Schema string `json:"schema"`
	// Suite names what was run ("system", "api", "memory", "all", or a
	// user's name).
	Suite string `json:"suite,omitempty"`
	// StartedAt and FinishedAt bound the run (wall clock, UTC).
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Partial is true when the run was interrupted (context cancelled,
	// Ctrl-C, a fatal error) and Benchmarks holds only what was measured.
	// Baselines refuse partial runs.
	Partial bool `json:"partial,omitempty"`
	// Quick is true for a shortened smoke-test run (`--quick`): fewer
	// rounds and smaller workloads, so its results are not comparable with a
	// full run's, and comparisons across the two modes are refused.
	Quick bool `json:"quick,omitempty"`
	// Parameters are the settings that shaped the workloads and the
	// measurement ("rounds", "round_time", "heap_sizes", "duration", ...);
	// comparisons warn about every parameter that differs.
	Parameters map[string]string `json:"parameters,omitempty"`
	// Environment describes the machine and build that produced the run.
	Environment Environment `json:"environment"`
	// Session, when set, names a same-session A/B comparison that produced
	// this run and its counterpart: both carry the same Session, and
	// sample i of each benchmark in one was measured next to sample i in
	// the other (one round of the ABBA order), so comparisons test the
	// pairs.
	Session string `json:"session,omitempty"`
	// Machine is how busy the rest of the machine was while the run
	// measured, when known (Linux).
	Machine *MachineLoad `json:"machine,omitempty"`
	// Benchmarks holds one entry per benchmark, in run order.
	Benchmarks []Benchmark `json:"benchmarks"`
	// Warnings are run-level findings (noisy machine, MaxDuration reached).
	Warnings []string `json:"warnings,omitempty"`
}

// MachineLoad is the CPU the rest of the machine used while a run measured.
type MachineLoad struct {
	// OtherCPU is the mean number of CPUs busy with work other than the
	// measuring process (other processes, interrupts, a local target, a
	// hypervisor's steal) over Seconds of measurement: /proc/stat's busy
	// time minus the process's own CPU time, divided by the wall time.
	OtherCPU float64 `json:"other_cpu"`
	Seconds  float64 `json:"seconds"`
}

// BusyOtherCPU is the OtherCPU from which a machine counts as busy: half a
// CPU taken by others on average slows a benchmark's wall time by more than
// any threshold a gate uses.
const BusyOtherCPU = 0.5

// Busy reports whether m says the machine was busy.
func (m *MachineLoad) Busy() bool { return m != nil && m.OtherCPU >= BusyOtherCPU }

// Environment describes where a run happened. Comparisons warn when two runs'
// environments differ in a field that changes performance.
type Environment struct {
	GoVersion  string `json:"go_version"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	CPU        string `json:"cpu,omitempty"` // model name, e.g. from /proc/cpuinfo
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Hostname   string `json:"hostname,omitempty"`
	// Revision is the VCS revision from the binary's build info, when known;
	// Modified reports a dirty work tree at build time.
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
}

// Benchmark is one benchmark's measurements.
type Benchmark struct {
	// Name identifies the benchmark across runs (baseline matching is by
	// Name). Use "/" to separate levels, as testing.B sub-benchmarks do.
	Name string `json:"name"`
	// Category groups benchmarks in reports and selects budget targets
	// ("health", "authentication", "system", ...).
	Category string `json:"category,omitempty"`
	// Kind is one of the Kind constants; empty means [KindFunc].
	Kind string `json:"kind,omitempty"`
	// Unit is the unit of Samples and Stats, in Go benchmark format spelling:
	// "ns/op" for time per operation (the default when empty), "sec/op",
	// "B/op", ...
	Unit string `json:"unit,omitempty"`
	// Iterations is the total number of operations measured (over all
	// samples).
	Iterations int64 `json:"iterations"`
	// Samples are the benchmark's independent replications in Unit, in
	// measurement order: one per round (the round's value, e.g. ns/op over
	// every operation of the round), one per process for cold starts, one
	// per `-count` run for imported `go test -bench` output. Significance
	// tests and confidence intervals use them, so their number is the n of
	// those tests. Empty for a value measured once (then Stats.N is 1 and
	// Stats.Mean is the value; comparisons do not gate it).
	Samples []float64 `json:"samples,omitempty"`
	// Stats summarises Samples in Unit. Its percentiles are those of the
	// samples (rounds), not of single operations: see PerOp for those.
	Stats Stats `json:"stats"`
	// PerOp is the distribution of single operations in Unit, present only
	// where single operations are measured: HTTP requests, scheduler
	// wake-ups, page loads, cold starts. Batched function benchmarks have
	// none (a batch's mean says nothing about its tail).
	PerOp *Distribution `json:"per_op,omitempty"`
	// AllocsPerOp and BytesPerOp are heap allocations per operation, when
	// measured (nil otherwise).
	AllocsPerOp *float64 `json:"allocs_per_op,omitempty"`
	BytesPerOp  *float64 `json:"bytes_per_op,omitempty"`
	// Metrics are further per-benchmark values, each with its unit in Go
	// benchmark format spelling (e.g. {"req/s", 4500}, {"p99-ns", 1.2e6},
	// {"error-rate", 0.001}). They are written as extra benchmark-format
	// columns so benchstat shows them too.
	Metrics []Metric `json:"metrics,omitempty"`
	// Error is set when the benchmark failed (panic, returned error); the
	// other fields then hold whatever was measured before the failure.
	Error string `json:"error,omitempty"`
	// Warnings are non-fatal findings (high variation, too few samples,
	// MaxDuration reached, generator saturated).
	Warnings []string `json:"warnings,omitempty"`
	// Labels are free-form key/value facts (URL, method, scenario file).
	Labels map[string]string `json:"labels,omitempty"`
	// Detail carries kind-specific data (per-endpoint status counts and phase
	// timings for KindHTTP, per-type bytes for KindPage, ...). Its shape is
	// documented by the package that writes it.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Metric is one named value of a [Benchmark] beyond its primary unit.
type Metric struct {
	// Unit names the metric in Go benchmark format spelling; it must not
	// contain spaces.
	Unit string `json:"unit"`
	// Value is the metric's value over the whole run, the figure budgets
	// judge: the value measured once; for a metric with Samples, the
	// whole-run figure where one exists (a request rate, an error rate, a
	// percentile of the merged histogram: a median of rounds would hide one
	// round of 100% errors from a budget), else the median of the samples.
	// Comparisons test the samples.
	Value float64 `json:"value"`
	// Samples are the metric's values per round, when it was measured in
	// each round (the same rounds as the benchmark's samples). A metric
	// without samples was measured once and is never gated by comparisons;
	// budgets still apply to it.
	Samples []float64 `json:"samples,omitempty"`
	// Better is "lower" (the default when empty) or "higher" and tells
	// comparisons which direction is a regression.
	Better string `json:"better,omitempty"`
}

// Distribution describes single operations (requests, wake-ups, loads) in a
// benchmark's unit: count, mean and quantiles, exact or from a histogram
// with the histogram's bounded relative error.
type Distribution struct {
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Quantile returns the q quantile of the distribution among the ones it
// keeps (0.5, 0.9, 0.95, 0.99, 0.999, 1), and false for any other q.
func (d *Distribution) Quantile(q float64) (float64, bool) {
	if d == nil {
		return 0, false
	}
	switch q {
	case 0.5:
		return d.P50, true
	case 0.9:
		return d.P90, true
	case 0.95:
		return d.P95, true
	case 0.99:
		return d.P99, true
	case 0.999:
		return d.P999, true
	case 1:
		return d.Max, true
	}
	return 0, false
}

// NewDistribution computes a Distribution of single-operation values with
// exact quantiles (the type-7 interpolation of [Summarize]); values is not
// modified. It returns nil for no values.
func NewDistribution(values []float64) *Distribution {
	if len(values) == 0 {
		return nil
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	return &Distribution{
		N: int64(len(sorted)), Mean: sum / float64(len(sorted)),
		P50: quantileSorted(sorted, 0.5), P90: quantileSorted(sorted, 0.9), P95: quantileSorted(sorted, 0.95),
		P99: quantileSorted(sorted, 0.99), P999: quantileSorted(sorted, 0.999), Max: sorted[len(sorted)-1],
	}
}

// MetricByUnit returns the metric with the given unit, or nil.
func (b *Benchmark) MetricByUnit(unit string) *Metric {
	for i := range b.Metrics {
		if b.Metrics[i].Unit == unit {
			return &b.Metrics[i]
		}
	}
	return nil
}

// Stats summarises a sample in its unit. Percentiles are exact order
// statistics of the samples with linear interpolation between closest ranks
// (type 7 in Hyndman and Fan), or histogram quantiles for histogram-based
// kinds.
type Stats struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	Stddev float64 `json:"stddev"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	P50    float64 `json:"p50"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	// CILow and CIHigh bound the median with confidence CIConfidence
	// (e.g. 0.95); all zero when the sample is too small for one.
	CILow        float64 `json:"ci_low,omitempty"`
	CIHigh       float64 `json:"ci_high,omitempty"`
	CIConfidence float64 `json:"ci_confidence,omitempty"`
	// CV is the coefficient of variation (Stddev/Mean).
	CV float64 `json:"cv"`
	// Outliers counts samples outside the Tukey fences (1.5 IQR).
	Outliers int `json:"outliers"`
}

// Well-known [Metric] units. Writers use these spellings so budgets,
// comparisons and reports find the values without knowing who wrote them.
// Times are in nanoseconds, rates are fractions in [0, 1], sizes in bytes.
const (
	UnitNsPerOp     = "ns/op"        // primary time unit of KindFunc and KindHTTP (request latency)
	UnitReqPerSec   = "req/s"        // achieved throughput (Better: higher)
	UnitErrorRate   = "error-rate"   // failed requests / all requests
	UnitTimeoutRate = "timeout-rate" // timed-out requests / all requests
	UnitAvailable   = "availability" // 1 - error-rate counting only server-side failures (Better: higher)
	UnitP90         = "p90-ns"
	UnitP999        = "p99.9-ns"
	UnitTTFB        = "ttfb-ns" // page: time to first byte of the main document
	UnitFCP         = "fcp-ns"
	UnitLCP         = "lcp-ns"
	UnitTTI         = "tti-ns"
	UnitCLS         = "cls"           // unitless layout-shift score
	UnitBytesPrefix = "bytes-"        // page: "bytes-document", "bytes-script", ..., "bytes-total"
	UnitReqsPrefix  = "requests-"     // page: request counts per resource type
	UnitColdStart   = "cold-start-ns" // process start to first healthy response
	UnitRSSBaseline = "rss-baseline-bytes"
	UnitRSSPeak     = "rss-peak-bytes"
	UnitCPUIdle     = "cpu-idle-fraction" // process CPU use while idle, fraction of one core
	UnitSchedLagP99 = "sched-lag-p99-ns"  // scheduler latency p99 (the event-loop-lag analogue)
)

// Values of [Metric.Better].
const (
	BetterLower  = "lower"  // a smaller value is better (times, sizes, error rates); the default
	BetterHigher = "higher" // a larger value is better (throughput, availability)
)

// PrimaryUnit returns b.Unit, or [UnitNsPerOp] when it is empty.
func (b *Benchmark) PrimaryUnit() string {
	if b.Unit == "" {
		return UnitNsPerOp
	}
	return b.Unit
}

// CheckUnit rejects units the Go benchmark format cannot carry: empty ones
// and ones containing white space.
func CheckUnit(unit string) error {
	if unit == "" || strings.ContainsFunc(unit, unicode.IsSpace) {
		return fmt.Errorf("unit %q must be non-empty and contain no spaces", unit)
	}
	return nil
}

// ListNames renders benchmark names for a one-line message: at most five,
// then "and N more"; "no benchmarks" when there are none.
func ListNames(names []string) string {
	if len(names) == 0 {
		return "no benchmarks"
	}
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(", and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}
