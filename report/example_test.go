package report_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

// A Runner writes HTML reports through report.HTML.
func Example_runner() {
	dir, _ := os.MkdirTemp("", "report-example")
	defer os.RemoveAll(dir)
	r := bench.NewRunner(bench.WithOutputDir(dir), bench.WithRenderer(report.HTML))
	_, _ = r.Run(context.Background(), "concat", "strings", func(context.Context) error {
		_ = strings.Repeat("ab", 16)
		return nil
	}, bench.Options{MeasurementRuns: 10, MinDuration: -1})
	path, err := r.GenerateReport()
	fmt.Println(strings.HasPrefix(filepath.Base(path), "report-"), filepath.Ext(path), err)
	// Output: true .html <nil>
}

func ExampleMarkdown() {
	res := &results.Run{Schema: results.Schema, Suite: "demo", Benchmarks: []results.Benchmark{{
		Name: "parse", Unit: "ns/op", Iterations: 1000,
		Stats: results.Stats{N: 10, Median: 1030, P95: 1100, P99: 1200, CILow: 1010, CIHigh: 1050, CIConfidence: 0.98},
	}}}
	_ = report.Markdown(os.Stdout, res, nil)
	// Output:
	// ## Benchmark results: demo
	//
	// | Benchmark | Median | 95% CI | p95 | p99 | allocs/op | B/op |
	// |---|---:|---:|---:|---:|---:|---:|
	// | parse | 1.03µs | ±1.9% | 1.10µs | 1.20µs | - | - |
}

func ExampleSVGLineChart() {
	var sb strings.Builder
	err := report.SVGLineChart(&sb, report.LineChart{
		Title: "Heap in use", XLabel: "seconds", YFromZero: true, FormatY: report.FormatBytes,
		Series:  []report.Series{{Name: "heap", X: []float64{0, 10, 20, 30}, Y: []float64{8 << 20, 9 << 20, 11 << 20, 14 << 20}}},
		Markers: []report.Marker{{Label: "limit", Value: 16 << 20, Color: report.ColorRegression}},
	})
	fmt.Println(err, strings.HasPrefix(sb.String(), "<svg "), strings.Count(sb.String(), "<polyline"))
	// Output: <nil> true 1
}
