package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/results"
)

// httpDetail is the Detail of a results.Benchmark of kind "http", as
// load.Report.BenchResults writes it: the endpoint's report and the run's
// description under "run".
type httpDetail struct {
	load.EndpointReport
	// Targets shadows EndpointReport.Targets, which load encodes as a map
	// of percentile names to nanoseconds ("p99_ns") and does not decode.
	Targets map[string]int64 `json:"targets"`
	Run     struct {
		Scenario string           `json:"scenario"`
		Protocol string           `json:"protocol"`
		Engine   string           `json:"engine"`
		Load     load.Load        `json:"load"`
		Timeout  time.Duration    `json:"timeout_ns"`
		Elapsed  time.Duration    `json:"elapsed_ns"`
		Rounds   []load.Round     `json:"rounds"`
		Open     *load.OpenReport `json:"open"`
	} `json:"run"`
}

// httpView is the HTTP card of one endpoint: what was asked, whether its
// latency targets held, what the server answered, where the time went,
// and how the run went round by round and second by second.
type httpView struct {
	Endpoint string
	Facts    []kv
	// Targets are the endpoint's latency targets against the percentiles
	// of every request of the run; TargetsNote says when there are none.
	Targets     []targetView
	TargetsNote string
	Statuses    []statusView
	ErrorKinds  []kv
	Errors      []string
	// Phases summarise request phases; PhasesNote names those not
	// measured.
	Phases     []phaseView
	PhasesNote string
	Rounds     []roundView
	Charts     []template.HTML
	// SeriesNote names intervals left out of the rate line.
	SeriesNote string
	// Absent lists what the results file does not hold for this endpoint.
	Absent []string
}

type targetView struct {
	Percentile, Target, Measured, Status string
	Pass                                 bool
}

type statusView struct {
	Code, Count, Share string
	Unexpected         bool
}

type phaseView struct {
	Name, N, P50, P90, P99, Max string
}

type roundView struct {
	Index, Start, Length, Requests, Rate, ErrorRate, P50, P99 string
}

// targetKeys are the percentile targets load writes, in order, with the
// measured percentile each is judged against.
var targetKeys = []struct {
	key, name string
	value     func(load.Summary) time.Duration
}{
	{"p50_ns", "p50", func(s load.Summary) time.Duration { return s.P50 }},
	{"p90_ns", "p90", func(s load.Summary) time.Duration { return s.P90 }},
	{"p95_ns", "p95", func(s load.Summary) time.Duration { return s.P95 }},
	{"p99_ns", "p99", func(s load.Summary) time.Duration { return s.P99 }},
	{"p99.9_ns", "p99.9", func(s load.Summary) time.Duration { return s.P999 }},
}

