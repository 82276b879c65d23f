package monitor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes a short summary of the run for a terminal: the target
// and status, per-series statistics, breaches, captures and the system
// figures.
func (h *History) WriteText(w io.Writer) error {
	var b strings.Builder
	interval := time.Duration(h.IntervalSeconds * float64(time.Second))
	status := h.statusText()
	if h.Partial {
		status += " (partial)"
	}
	fmt.Fprintf(&b, "%s: %d readings every %s over %s, %s", describeTarget(h.Target), h.Readings, interval, roundDur(h.Duration()), status)
	if h.Failures.Count > 0 {
		fmt.Fprintf(&b, "; %d reads failed (last: %s)", h.Failures.Count, h.Failures.LastError)
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "series\tmin\tmean\tp95\tmax\tlast\t")
	for _, s := range h.Present() {
		sm := h.Summary[s.Key()]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", s, s.Format(sm.Min), s.Format(sm.Mean), s.Format(sm.P95), s.Format(sm.Max), s.Format(sm.Last))
	}
	_ = tw.Flush()
	var sys []string
	if v := h.System.RSSBaseline; v != nil {
		sys = append(sys, "memory-baseline "+systemFormat("memory-baseline", *v))
	}
	if v := h.System.RSSPeak; v != nil {
		sys = append(sys, "memory-peak "+systemFormat("memory-peak", *v))
	}
	if v := h.System.CPUIdle; v != nil {
		sys = append(sys, "cpu-idle "+systemFormat("cpu-idle", *v))
	}
	if v := h.System.SchedLagP99; v != nil {
		sys = append(sys, "scheduler-lag "+systemFormat("scheduler-lag", *v*1e9))
	}
	if len(sys) > 0 {
		fmt.Fprintf(&b, "\nsystem: %s\n", strings.Join(sys, ", "))
	}
	if len(h.Thresholds) > 0 {
		fmt.Fprintf(&b, "breaches: %d", len(h.Breaches)+h.BreachesDropped)
		for i, br := range h.Breaches {
			if i == 5 {
				fmt.Fprintf(&b, "; ...")
				break
			}
			fmt.Fprintf(&b, "; %s peak %s (%s to %s)", Threshold{br.Series, br.Threshold}, br.Series.Format(br.Peak),
				h.offset(br.Start), h.offset(br.End))
		}
		b.WriteString("\n")
	}
	for _, c := range h.Captures {
		if c.Error != "" {
			fmt.Fprintf(&b, "heap capture at %s failed: %s\n", h.offset(c.Time), c.Error)
		} else {
			fmt.Fprintf(&b, "heap capture at %s: %s\n", h.offset(c.Time), c.Path)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
