package pageload

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/results"
)

// ReportSchema is the value of [Report.Schema].
const ReportSchema = "perfagent.page/v1"

// Report is the measurement of one URL: every run and the medians. It is
// also the [results.Benchmark.Detail] of the URL's result (see [Report.Result]
// and [DecodeDetail]).
//
// All times are nanoseconds from navigation start (performance.timeOrigin
// of the page's document), and a zero time means "not measured" (no real
// page paints or responds at exactly navigation start). Byte counts are
// transfer sizes: response headers plus the body as sent (compressed when
// the server compressed it), as Chromium's Network.loadingFinished reports
// them.
type Report struct {
	Schema string `json:"schema"`
	URL    string `json:"url"`
	// Browser is the browser's product and version ("Chrome/156.0.8078.108").
	Browser    string    `json:"browser,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Settings   Settings  `json:"settings"`
	// Runs holds every run in order, failed ones included.
	Runs []Load `json:"runs"`
	// Summary holds the median and spread of each metric over the runs that
	// measured it, in the order of [Report.Result]'s metrics.
	Summary []Spread `json:"summary"`
	// Warnings are findings about the measurement as a whole.
	Warnings []string `json:"warnings,omitempty"`
}

// Settings records how the page was loaded.
type Settings struct {
	Runs        int           `json:"runs"`
	CPUSlowdown float64       `json:"cpu_slowdown"`
	Network     *Network      `json:"network,omitempty"`
	Width       int           `json:"width"`
	Height      int           `json:"height"`
	Timeout     time.Duration `json:"timeout_ns"`
	QuietWindow time.Duration `json:"quiet_window_ns"`
}

// Load is one load of the page, one run of a measurement.
type Load struct {
	Index int `json:"index"` // 1-based
	// Error is set when the run failed (the page did not load, the run
	// timed out); the other fields hold what was measured before.
	Error string `json:"error,omitempty"`
	// TTFB is navigation start to the moment the document's response
	// headers reached the page (DevTools' Network.responseReceived):
	// redirects, DNS, connection, the server's think time and emulated
	// network latency included. It reads a few ms later than Navigation
	// Timing's responseStart, kept in ResponseStart, which Chromium records
	// before it applies emulated latency.
	TTFB          time.Duration `json:"ttfb_ns,omitempty"`
	ResponseStart time.Duration `json:"response_start_ns,omitempty"`
	// FCP is the first-contentful-paint paint timing entry.
	FCP time.Duration `json:"fcp_ns,omitempty"`
	// LCP is the last largest-contentful-paint entry's start time, read
	// when the run ends; LCPElement describes its element ("img#hero",
	// "div.banner", or the image URL).
	LCP        time.Duration `json:"lcp_ns,omitempty"`
	LCPElement string        `json:"lcp_element,omitempty"`
	// TTI is Time to Interactive (see the package documentation); zero
	// when no quiet window was seen before the run's timeout.
	TTI time.Duration `json:"tti_ns,omitempty"`
	// TBT is Total Blocking Time between FCP and TTI; measured only with
	// TTI (TBTMeasured).
	TBT         time.Duration `json:"tbt_ns"`
	TBTMeasured bool          `json:"tbt_measured,omitempty"`
	// CLS is Cumulative Layout Shift (largest session window); valid when
	// Error is empty.
	CLS float64 `json:"cls"`
	// DOMContentLoaded and LoadEvent are the ends of the document's
	// DOMContentLoaded and load events.
	DOMContentLoaded time.Duration `json:"dom_content_loaded_ns,omitempty"`
	LoadEvent        time.Duration `json:"load_ns,omitempty"`
	// Resources are transfer bytes and request counts per resource type,
	// in the order of [budget.ResourceTypes], all nine present.
	Resources []Resource `json:"resources"`
	// Requests is the waterfall: every network request of the page, in the
	// order they were sent, up to MaxRequests; RequestsDropped counts the
	// rest (they are still in Resources).
	Requests        []Request `json:"requests,omitempty"`
	RequestsDropped int       `json:"requests_dropped,omitempty"`
	// LongTasks are the main thread's tasks over 50 ms (start, duration),
	// up to MaxLongTasks.
	LongTasks []Task `json:"long_tasks,omitempty"`
	// Warnings are findings about this run (requests still in flight at
	// the end, no LCP candidate, no quiet window).
	Warnings []string `json:"warnings,omitempty"`
}

// Bounds on the per-run lists kept in a report.
const (
	MaxRequests  = 1000
	MaxLongTasks = 1000
)

// Resource is one row of the bytes-by-type table.
type Resource struct {
	Type     string `json:"type"`
	Bytes    int64  `json:"bytes"`
	Requests int    `json:"requests"`
}

// Request is one row of the waterfall.
type Request struct {
	URL        string        `json:"url"` // truncated to 300 bytes
	Type       string        `json:"type"`
	ThirdParty bool          `json:"third_party,omitempty"`
	Status     int           `json:"status,omitempty"`
	Start      time.Duration `json:"start_ns"`
	// End is when the last byte arrived (or the request failed); zero when
	// the request was still in flight as the run ended.
	End    time.Duration `json:"end_ns,omitempty"`
	Bytes  int64         `json:"bytes"`
	Failed string        `json:"failed,omitempty"`
}

// Task is a long task on the main thread.
type Task struct {
	Start    time.Duration `json:"start_ns"`
	Duration time.Duration `json:"duration_ns"`
}

// Spread summarises one metric over the runs that measured it.
type Spread struct {
	Unit   string  `json:"unit"`
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Resource returns the row of type typ, or nil when the run has none.
func (r *Load) Resource(typ string) *Resource {
	for i := range r.Resources {
		if r.Resources[i].Type == typ {
			return &r.Resources[i]
		}
	}
	return nil
}

// metricValues lists a run's metrics in report order, with whether each
// was measured.
func (r *Load) metricValues(yield func(unit string, v float64, ok bool)) {
	ns := func(d time.Duration) (float64, bool) { return float64(d), d > 0 }
	for _, m := range []struct {
		unit string
		d    time.Duration
	}{{results.UnitTTFB, r.TTFB}, {results.UnitFCP, r.FCP}, {results.UnitLCP, r.LCP}, {results.UnitTTI, r.TTI}} {
		v, ok := ns(m.d)
		yield(m.unit, v, ok)
	}
	yield(budget.UnitTBT, float64(r.TBT), r.TBTMeasured)
	yield(results.UnitCLS, r.CLS, r.Error == "")
	v, ok := ns(r.LoadEvent)
	yield(UnitLoad, v, ok)
	for _, res := range r.Resources {
		yield(results.UnitBytesPrefix+res.Type, float64(res.Bytes), true)
	}
	for _, res := range r.Resources {
		yield(results.UnitReqsPrefix+res.Type, float64(res.Requests), true)
	}
}

// UnitLoad is the page metric for the end of the load event, in ns.
const UnitLoad = "load-ns"

// Summarize fills r.Summary from the successful runs. Byte and request
// counts of failed runs are left out: a run that did not load says nothing
// about the page's weight.
func (r *Report) Summarize() {
	vals := map[string][]float64{}
	var order []string
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Error != "" {
			continue
		}
		run.metricValues(func(unit string, v float64, ok bool) {
			if _, seen := vals[unit]; !seen {
				order = append(order, unit)
				vals[unit] = nil
			}
			if ok {
				vals[unit] = append(vals[unit], v)
			}
		})
	}
	r.Summary = r.Summary[:0]
	for _, unit := range order {
		xs := vals[unit]
		if len(xs) == 0 {
			continue
		}
		st, _ := results.Summarize(xs)
		r.Summary = append(r.Summary, Spread{Unit: unit, N: st.N, Median: st.Median, Min: st.Min, Max: st.Max})
	}
}

// Spread returns the summary of one metric unit.
func (r *Report) Spread(unit string) (Spread, bool) {
	for _, s := range r.Summary {
		if s.Unit == unit {
			return s, true
		}
	}
	return Spread{}, false
}

// Result converts the report to one [results.Benchmark] of Kind "page":
//
//   - Name is the URL; Category "page"; Labels hold "url", "browser",
//     "cpu_slowdown" and "network".
//   - Samples are the per-run load-event end times in ns (Unit "ns/op"),
//     successful runs only, and Stats summarise them: load time is the one
//     timing every successful run has.
//   - Metrics are medians over successful runs: "ttfb-ns", "fcp-ns",
//     "lcp-ns", "tti-ns", "tbt-ns", "cls", "load-ns", "bytes-<type>" and
//     "requests-<type>" for the nine resource types. A metric no run
//     measured is left out, so budgets report it as not measured.
//   - Error is set when no run succeeded; Warnings name failed runs.
//   - Detail is the Report itself as JSON ([DecodeDetail] reads it back).
func (r *Report) Result() (results.Benchmark, error) {
	res := results.Benchmark{
		Name: r.URL, Category: "page", Kind: results.KindPage, Unit: results.UnitNsPerOp,
		Labels: map[string]string{
			"url":          r.URL,
			"cpu_slowdown": strconv.FormatFloat(r.Settings.CPUSlowdown, 'g', -1, 64),
		},
		Warnings: append([]string(nil), r.Warnings...),
	}
	if r.Browser != "" {
		res.Labels["browser"] = r.Browser
	}
	if r.Settings.Network != nil {
		res.Labels["network"] = r.Settings.Network.Name
	}
	var failed []string
	for _, run := range r.Runs {
		if run.Error != "" {
			failed = append(failed, fmt.Sprintf("run %d: %s", run.Index, run.Error))
			continue
		}
		if run.LoadEvent > 0 {
			res.Samples = append(res.Samples, float64(run.LoadEvent))
		}
	}
	res.Warnings = append(res.Warnings, failed...)
	res.Iterations = int64(len(res.Samples))
	res.Stats, _ = results.Summarize(res.Samples)
	// Each sample is one cold load: a single operation.
	res.PerOp = results.NewDistribution(res.Samples)
	for _, s := range r.Summary {
		m := results.Metric{Unit: s.Unit, Value: s.Median}
		res.Metrics = append(res.Metrics, m)
	}
	if len(failed) == len(r.Runs) && len(r.Runs) > 0 {
		res.Error = fmt.Sprintf("all %d runs failed; first: %s", len(r.Runs), r.Runs[0].Error)
	}
	detail, err := json.Marshal(r)
	if err != nil {
		return res, fmt.Errorf("page: encode detail: %w", err)
	}
	res.Detail = detail
	return res, nil
}

// DecodeDetail reads the [Report] stored in a page result's Detail.
func DecodeDetail(raw json.RawMessage) (*Report, error) {
	if len(raw) == 0 {
		return nil, errors.New("page: result has no detail")
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("page: decode detail: %w", err)
	}
	if r.Schema != ReportSchema {
		return nil, fmt.Errorf("page: detail schema %q, want %q", r.Schema, ReportSchema)
	}
	for _, run := range r.Runs {
		if len(run.Requests) > MaxRequests || len(run.LongTasks) > MaxLongTasks {
			return nil, errors.New("page: detail has more requests or long tasks than a report keeps")
		}
		for _, q := range run.Requests {
			if q.Start < 0 || q.End < 0 || q.Bytes < 0 {
				return nil, errors.New("page: detail has a negative request time or size")
			}
		}
	}
	for _, s := range r.Summary {
		if math.IsNaN(s.Median) || math.IsInf(s.Median, 0) {
			return nil, errors.New("page: detail has a non-finite median")
		}
	}
	return &r, nil
}

// Network is an emulated network: every request waits Latency before its
// response headers and shares the download and upload rates.
type Network struct {
	Name     string        `json:"name,omitempty"`
	Latency  time.Duration `json:"latency_ns"`
	Download float64       `json:"download_bytes_per_s"` // 0 means unlimited
	Upload   float64       `json:"upload_bytes_per_s"`   // 0 means unlimited
}
