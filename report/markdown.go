package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// Markdown writes a summary of res suited to a pull-request comment
// (GitHub-flavoured Markdown): the verdict of the comparison when cmp is not
// nil, one table row per benchmark (median with its confidence interval,
// p95, p99, allocations and the change against the baseline, "~" when not
// significant), the regressions, and the warnings folded in a <details>
// block. Its output is deterministic for given inputs.
func Markdown(w io.Writer, res *results.Run, cmp *bench.Comparison) error {
	if res == nil {
		return errors.New("report: markdown: nil results")
	}
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	title := "Benchmark results"
	if res.Suite != "" {
		title += ": " + res.Suite
	}
	p("## %s\n\n", mdEscape(title))
	if cmp != nil {
		switch regs := cmp.Regressions(); {
		case len(regs) > 0:
			p("❌ **%d regression(s)** against the baseline (α = %.3g, threshold %.3g%%).\n\n", len(regs), cmp.Alpha, 100*cmp.Threshold)
		case cmp.Failed():
			p("❌ **Benchmarks failed**; no regressions among the others (α = %.3g, threshold %.3g%%).\n\n", cmp.Alpha, 100*cmp.Threshold)
		default:
			p("✅ No regressions against the baseline (α = %.3g, threshold %.3g%%).\n\n", cmp.Alpha, 100*cmp.Threshold)
		}
	}
	if res.Partial {
		p("⚠️ The run was interrupted: partial results.\n\n")
	}
	if env := envLine(res.Environment); env != "" {
		p("%s\n\n", env)
	}

	primary := map[string]bench.Row{}
	if cmp != nil {
		for _, r := range cmp.Rows {
			if r.Primary {
				primary[r.Name] = r
			}
		}
	}
	p("| Benchmark | Median | 95%% CI | p95 | p99 | allocs/op | B/op |")
	if cmp != nil {
		p(" vs baseline |")
	}
	p("\n|---|---:|---:|---:|---:|---:|---:|")
	if cmp != nil {
		p("---|")
	}
	p("\n")
	for _, b := range res.Benchmarks {
		unit := b.Unit
		if unit == "" {
			unit = results.UnitNsPerOp
		}
		f := func(v float64) string { return FormatValue(v, unit) }
		name := mdEscape(b.Name)
		if b.Error != "" {
			name += " ❌"
		}
		median, ci, p95, p99 := "-", "-", "-", "-"
		if b.Stats.N > 0 {
			median, p95, p99 = f(b.Stats.Median), f(b.Stats.P95), f(b.Stats.P99)
			if b.Stats.CIConfidence > 0 && b.Stats.Median != 0 {
				half := max(b.Stats.CIHigh-b.Stats.Median, b.Stats.Median-b.Stats.CILow) / b.Stats.Median
				ci = fmt.Sprintf("±%.1f%%", 100*half)
			}
		}
		allocs, bytes := "-", "-"
		if b.AllocsPerOp != nil {
			allocs = FormatValue(*b.AllocsPerOp, "allocs/op")
		}
		if b.BytesPerOp != nil {
			bytes = FormatValue(*b.BytesPerOp, "B/op")
		}
		p("| %s | %s | %s | %s | %s | %s | %s |", name, median, ci, p95, p99, allocs, bytes)
		if cmp != nil {
			vs := "new"
			if r, ok := primary[b.Name]; ok {
				vs = versus(r)
			}
			p(" %s |", vs)
		}
		p("\n")
	}
	p("\n")

	if cmp != nil {
		var lines []string
		for _, r := range cmp.Rows {
			switch r.Status {
			case bench.StatusRegression, bench.StatusImprovement, bench.StatusFailed, bench.StatusMissing:
			default:
				continue
			}
			line := fmt.Sprintf("- **%s** %s (%s): %s → %s, %s", r.Status, mdEscape(r.Name), r.Unit,
				valueOrDash(r.Base, r.Unit, true), valueOrDash(r.Current, r.Unit, r.Status != bench.StatusMissing), r.DeltaString())
			if r.Tested {
				line += ", " + r.PString()
			}
			lines = append(lines, line)
		}
		if len(lines) > 0 {
			p("**Changes**\n\n%s\n\n", strings.Join(lines, "\n"))
		}
	}

	var warns []string
	for _, wmsg := range res.Warnings {
		warns = append(warns, "- "+mdEscape(wmsg))
	}
	if cmp != nil {
		for _, wmsg := range cmp.Warnings {
			warns = append(warns, "- "+mdEscape(wmsg))
		}
	}
	for _, b := range res.Benchmarks {
		if b.Error != "" {
			warns = append(warns, fmt.Sprintf("- %s: failed: %s", mdEscape(b.Name), mdEscape(firstLine(b.Error))))
		}
		for _, wmsg := range b.Warnings {
			warns = append(warns, fmt.Sprintf("- %s: %s", mdEscape(b.Name), mdEscape(wmsg)))
		}
	}
	if len(warns) > 0 {
		p("<details><summary>%d warning(s)</summary>\n\n%s\n\n</details>\n", len(warns), strings.Join(warns, "\n"))
	}
	return bw.Flush()
}

// versus renders a primary comparison row for the table.
func versus(r bench.Row) string {
	switch r.Status {
	case bench.StatusFailed, bench.StatusIncomparable, bench.StatusNew:
		return string(r.Status)
	}
	d := r.DeltaString()
	switch {
	case r.Tested && !r.Significant:
		return fmt.Sprintf("~ (p=%.2f)", r.P)
	case r.Tested:
		d += fmt.Sprintf(" (p=%.3f)", r.P)
	default:
		d += " (no test)"
	}
	switch r.Status {
	case bench.StatusRegression:
		return "🔴 " + d
	case bench.StatusImprovement:
		return "🟢 " + d
	}
	return d
}

// envLine renders the environment in one line.
func envLine(e results.Environment) string {
	var parts []string
	add := func(s string) {
		if s != "" && s != "/" {
			parts = append(parts, mdEscape(s))
		}
	}
	add(e.GoVersion)
	add(e.GOOS + "/" + e.GOARCH)
	add(e.CPU)
	if e.GOMAXPROCS > 0 {
		add(fmt.Sprintf("GOMAXPROCS %d", e.GOMAXPROCS))
	}
	if e.Revision != "" {
		rev := e.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if e.Modified {
			rev += "+dirty"
		}
		add("rev " + rev)
	}
	if len(parts) == 0 {
		return ""
	}
	return "<sub>" + strings.Join(parts, " · ") + "</sub>"
}

// mdEscape keeps text from breaking a table or starting markup.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`")
	return r.Replace(s)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
