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
	rounds := []float64{1010, 1020, 1025, 1030, 1030, 1031, 1035, 1040, 1050, 1060}
	st, _ := results.Summarize(rounds)
	res := &results.Run{Schema: results.Schema, Suite: "demo", Benchmarks: []results.Benchmark{
		{Name: "parse", Unit: "ns/op", Iterations: 10000, Samples: rounds, Stats: st},
		{Name: "GET /health", Unit: "ns/op", Kind: results.KindHTTP, Iterations: 5000, Samples: rounds, Stats: st,
			PerOp: &results.Distribution{N: 5000, P50: 1e6, P95: 2.5e6, P99: 4e6}},
	}}
	_ = report.Markdown(os.Stdout, res, nil)
	// Output:
	// ## Benchmark results: demo
	//
	// | Benchmark | Median ± 95% CI | Rounds | p95 per operation | p99 per operation |
	// |---|---:|---:|---:|---:|
	// | parse | 1.03µs ±1.9% | 10 | - | - |
	// | GET /health | 1.03µs ±1.9% | 10 | 2.50ms | 4.00ms |
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
