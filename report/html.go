package report

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
	"github.com/perfagent/perfagent/results/pageload"
)

//go:embed page.html.tmpl
var pageTemplate string

// HTML writes one self-contained HTML page describing res and, when cmp is
// not nil, its comparison with a baseline. The page has inline CSS and
// inline SVG charts, no scripts and a Content-Security-Policy that forbids
// loading anything, so it renders the same offline, in a mail attachment
// or in a CI artifact viewer.
//
// The page opens with the summary table of every benchmark (see the package
// documentation), with the comparison's columns when cmp is not nil. The
// comparison section then charts every benchmark's change and lists every
// compared value with its test and gate status. Each benchmark's card shows
// the statistics of its rounds, the per-operation distribution where one
// was measured, allocations, metrics (those measured once say so), labels,
// warnings and error, and charts: the distribution of the rounds with the
// median marked, the per-operation percentiles, and, for HTTP results, the
// endpoint's facts, latency targets (pass or fail against the run's
// percentiles, the rule of load's verdict), status codes and errors by
// kind, request phases, rounds and its per-second series; for page loads,
// bytes by type and the waterfall. HTML's signature matches
// [bench.Renderer].
func HTML(w io.Writer, res *results.Run, cmp *bench.Comparison) error {
	if res == nil {
		return errors.New("report: html: nil results")
	}
	tmpl, err := template.New("page").Parse(pageTemplate)
	if err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	v, err := newPageView(res, cmp)
	if err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	if err := tmpl.Execute(w, v); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	return nil
}

var _ bench.Renderer = HTML

type kv struct{ Key, Value string }

type pageView struct {
	Title      string
	Suite      string
	Started    string
	Finished   string
	Duration   string
	Partial    bool
	Quick      bool
	Env        []kv
	Parameters []kv
	Warnings   []string
	Summary    summary
	Comparison *cmpView
	Benchmarks []benchView
	Failed     int
}

type cmpView struct {
	Chart        template.HTML
	Rows         []cmpRowView
	Regressions  int
	Failed       bool
	Gated        int
	Common       int
	Incompatible []string
	Warnings     []string
	Alpha        string
	Threshold    string
}

type cmpRowView struct {
	Name, Unit, Base, Current, Delta, P, AdjP, N, Gate, GateClass string
	Primary                                                       bool
	Warnings                                                      []string
}

type benchView struct {
	ID, Name, Category, Kind, Unit string
	Error                          string
	Stats                          []kv
	PerOp                          []kv
	PerOpN                         string
	Metrics                        []kv
	Labels                         []kv
	Charts                         []template.HTML
	HTTP                           *httpView
	Warnings                       []string
	Versus                         string // primary comparison row, rendered
	VersusClass                    string
}

func newPageView(res *results.Run, cmp *bench.Comparison) (*pageView, error) {
	v := &pageView{
		Suite:    res.Suite,
		Started:  formatTime(res.StartedAt),
		Finished: formatTime(res.FinishedAt),
		Partial:  res.Partial,
		Quick:    res.Quick,
		Warnings: res.Warnings,
	}
	v.Title = "Benchmark report"
	if res.Suite != "" {
		v.Title = "Benchmark report: " + res.Suite
	}
	if !res.StartedAt.IsZero() && res.FinishedAt.After(res.StartedAt) {
		v.Duration = res.FinishedAt.Sub(res.StartedAt).Round(1e7).String()
	}
	v.Env = envRows(res.Environment)
	for _, k := range slices.Sorted(maps.Keys(res.Parameters)) {
		v.Parameters = append(v.Parameters, kv{k, res.Parameters[k]})
	}
	primary := map[string]bench.Row{}
	if cmp != nil {
		cv, err := newCmpView(cmp)
		if err != nil {
			return nil, err
		}
		v.Comparison = cv
		for _, r := range cmp.Rows {
			if _, dup := primary[r.Name]; r.Primary && !dup {
				primary[r.Name] = r
			}
		}
	}
	used := map[string]int{}
	var ids []string
	for _, b := range res.Benchmarks {
		bv, err := newBenchView(b)
		if err != nil {
			return nil, err
		}
		bv.ID = anchor(b.Name, used)
		ids = append(ids, bv.ID)
		if r, ok := primary[b.Name]; ok {
			gate, class := gateStatus(r)
			bv.Versus = gate
			if r.Status != bench.StatusNew && r.Status != bench.StatusFailed {
				bv.Versus = fmt.Sprintf("%s: %s vs baseline %s", gate, r.DeltaString(), FormatValue(r.Base, r.Unit))
			}
			bv.VersusClass = class
		}
		if b.Error != "" {
			v.Failed++
		}
		v.Benchmarks = append(v.Benchmarks, bv)
	}
	v.Summary = newSummary(res, cmp, ids)
	return v, nil
}

