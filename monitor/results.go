package monitor

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/perfagent/perfagent/results"
)

// UnitRSS is the primary unit of the result [History.BenchResults] writes:
// the resident set size in bytes, one value per history point.
const UnitRSS = "rss-bytes"

// BenchResults returns the run as bench results (Suite "monitor") so the
// system budgets can be checked on it (`perfagent check`, [budget.Evaluate]):
// one result named "monitor/<target name>", Category "system", Kind
// [results.KindMemory], whose samples are the RSS of the history's points
// (unit [UnitRSS]) and whose metrics are the [System] figures measured:
// [results.UnitRSSBaseline], [results.UnitRSSPeak], [results.UnitCPUIdle] and
// [results.UnitSchedLagP99] (converted to nanoseconds). Labels carry the
// target and the way each figure was taken. env describes the machine that
// ran the monitor (the target's, for process targets).
func (h *History) BenchResults(env results.Environment) *results.Run {
	res := &results.Run{
		Schema: results.Schema, Suite: "monitor", StartedAt: h.StartedAt, FinishedAt: h.FinishedAt,
		Partial: h.Partial, Environment: env, Warnings: h.Warnings,
	}
	r := results.Benchmark{
		Name: "monitor/" + resultName(h.Target.Name), Category: "system", Kind: results.KindMemory, Unit: UnitRSS,
		Labels: map[string]string{
			"target":            h.Target.Kind,
			"interval":          strconv.FormatFloat(h.IntervalSeconds, 'g', -1, 64) + "s",
			"baseline-window":   strconv.FormatFloat(h.System.BaselineWindowSeconds, 'g', -1, 64) + "s",
			"rss-baseline":      "median RSS over the baseline window",
			"cpu-idle":          "mean CPU (cores) over the baseline window",
			"sched-lag-p99":     "p99 of the run's scheduler-latency histogram deltas",
			"samples-per-point": strconv.Itoa(1 << h.Downsampled),
		},
	}
	if h.Target.URL != "" {
		r.Labels["url"] = h.Target.URL
	}
	if h.Target.PID > 0 {
		r.Labels["pid"] = strconv.Itoa(h.Target.PID)
	}
	if h.System.RSSPeakSource != "" {
		r.Labels["rss-peak"] = h.System.RSSPeakSource
	}
	_, rss := h.Series(RSS)
	if len(rss) > 0 {
		r.Samples = rss
		r.Iterations = int64(len(rss))
		r.Stats, _ = results.Summarize(rss)
	}
	add := func(unit string, v *float64, scale float64) {
		if v != nil {
			r.Metrics = append(r.Metrics, results.Metric{Unit: unit, Value: *v * scale})
		}
	}
	add(results.UnitRSSBaseline, h.System.RSSBaseline, 1)
	add(results.UnitRSSPeak, h.System.RSSPeak, 1)
	add(results.UnitCPUIdle, h.System.CPUIdle, 1)
	add(results.UnitSchedLagP99, h.System.SchedLagP99, 1e9)
	res.Benchmarks = []results.Benchmark{r}
	return res
}

// resultName makes a target name usable in a benchmark name: no white
// space, no "/" (which separates sub-benchmark levels).
func resultName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '/' {
			return '_'
		}
		return r
	}, name)
	if name == "" {
		return "target"
	}
	return name
}
