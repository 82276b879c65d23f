package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/perfagent/perfagent/results"
	"golang.org/x/perf/benchmath"
)

// Defaults of [CompareOptions].
const (
	DefaultAlpha     = 0.05
	DefaultThreshold = 0.05
)

// CompareOptions control [Compare]. The zero value means the defaults.
type CompareOptions struct {
	// Alpha is the significance level of the Mann-Whitney U test: a
	// difference with p ≤ Alpha is significant. Default 0.05; values outside
	// (0, 1) mean the default.
	Alpha float64
	// Threshold is the relative change (0.05 = 5%) in the worse direction
	// beyond which a significant change is a regression (and a change in the
	// better direction an improvement). Default 0.05; negative: 0, so every
	// significant worsening is a regression.
	Threshold float64
}

func (o CompareOptions) withDefaults() CompareOptions {
	if !(o.Alpha > 0 && o.Alpha < 1) {
		o.Alpha = DefaultAlpha
	}
	switch {
	case o.Threshold == 0:
		o.Threshold = DefaultThreshold
	case o.Threshold < 0 || math.IsNaN(o.Threshold):
		o.Threshold = 0
	}
	return o
}

// Status classifies one [Row].
type Status string

// Row statuses.
const (
	StatusUnchanged    Status = "unchanged"    // no significant change beyond the threshold
	StatusRegression   Status = "regression"   // worse beyond the threshold (significant when tested)
	StatusImprovement  Status = "improvement"  // better beyond the threshold (significant when tested)
	StatusNew          Status = "new"          // only in the current run
	StatusMissing      Status = "missing"      // only in the baseline
	StatusFailed       Status = "failed"       // the current run's benchmark failed
	StatusIncomparable Status = "incomparable" // units differ, baseline failed, or the baseline value is 0
)

// Comparison is a run compared with a baseline, benchmark by benchmark. It
// is plain data (JSON-encodable) so CI tools can check it.
type Comparison struct {
	Alpha     float64 `json:"alpha"`
	Threshold float64 `json:"threshold"`
	// BaseEnvironment and Environment describe the two runs.
	BaseEnvironment results.Environment `json:"base_environment"`
	Environment     results.Environment `json:"environment"`
	// Rows has, for each benchmark in run order (then baseline-only ones),
	// one row for the primary unit followed by rows for allocs/op, B/op and
	// each metric present in both runs.
	Rows []Row `json:"rows"`
	// Warnings are comparison-wide findings (environments differ).
	Warnings []string `json:"warnings,omitempty"`
}

// Row compares one value of one benchmark.
type Row struct {
	Name     string `json:"name"`
	Category string `json:"category,omitempty"`
	// Unit is the compared value's unit: the benchmark's primary unit,
	// "allocs/op", "B/op" or a metric's unit.
	Unit string `json:"unit"`
	// Primary is true for the row of the benchmark's primary unit.
	Primary bool `json:"primary"`
	// Base and Current are the compared centres: medians of the samples, or
	// the single values of unsampled results and metrics.
	Base    float64 `json:"base"`
	Current float64 `json:"current"`
	// BaseN and CurrentN are the sample counts (0 for single values).
	BaseN    int `json:"base_n"`
	CurrentN int `json:"current_n"`
	// Delta is Current/Base - 1 (0 when Base is 0).
	Delta float64 `json:"delta"`
	// Tested is true when both sides had samples and the Mann-Whitney U
	// test ran; P is then its p-value and Significant is P ≤ Alpha.
	Tested      bool    `json:"tested"`
	P           float64 `json:"p,omitempty"`
	Significant bool    `json:"significant"`
	// Better is "lower" or "higher".
	Better string `json:"better"`
	Status Status `json:"status"`
	// Warnings explain untested or doubtful rows (too few samples, no
	// samples, failed benchmarks).
	Warnings []string `json:"warnings,omitempty"`
}

// Regression reports whether the row is a regression.
func (r Row) Regression() bool { return r.Status == StatusRegression }

// DeltaString renders the change the way benchstat does: "~" when tested and
// not significant, else the signed percentage ("+3.21%"), "0.00%" for equal
// values, and "?" when there is nothing to compare.
func (r Row) DeltaString() string {
	switch r.Status {
	case StatusNew, StatusMissing, StatusFailed, StatusIncomparable:
		return "?"
	}
	if r.Tested && !r.Significant {
		return "~"
	}
	if r.Base == r.Current {
		return "0.00%"
	}
	return fmt.Sprintf("%+.2f%%", 100*r.Delta)
}

