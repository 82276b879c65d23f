package bench_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

func ExampleRunner() {
	dir, _ := os.MkdirTemp("", "bench-example")
	defer os.RemoveAll(dir)
	r := bench.NewRunner(bench.WithOutputDir(dir), bench.WithSuite("example"))
	ctx := context.Background()

	data := []int{5, 2, 8, 1, 9, 3}
	res, err := r.Run(ctx, "sort/6", "sorting", func(context.Context) error {
		s := slices.Clone(data)
		slices.Sort(s)
		return nil
	}, bench.Options{WarmupRuns: 5, MeasurementRuns: 20, MinDuration: -1})
	fmt.Println(res.Name, res.Stats.N, "samples", err)

	// A failing benchmark is recorded; the runner goes on.
	_, err = r.Run(ctx, "broken", "sorting", func(context.Context) error {
		return errors.New("no input")
	}, bench.Options{})
	fmt.Println(err)

	saved, err := r.SaveResults()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Ext(saved.JSON), filepath.Ext(saved.Benchfmt))
	back, _ := results.ReadFile(saved.JSON)
	fmt.Println(back.Suite, len(back.Benchmarks), back.Benchmarks[1].Error)
	// Output:
	// sort/6 20 samples <nil>
	// bench: broken: no input
	// .json .txt
	// example 2 no input
}

func ExampleSummarize() {
	st, warnings := results.Summarize([]float64{102, 98, 101, 99, 100, 100, 103, 97, 100, 250})
	fmt.Printf("median %.1f, 95%% CI [%.0f, %.0f] at %.3f\n", st.Median, st.CILow, st.CIHigh, st.CIConfidence)
	fmt.Printf("mean %.1f, p95 %.1f, p99 %.1f, outliers %d\n", st.Mean, st.P95, st.P99, st.Outliers)
	fmt.Println(len(warnings), "warning(s)")
	// Output:
	// median 100.0, 95% CI [98, 103] at 0.979
	// mean 115.0, p95 183.8, p99 236.8, outliers 1
	// 1 warning(s)
}

func ExampleCompare() {
	base := &results.Run{Schema: results.Schema, Benchmarks: []results.Benchmark{
		{Name: "parse", Samples: []float64{100, 101, 99, 100, 102, 98, 100, 101}},
		{Name: "render", Samples: []float64{50, 51, 49, 50, 52, 48, 50, 51}},
	}}
	cur := &results.Run{Schema: results.Schema, Benchmarks: []results.Benchmark{
		{Name: "parse", Samples: []float64{120, 121, 119, 122, 118, 120, 121, 119}},
		{Name: "render", Samples: []float64{50, 49, 51, 50, 48, 52, 50, 51}},
	}}
	for _, rs := range []*results.Run{base, cur} {
		for i := range rs.Benchmarks {
			rs.Benchmarks[i].Stats, _ = results.Summarize(rs.Benchmarks[i].Samples)
		}
	}
	c := bench.Compare(base, cur, bench.CompareOptions{})
	for _, r := range c.Rows {
		fmt.Printf("%s: %s (%s) %s\n", r.Name, r.DeltaString(), r.PString(), r.Status)
	}
	fmt.Println("gate failed:", c.Failed())
	// Output:
	// parse: +20.00% (p=0.000 n=8) regression
	// render: ~ (p=1.000 n=8) unchanged
	// gate failed: true
}
