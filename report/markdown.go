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
// nil, then one table row per benchmark with the median of its rounds and
// the 95% confidence interval, the number of rounds, p95 and p99 per
// operation where single operations were measured, allocations, and, with a
// comparison, the baseline, the change ("~" when not significant), the
// p-value, Holm's adjusted p-value and the gate status. The rows the gate
// did not test say "not gated (reason)"; "❌" marks gated regressions only.
// Changes and warnings follow, the warnings folded in a <details> block.
// Its output is deterministic for given inputs.
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
		gate := fmt.Sprintf("%d row(s) gated (%s, Holm-adjusted, family-wise α = %.3g), threshold %.3g%%", cmp.Gated, cmp.TestName(), cmp.Alpha, 100*cmp.Threshold)
		failed := 0
		for _, r := range cmp.Rows {
			if r.Status == bench.StatusFailed {
				failed++
			}
		}
		switch regs := cmp.Regressions(); {
		case len(regs) > 0:
			p("❌ **%d regression(s)** against the baseline: %s.\n\n", len(regs), gate)
		case failed > 0:
			p("⚠️ **%d benchmark(s) failed**, which fails the gate; no regressions among the gated rows: %s.\n\n", failed, gate)
		default:
			p("✅ No regressions against the baseline: %s.\n\n", gate)
		}
		for _, inc := range cmp.Incompatible {
			p("⚠️ **Incompatible runs**: %s.\n\n", mdEscape(inc))
		}
	}
	if res.Partial {
		p("⚠️ The run was interrupted: partial results.\n\n")
	}
	if res.Quick {
		p("ℹ️ Quick run: fewer rounds and smaller workloads, not comparable with a full run.\n\n")
	}
	if env := envLine(res.Environment); env != "" {
		p("%s\n\n", env)
	}

	sum := newSummary(res, cmp, nil)
	head := []string{"Benchmark", "Median ± 95% CI", "Rounds"}
	align := []string{"---", "---:", "---:"}
	if sum.PerOp {
		head, align = append(head, "p95 per operation", "p99 per operation"), append(align, "---:", "---:")
	}
	if sum.Allocs {
		head, align = append(head, "allocs/op", "B/op"), append(align, "---:", "---:")
	}
	if sum.Compared {
		head, align = append(head, "Baseline", "Change", "p", "adj. p", "Gate"), append(align, "---:", "---:", "---:", "---:", "---")
	}
	p("| %s |\n|%s|\n", strings.Join(head, " | "), strings.Join(align, "|"))
	for _, r := range sum.Rows {
		name := mdEscape(r.Name)
		if r.Error != "" {
			name += " (failed)"
		}
		cells := []string{strings.TrimSpace(name), strings.TrimSpace(r.Median + " " + r.CIHalf), r.Rounds}
		if sum.PerOp {
			cells = append(cells, r.P95, r.P99)
		}
		if sum.Allocs {
			cells = append(cells, r.Allocs, r.Bytes)
		}
		if sum.Compared {
			gate := mdEscape(r.Gate)
			switch r.GateClass {
			case "regression":
				gate = "❌ " + gate
			case "improvement":
				gate = "🟢 " + gate
			case "failed":
				gate = "⚠️ " + gate
			}
			cells = append(cells, r.Base, r.Delta, r.P, r.AdjP, gate)
		}
		p("| %s |\n", strings.Join(cells, " | "))
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
