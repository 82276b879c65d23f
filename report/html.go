package report

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/page"
	"github.com/perfagent/perfagent/results"
)

//go:embed page.html.tmpl
var pageTemplate string

// HTML writes one self-contained HTML page describing res and, when cmp is
// not nil, its comparison with a baseline. The page has inline CSS and
// inline SVG charts, no scripts and a Content-Security-Policy that forbids
// loading anything, so it renders the same offline, in a mail attachment
// or in a CI artifact viewer.
//
// For each benchmark it shows the statistics table in the benchmark's unit,
// allocations, metrics, labels, warnings and error, and a chart: the
// distribution of the samples with p50/p95/p99 markers, or, for results
// without samples (histogram-based KindHTTP results), a bar chart of their
// percentiles. Results with "bytes-" metrics (page loads) also get a bar
// chart of those. The comparison section charts every benchmark's change
// with its significance ("~" when not significant) and lists all compared
// values. HTML's signature matches [bench.Renderer].
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
	Env        []kv
	Warnings   []string
	Comparison *cmpView
	Benchmarks []benchView
	Failed     int
}

type cmpView struct {
	Chart       template.HTML
	Rows        []cmpRowView
	Regressions int
	Failed      bool
	Warnings    []string
	Alpha       string
	Threshold   string
}

type cmpRowView struct {
	Name, Unit, Base, Current, Delta, P, Status string
	Primary                                     bool
	Warnings                                    []string
}

type benchView struct {
	ID, Name, Category, Kind, Unit string
	Error                          string
	Stats                          []kv
	Metrics                        []kv
	Labels                         []kv
	Charts                         []template.HTML
	Warnings                       []string
	Versus                         string // primary comparison row, rendered
	VersusStatus                   string
}

