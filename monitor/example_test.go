package monitor_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/perfagent/perfagent/monitor"
	"github.com/perfagent/perfagent/results"
)

// Monitor this very process by PID for a moment and look at what was
// measured.
func ExampleRun() {
	src, err := monitor.NewProcessSource(os.Getpid(), monitor.ProcessOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	h, err := monitor.Run(context.Background(), src, monitor.Options{
		Interval:   50 * time.Millisecond,
		Duration:   200 * time.Millisecond,
		Thresholds: []monitor.Threshold{{Series: monitor.RSS, Max: 64 << 40}}, // 64 TiB: never breached
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Target.Kind, h.Status, h.Has(monitor.RSS), h.Has(monitor.CPU), h.Has(monitor.Goroutines), len(h.Breaches))
	// Output: process complete true true false 0
}

// Thresholds are written as people write them and kept in base units.
func ExampleSeries_ParseLimit() {
	for _, in := range []struct {
		s monitor.Series
		v string
	}{{monitor.RSS, "512MiB"}, {monitor.SchedLagP99, "50ms"}, {monitor.CPU, "0.8"}, {monitor.GCCPU, "25%"}} {
		v, err := in.s.ParseLimit(in.v)
		fmt.Println(in.s.Key(), v, in.s.Format(v), err)
	}
	// Output:
	// rss_bytes 5.36870912e+08 512MiB <nil>
	// sched_lag_p99_seconds 0.05 50.0ms <nil>
	// cpu_cores 0.8 0.8 cores <nil>
	// gc_cpu_fraction 0.25 25.00% <nil>
}

// A run's system figures become bench results that budgets evaluate.
func ExampleHistory_BenchResults() {
	base, peak := float64(200<<20), float64(300<<20)
	h := &monitor.History{
		Target: monitor.Target{Kind: monitor.KindProcess, Name: "api", PID: 42},
		System: monitor.System{RSSBaseline: &base, RSSPeak: &peak},
	}
	r := h.BenchResults(results.Environment{}).Benchmarks[0]
	var ms []string
	for _, m := range r.Metrics {
		ms = append(ms, fmt.Sprintf("%s=%.0f", m.Unit, m.Value))
	}
	fmt.Println(r.Name, r.Kind, strings.Join(ms, " "))
	// Output: monitor/api memory rss-baseline-bytes=209715200 rss-peak-bytes=314572800
}
