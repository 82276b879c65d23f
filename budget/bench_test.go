package budget

import (
	"strconv"
	"testing"

	"github.com/perfagent/perfagent/results"
)

// BenchmarkEvaluate measures evaluating the default budgets against a run of
// 100 HTTP endpoints and 10 pages.
func BenchmarkEvaluate(b *testing.B) {
	rs := &results.Run{}
	cats := []string{"health", "authentication", "ai-inference", "database", "cache"}
	for i := range 100 {
		rs.Benchmarks = append(rs.Benchmarks, httpResult("GET /e"+strconv.Itoa(i), cats[i%len(cats)], 10, 20, 30,
			results.Metric{Unit: results.UnitErrorRate, Value: 0.0001}))
	}
	for i := range 10 {
		rs.Benchmarks = append(rs.Benchmarks, pageResult("http://h/p"+strconv.Itoa(i), map[string]float64{"bytes-total": 1e5}))
	}
	d := Default()
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(d, rs)
	}
}

// BenchmarkParseExample measures loading the example budgets file.
func BenchmarkParseExample(b *testing.B) {
	data := []byte(exampleYAML)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("budgets.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

const exampleYAML = `
api:
  health:         {p50: 50ms,  p95: 100ms, p99: 200ms}
  cache:          {p50: 5ms,   p95: 10ms,  p99: 20ms}
system: {cold-start: 3s, memory-peak: 2GiB}
errors: {availability: 99.9%}
page:
  resource-sizes: {script: 200KiB, total: 1MiB}
  timings: {lcp: 2.5s}
`
