package load

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary writes a concise human summary of the run: the load, one
// line per endpoint (requests, rate, latency percentiles, errors, target
// verdict), setup traffic, the open model's send statistics, error kinds,
// warnings and the verdict. It returns the first write error.
func (r *Report) WriteSummary(w io.Writer) error {
	ew := &errWriter{w: w}
	v := r.Verdict()
	fmt.Fprintf(ew, "API benchmark %q against %s (%s, %s)\n", r.Scenario, r.BaseURL, r.Protocol, r.Engine)
	fmt.Fprintf(ew, "%s; %d requests in %v, %.1f req/s", r.describeLoad(), r.Total.Requests, roundDur(r.Elapsed), r.Total.Rate)
	if r.Partial {
		fmt.Fprint(ew, " (PARTIAL)")
	}
	fmt.Fprintln(ew)
	if n := len(r.Rounds); n > 1 {
		fmt.Fprintf(ew, "measured in %d rounds of %v each, every round driving the whole mix: comparisons test one sample (the median) per round\n", n, roundDur(r.Rounds[0].Length))
	}
	if r.Load.Model == ModelOpen {
		fmt.Fprintln(ew, "latency is measured from the intended send time; svc p99 is the service time from the actual send")
	}
	if r.Open != nil && r.Open.Saturated {
		fmt.Fprintln(ew, "GENERATOR SATURATED: the latencies below include the generator's own delay and do not describe the target; "+r.Open.Saturation)
	} else if r.Open != nil && r.Open.Saturation != "" && r.Open.GeneratorLate == 0 {
		// With late sends the reason is a warning below instead.
		fmt.Fprintln(ew, "generator "+r.Open.Saturation)
	}
	fmt.Fprintln(ew)

	failed := map[string][]string{}
	for _, c := range v.Failed() {
		if c.Endpoint != "" {
			failed[c.Endpoint] = append(failed[c.Endpoint], c.Metric)
		}
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "endpoint\tcategory\treqs\treq/s\tp50\tp90\tp95\tp99\tp99.9\tmax\terrors\t"
	if r.Open != nil {
		head += "svc p99\t"
	}
	fmt.Fprintln(tw, head+"targets\t")
	row := func(ep EndpointReport, verdict string) {
		l := ep.Latency
		line := fmt.Sprintf("%s\t%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", ep.Name, ep.Category, ep.Requests, ep.Rate,
			fmtDur(l.P50, l.N), fmtDur(l.P90, l.N), fmtDur(l.P95, l.N), fmtDur(l.P99, l.N), fmtDur(l.P999, l.N), fmtDur(l.Max, l.N),
			pct(ep.ErrorRate))
		if r.Open != nil {
			svc := "-"
			if ep.ServiceTime != nil {
				svc = fmtDur(ep.ServiceTime.P99, ep.ServiceTime.N)
			}
			line += svc + "\t"
		}
		fmt.Fprintln(tw, line+verdict+"\t")
	}
	for _, ep := range r.Endpoints {
		verdict := "-"
		if ep.Targets != (Targets{}) {
			verdict = "ok"
			if f := failed[ep.Name]; len(f) > 0 {
				verdict = "FAIL " + strings.Join(f, ",")
			}
		}
		row(ep, verdict)
	}
	if len(r.Endpoints) > 1 {
		row(EndpointReport{Name: "total", Totals: r.Total}, "")
	}
	tw.Flush()

	if len(r.Setup) > 0 {
		var parts []string
		for _, s := range r.Setup {
			parts = append(parts, fmt.Sprintf("%s %d req, p50 %s, %s errors", s.Name, s.Requests, fmtDur(s.Latency.P50, s.Latency.N), pct(s.ErrorRate)))
		}
		fmt.Fprintf(ew, "\nsetup (auth traffic, not in the totals): %s; %d refreshes after 401\n", strings.Join(parts, "; "), r.Refreshes)
	}
	if o := r.Open; o != nil {
		fmt.Fprintf(ew, "\nopen model: intended %.1f req/s, dispatched %.1f req/s; send lag p50 %s p99 %s max %s; late (>%v) %d, with a free connection %d; waited for a connection %d; dropped %d\n",
			o.Rate, o.Achieved, fmtDur(o.SendLag.P50, o.SendLag.N), fmtDur(o.SendLag.P99, o.SendLag.N), fmtDur(o.SendLag.Max, o.SendLag.N),
			o.LateAfter, o.Late, o.GeneratorLate, o.Waited, o.Dropped)
	}
	var errLines []string
	for _, ep := range append(slices.Clone(r.Endpoints), r.Setup...) {
		if len(ep.ErrorKinds) == 0 {
			continue
		}
		var kinds []string
		for k, n := range ep.ErrorKinds {
			if k == "status" {
				var codes []string
				for c, m := range ep.UnexpectedStatus {
					codes = append(codes, fmt.Sprintf("%s×%d", c, m))
				}
				sort.Strings(codes)
				k = "status (" + strings.Join(codes, " ") + ")"
			}
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(kinds)
		line := fmt.Sprintf("  %s: %s", ep.Name, strings.Join(kinds, ", "))
		if len(ep.ErrorSamples) > 0 {
			line += "\n    e.g. " + ep.ErrorSamples[0]
		}
		errLines = append(errLines, line)
	}
	if len(errLines) > 0 {
		fmt.Fprintf(ew, "\nerrors:\n%s\n", strings.Join(errLines, "\n"))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(ew, "\nwarning: %s\n", w)
	}
	fmt.Fprintln(ew)
	var budgets []string
	for _, c := range v.Checks {
		switch c.Metric {
		case "availability", "error-rate", "timeout-rate":
			budgets = append(budgets, c.Message)
		}
	}
	fmt.Fprintf(ew, "budgets: %s\n", strings.Join(budgets, "; "))
	if v.Pass {
		fmt.Fprintf(ew, "verdict: PASS (%d checks)\n", len(v.Checks))
	} else {
		f := v.Failed()
		msgs := make([]string, len(f))
		for i, c := range f {
			msgs[i] = c.Message
		}
		fmt.Fprintf(ew, "verdict: FAIL (%d of %d checks): %s\n", len(f), len(v.Checks), strings.Join(msgs, "; "))
	}
	return ew.err
}

func (r *Report) describeLoad() string {
	l := r.Load
	var s string
	if l.Model == ModelOpen {
		s = fmt.Sprintf("open model, %g req/s", l.Rate)
		if l.RampDuration > 0 {
			s += fmt.Sprintf(" (ramp from %g over %v)", l.RampFrom, l.RampDuration)
		}
		s += fmt.Sprintf(", up to %d in flight", l.Concurrency)
	} else {
		s = fmt.Sprintf("closed model, %d users", l.Concurrency)
	}
	if l.Duration > 0 {
		s += fmt.Sprintf(", %v", l.Duration)
	}
	if l.Requests > 0 {
		s += fmt.Sprintf(", at most %d requests", l.Requests)
	}
	return s
}

func fmtDur(d time.Duration, n int64) string {
	if n == 0 {
		return "-"
	}
	return roundDur(d).String()
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
