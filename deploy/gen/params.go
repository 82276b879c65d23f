package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Params are the thresholds, windows and durations of the rules. The
// committed files are generated from [DefaultParams]; every field has a flag
// of the same meaning (see [Params.Flags]) so an operator can generate a
// calibrated copy for a service of their own, and the end-to-end test can
// shorten the windows without weakening the shipped defaults.
type Params struct {
	// RateWindow is the range of the recorded rates, quantiles and ratios
	// (at least four scrape intervals).
	RateWindow time.Duration
	// FloorWindow is the range of the recorded floors (min_over_time) of
	// the live heap, the goroutine count and the memory in use: longer than
	// one GC cycle and one load cycle, so a sawtooth has a flat floor.
	FloorWindow time.Duration
	// TrendWindow is the range over which the floors' slope (deriv) is
	// recorded: the recent trend the leak alerts confirm and the projected
	// time to the memory limit extrapolates.
	TrendWindow time.Duration

	// LeakFor is how long a leak must be both reported by the agent and
	// confirmed by the floor's trend before either leak alert fires.
	LeakFor time.Duration
	// HeapLeakMinRate is the least growth of the live-heap floor, in bytes
	// per second, that PerfagentHeapLeak pages for.
	HeapLeakMinRate float64
	// GoroutineLeakMinRate is the least growth of the goroutine-count
	// floor, in goroutines per second, that PerfagentGoroutineLeak pages for.
	GoroutineLeakMinRate float64

	// MemoryLimitRatio is the share of the Go memory limit (GOMEMLIMIT)
	// whose floor, over RateWindow, fires PerfagentMemoryNearLimit.
	MemoryLimitRatio float64
	// MemoryFor is how long the memory floor must stay above it.
	MemoryFor time.Duration

	// SchedLatencyP99 is the 99th percentile scheduling latency, in
	// seconds, above which PerfagentSchedulerLatencyHigh fires (the agent's
	// capture trigger uses the same default, 50ms).
	SchedLatencyP99 float64
	// SchedFor is how long the p99 must stay above it.
	SchedFor time.Duration

	// GCCPURatio is the share of the Go runtime's CPU capacity
	// (GOMAXPROCS × wall time) spent in GC above which PerfagentGCCPUHigh
	// fires (the agent's capture trigger uses the same default, 0.25).
	GCCPURatio float64
	// GCFor is how long the share must stay above it.
	GCFor time.Duration

	// ExportFailureRatio is the share of an exporter's push exports over
	// ExportWindow that must fail for PerfagentExportsFailing.
	ExportFailureRatio float64
	// ExportWindow is the range of that share (several export intervals:
	// the OTLP default interval is 60s).
	ExportWindow time.Duration
	// ExportFor is how long the share must stay above the ratio.
	ExportFor time.Duration

	// DropFor is how long the agent must keep dropping data (some drop in
	// every RateWindow) for PerfagentDroppingData.
	DropFor time.Duration

	// TargetDownFor is how long a target that served the agent within the
	// last TargetMemory must fail its scrapes for PerfagentTargetDown.
	TargetDownFor time.Duration
	// TargetMemory is how long a target is remembered as an agent target
	// after its last successful scrape.
	TargetMemory time.Duration

	// RunbookURL is the page holding the runbook; each alert links to its
	// section (anchor) there.
	RunbookURL string
	// OperatorLabels label the PrometheusRule manifest so a Prometheus
	// Operator's ruleSelector picks it up, as k=v,k=v.
	OperatorLabels string
	// Namespace is the PrometheusRule manifest's namespace; empty leaves it
	// to kubectl.
	Namespace string
}

// DefaultParams are the shipped defaults, documented in the README's runbook.
func DefaultParams() Params {
	return Params{
		RateWindow:           5 * time.Minute,
		FloorWindow:          10 * time.Minute,
		TrendWindow:          30 * time.Minute,
		LeakFor:              30 * time.Minute,
		HeapLeakMinRate:      1024,
		GoroutineLeakMinRate: 1.0 / 60,
		MemoryLimitRatio:     0.9,
		MemoryFor:            10 * time.Minute,
		SchedLatencyP99:      0.05,
		SchedFor:             10 * time.Minute,
		GCCPURatio:           0.25,
		GCFor:                15 * time.Minute,
		ExportFailureRatio:   0.5,
		ExportWindow:         10 * time.Minute,
		ExportFor:            10 * time.Minute,
		DropFor:              15 * time.Minute,
		TargetDownFor:        5 * time.Minute,
		TargetMemory:         6 * time.Hour,
		RunbookURL:           "https://github.com/perfagent/perfagent/blob/main/README.md",
		OperatorLabels:       "app.kubernetes.io/name=perfagent,app.kubernetes.io/component=rules",
	}
}

