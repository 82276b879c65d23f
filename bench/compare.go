package bench

import (
	"fmt"
	"io"
	"maps"
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
	// DefaultPairedThreshold is the default threshold between the two
	// sides of one A/B session: measured pair by pair in one session, the
	// machine's drift cancels, so a smaller change is both measurable and
	// worth failing on (the family-wise α is the same).
	DefaultPairedThreshold = 0.02
)

// CompareOptions control [Compare]. The zero value means the defaults.
type CompareOptions struct {
	// Alpha is the error rate of the whole comparison: the chance that a
	// run whose code did not change fails the gate is at most Alpha. Each
	// gated row's Mann-Whitney U p-value is adjusted with Holm's step-down
	// method over all gated rows, and a row is significant when its adjusted
	// p-value is at most Alpha. Default 0.05; values outside (0, 1) mean the
	// default (the command line rejects them).
	Alpha float64
	// paired is set by Compare for runs of one A/B session (see
	// results.Run.Session).
	paired bool
	// Threshold is the relative change (0.05 = 5%) in the worse direction
	// beyond which a significant change is a regression (and a change in the
	// better direction an improvement). Default 0.05 ([DefaultPairedThreshold]
	// between the sides of one A/B session); negative: 0, so every
	// significant worsening is a regression.
	Threshold float64
}