// newHTTPView decodes an HTTP result's Detail into its card; it returns
// nil for other kinds and for results without Detail, and an error for a
// Detail it cannot read.
func newHTTPView(b results.Benchmark) (*httpView, error) {
	if b.Kind != results.KindHTTP || len(b.Detail) == 0 {
		return nil, nil
	}
	var d httpDetail
	if err := json.Unmarshal(b.Detail, &d); err != nil {
		return nil, fmt.Errorf("%s: http detail: %w", b.Name, err)
	}
	v := &httpView{Endpoint: strings.TrimSpace(d.Method + " " + d.URL)}
	v.facts(&d)
	v.targets(&d)
	v.statuses(&d)
	v.phases(&d)
	v.rounds(&d)
	if err := v.series(&d); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *httpView) facts(d *httpDetail) {
	add := func(k, val string) {
		if val != "" {
			v.Facts = append(v.Facts, kv{k, val})
		}
	}
	add("phase", d.Phase)
	add("category", d.Category)
	add("scenario", d.Run.Scenario)
	add("protocol", strings.TrimSpace(d.Run.Protocol+" ("+d.Run.Engine+")"))
	l := d.Run.Load
	if l.Model != "" {
		model := string(l.Model) + " model, " + strconv.Itoa(l.Concurrency) + " connections"
		if l.Model == load.ModelOpen {
			model += ", " + FormatValue(l.Rate, results.UnitReqPerSec) + " intended"
		}
		add("load", model)
	}
	switch {
	case l.Duration > 0 && l.Requests > 0:
		add("stops after", FormatDuration(float64(l.Duration))+" or "+strconv.FormatInt(l.Requests, 10)+" requests")
	case l.Duration > 0:
		add("stops after", FormatDuration(float64(l.Duration)))
	case l.Requests > 0:
		add("stops after", strconv.FormatInt(l.Requests, 10)+" requests")
	}
	if d.Run.Elapsed > 0 {
		add("measured for", FormatDuration(float64(d.Run.Elapsed)))
	}
	if d.Run.Timeout > 0 {
		add("request timeout", FormatDuration(float64(d.Run.Timeout)))
	}
	add("requests", fmt.Sprintf("%d (%s errors, %s timeouts)", d.Requests, formatFraction(d.ErrorRate), formatFraction(d.TimeoutRate)))
	if d.Phase != "setup" {
		add("throughput", FormatValue(d.Rate, results.UnitReqPerSec))
	}
	if d.Requests > 0 {
		add("availability", formatFraction(d.Availability))
	}
	if d.Canceled > 0 {
		add("canceled", strconv.FormatInt(d.Canceled, 10)+" (aborted when the run stopped; in no rate)")
	}
	add("received", bytesPair(d.BytesIn, d.WireBytesIn))
	add("sent", bytesPair(d.BytesOut, d.WireBytesOut))
	if d.Reauth > 0 {
		add("re-authenticated", strconv.FormatInt(d.Reauth, 10)+" requests answered 401 and sent again")
	}
	if o := d.Run.Open; o != nil && d.Phase != "setup" {
		add("arrivals", fmt.Sprintf("intended %s, dispatched %s; %d late (> %s), %d of them with a free connection; %d dropped",
			FormatValue(o.Rate, results.UnitReqPerSec), FormatValue(o.Achieved, results.UnitReqPerSec), o.Late,
			FormatDuration(float64(o.LateAfter)), o.GeneratorLate, o.Dropped))
		if d.ServiceTime != nil && d.ServiceTime.N > 0 {
			add("service time p99", FormatDuration(float64(d.ServiceTime.P99))+" (from the actual send)")
		}
	}
}

// bytesPair renders body bytes and, when known, bytes on the wire.
func bytesPair(body, wire int64) string {
	if body == 0 && wire == 0 {
		return ""
	}
	s := FormatBytes(float64(body)) + " of bodies"
	if wire > 0 {
		s += ", " + FormatBytes(float64(wire)) + " on the wire"
	}
	return s
}

func (v *httpView) targets(d *httpDetail) {
	if d.Targets == nil {
		v.Absent = append(v.Absent, "latency targets")
	}
	for _, t := range targetKeys {
		limit, ok := d.Targets[t.key]
		if !ok || limit <= 0 {
			continue
		}
		// The rule of load.Report.Verdict: inclusive, and nothing measured
		// passes no target.
		tv := targetView{Percentile: t.name, Target: "≤ " + FormatDuration(float64(limit)), Measured: "-", Status: "fail: no latency measured"}
		if d.Latency.N > 0 {
			got := t.value(d.Latency)
			tv.Measured = FormatDuration(float64(got))
			tv.Pass = got <= time.Duration(limit)
			tv.Status = map[bool]string{true: "pass", false: "fail"}[tv.Pass]
		}
		v.Targets = append(v.Targets, tv)
	}
	if len(v.Targets) == 0 {
		v.TargetsNote = "no latency targets set for this endpoint"
	}
}

func (v *httpView) statuses(d *httpDetail) {
	codes := make([]string, 0, len(d.StatusCodes))
	for c := range d.StatusCodes {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	share := func(n int64) string {
		if d.Requests == 0 {
			return "-"
		}
		return formatFraction(float64(n) / float64(d.Requests))
	}
	for _, c := range codes {
		_, bad := d.UnexpectedStatus[c]
		v.Statuses = append(v.Statuses, statusView{Code: c, Count: strconv.FormatInt(d.StatusCodes[c], 10), Share: share(d.StatusCodes[c]), Unexpected: bad})
	}
	kinds := make([]string, 0, len(d.ErrorKinds))
	for k := range d.ErrorKinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		v.ErrorKinds = append(v.ErrorKinds, kv{k, strconv.FormatInt(d.ErrorKinds[k], 10) + " (" + share(d.ErrorKinds[k]) + ")"})
	}
	v.Errors = d.ErrorSamples
}

// phaseOrder is the order of a request's phases.
var phaseOrder = []string{"dns", "connect", "tls", "ttfb", "body"}