func envRows(e results.Environment) []kv {
	rows := []kv{{"Go", e.GoVersion}, {"OS/arch", strings.Trim(e.GOOS+"/"+e.GOARCH, "/")}, {"CPU", e.CPU}}
	if e.NumCPU > 0 || e.GOMAXPROCS > 0 {
		rows = append(rows, kv{"CPUs / GOMAXPROCS", fmt.Sprintf("%d / %d", e.NumCPU, e.GOMAXPROCS)})
	}
	rows = append(rows, kv{"Host", e.Hostname})
	if e.Revision != "" {
		rev := e.Revision
		if e.Modified {
			rev += " (modified)"
		}
		rows = append(rows, kv{"Revision", rev})
	}
	return slices.DeleteFunc(rows, func(r kv) bool { return r.Value == "" })
}

func newCmpView(c *bench.Comparison) (*cmpView, error) {
	v := &cmpView{
		Regressions:  len(c.Regressions()),
		Failed:       c.Failed(),
		Gated:        c.Gated,
		Common:       c.Common,
		Incompatible: c.Incompatible,
		Warnings:     c.Warnings,
		Alpha:        strconv.FormatFloat(c.Alpha, 'g', 3, 64),
		Threshold:    fmt.Sprintf("%.3g%%", 100*c.Threshold),
	}
	var bars []Bar
	for _, r := range c.Rows {
		// The gate column already says why a row was not gated.
		warns := slices.DeleteFunc(slices.Clone(r.Warnings), func(w string) bool { return strings.HasPrefix(w, "no significance test") })
		p, adj := formatP(r)
		gate, class := gateStatus(r)
		n := "-"
		if r.BaseN > 0 || r.CurrentN > 0 {
			n = fmt.Sprintf("%d+%d", r.BaseN, r.CurrentN)
		}
		v.Rows = append(v.Rows, cmpRowView{
			Name: r.Name, Unit: r.Unit, Primary: r.Primary, Gate: gate, GateClass: class, Warnings: warns,
			Base: valueOrDash(r.Base, r.Unit, r.Status != bench.StatusNew), Current: valueOrDash(r.Current, r.Unit, r.Status != bench.StatusMissing),
			Delta: r.DeltaString(), P: p, AdjP: adj, N: n,
		})
		if !r.Primary {
			continue
		}
		switch r.Status {
		case bench.StatusNew, bench.StatusMissing, bench.StatusFailed, bench.StatusIncomparable:
			continue
		}
		b := Bar{Label: r.Name, Value: 100 * r.Delta, Color: ColorNeutral}
		switch r.Status {
		case bench.StatusRegression:
			b.Color = ColorRegression
		case bench.StatusImprovement:
			b.Color = ColorImprovement
		}
		switch {
		case r.Gated && !r.Significant:
			b.Note = "~ adj. p=" + adj
		case r.Gated:
			b.Note = "* adj. p=" + adj
		default:
			b.Note = "(not gated)"
		}
		bars = append(bars, b)
	}
	if len(bars) > 0 {
		var buf bytes.Buffer
		err := SVGBarChart(&buf, BarChart{Title: "Change vs baseline (median, %)", Bars: bars, Width: 760,
			Format: func(v float64) string { return fmt.Sprintf("%+.1f%%", v) }})
		if err != nil {
			return nil, err
		}
		v.Chart = template.HTML(buf.String()) // #nosec: built by SVGBarChart, which escapes all text
	}
	return v, nil
}

func valueOrDash(v float64, unit string, ok bool) string {
	if !ok {
		return "-"
	}
	return FormatValue(v, unit)
}

