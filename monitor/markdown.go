package monitor

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/internal/units"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

// ReportOptions configures [WriteMarkdown].
type ReportOptions struct {
	// Charts maps a series to the file name of its chart, linked as an
	// image (relative to the report). Series without one get none.
	Charts map[Series]string
	// Budgets supplies the system targets the report checks the run
	// against; nil means the seed's (the built-in [budget.Default]). Only
	// its System section is used.
	Budgets *budget.Budgets
}

// timelineRows is the number of rows of the report's text timeline.
const timelineRows = 12

// sparkWidth is the number of characters of a summary trend.
const sparkWidth = 24

// WriteMarkdown writes the report of a monitoring run: the target and run,
// per-series statistics with a text trend, the system targets, threshold
// breaches, heap captures, chart images and a text timeline (so the report
// reads without images), and the warnings.
func WriteMarkdown(w io.Writer, h *History, o ReportOptions) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	t := h.Target

	p("# Monitoring report: %s\n\n", mdEscape(t.Name))
	p("| | |\n|---|---|\n")
	p("| Target | %s |\n", mdEscape(describeTarget(t)))
	p("| Run | %s → %s (%s) |\n", fmtTime(h.StartedAt), fmtTime(h.FinishedAt), roundDur(h.Duration()))
	status := mdEscape(h.statusText())
	if h.Partial {
		status = "**partial** — " + status
	}
	p("| Status | %s |\n", status)
	interval := time.Duration(h.IntervalSeconds * float64(time.Second))
	p("| Readings | %d every %s; %d failed |\n", h.Readings, interval, h.Failures.Count)
	if h.Downsampled > 0 {
		p("| History | %d points, each merging up to %d readings (downsampled %d× to stay within %d points) |\n",
			len(h.Samples), 1<<h.Downsampled, h.Downsampled, h.MaxSamples)
	} else {
		p("| History | %d points at full resolution |\n", len(h.Samples))
	}
	p("\n")

	present := h.Present()
	p("## Summary\n\n")
	if len(present) == 0 {
		p("No values were read.\n\n")
	} else {
		p("| Series | Min | Mean | p50 | p95 | Max | Last | Trend |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, s := range present {
			sm := h.Summary[s.Key()]
			p("| %s | %s | %s | %s | %s | %s | %s | `%s` |\n", s, s.Format(sm.Min), s.Format(sm.Mean), s.Format(sm.P50),
				s.Format(sm.P95), s.Format(sm.Max), s.Format(sm.Last), sparkline(h, s))
		}
		p("\nMin, mean, max and last are exact over every reading; p50 and p95 are over the history's points")
		if h.Downsampled > 0 {
			p(" (each averaging up to %d readings, so they understate short spikes)", 1<<h.Downsampled)
		}
		p(". CPU, GC cycles and scheduler lag cover each interval between two readings")
		if h.Has(SchedLagP99) {
			p("; the scheduler-lag p99 is interpolated inside the target's histogram buckets, as Prometheus' histogram_quantile, so its resolution is the bucket width")
		}
		p(".\n\n")
		var src []string
		for _, s := range present {
			if o := h.Origins[s.Key()]; o != "" {
				src = append(src, s.String()+": `"+o+"`")
			}
		}
		if len(src) > 0 {
			p("Read from: %s.\n\n", strings.Join(src, ", "))
		}
	}

	writeSystem(p, h, o.Budgets)
	writeBreaches(p, h)
	writeCaptures(p, h)

	if len(o.Charts) > 0 {
		p("## Charts\n\n")
		for _, s := range present {
			if f, ok := o.Charts[s]; ok {
				p("![%s](%s)\n\n", s, f)
			}
		}
	}
	writeTimeline(p, h, present)

	if len(h.Warnings) > 0 || h.Failures.Count > 0 || h.CounterResets > 0 {
		p("## Warnings\n\n")
		if f := h.Failures; f.Count > 0 {
			p("- %d reads failed between %s and %s; the last: %s\n", f.Count, fmtTime(f.First), fmtTime(f.Last), mdEscape(f.LastError))
		}
		if h.CounterResets > 0 {
			p("- counters went down in %d interval(s) (the target restarted); those intervals have no CPU, GC or scheduler values\n", h.CounterResets)
		}
		for _, wn := range h.Warnings {
			p("- %s\n", mdEscape(wn))
		}
		p("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// statusText says how the run ended, in words.
func (h *History) statusText() string {
	switch h.Status {
	case StatusInterrupted:
		return h.End
	case StatusTargetGone:
		return "target gone: " + h.End
	}
	if h.End != "" {
		return h.Status + ": " + h.End
	}
	return h.Status
}

// Has reports whether series s has a value in the run.
func (h *History) Has(s Series) bool { return h.Summary[s.Key()].N > 0 }

func describeTarget(t Target) string {
	var b strings.Builder
	switch t.Kind {
	case KindAgent:
		b.WriteString("perfagent agent at " + t.URL)
	case KindPrometheus:
		b.WriteString("Prometheus endpoint " + t.URL)
	case KindProcess:
		fmt.Fprintf(&b, "process %d (%s)", t.PID, t.Name)
		return b.String()
	default:
		b.WriteString(t.Kind + " " + t.URL)
	}
	var extra []string
	if t.Kind == KindAgent && t.Name != "" {
		extra = append(extra, "service "+t.Name)
	}
	if t.Version != "" {
		extra = append(extra, "agent "+t.Version)
	}
	if t.GoVersion != "" {
		extra = append(extra, t.GoVersion)
	}
	if t.PID > 0 {
		extra = append(extra, fmt.Sprintf("pid %d", t.PID))
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	}
	return b.String()
}

// systemRow ties a system budget key to the figure the monitor measured.
type systemRow struct {
	key, what string
	value     *float64
	scale     float64 // to the budget's base unit
}

func writeSystem(p func(string, ...any), h *History, b *budget.Budgets) {
	var source string
	switch {
	case b == nil:
		b = budget.Default()
		source = "the seed's system targets (the built-in budgets)"
	case b.File != "":
		source = "the budgets in `" + b.File + "`"
	default:
		source = "the built-in budgets"
	}
	win := roundDur(time.Duration(h.System.BaselineWindowSeconds * float64(time.Second)))
	peakHow := "largest RSS read"
	if h.System.RSSPeakSource == "VmHWM" {
		peakHow = "kernel high-water mark VmHWM, over the process's life"
	}
	rows := []systemRow{
		{"memory-baseline", fmt.Sprintf("median RSS, first %s", win), h.System.RSSBaseline, 1},
		{"memory-peak", peakHow, h.System.RSSPeak, 1},
		{"cpu-idle", fmt.Sprintf("mean CPU, first %s", win), h.System.CPUIdle, 1},
		{"scheduler-lag", "p99 over the run", h.System.SchedLagP99, 1e9},
	}
	res := h.BenchResults(results.Environment{})
	v := budget.Evaluate(&budget.Budgets{File: b.File, System: b.System}, res)
	p("## System targets\n\n")
	p("The monitored process against %s. The baseline figures come from the first %s of the run: start the monitor while the target is idle for an idle baseline.\n\n", source, win)
	p("| Target | How | Measured | Budget | Status |\n|---|---|---:|---:|---|\n")
	for _, r := range rows {
		measured := "not exposed"
		if r.value != nil {
			measured = systemFormat(r.key, *r.value*r.scale)
		}
		budgetText, status := "none", "—"
		for _, c := range v.Checks {
			if c.Metric != r.key {
				continue
			}
			budgetText = systemFormat(r.key, c.Budget)
			switch c.Status {
			case budget.Pass:
				status = "pass"
			case budget.Fail:
				status = "**FAIL**"
			default:
				status = "not measured"
			}
		}
		p("| %s | %s | %s | %s | %s |\n", r.key, r.what, measured, budgetText, status)
	}
	p("\n")
}

// systemFormat renders a system figure in its budget's base unit.
func systemFormat(key string, v float64) string {
	switch key {
	case "memory-baseline", "memory-peak":
		return units.FormatBytes(v)
	case "cpu-idle":
		return fmt.Sprintf("%.2f%%", 100*v)
	case "scheduler-lag":
		return report.FormatDuration(v)
	}
	return fmt.Sprint(v)
}

func writeBreaches(p func(string, ...any), h *History) {
	p("## Threshold breaches\n\n")
	if len(h.Thresholds) == 0 {
		p("No thresholds were set (`--max-rss`, `--max-cpu`, `--max-goroutines`, `--max-sched-lag`, ...).\n\n")
		return
	}
	var ts []string
	for _, t := range h.Thresholds {
		ts = append(ts, t.String())
	}
	p("Thresholds: %s.\n\n", strings.Join(ts, ", "))
	if len(h.Breaches) == 0 {
		p("No breaches.\n\n")
		return
	}
	p("| Series | Threshold | From | To | Readings | Peak |\n|---|---:|---|---|---:|---:|\n")
	for _, br := range h.Breaches {
		to := h.offset(br.End)
		if br.Open {
			to += " (still over)"
		}
		p("| %s | %s | %s | %s | %d | %s |\n", br.Series, br.Series.Format(br.Threshold), h.offset(br.Start), to,
			br.Readings, br.Series.Format(br.Peak))
	}
	if h.BreachesDropped > 0 {
		p("\n%d more breaches were left out (at most %d are kept).\n", h.BreachesDropped, MaxBreaches)
	}
	p("\nTimes are offsets from the start of the run.\n\n")
}

func writeCaptures(p func(string, ...any), h *History) {
	p("## Heap captures\n\n")
	switch {
	case len(h.Captures) > 0:
		p("| Time | Reason | File |\n|---|---|---|\n")
		for _, c := range h.Captures {
			file := "`" + c.Path + "`"
			if c.Error != "" {
				file = "failed: " + mdEscape(c.Error)
			}
			p("| %s | %s | %s |\n", h.offset(c.Time), mdEscape(c.Reason), file)
		}
		p("\nFiles are on the target's machine; open them with `go tool pprof`.\n\n")
	case h.Target.Kind != KindAgent:
		p("None: heap captures need a target running perfagent's agent (`--url`).\n\n")
	case len(h.Breaches) == 0:
		p("None: no threshold was breached.\n\n")
	default:
		p("None.\n\n")
	}
}

// writeTimeline writes the means of each series over consecutive groups of
// points, so the report reads without its images.
func writeTimeline(p func(string, ...any), h *History, present []Series) {
	if len(h.Samples) < 2 || len(present) == 0 {
		return
	}
	rows := min(timelineRows, len(h.Samples))
	p("## Timeline\n\nMeans over %d consecutive slices of the history; times are the ends of the slices.\n\n| Time |", rows)
	for _, s := range present {
		p(" %s |", s)
	}
	p("\n|---|")
	for range present {
		p("---:|")
	}
	p("\n")
	cols := make([][]float64, len(present))
	for i, s := range present {
		cols[i], _ = groupMeans(h, s, rows)
	}
	_, ends := groupMeans(h, present[0], rows)
	for r := range rows {
		p("| %s |", h.offset(ends[r]))
		for i, s := range present {
			p(" %s |", s.Format(cols[i][r]))
		}
		p("\n")
	}
	p("\n")
}

// groupMeans splits the points into n consecutive groups of (nearly) equal
// size and returns the weighted mean of series s in each (NaN where the
// group has no value) and the time of each group's last point.
func groupMeans(h *History, s Series, n int) ([]float64, []time.Time) {
	means, ends := make([]float64, n), make([]time.Time, n)
	m := len(h.Samples)
	for g := range n {
		lo, hi := g*m/n, (g+1)*m/n
		var sum, w float64
		for i := lo; i < hi; i++ {
			if v, ok := h.Samples[i].Get(s); ok {
				wi := float64(h.Samples[i].weight())
				sum += v * wi
				w += wi
			}
		}
		means[g] = math.NaN()
		if w > 0 {
			means[g] = sum / w
		}
		if hi > lo {
			ends[g] = h.Samples[hi-1].Time
		}
	}
	return means, ends
}

// sparkline draws the trend of s as block characters, lowest to highest
// over the run; gaps are spaces.
func sparkline(h *History, s Series) string {
	n := min(sparkWidth, len(h.Samples))
	if n == 0 {
		return ""
	}
	means, _ := groupMeans(h, s, n)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range means {
		if !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	blocks := []rune("▁▂▃▄▅▆▇█")
	out := make([]rune, n)
	for i, v := range means {
		switch {
		case math.IsNaN(v):
			out[i] = ' '
		case hi-lo <= 1e-9*max(math.Abs(hi), math.Abs(lo)):
			out[i] = blocks[0]
		default:
			out[i] = blocks[min(int((v-lo)/(hi-lo)*float64(len(blocks))), len(blocks)-1)]
		}
	}
	return string(out)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// offset renders t as a time since the start of the run.
func (h *History) offset(t time.Time) string { return h.offsetDur(t.Sub(h.StartedAt)) }

// offsetDur renders a time since the start of the run: in seconds with a
// tenth for runs under a minute ("+4.5s"), else as m:ss or h:mm:ss.
func (h *History) offsetDur(d time.Duration) string {
	if h.Duration() < time.Minute {
		return fmt.Sprintf("+%.1fs", max(d, 0).Seconds())
	}
	return fmtOffset(d)
}

// fmtOffset renders a time since the start as m:ss or h:mm:ss.
func fmtOffset(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	sec := int64(d.Round(time.Second) / time.Second)
	if sec >= 3600 {
		return fmt.Sprintf("+%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("+%d:%02d", sec/60, sec%60)
}

// mdEscape keeps text from breaking a Markdown table or turning into
// markup.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "*", `\*`, "_", `\_`, "`", "'", "<", "&lt;", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// WriteChart writes the chart of series s over the run as an SVG image,
// with the series' thresholds as reference lines.
func WriteChart(w io.Writer, h *History, s Series) error {
	xs, ys := h.Series(s)
	c := report.LineChart{
		Title:  s.String(),
		XLabel: "time since start",
		FormatX: func(v float64) string {
			return h.offsetDur(time.Duration(v * float64(time.Second)))
		},
		FormatY:   s.Format,
		YFromZero: true,
		Series:    []report.Series{{Name: s.String(), X: xs, Y: ys}},
	}
	for _, t := range h.Thresholds {
		if t.Series == s {
			c.Markers = append(c.Markers, report.Marker{Label: "threshold " + s.Format(t.Max), Value: t.Max, Color: report.ColorRegression})
		}
	}
	return report.SVGLineChart(w, c)
}
