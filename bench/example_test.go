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
	fmt.Println(res.Name, res.Stats.N, "rounds", err)

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
	// sort/6 10 rounds <nil>
	// bench: broken: no input
	// .json .txt
	// example 2 no input
}

func ExampleRunner_RunSuite() {
	dir, _ := os.MkdirTemp("", "bench-example")
	defer os.RemoveAll(dir)
	r := bench.NewRunner(bench.WithOutputDir(dir))
	data := []int{5, 2, 8, 1, 9, 3}
	opts := bench.Options{WarmupRuns: 5, Rounds: 6, MinDuration: -1}
	// Round 1 of each benchmark, then round 2 of each, ...: drift hits both alike.
	res, err := r.RunSuite(context.Background(), []bench.Spec{
		{Name: "sort/clone", Category: "sorting", Options: opts, N: func(_ context.Context, n int) error {
			for range n {
				s := slices.Clone(data)
				slices.Sort(s)
			}
			return nil
		}},
		{Name: "sort/insertion", Category: "sorting", Options: opts, N: func(_ context.Context, n int) error {
			for range n {
				s := slices.Clone(data)
				for i := 1; i < len(s); i++ {
					for j := i; j > 0 && s[j] < s[j-1]; j-- {
						s[j], s[j-1] = s[j-1], s[j]
					}
				}
			}
			return nil
		}},
	})
	for _, b := range res {
		fmt.Println(b.Name, len(b.Samples), "rounds")
	}
	fmt.Println(err)
	// Output:
	// sort/clone 6 rounds
	// sort/insertion 6 rounds
	// <nil>
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
	// parse: +20.00% (p=0.000 adj=0.000 n=8) regression
	// render: ~ (p=1.000 adj=1.000 n=8) unchanged
	// gate failed: true
}
