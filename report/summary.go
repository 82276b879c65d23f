package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// summaryRow is one benchmark's line of the summary table that opens the
// HTML page and makes the Markdown table: every field is already formatted
// for people, so both renderers print the same figures.
type summaryRow struct {
	ID, Name, Unit string
	// Median is the centre of the rounds (or the value measured once);
	// CIHalf the larger half-width of its 95% confidence interval relative
	// to the median ("±0.4%"), empty when there is none; CI the interval
	// itself ("[1.02µs, 1.04µs]") or why there is none.
	Median, CIHalf, CI string
	// Rounds is the number of rounds (samples), "once" for a value
	// measured once.
	Rounds string
	// P95 and P99 are percentiles of single operations; "-" when the
	// benchmark does not measure single operations.
	P95, P99 string
	// Allocs and Bytes are allocations per operation, "-" when not
	// measured.
	Allocs, Bytes string
	// Error is the first line of the benchmark's error.
	Error string

	// The comparison with the baseline, when there is one.
	Base, BaseN, Delta, P, AdjP string
	// Gate is the row's gate status in words ("regression", "no change",
	// "not gated (measured once, budgets apply)"), GateClass its CSS class.
	Gate, GateClass string
	// Regression is true only for a gated regression.
	Regression bool
}

// summary is the table of a run: its rows and which optional columns any
// row fills.
type summary struct {
	Rows     []summaryRow
	PerOp    bool // some benchmark measures single operations
	Allocs   bool // some benchmark has allocation figures
	Compared bool // there is a comparison
}

// newSummary builds the summary of res, with cmp's primary rows when cmp
// is not nil. ids, when not nil, gives each benchmark's anchor in run
// order. Benchmarks only in the baseline come last, marked missing.
func newSummary(res *results.Run, cmp *bench.Comparison, ids []string) summary {
	s := summary{Compared: cmp != nil}
	primary := map[string]bench.Row{}
	if cmp != nil {
		for _, r := range cmp.Rows {
			if _, dup := primary[r.Name]; r.Primary && !dup {
				primary[r.Name] = r
			}
		}
	}
	seen := map[string]bool{}
	for i, b := range res.Benchmarks {
		row := benchSummary(b)
		if i < len(ids) {
			row.ID = ids[i]
		}
		s.PerOp = s.PerOp || b.PerOp != nil
		s.Allocs = s.Allocs || b.AllocsPerOp != nil || b.BytesPerOp != nil
		if cmp != nil {
			if r, ok := primary[b.Name]; ok && !seen[b.Name] {
				row.compared(r)
			} else {
				// A duplicate name, or a benchmark the comparison did not see.
				row.Delta, row.P, row.AdjP, row.Gate, row.GateClass = "?", "-", "-", "not gated (not compared)", "notgated"
			}
		}
		seen[b.Name] = true
		s.Rows = append(s.Rows, row)
	}
	if cmp != nil {
		for _, r := range cmp.Rows {
			if !r.Primary || r.Status != bench.StatusMissing || seen[r.Name] {
				continue
			}
			seen[r.Name] = true
			row := summaryRow{Name: r.Name, Unit: r.Unit, Median: "-", CI: "not in this run", Rounds: "-", P95: "-", P99: "-", Allocs: "-", Bytes: "-"}
			row.compared(r)
			s.Rows = append(s.Rows, row)
		}
	}
	return s
}

// benchSummary formats one benchmark's own figures.
func benchSummary(b results.Benchmark) summaryRow {
	unit := b.PrimaryUnit()
	f := func(v float64) string { return FormatValue(v, unit) }
	row := summaryRow{Name: b.Name, Unit: unit, Median: "-", CI: "not measured", Rounds: "once", P95: "-", P99: "-", Allocs: "-", Bytes: "-",
		Error: firstLine(b.Error)}
	st := b.Stats
	switch {
	case len(b.Samples) > 0:
		row.Rounds = strconv.Itoa(len(b.Samples))
		row.Median = f(st.Median)
		row.CI = "no 95% interval: too few rounds"
		if st.CIConfidence > 0 {
			row.CI = fmt.Sprintf("[%s, %s]", f(st.CILow), f(st.CIHigh))
			if st.Median != 0 {
				half := max(st.CIHigh-st.Median, st.Median-st.CILow) / st.Median
				row.CIHalf = fmt.Sprintf("±%.1f%%", 100*half)
			}
		}
	case st.N > 0:
		v := st.Median
		if v == 0 {
			v = st.Mean
		}
		row.Median = f(v)
		row.CI = "measured once: no interval"
	case b.Error == "":
		row.Rounds = "0"
	}
	if b.PerOp != nil {
		row.P95, row.P99 = f(b.PerOp.P95), f(b.PerOp.P99)
	}
	if b.AllocsPerOp != nil {
		row.Allocs = FormatValue(*b.AllocsPerOp, "allocs/op")
	}
	if b.BytesPerOp != nil {
		row.Bytes = FormatValue(*b.BytesPerOp, "B/op")
	}
	return row
}

// compared fills the comparison columns from the benchmark's primary row.
func (s *summaryRow) compared(r bench.Row) {
	s.Base = valueOrDash(r.Base, r.Unit, r.Status != bench.StatusNew)
	s.BaseN = "-"
	if r.BaseN > 0 {
		s.BaseN = strconv.Itoa(r.BaseN)
	}
	s.Delta = r.DeltaString()
	if r.Status == bench.StatusNew || r.Status == bench.StatusMissing {
		s.Delta = "-"
	}
	s.P, s.AdjP = formatP(r)
	s.Gate, s.GateClass = gateStatus(r)
	s.Regression = r.Status == bench.StatusRegression
}

// formatP renders a row's p-value and Holm-adjusted p-value ("-" where the
// row was not tested or not gated).
func formatP(r bench.Row) (p, adj string) {
	p, adj = "-", "-"
	if r.Tested {
		p = fmt.Sprintf("%.3f", r.P)
	}
	if r.Gated {
		adj = fmt.Sprintf("%.3f", r.AdjustedP)
	}
	return p, adj
}

// gateStatus names a comparison row's outcome at the gate in words, and
// the CSS class that colours it. Only gated rows can be a regression or
// an improvement; every other row says why it was not gated.
func gateStatus(r bench.Row) (text, class string) {
	switch r.Status {
	case bench.StatusRegression:
		return "regression", "regression"
	case bench.StatusImprovement:
		return "improvement", "improvement"
	case bench.StatusUnchanged:
		return "no change", "unchanged"
	case bench.StatusFailed:
		return "failed (fails the gate)", "failed"
	case bench.StatusMissing:
		return "not gated (missing from this run)", "missing"
	case bench.StatusNew:
		return "not gated (new: not in the baseline)", "new"
	case bench.StatusIncomparable:
		reason := "incomparable"
		if len(r.Warnings) > 0 {
			reason = r.Warnings[0]
		}
		return "not gated (" + reason + ")", "incomparable"
	}
	return "not gated (" + notGatedReason(r.Note) + ")", "notgated"
}

// notGatedReason turns a row's note ("not gated: measured once (budgets
// apply)") into the reason alone, without nested parentheses ("measured
// once, budgets apply").
func notGatedReason(note string) string {
	reason := strings.TrimSpace(strings.TrimPrefix(note, "not gated:"))
	if reason == "" {
		return "not tested"
	}
	return strings.NewReplacer(" (", ", ", "(", "", ")", "").Replace(reason)
}