func (o CompareOptions) withDefaults() CompareOptions {
	if !(o.Alpha > 0 && o.Alpha < 1) {
		o.Alpha = DefaultAlpha
	}
	switch {
	case o.Threshold == 0 && o.paired:
		o.Threshold = DefaultPairedThreshold
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
	StatusUnchanged    Status = "unchanged"    // gated: no significant change beyond the threshold
	StatusRegression   Status = "regression"   // gated: significantly worse beyond the threshold
	StatusImprovement  Status = "improvement"  // gated: significantly better beyond the threshold
	StatusNotGated     Status = "not-gated"    // shown for information; see Row.Note
	StatusNew          Status = "new"          // only in the current run
	StatusMissing      Status = "missing"      // only in the baseline
	StatusFailed       Status = "failed"       // the current run's benchmark failed
	StatusIncomparable Status = "incomparable" // units differ, baseline failed, or the baseline value is 0
)

// Comparison is a run compared with a baseline, benchmark by benchmark. It
// is plain data (JSON-encodable) so CI tools can check it.
type Comparison struct {
	// Alpha is the error rate of the whole gate (see [CompareOptions]).
	Alpha     float64 `json:"alpha"`
	Threshold float64 `json:"threshold"`
	// Correction names the multiple-comparison control: "holm".
	Correction string `json:"correction"`
	// Paired is true when the runs are the two sides of one A/B session
	// (the same results.Run.Session): samples are then compared pair by
	// pair with the Wilcoxon signed-rank test instead of Mann-Whitney U.
	Paired bool `json:"paired,omitempty"`
	// Gated is the number of gated rows (the m of Holm's method); Common
	// is the number of benchmarks present in both runs.
	Gated  int `json:"gated"`
	Common int `json:"common"`
	// BaseEnvironment and Environment describe the two runs.
	BaseEnvironment results.Environment `json:"base_environment"`
	Environment     results.Environment `json:"environment"`
	// Rows has, for each benchmark in run order (then baseline-only ones),
	// one row for the primary unit followed by rows for allocs/op, B/op and
	// each metric present in both runs.
	Rows []Row `json:"rows"`
	// Incompatible lists reasons the two runs cannot be compared fairly
	// (one is a quick run, the other a full one); a gate should refuse them.
	Incompatible []string `json:"incompatible,omitempty"`
	// Warnings are comparison-wide findings (environments or parameters
	// differ).
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
	// the single values of results and metrics measured once.
	Base    float64 `json:"base"`
	Current float64 `json:"current"`
	// BaseN and CurrentN are the sample counts (rounds; 0 for values
	// measured once).
	BaseN    int `json:"base_n"`
	CurrentN int `json:"current_n"`
	// Delta is Current/Base - 1 (0 when Base is 0).
	Delta float64 `json:"delta"`
	// Tested is true when both sides had samples and the Mann-Whitney U
	// test ran; P is then its p-value.
	Tested bool    `json:"tested"`
	P      float64 `json:"p,omitempty"`
	// Paired is true when the two runs are one A/B session's sides and
	// the test was the Wilcoxon signed-rank test of the sample pairs (each
	// pair measured next to each other); Delta is then the median of the
	// pairs' ratios minus 1.
	Paired      bool `json:"paired,omitempty"`
	pairedDelta float64
	// Gated is true for the rows that can fail the comparison: the primary
	// rows of benchmarks with samples on both sides. AdjustedP is then P
	// adjusted by Holm's method over every gated row, and Significant is
	// AdjustedP ≤ Alpha. An ungated tested row is Significant when P ≤ Alpha
	// (for information only).
	Gated       bool    `json:"gated"`
	AdjustedP   float64 `json:"adjusted_p,omitempty"`
	Significant bool    `json:"significant"`
	// Better is "lower" or "higher".
	Better string `json:"better"`
	Status Status `json:"status"`
	// Note says why a row is not gated ("measured once", "secondary").
	Note string `json:"note,omitempty"`
	// Warnings explain doubtful rows (too few samples, failed benchmarks).
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

// PString renders the p-value and sample sizes ("p=0.002 n=10+10"; for
// gated rows also Holm's adjusted p-value, "p=0.002 adj=0.020 n=10"), or
// "no test" for untested rows.
func (r Row) PString() string {
	if !r.Tested {
		return "no test"
	}
	n := fmt.Sprintf("n=%d+%d", r.BaseN, r.CurrentN)
	if r.BaseN == r.CurrentN {
		n = fmt.Sprintf("n=%d", r.BaseN)
	}
	if r.Gated {
		return fmt.Sprintf("p=%.3f adj=%.3f %s", r.P, r.AdjustedP, n)
	}
	return fmt.Sprintf("p=%.3f %s", r.P, n)
}

// TestName names the significance test of the comparison's rows:
// "Mann-Whitney U", or "Wilcoxon signed-rank, paired" for the two sides of
// an A/B session.
func (c *Comparison) TestName() string {
	if c != nil && c.Paired {
		return "Wilcoxon signed-rank, paired"
	}
	return "Mann-Whitney U"
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
//
// The gate: the primary row of every benchmark with samples (rounds) on both
// sides is tested with the Mann-Whitney U test of golang.org/x/perf/benchmath
// (the test benchstat uses), and the p-values of all those gated rows are
// adjusted together with Holm's step-down method, so that the chance that any
// gated row of an unchanged run comes out significant is at most Alpha. A
// gated row is a regression when its adjusted p-value is at most Alpha and it
// is worse than Threshold, and, for a benchmark that keeps a CPU busy and
// recorded its CPU time per operation in both runs, when that CPU time moved
// the same way by at least half as much (a wall-time change alone is the
// machine's: the row stays unchanged with a warning saying so).
//
// Everything else is shown and never fails the gate: allocs/op, B/op and
// metrics (tested without adjustment when they have samples on both sides,
// as information), and values measured once (which no test can judge: their
// rows say "not gated: measured once"; absolute limits on them belong in
// budgets). Nil inputs are treated as empty runs.
//
// Runs of different modes (a quick run against a full one) are compared but
// listed in [Comparison.Incompatible]; a gate should refuse them.
func Compare(base, cur *results.Run, o CompareOptions) *Comparison {
	if base == nil {
		base = &results.Run{}
	}
	if cur == nil {
		cur = &results.Run{}
	}
	o.paired = base.Session != "" && base.Session == cur.Session
	o = o.withDefaults()
	c := &Comparison{Alpha: o.Alpha, Threshold: o.Threshold, Correction: "holm", Paired: o.paired, BaseEnvironment: base.Environment, Environment: cur.Environment}
	if d := base.Environment.Diff(cur.Environment); len(d) > 0 {
		c.Warnings = append(c.Warnings, "environments differ ("+strings.Join(d, "; ")+"): differences may come from the machine, not the code")
	}
	if base.Quick != cur.Quick {
		c.Incompatible = append(c.Incompatible, fmt.Sprintf("the baseline is a %s run and the current one a %s run: their workloads differ", mode(base.Quick), mode(cur.Quick)))
	}
	for _, side := range []struct {
		name string
		m    *results.MachineLoad
	}{{"baseline", base.Machine}, {"current run", cur.Machine}} {
		if side.m.Busy() {
			c.Warnings = append(c.Warnings, fmt.Sprintf("the machine was busy during the %s: other work took %.1f CPUs on average over its %.0fs; "+
				"wall times measured one run after the other on a busy machine differ by more than code does (rerun on a quiet machine, or compare in one session: perfagent bench --against)",
				side.name, side.m.OtherCPU, side.m.Seconds))
		}
	}
	if d := paramDiff(base.Parameters, cur.Parameters); len(d) > 0 {
		c.Warnings = append(c.Warnings, "parameters differ ("+strings.Join(d, "; ")+")")
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
		if baseBy[b.Name] != nil {
			c.Common++
		}
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
	c.Gated = holm(c.Rows, o.Alpha)
	if w := pairedPower(c.Rows, c.Gated, o.Alpha); w != "" {
		c.Warnings = append(c.Warnings, w)
	}
	for i := range c.Rows {
		classify(&c.Rows[i], o)
	}
	confirmByCPU(c.Rows)
	return c
}

// confirmByCPU checks every gated regression and improvement in wall time
// per operation against the process's CPU time per operation, when both
// runs recorded it (the runner's per-round [UnitCPUPerOp]) and the
// benchmark keeps a CPU busy (its baseline CPU time is at least half its
// wall time; a benchmark that mostly waits, such as a timer's wake-up, is
// left as it is). Another process taking the CPU during one run slows that
// run's wall time far more than its CPU time, while slower code slows both:
// so a wall-time change counts only when CPU time per operation moved the
// same way by at least half as much. Otherwise the row stays unchanged
// and says why: the machine, not the code, was likely the difference, and
// the same-session A/B mode settles it.
func confirmByCPU(rows []Row) {
	cpu := make(map[string]Row)
	for _, r := range rows {
		if r.Unit == UnitCPUPerOp && r.Tested && r.Base > 0 {
			cpu[r.Name] = r
		}
	}
	for i := range rows {
		r := &rows[i]
		if !r.Primary || (r.Status != StatusRegression && r.Status != StatusImprovement) {
			continue
		}
		cr, ok := cpu[r.Name]
		if !ok || !strings.HasPrefix(r.Unit, "ns/") || cr.Base < r.Base/2 {
			continue
		}
		if cr.Delta*r.Delta > 0 && math.Abs(cr.Delta) >= math.Abs(r.Delta)/2 {
			continue
		}
		was := "a regression"
		if r.Status == StatusImprovement {
			was = "an improvement"
		}
		r.Status = StatusUnchanged
		r.Warnings = append(r.Warnings, fmt.Sprintf("wall time %+.1f%% but CPU time per operation %+.1f%%: not counted as %s, the machine was likely busier in one run (compare in one session: perfagent bench --against)", 100*r.Delta, 100*cr.Delta, was))
	}
}

func mode(quick bool) string {
	if quick {
		return "quick"
	}
	return "full"
}

// paramDiff lists parameters whose values differ, as "key: a vs b".
func paramDiff(a, b map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if bv, ok := b[k]; ok && bv != a[k] {
			out = append(out, k+": "+a[k]+" vs "+bv)
		}
	}
	return out
}

// holm adjusts the p-values of the gated rows with Holm's step-down method
// (adjusted p_(i) = max over j ≤ i of min(1, (m-j+1) p_(j)) for the p-values
// sorted ascending), sets AdjustedP and Significant, and returns m.
func holm(rows []Row, alpha float64) int {
	var idx []int
	for i, r := range rows {
		if r.Gated {
			idx = append(idx, i)
		}
	}
	m := len(idx)
	slices.SortStableFunc(idx, func(a, b int) int { return cmpFloat(rows[a].P, rows[b].P) })
	running := 0.0
	for k, i := range idx {
		adj := math.Min(1, float64(m-k)*rows[i].P)
		running = math.Max(running, adj)
		rows[i].AdjustedP = running
		rows[i].Significant = running <= alpha
	}
	return m
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// center is the value a result is compared by: the median of its samples,
// or its single value.
func center(b *results.Benchmark) float64 {
	if len(b.Samples) > 0 {
		return b.Stats.Median
	}
	if b.Stats.N > 0 && b.Stats.Median != 0 {
		return b.Stats.Median
	}
	return b.Stats.Mean
}

// Notes of rows that are not gated.
const (
	noteOnce      = "not gated: measured once (budgets apply)"
	noteSecondary = "not gated: secondary value (the primary row gates)"
)

// compareResult returns the rows of one benchmark present in cur (base may
// be nil). Significance of gated rows is decided later, across all rows.
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
	if test(&row, base.Samples, cur.Samples, o) {
		row.Gated = true
	} else if row.Note == "" {
		row.Note = noteOnce
	}
	rows := []Row{row}

	add := func(unit, better string, b, c float64, bs, cs []float64) {
		r := Row{Name: cur.Name, Category: cur.Category, Unit: unit, Base: b, Current: c, Better: better, BaseN: len(bs), CurrentN: len(cs)}
		if test(&r, bs, cs, o) {
			r.Significant = r.P <= o.Alpha
			r.Note = noteSecondary
		} else if r.Note == "" {
			r.Note = noteOnce
		}
		rows = append(rows, r)
	}
	if base.AllocsPerOp != nil && cur.AllocsPerOp != nil {
		add("allocs/op", results.BetterLower, *base.AllocsPerOp, *cur.AllocsPerOp, nil, nil)
	}
	if base.BytesPerOp != nil && cur.BytesPerOp != nil {
		add("B/op", results.BetterLower, *base.BytesPerOp, *cur.BytesPerOp, nil, nil)
	}
	for _, m := range cur.Metrics {
		bm := base.MetricByUnit(m.Unit)
		if bm == nil {
			continue
		}
		better := results.BetterLower
		if m.Better == results.BetterHigher {
			better = results.BetterHigher
		}
		add(m.Unit, better, bm.Value, m.Value, bm.Samples, m.Samples)
	}
	return rows
}

// test runs the Mann-Whitney U test when both sides have samples (the
// Wilcoxon signed-rank test of the pairs when the runs are paired) and
// reports whether it ran.
func test(r *Row, base, cur []float64, o CompareOptions) bool {
	if len(base) == 0 || len(cur) == 0 {
		return false
	}
	if o.paired {
		if len(base) != len(cur) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("paired runs with %d and %d samples: tested unpaired", len(base), len(cur)))
		} else if p, delta, ok := signedRankTest(base, cur); ok {
			r.Tested, r.P, r.Paired, r.pairedDelta = true, p, true, delta
			return true
		}
	}
	// benchmath.NewSample sorts its argument: give it copies.
	s1 := benchmath.NewSample(slices.Clone(base), &benchmath.Thresholds{CompareAlpha: o.Alpha})
	s2 := benchmath.NewSample(slices.Clone(cur), &benchmath.Thresholds{CompareAlpha: o.Alpha})
	bc := benchmath.AssumeNothing.Compare(s1, s2)
	r.Tested, r.P = true, bc.P
	for _, w := range bc.Warnings {
		r.Warnings = append(r.Warnings, w.Error())
	}
	return true
}

// classify sets Delta and Status of a row with Base, Current and its test
// filled in.
func classify(r *Row, o CompareOptions) {
	switch r.Status {
	case StatusFailed, StatusNew, StatusMissing, StatusIncomparable:
		return
	}
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
	if r.Paired {
		r.Delta = r.pairedDelta
	}
	if !r.Gated {
		r.Status = StatusNotGated
		return
	}
	r.Status = StatusUnchanged
	if !r.Significant || math.Abs(r.Delta) <= o.Threshold || r.Delta == 0 {
		return
	}
	worse := r.Delta > 0
	if r.Better == results.BetterHigher {
		worse = r.Delta < 0
	}
	if worse {
		r.Status = StatusRegression
	} else {
		r.Status = StatusImprovement
	}
}

// WriteText writes the comparison as an aligned text table for terminals:
// name, unit, baseline, current, change ("~" when not significant), p-value
// (and Holm's adjusted p-value for gated rows), status ("not gated" rows say
// why in the notes), followed by warnings and the gate's summary: how many
// rows were gated, at which family-wise error rate, and the regressions.
func (c *Comparison) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "benchmark\tunit\tbaseline\tcurrent\tchange\tp\tstatus\n")
	notGated := map[string]int{}
	for _, r := range c.Rows {
		name := r.Name
		if !r.Primary {
			name = "  " + name
		}
		status := string(r.Status)
		if r.Status == StatusNotGated {
			status = "not gated"
			notGated[r.Note]++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, r.Unit, fmtNum(r.Base, r.Status != StatusNew), fmtNum(r.Current, r.Status != StatusMissing), r.DeltaString(), r.PString(), status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, r := range c.Rows {
		for _, m := range r.Warnings {
			notes = append(notes, fmt.Sprintf("%s (%s): %s", r.Name, r.Unit, m))
		}
	}
	for _, n := range c.Incompatible {
		notes = append(notes, "incompatible runs: "+n)
	}
	notes = append(notes, c.Warnings...)
	for _, n := range notes {
		if _, err := fmt.Fprintf(w, "warning: %s\n", n); err != nil {
			return err
		}
	}
	for _, note := range slices.Sorted(maps.Keys(notGated)) {
		if _, err := fmt.Fprintf(w, "%d row(s) %s\n", notGated[note], note); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "gate: %d row(s) tested (%s, Holm-adjusted, family-wise α=%.3g), threshold %.3g%%: %d regression(s)\n",
		c.Gated, c.TestName(), c.Alpha, 100*c.Threshold, len(c.Regressions()))
	return err
}

func fmtNum(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.4g", v)
}

// pairedPower warns when the pairs of an A/B session are too few for any
// gated row to reach significance: an exact test of n pairs cannot give a
// p-value below 2^(1-n), and Holm multiplies the smallest by m, the number
// of gated rows.
func pairedPower(rows []Row, m int, alpha float64) string {
	fewest := 0
	for _, r := range rows {
		if r.Gated && r.Paired && (fewest == 0 || r.BaseN < fewest) {
			fewest = r.BaseN
		}
	}
	if fewest == 0 || float64(m)*math.Pow(2, float64(1-fewest)) <= alpha {
		return ""
	}
	need := int(math.Ceil(1 + math.Log2(float64(m)/alpha)))
	return fmt.Sprintf("%d pairs cannot show a significant change across %d gated rows (the smallest possible adjusted p is %.3g > α %.3g): run at least %d rounds per side",
		fewest, m, float64(m)*math.Pow(2, float64(1-fewest)), alpha, need)
}
