package budget_test

import (
	"fmt"
	"os"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/results"
)

// A budgets file overlays the defaults; Evaluate applies it to results and
// the verdict names each failing metric, its budget and the measured value.
func Example() {
	b, err := budget.Parse("budgets.yaml", []byte(`
api:
  health: {p95: 80ms}
endpoints:
  "GET /search": {p99: 1s}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	results := &results.Run{Benchmarks: []results.Benchmark{{
		Name: "GET /healthz", Category: "health", Kind: results.KindHTTP, Unit: "ns/op",
		Stats:   results.Stats{N: 10, Median: 12e6},
		PerOp:   &results.Distribution{N: 1000, P50: 12e6, P95: 95e6, P99: 150e6},
		Metrics: []results.Metric{{Unit: results.UnitErrorRate, Value: 0}},
	}}}
	v := budget.Evaluate(b, results)
	for _, c := range v.Status(budget.Fail) {
		fmt.Println(c)
	}
	fmt.Println("failed:", v.Failed())
	// Output:
	// FAIL api GET /healthz [health] p95: 95ms > budget 80ms (budgets.yaml:3)
	// failed: true
}

// Lighthouse's budget.json is accepted as it is: sizes in KiB, timings in
// ms, and the last entry whose path matches a URL applies.
func ExampleParse_lighthouse() {
	b, err := budget.Parse("budget.json", []byte(`[
  {"path": "/*", "resourceSizes": [{"resourceType": "script", "budget": 125}]},
  {"path": "/checkout$", "timings": [{"metric": "interactive", "budget": 3000}]}
]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	sizes, _, timings := b.PageTargets("https://shop.example/checkout")
	fmt.Println(len(sizes), budget.Duration.Format(timings["tti"].Value), timings["tti"].Source)
	sizes, _, _ = b.PageTargets("https://shop.example/")
	fmt.Println(budget.Bytes.Format(sizes["script"].Value))
	// Output:
	// 0 3s budget.json:3
	// 125KiB
}

// Errors name the file, line, column and field.
func ExampleParse_error() {
	_, err := budget.Parse("budgets.yaml", []byte("system:\n  cold-start: 3\n"))
	fmt.Println(err)
	// Output:
	// budgets.yaml:2:15: system.cold-start: duration "3" needs a unit, e.g. 3ms or 3s
}

func ExampleVerdict_WriteText() {
	b := &budget.Budgets{System: budget.Targets{"cold-start": {Value: 3e9, Source: "default"}}}
	v := budget.Evaluate(b, &results.Run{Benchmarks: []results.Benchmark{{
		Name: "cold-start", Metrics: []results.Metric{{Unit: results.UnitColdStart, Value: 1.2e9}},
	}}})
	_ = v.WriteText(os.Stdout)
	// Output:
	// budgets (default budgets): 0 failed, 1 passed, 0 not measured
	//   pass system cold-start cold-start: 1.2s <= budget 3s (default)
}
