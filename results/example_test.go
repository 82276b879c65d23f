package results_test

import (
	"fmt"

	"github.com/perfagent/perfagent/results"
)

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