// Flags registers one flag per field on fs, with p's values as defaults.
func (p *Params) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&p.RateWindow, "rate-window", p.RateWindow, "range of the recorded rates, quantiles and ratios")
	fs.DurationVar(&p.FloorWindow, "floor-window", p.FloorWindow, "range of the recorded floors (min_over_time)")
	fs.DurationVar(&p.TrendWindow, "trend-window", p.TrendWindow, "range of the floors' recorded slope (deriv)")
	fs.DurationVar(&p.LeakFor, "leak-for", p.LeakFor, "for: of the heap and goroutine leak alerts")
	fs.Float64Var(&p.HeapLeakMinRate, "heap-leak-min-rate", p.HeapLeakMinRate, "least live-heap floor growth that pages, bytes/s")
	fs.Float64Var(&p.GoroutineLeakMinRate, "goroutine-leak-min-rate", p.GoroutineLeakMinRate, "least goroutine floor growth that pages, goroutines/s")
	fs.Float64Var(&p.MemoryLimitRatio, "memory-limit-ratio", p.MemoryLimitRatio, "share of GOMEMLIMIT that fires PerfagentMemoryNearLimit")
	fs.DurationVar(&p.MemoryFor, "memory-for", p.MemoryFor, "for: of PerfagentMemoryNearLimit")
	fs.Float64Var(&p.SchedLatencyP99, "sched-latency-p99", p.SchedLatencyP99, "p99 scheduling latency that fires PerfagentSchedulerLatencyHigh, seconds")
	fs.DurationVar(&p.SchedFor, "sched-for", p.SchedFor, "for: of PerfagentSchedulerLatencyHigh")
	fs.Float64Var(&p.GCCPURatio, "gc-cpu-ratio", p.GCCPURatio, "GC share of the runtime's CPU capacity that fires PerfagentGCCPUHigh")
	fs.DurationVar(&p.GCFor, "gc-for", p.GCFor, "for: of PerfagentGCCPUHigh")
	fs.Float64Var(&p.ExportFailureRatio, "export-failure-ratio", p.ExportFailureRatio, "failed share of push exports that fires PerfagentExportsFailing")
	fs.DurationVar(&p.ExportWindow, "export-window", p.ExportWindow, "range of the export failure share")
	fs.DurationVar(&p.ExportFor, "export-for", p.ExportFor, "for: of PerfagentExportsFailing")
	fs.DurationVar(&p.DropFor, "drop-for", p.DropFor, "for: of PerfagentDroppingData")
	fs.DurationVar(&p.TargetDownFor, "target-down-for", p.TargetDownFor, "for: of PerfagentTargetDown")
	fs.DurationVar(&p.TargetMemory, "target-memory", p.TargetMemory, "how long a target is remembered as running the agent")
	fs.StringVar(&p.RunbookURL, "runbook-url", p.RunbookURL, "page of the runbook; alerts link to its anchors")
	fs.StringVar(&p.OperatorLabels, "operator-labels", p.OperatorLabels, "labels of the PrometheusRule manifest, k=v,k=v")
	fs.StringVar(&p.Namespace, "namespace", p.Namespace, "namespace of the PrometheusRule manifest (empty: none)")
}

// Validate reports the first parameter that cannot make a working rule.
func (p *Params) Validate() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"-rate-window", p.RateWindow}, {"-floor-window", p.FloorWindow}, {"-trend-window", p.TrendWindow},
		{"-export-window", p.ExportWindow}, {"-target-memory", p.TargetMemory},
	} {
		if d.v < time.Second {
			return fmt.Errorf("%s %v: want at least 1s", d.flag, d.v)
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"-leak-for", p.LeakFor}, {"-memory-for", p.MemoryFor}, {"-sched-for", p.SchedFor}, {"-gc-for", p.GCFor},
		{"-export-for", p.ExportFor}, {"-drop-for", p.DropFor}, {"-target-down-for", p.TargetDownFor},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s %v: want zero or more", d.flag, d.v)
		}
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{
		{"-memory-limit-ratio", p.MemoryLimitRatio}, {"-gc-cpu-ratio", p.GCCPURatio}, {"-export-failure-ratio", p.ExportFailureRatio},
	} {
		if !(r.v > 0 && r.v <= 1) {
			return fmt.Errorf("%s %v: want a share in (0, 1]", r.flag, r.v)
		}
	}
	if !(p.HeapLeakMinRate > 0) {
		return fmt.Errorf("-heap-leak-min-rate %v: want a positive rate", p.HeapLeakMinRate)
	}
	if !(p.GoroutineLeakMinRate > 0) {
		return fmt.Errorf("-goroutine-leak-min-rate %v: want a positive rate", p.GoroutineLeakMinRate)
	}
	if !(p.SchedLatencyP99 > 0) {
		return fmt.Errorf("-sched-latency-p99 %v: want a positive number of seconds", p.SchedLatencyP99)
	}
	if _, err := p.operatorLabels(); err != nil {
		return err
	}
	return nil
}

func (p *Params) operatorLabels() ([][2]string, error) {
	var out [][2]string
	if strings.TrimSpace(p.OperatorLabels) == "" {
		return nil, nil
	}
	for _, kv := range strings.Split(p.OperatorLabels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-operator-labels %q: want k=v,k=v", p.OperatorLabels)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// promDuration formats d as a Prometheus duration: 30m, 1h30m, 500ms.
func promDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.unit)
			d -= n * u.d
		}
	}
	return b.String()
}

// num formats a threshold as PromQL reads it, shortest exact form.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