func newPageView(res *results.Run, cmp *bench.Comparison) (*pageView, error) {
	v := &pageView{
		Suite:    res.Suite,
		Started:  formatTime(res.StartedAt),
		Finished: formatTime(res.FinishedAt),
		Partial:  res.Partial,
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
	primary := map[string]bench.Row{}
	if cmp != nil {
		cv, err := newCmpView(cmp)
		if err != nil {
			return nil, err
		}
		v.Comparison = cv
		for _, r := range cmp.Rows {
			if r.Primary {
				primary[r.Name] = r
			}
		}
	}
	ids := map[string]int{}
	for _, b := range res.Benchmarks {
		bv, err := newBenchView(b)
		if err != nil {
			return nil, err
		}
		bv.ID = anchor(b.Name, ids)
		if r, ok := primary[b.Name]; ok {
			bv.Versus = fmt.Sprintf("%s vs baseline %s (%s)", r.DeltaString(), FormatValue(r.Base, r.Unit), r.PString())
			bv.VersusStatus = string(r.Status)
		}
		if b.Error != "" {
			v.Failed++
		}
		v.Benchmarks = append(v.Benchmarks, bv)
	}
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
		Regressions: len(c.Regressions()),
		Failed:      c.Failed(),
		Warnings:    c.Warnings,
		Alpha:       strconv.FormatFloat(c.Alpha, 'g', 3, 64),
		Threshold:   fmt.Sprintf("%.3g%%", 100*c.Threshold),
	}
	var bars []Bar
	for _, r := range c.Rows {
		// The test column already says "no test".
		warns := slices.DeleteFunc(slices.Clone(r.Warnings), func(w string) bool { return strings.HasPrefix(w, "no significance test") })
		v.Rows = append(v.Rows, cmpRowView{
			Name: r.Name, Unit: r.Unit, Primary: r.Primary, Status: string(r.Status), Warnings: warns,
			Base: valueOrDash(r.Base, r.Unit, r.Status != bench.StatusNew), Current: valueOrDash(r.Current, r.Unit, r.Status != bench.StatusMissing),
			Delta: r.DeltaString(), P: r.PString(),
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
		case r.Tested && !r.Significant:
			b.Note = "~ " + r.PString()
		case r.Tested:
			b.Note = "* " + r.PString()
		default:
			b.Note = "(no test)"
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
	unit := b.Unit
	if unit == "" {
		unit = results.UnitNsPerOp
	}
	kind := b.Kind
	if kind == "" {
		kind = results.KindFunc
	}
	v := benchView{Name: b.Name, Category: b.Category, Kind: kind, Unit: unit, Error: b.Error, Warnings: b.Warnings}
	st := b.Stats
	f := func(x float64) string { return FormatValue(x, unit) }
	v.Stats = []kv{{"samples", strconv.Itoa(st.N)}, {"operations", strconv.FormatInt(b.Iterations, 10)}}
	if st.N > 0 {
		median := f(st.Median)
		if st.CIConfidence > 0 {
			median += fmt.Sprintf(" [%s, %s] at %.0f%%", f(st.CILow), f(st.CIHigh), 100*st.CIConfidence)
		}
		v.Stats = append(v.Stats, kv{"median", median}, kv{"mean", f(st.Mean)})
		// Histogram-based results may lack the spread and outlier count.
		if len(b.Samples) > 0 || st.Stddev > 0 {
			v.Stats = append(v.Stats, kv{"stddev", f(st.Stddev)}, kv{"CV", fmt.Sprintf("%.1f%%", 100*st.CV)})
		}
		v.Stats = append(v.Stats, kv{"min", f(st.Min)}, kv{"p50", f(st.P50)}, kv{"p95", f(st.P95)}, kv{"p99", f(st.P99)}, kv{"max", f(st.Max)})
		if len(b.Samples) > 0 {
			v.Stats = append(v.Stats, kv{"outliers", strconv.Itoa(st.Outliers)})
		}
	}
	if b.AllocsPerOp != nil {
		v.Stats = append(v.Stats, kv{"allocs/op", FormatValue(*b.AllocsPerOp, "allocs/op")})
	}
	if b.BytesPerOp != nil {
		v.Stats = append(v.Stats, kv{"B/op", FormatValue(*b.BytesPerOp, "B/op")})
	}
	for _, m := range b.Metrics {
		label := m.Unit
		if m.Better == "higher" {
			label += " (higher is better)"
		}
		v.Metrics = append(v.Metrics, kv{label, FormatValue(m.Value, m.Unit)})
	}
	keys := make([]string, 0, len(b.Labels))
	for k := range b.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v.Labels = append(v.Labels, kv{k, b.Labels[k]})
	}

	var buf bytes.Buffer
	switch {
	case len(b.Samples) > 0:
		h := Histogram{Title: "Distribution of " + strconv.Itoa(len(b.Samples)) + " samples (" + unit + ")", Values: b.Samples, Format: f,
			Markers: []Marker{{Label: "p50", Value: st.P50, Color: ColorImprovement}, {Label: "p95", Value: st.P95, Color: ColorOverflow}, {Label: "p99", Value: st.P99, Color: ColorRegression}}}
		// A long tail would squeeze the body of the distribution into a
		// few bins: show it as a count instead.
		if clip := st.P99 + (st.P99 - st.P50); st.Max > clip && clip > st.Min {
			h.ClipAbove = clip
		}
		if err := SVGHistogram(&buf, h); err != nil {
			return v, err
		}
		v.Charts = append(v.Charts, template.HTML(buf.String())) // #nosec: built by SVGHistogram, which escapes all text
	case st.N > 0:
		if err := SVGBarChart(&buf, BarChart{Title: "Percentiles (" + unit + ")", Bars: percentileBars(b), Format: f}); err != nil {
			return v, err
		}
		v.Charts = append(v.Charts, template.HTML(buf.String())) // #nosec: built by SVGBarChart
	}
	if b.Kind == results.KindPage && len(b.Detail) > 0 {
		// Page loads: bytes by type and the waterfall of the median run,
		// drawn by the package that measured them.
		if r, err := page.DecodeDetail(b.Detail); err == nil {
			buf.Reset()
			if err := page.RenderSVG(&buf, r); err != nil {
				return v, err
			}
			v.Charts = append(v.Charts, template.HTML(buf.String())) // #nosec: page.RenderSVG escapes all text
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

// percentileBars lists the percentiles a sample-less result has: p50, p95
// and p99 from Stats, p90 and p99.9 from metrics, and the maximum.
func percentileBars(b results.Benchmark) []Bar {
	st := b.Stats
	metric := func(unit string) (float64, bool) {
		for _, m := range b.Metrics {
			if m.Unit == unit {
				return m.Value, true
			}
		}
		return 0, false
	}
	bars := []Bar{{Label: "p50", Value: st.P50}}
	if v, ok := metric(results.UnitP90); ok {
		bars = append(bars, Bar{Label: "p90", Value: v})
	}
	bars = append(bars, Bar{Label: "p95", Value: st.P95}, Bar{Label: "p99", Value: st.P99})
	if v, ok := metric(results.UnitP999); ok {
		bars = append(bars, Bar{Label: "p99.9", Value: v})
	}
	if st.Max > 0 {
		bars = append(bars, Bar{Label: "max", Value: st.Max, Color: ColorOverflow})
	}
	if st.Mean > 0 {
		bars = append(bars, Bar{Label: "mean", Value: st.Mean, Color: ColorNeutral})
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