// PString renders the p-value and sample sizes ("p=0.002 n=10+10"), or
// "no test" for untested rows.
func (r Row) PString() string {
	if !r.Tested {
		return "no test"
	}
	n := fmt.Sprintf("n=%d+%d", r.BaseN, r.CurrentN)
	if r.BaseN == r.CurrentN {
		n = fmt.Sprintf("n=%d", r.BaseN)
	}
	return fmt.Sprintf("p=%.3f %s", r.P, n)
}

// Regressions returns the rows whose status is [StatusRegression].
func (c *Comparison) Regressions() []Row {
	if c == nil {
		return nil
	}
	var out []Row
	for _, r := range c.Rows {
		if r.Status == StatusRegression {
			out = append(out, r)
		}
	}
	return out
}

// Failed reports whether a CI gate should fail: some row is a regression or
// a benchmark of the current run failed. A nil Comparison has not failed.
func (c *Comparison) Failed() bool {
	if c == nil {
		return false
	}
	return slices.ContainsFunc(c.Rows, func(r Row) bool {
		return r.Status == StatusRegression || r.Status == StatusFailed
	})
}

// Compare compares cur with base benchmark by benchmark, matching by name.
// Results with samples on both sides are compared with the Mann-Whitney U
// test of golang.org/x/perf/benchmath (the test benchstat uses); a change is a
// regression when it is significant at Alpha and worse than Threshold.
// Results without samples (histogram-based kinds), allocs/op, B/op and
// metrics have one value per run and cannot be tested: they are compared by
// value against Threshold alone and say so in their warnings. Nil inputs are
// treated as empty runs.
func Compare(base, cur *results.Run, o CompareOptions) *Comparison {
	o = o.withDefaults()
	if base == nil {
		base = &results.Run{}
	}
	if cur == nil {
		cur = &results.Run{}
	}
	c := &Comparison{Alpha: o.Alpha, Threshold: o.Threshold, BaseEnvironment: base.Environment, Environment: cur.Environment}
	if d := base.Environment.Diff(cur.Environment); len(d) > 0 {
		c.Warnings = append(c.Warnings, "environments differ ("+strings.Join(d, "; ")+"): differences may come from the machine, not the code")
	}
	baseBy := make(map[string]*results.Benchmark, len(base.Benchmarks))
	for i := range base.Benchmarks {
		b := &base.Benchmarks[i]
		if _, dup := baseBy[b.Name]; !dup {
			baseBy[b.Name] = b
		}
	}
	seen := make(map[string]bool, len(cur.Benchmarks))
	for i := range cur.Benchmarks {
		b := &cur.Benchmarks[i]
		if seen[b.Name] {
			continue
		}
		seen[b.Name] = true
		c.Rows = append(c.Rows, compareResult(baseBy[b.Name], b, o)...)
	}
	for i := range base.Benchmarks {
		b := &base.Benchmarks[i]
		if seen[b.Name] {
			continue
		}
		seen[b.Name] = true
		c.Rows = append(c.Rows, Row{Name: b.Name, Category: b.Category, Unit: b.PrimaryUnit(), Primary: true,
			Base: center(b), BaseN: len(b.Samples), Better: results.BetterLower, Status: StatusMissing,
			Warnings: []string{"missing from the current run"}})
	}
	return c
}

// center is the value a result is compared by: the median.
func center(b *results.Benchmark) float64 {
	if len(b.Samples) > 0 || b.Stats.N > 0 {
		return b.Stats.Median
	}
	return b.Stats.Mean
}