func newBenchView(b results.Benchmark) (benchView, error) {
	unit := b.PrimaryUnit()
	kind := b.Kind
	if kind == "" {
		kind = results.KindFunc
	}
	v := benchView{Name: b.Name, Category: b.Category, Kind: kind, Unit: unit, Error: b.Error, Warnings: b.Warnings}
	st := b.Stats
	f := func(x float64) string { return FormatValue(x, unit) }
	// A memory result's samples are the heap over time; every other
	// kind's are rounds.
	word := "rounds"
	if kind == results.KindMemory {
		word = "samples"
	}
	switch {
	case len(b.Samples) > 0:
		v.Stats = []kv{{word, strconv.Itoa(len(b.Samples))}, {"operations", strconv.FormatInt(b.Iterations, 10)}}
		median := f(st.Median)
		if st.CIConfidence > 0 {
			median += fmt.Sprintf(" [%s, %s] at %.0f%%", f(st.CILow), f(st.CIHigh), 100*st.CIConfidence)
		}
		v.Stats = append(v.Stats, kv{"median of " + word, median}, kv{"mean", f(st.Mean)}, kv{"stddev", f(st.Stddev)},
			kv{"CV", fmt.Sprintf("%.1f%%", 100*st.CV)}, kv{"min", f(st.Min)}, kv{"max", f(st.Max)}, kv{"outliers", strconv.Itoa(st.Outliers)})
	case st.N > 0:
		val := st.Median
		if val == 0 {
			val = st.Mean
		}
		v.Stats = []kv{{"measured", "once (not gated by comparisons)"}, {"operations", strconv.FormatInt(b.Iterations, 10)}, {"value", f(val)}}
	default:
		v.Stats = []kv{{"operations", strconv.FormatInt(b.Iterations, 10)}, {"value", "not measured"}}
	}
	if b.AllocsPerOp != nil {
		v.Stats = append(v.Stats, kv{"allocs/op", FormatValue(*b.AllocsPerOp, "allocs/op")})
	}
	if b.BytesPerOp != nil {
		v.Stats = append(v.Stats, kv{"B/op", FormatValue(*b.BytesPerOp, "B/op")})
	}
	if d := b.PerOp; d != nil {
		v.PerOpN = strconv.FormatInt(d.N, 10)
		v.PerOp = []kv{{"mean", f(d.Mean)}, {"p50", f(d.P50)}, {"p90", f(d.P90)}, {"p95", f(d.P95)}, {"p99", f(d.P99)}, {"p99.9", f(d.P999)}, {"max", f(d.Max)}}
	}
	for _, m := range b.Metrics {
		label := m.Unit
		if m.Better == results.BetterHigher {
			label += " (higher is better)"
		}
		val := FormatValue(m.Value, m.Unit)
		if len(m.Samples) == 0 {
			val += " (measured once)"
		}
		v.Metrics = append(v.Metrics, kv{label, val})
	}
	for _, k := range slices.Sorted(maps.Keys(b.Labels)) {
		v.Labels = append(v.Labels, kv{k, b.Labels[k]})
	}

	var buf bytes.Buffer
	if len(b.Samples) > 0 {
		h := Histogram{Title: "Distribution of " + strconv.Itoa(len(b.Samples)) + " " + word + " (" + unit + ")", Values: b.Samples, Format: f,
			Markers: []Marker{{Label: "median", Value: st.Median, Color: ColorImprovement}}}
		// A long tail would squeeze the body of the distribution into a
		// few bins: show it as a count instead.
		if clip := st.P99 + (st.P99 - st.P50); st.Max > clip && clip > st.Min {
			h.ClipAbove = clip
		}
		if err := SVGHistogram(&buf, h); err != nil {
			return v, err
		}
		v.Charts = append(v.Charts, template.HTML(buf.String())) // #nosec: built by SVGHistogram, which escapes all text
	}
	if b.PerOp != nil {
		buf.Reset()
		if err := SVGBarChart(&buf, BarChart{Title: "Percentiles per operation (" + unit + ", n=" + v.PerOpN + ")", Bars: percentileBars(b.PerOp), Format: f}); err != nil {
			return v, err
		}
		v.Charts = append(v.Charts, template.HTML(buf.String())) // #nosec: built by SVGBarChart
	}
	hv, err := newHTTPView(b)
	if err != nil {
		v.Warnings = append(slices.Clone(v.Warnings), err.Error())
	}
	v.HTTP = hv
	if b.Kind == results.KindPage && len(b.Detail) > 0 {
		// Page loads: bytes by type and the waterfall of the median run,
		// drawn by the package that measured them.
		if r, err := pageload.DecodeDetail(b.Detail); err == nil {
			buf.Reset()
			if err := pageload.RenderSVG(&buf, r); err != nil {
				return v, err
			}
			v.Charts = append(v.Charts, template.HTML(buf.String())) // #nosec: pageload.RenderSVG escapes all text
			return v, nil
		}
	}
	var bytesBars []Bar
	for _, m := range b.Metrics {
		if strings.HasPrefix(m.Unit, results.UnitBytesPrefix) {
			bytesBars = append(bytesBars, Bar{Label: strings.TrimPrefix(m.Unit, results.UnitBytesPrefix), Value: m.Value})
		}
	}
	if len(bytesBars) > 0 {
		buf.Reset()
		if err := SVGBarChart(&buf, BarChart{Title: "Bytes by type", Bars: bytesBars, Format: FormatBytes}); err != nil {
			return v, err
		}
		v.Charts = append(v.Charts, template.HTML(buf.String())) // #nosec: built by SVGBarChart
	}
	return v, nil
}

// percentileBars draws a per-operation distribution: p50 to p99.9, the
// maximum and the mean.
func percentileBars(d *results.Distribution) []Bar {
	bars := []Bar{{Label: "p50", Value: d.P50}, {Label: "p90", Value: d.P90}, {Label: "p95", Value: d.P95}, {Label: "p99", Value: d.P99}, {Label: "p99.9", Value: d.P999}}
	if d.Max > 0 {
		bars = append(bars, Bar{Label: "max", Value: d.Max, Color: ColorOverflow})
	}
	if d.Mean > 0 {
		bars = append(bars, Bar{Label: "mean", Value: d.Mean, Color: ColorNeutral})
	}
	return bars
}

// anchor makes a unique HTML id from a benchmark name.
func anchor(name string, used map[string]int) string {
	var sb strings.Builder
	sb.WriteString("b-")
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			sb.WriteRune(r)
		default:
			sb.WriteByte('-')
		}
	}
	id := sb.String()
	used[id]++
	if n := used[id]; n > 1 {
		id += "-" + strconv.Itoa(n)
	}
	return id
}
