package pageload

import (
	"fmt"
	"io"
	"strings"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/results"
)

// WriteMarkdown writes the report as a Markdown section: the settings, a
// table of timings (median, min, max over successful runs), the
// bytes-by-type table, and every failed run and warning. It reads as plain
// text on a terminal too.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", mdEscape(r.URL))
	net := "none"
	if r.Settings.Network != nil {
		net = r.Settings.Network.Name
	}
	fmt.Fprintf(&b, "%d of %d runs loaded; %s; viewport %dx%d; CPU slowdown %gx; network %s\n\n",
		r.SuccessfulRuns(), len(r.Runs), mdEscape(orUnknown(r.Browser)), r.Settings.Width, r.Settings.Height, r.Settings.CPUSlowdown, mdEscape(net))
	b.WriteString("| metric | median | min | max | runs |\n|---|---:|---:|---:|---:|\n")
	for _, m := range []struct {
		name, unit string
		q          budget.Quantity
	}{
		{"TTFB", results.UnitTTFB, budget.Duration}, {"FCP", results.UnitFCP, budget.Duration}, {"LCP", results.UnitLCP, budget.Duration},
		{"TTI", results.UnitTTI, budget.Duration}, {"TBT", budget.UnitTBT, budget.Duration}, {"CLS", results.UnitCLS, budget.Score},
		{"load", UnitLoad, budget.Duration},
	} {
		s, ok := r.Spread(m.unit)
		if !ok {
			fmt.Fprintf(&b, "| %s | not measured | | | 0 |\n", m.name)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d |\n", m.name, m.q.Format(s.Median), m.q.Format(s.Min), m.q.Format(s.Max), s.N)
	}
	b.WriteString("\n| resource type | bytes (median) | min | max | requests (median) |\n|---|---:|---:|---:|---:|\n")
	for _, t := range budget.ResourceTypes {
		s, ok := r.Spread(results.UnitBytesPrefix + t)
		if !ok {
			continue
		}
		q, _ := r.Spread(results.UnitReqsPrefix + t)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %g |\n", t, budget.Bytes.Format(s.Median), budget.Bytes.Format(s.Min), budget.Bytes.Format(s.Max), q.Median)
	}
	var notes []string
	for _, l := range r.Runs {
		if l.Error != "" {
			notes = append(notes, fmt.Sprintf("run %d failed: %s", l.Index, l.Error))
		}
		for _, wrn := range l.Warnings {
			notes = append(notes, fmt.Sprintf("run %d: %s", l.Index, wrn))
		}
	}
	notes = append(notes, r.Warnings...)
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + mdEscape(n) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown browser"
	}
	return s
}

// mdEscape keeps text from breaking a Markdown table or list.
var mdReplacer = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;")

func mdEscape(s string) string { return mdReplacer.Replace(s) }
