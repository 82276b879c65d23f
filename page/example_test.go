package page_test

import (
	"context"
	"fmt"
	"os"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/page"
	"github.com/perfagent/perfagent/results"
)

// Measure a page five times and check it against the default budgets.
func Example() {
	ctx := context.Background()
	report, err := page.Run(ctx, "http://localhost:8080/", page.Options{})
	if err != nil {
		fmt.Println(err) // errors.Is(err, page.ErrNoBrowser): exit 2
		return
	}
	result, err := report.Result()
	if err != nil {
		fmt.Println(err)
		return
	}
	lcp, _ := report.Spread("lcp-ns")
	fmt.Printf("LCP median %.0f ms (min %.0f, max %.0f)\n", lcp.Median/1e6, lcp.Min/1e6, lcp.Max/1e6)
	v := budget.Evaluate(budget.Default(), &results.Run{Schema: results.Schema, Benchmarks: []results.Benchmark{result}})
	_ = v.WriteText(os.Stdout)
}

// One browser can measure several pages; Close removes its profile.
func ExampleLaunch() {
	b, err := page.Launch(context.Background(), page.Options{Runs: 3, CPUSlowdown: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	for _, u := range []string{"http://localhost:8080/", "http://localhost:8080/about"} {
		r, err := b.Measure(context.Background(), u)
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = page.RenderSVG(os.Stdout, r)
	}
}

func ExampleParseNetwork() {
	n, err := page.ParseNetwork("fast-3g")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Latency, n.Download*8/1e3, "kbit/s down")
	n, err = page.ParseNetwork("150ms,1.6Mbit,750kbit")
	fmt.Println(n.Latency, n.Upload*8/1e3, "kbit/s up", err)
	_, err = page.ParseNetwork("dial-up")
	fmt.Println(err != nil)
	// Output:
	// 562.5ms 1440 kbit/s down
	// 150ms 750 kbit/s up <nil>
	// true
}