// compareResult returns the rows of one benchmark present in cur (base may
// be nil).
func compareResult(base, cur *results.Benchmark, o CompareOptions) []Row {
	row := Row{Name: cur.Name, Category: cur.Category, Unit: cur.PrimaryUnit(), Primary: true,
		Current: center(cur), CurrentN: len(cur.Samples), Better: results.BetterLower}
	switch {
	case cur.Error != "":
		row.Status = StatusFailed
		row.Warnings = append(row.Warnings, "benchmark failed: "+cur.Error)
		if base != nil {
			row.Base, row.BaseN = center(base), len(base.Samples)
		}
		return []Row{row}
	case base == nil:
		row.Status = StatusNew
		row.Warnings = append(row.Warnings, "not in the baseline")
		return []Row{row}
	}
	row.Base, row.BaseN = center(base), len(base.Samples)
	switch {
	case base.Error != "":
		row.Status = StatusIncomparable
		row.Warnings = append(row.Warnings, "baseline benchmark failed: "+base.Error)
		return []Row{row}
	case base.PrimaryUnit() != cur.PrimaryUnit():
		row.Status = StatusIncomparable
		row.Warnings = append(row.Warnings, fmt.Sprintf("units differ: baseline %s, current %s", base.PrimaryUnit(), row.Unit))
		return []Row{row}
	}
	if len(base.Samples) > 0 && len(cur.Samples) > 0 {
		// benchmath.NewSample sorts its argument: give it copies.
		s1 := benchmath.NewSample(slices.Clone(base.Samples), &benchmath.Thresholds{CompareAlpha: o.Alpha})
		s2 := benchmath.NewSample(slices.Clone(cur.Samples), &benchmath.Thresholds{CompareAlpha: o.Alpha})
		bc := benchmath.AssumeNothing.Compare(s1, s2)
		row.Tested, row.P = true, bc.P
		row.Significant = bc.P <= o.Alpha
		for _, w := range bc.Warnings {
			row.Warnings = append(row.Warnings, w.Error())
		}
	} else {
		row.Warnings = append(row.Warnings, "no significance test: no samples")
	}
	classify(&row, o)
	rows := []Row{row}

	single := func(unit, better string, b, c float64) {
		r := Row{Name: cur.Name, Category: cur.Category, Unit: unit, Base: b, Current: c, Better: better}
		r.Warnings = []string{"no significance test: one value per run"}
		classify(&r, o)
		rows = append(rows, r)
	}
	if base.AllocsPerOp != nil && cur.AllocsPerOp != nil {
		single("allocs/op", results.BetterLower, *base.AllocsPerOp, *cur.AllocsPerOp)
	}
	if base.BytesPerOp != nil && cur.BytesPerOp != nil {
		single("B/op", results.BetterLower, *base.BytesPerOp, *cur.BytesPerOp)
	}
	for _, m := range cur.Metrics {
		i := slices.IndexFunc(base.Metrics, func(bm results.Metric) bool { return bm.Unit == m.Unit })
		if i < 0 {
			continue
		}
		better := results.BetterLower
		if m.Better == results.BetterHigher {
			better = results.BetterHigher
		}
		single(m.Unit, better, base.Metrics[i].Value, m.Value)
	}
	return rows
}

// classify sets Delta and Status of a row with Base and Current filled in.
func classify(r *Row, o CompareOptions) {
	switch {
	case r.Base == r.Current:
		r.Delta = 0
	case r.Base == 0:
		r.Status = StatusIncomparable
		r.Warnings = append(r.Warnings, "baseline value is 0: no relative change")
		return
	default:
		r.Delta = r.Current/r.Base - 1
	}
	r.Status = StatusUnchanged
	if r.Tested && !r.Significant {
		return
	}
	worse := r.Delta > 0
	if r.Better == results.BetterHigher {
		worse = r.Delta < 0
	}
	if math.Abs(r.Delta) <= o.Threshold || r.Delta == 0 {
		return
	}
	if worse {
		r.Status = StatusRegression
	} else {
		r.Status = StatusImprovement
	}
}

// WriteText writes the comparison as an aligned text table for terminals:
// name, unit, baseline, current, change ("~" when not significant), p-value,
// status, followed by warnings.
func (c *Comparison) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "benchmark\tunit\tbaseline\tcurrent\tchange\tp\tstatus\n")
	for _, r := range c.Rows {
		name := r.Name
		if !r.Primary {
			name = "  " + name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, r.Unit, fmtNum(r.Base, r.Status != StatusNew), fmtNum(r.Current, r.Status != StatusMissing), r.DeltaString(), r.PString(), r.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, r := range c.Rows {
		for _, m := range r.Warnings {
			if strings.HasPrefix(m, "no significance test") {
				continue
			}
			notes = append(notes, fmt.Sprintf("%s (%s): %s", r.Name, r.Unit, m))
		}
	}
	notes = append(notes, c.Warnings...)
	for _, n := range notes {
		if _, err := fmt.Fprintf(w, "warning: %s\n", n); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "α=%.3g threshold=%.3g%%: %d regression(s)\n", c.Alpha, 100*c.Threshold, len(c.Regressions()))
	return err
}

func fmtNum(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.4g", v)
}
