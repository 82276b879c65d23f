package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/perfagent/perfagent/results"
)

// CSV writes one row per benchmark of res with a header: name, category,
// kind, unit, n, iterations, mean, median, stddev, min, max, p50, p95, p99,
// ci_low, ci_high, cv, outliers, allocs_per_op, bytes_per_op, error,
// per_op_n, per_op_p50, per_op_p95, per_op_p99. Values are in the
// benchmark's unit, unformatted, for spreadsheets. n to outliers describe
// the rounds (p95 is a percentile of the rounds' values); the per_op
// columns the distribution of single operations, where one was measured.
// Absent figures are empty cells.
func CSV(w io.Writer, res *results.Run) error {
	if res == nil {
		return errors.New("report: csv: nil results")
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"name", "category", "kind", "unit", "n", "iterations", "mean", "median", "stddev", "min", "max",
		"p50", "p95", "p99", "ci_low", "ci_high", "cv", "outliers", "allocs_per_op", "bytes_per_op", "error",
		"per_op_n", "per_op_p50", "per_op_p95", "per_op_p99"})
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	opt := func(p *float64) string {
		if p == nil {
			return ""
		}
		return g(*p)
	}
	for _, b := range res.Benchmarks {
		st := b.Stats
		unit := b.Unit
		if unit == "" {
			unit = results.UnitNsPerOp
		}
		kind := b.Kind
		if kind == "" {
			kind = results.KindFunc
		}
		perOp := []string{"", "", "", ""}
		if d := b.PerOp; d != nil {
			perOp = []string{strconv.FormatInt(d.N, 10), g(d.P50), g(d.P95), g(d.P99)}
		}
		_ = cw.Write(append([]string{b.Name, b.Category, kind, unit, strconv.Itoa(st.N), strconv.FormatInt(b.Iterations, 10),
			g(st.Mean), g(st.Median), g(st.Stddev), g(st.Min), g(st.Max), g(st.P50), g(st.P95), g(st.P99),
			g(st.CILow), g(st.CIHigh), g(st.CV), strconv.Itoa(st.Outliers), opt(b.AllocsPerOp), opt(b.BytesPerOp), b.Error}, perOp...))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: csv: %w", err)
	}
	return nil
}