func (v *httpView) phases(d *httpDetail) {
	var missing []string
	for _, name := range phaseOrder {
		s, ok := d.Phases[name]
		if !ok || s.N == 0 {
			missing = append(missing, name)
			continue
		}
		f := func(x time.Duration) string { return FormatDuration(float64(x)) }
		v.Phases = append(v.Phases, phaseView{Name: name, N: strconv.FormatInt(s.N, 10), P50: f(s.P50), P90: f(s.P90), P99: f(s.P99), Max: f(s.Max)})
	}
	if len(missing) > 0 {
		v.PhasesNote = "not measured: " + strings.Join(missing, ", ")
		if slices.Contains(missing, "tls") && strings.HasPrefix(d.URL, "http://") {
			v.PhasesNote += " (plain HTTP: no TLS)"
		}
		if _, ok := d.Phases["ttfb"]; ok && slices.Contains(missing, "connect") {
			v.PhasesNote += "; every request of this endpoint reused a connection opened before it"
		}
	}
}

func (v *httpView) rounds(d *httpDetail) {
	for i, r := range d.Rounds {
		rv := roundView{Index: strconv.Itoa(i + 1), Start: "-", Length: "-", Requests: strconv.FormatInt(r.Requests, 10),
			Rate: FormatValue(r.Rate, results.UnitReqPerSec), ErrorRate: formatFraction(r.ErrorRate), P50: "-", P99: "-"}
		if i < len(d.Run.Rounds) {
			w := d.Run.Rounds[i]
			rv.Start, rv.Length = FormatDuration(float64(w.Start)), FormatDuration(float64(w.Length))
		}
		if r.LatencyN > 0 {
			rv.P50, rv.P99 = FormatDuration(float64(r.P50)), FormatDuration(float64(r.P99))
		}
		v.Rounds = append(v.Rounds, rv)
	}
	if len(d.Rounds) == 0 && d.Phase != "setup" {
		v.Absent = append(v.Absent, "per-round figures")
	}
}

// series draws the endpoint's per-interval traffic: requests (and errors)
// per second, and latency p50 and p99 per interval.
func (v *httpView) series(d *httpDetail) error {
	pts := d.Series.Points
	if len(pts) == 0 {
		if d.Phase != "setup" {
			v.Absent = append(v.Absent, "per-second series")
		}
		return nil
	}
	var x, rps, eps, p50, p99 []float64
	errs := false
	full := d.Series.Interval.Seconds()
	var short []string
	for _, p := range pts {
		x = append(x, p.T)
		per := func(n int64) float64 {
			// A rate over a sliver of an interval (the run's last) is
			// mostly noise: leave it out of the line.
			if p.D <= 0 || p.D < full/2 {
				return math.NaN()
			}
			return float64(n) / p.D
		}
		if p.D < full/2 {
			short = append(short, fmt.Sprintf("%s at %s", FormatDuration(p.D*1e9), FormatDuration(p.T*1e9)))
		}
		rps, eps = append(rps, per(p.Requests)), append(eps, per(p.Errors))
		errs = errs || p.Errors > 0
		if p.P99 > 0 {
			p50, p99 = append(p50, float64(p.P50)), append(p99, float64(p.P99))
		} else {
			// An interval without responses breaks the latency lines.
			p50, p99 = append(p50, math.NaN()), append(p99, math.NaN())
		}
	}
	if len(short) > 0 {
		v.SeriesNote = "intervals shorter than half of " + FormatDuration(float64(d.Series.Interval)) + " are left out of the rate line: " + strings.Join(short, ", ")
	}
	iv := FormatDuration(float64(d.Series.Interval))
	tp := LineChart{Title: "Requests per second (per " + iv + " interval)", XLabel: "time from the start", YFromZero: true,
		Series: []Series{{Name: "requests/s", X: x, Y: rps}}, FormatX: seconds, FormatY: formatSI}
	if errs {
		tp.Series = append(tp.Series, Series{Name: "errors/s", X: x, Y: eps, Color: ColorRegression})
	}
	lat := LineChart{Title: "Latency per " + iv + " interval (p50, p99)", XLabel: "time from the start", YFromZero: true,
		Series: []Series{{Name: "p50", X: x, Y: p50}, {Name: "p99", X: x, Y: p99, Color: ColorOverflow}}, FormatX: seconds, FormatY: FormatDuration}
	for _, c := range []LineChart{tp, lat} {
		var buf bytes.Buffer
		if err := SVGLineChart(&buf, c); err != nil {
			return err
		}
		v.Charts = append(v.Charts, template.HTML(buf.String())) // #nosec: built by SVGLineChart, which escapes all text
	}
	return nil
}

// seconds renders an axis tick in seconds.
func seconds(s float64) string { return FormatDuration(s * 1e9) }
