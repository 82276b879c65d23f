package budget

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/results"
)

func httpResult(name, cat string, p50, p95, p99 float64, metrics ...results.Metric) results.Benchmark {
	return results.Benchmark{Name: name, Category: cat, Kind: results.KindHTTP, Unit: "ns/op",
		Stats: results.Stats{N: 10, Median: p50 * ms}, PerOp: &results.Distribution{N: 100, P50: p50 * ms, P95: p95 * ms, P99: p99 * ms}, Metrics: metrics}
}

func find(t *testing.T, v *Verdict, section, subject, metric string) Check {
	t.Helper()
	for _, c := range v.Checks {
		if c.Section == section && c.Subject == subject && c.Metric == metric {
			return c
		}
	}
	t.Fatalf("no check %s %s %s in\n%s", section, subject, metric, text(v))
	return Check{}
}

func text(v *Verdict) string {
	var b bytes.Buffer
	_ = v.WriteText(&b)
	return b.String()
}

func TestEvaluate(t *testing.T) {
	b, err := Parse("b.yaml", []byte(`
endpoints:
  "GET /slow": {p95: 1s, error-rate: 5%}
  "GET /gone": {p99: 1s}
`))
	if err != nil {
		t.Fatal(err)
	}
	api := &results.Run{Benchmarks: []results.Benchmark{
		httpResult("GET /health", "health", 10, 150, 190,
			results.Metric{Unit: results.UnitErrorRate, Value: 0.002},
			results.Metric{Unit: results.UnitAvailable, Value: 0.9995, Better: "higher"}),
		httpResult("GET /slow", "health", 40, 900, 2000,
			results.Metric{Unit: results.UnitErrorRate, Value: 0.02}),
		{Name: "GET /broken", Category: "cache", Kind: results.KindHTTP, Error: "connection refused"},
	}}
	sys := &results.Run{Benchmarks: []results.Benchmark{{Name: "system/cold-start", Kind: results.KindFunc,
		Metrics: []results.Metric{{Unit: results.UnitColdStart, Value: 3.5e9}, {Unit: results.UnitRSSPeak, Value: 100 << 20}}}}}
	v := Evaluate(b, api, nil, sys)
	if !v.Failed() {
		t.Fatal("verdict passed")
	}
	for _, tc := range []struct {
		section, subject, metric string
		status                   Status
		measured                 float64
	}{
		{SectionAPI, "GET /health", "p50", Pass, 10 * ms},
		{SectionAPI, "GET /health", "p95", Fail, 150 * ms},
		{SectionAPI, "GET /health", "p99", Pass, 190 * ms},
		{SectionErrors, "GET /health", "error-rate", Fail, 0.002},
		{SectionErrors, "GET /health", "availability", Pass, 0.9995},
		{SectionAPI, "GET /slow", "p50", Pass, 40 * ms},
		{SectionEndpoint, "GET /slow", "p95", Pass, 900 * ms},
		{SectionAPI, "GET /slow", "p99", Fail, 2000 * ms},
		{SectionEndpoint, "GET /slow", "error-rate", Pass, 0.02},
		{SectionSystem, "system/cold-start", "cold-start", Fail, 3.5e9},
		{SectionSystem, "system/cold-start", "memory-peak", Pass, 100 << 20},
	} {
		c := find(t, v, tc.section, tc.subject, tc.metric)
		if c.Status != tc.status || c.Measured == nil || *c.Measured != tc.measured {
			t.Errorf("%s %s %s: %v", tc.section, tc.subject, tc.metric, c)
		}
	}
	if c := find(t, v, SectionAPI, "GET /broken", "p95"); c.Status != NotMeasured || !strings.Contains(c.Note, "connection refused") {
		t.Errorf("broken endpoint: %v", c)
	}
	for _, nm := range [][3]string{
		{SectionAPI, "authentication", "p50"},
		{SectionEndpoint, "GET /gone", "p99"},
		{SectionErrors, "", "timeout-rate"},
		{SectionSystem, "", "scheduler-lag"},
		{SectionPage, "every page", "bytes-script"},
		{SectionPage, "every page", "lcp"},
	} {
		if c := find(t, v, nm[0], nm[1], nm[2]); c.Status != NotMeasured || c.Measured != nil {
			t.Errorf("%v: %v", nm, c)
		}
	}
	for _, absent := range [][3]string{{SectionAPI, "health", "p95"}, {SectionSystem, "", "cold-start"}, {SectionErrors, "", "error-rate"}} {
		for _, c := range v.Checks {
			if c.Section == absent[0] && c.Subject == absent[1] && c.Metric == absent[2] {
				t.Errorf("measured budget listed as not measured: %v", c)
			}
		}
	}
	out := text(v)
	for _, w := range []string{
		"budgets (b.yaml): 4 failed, 7 passed, 26 not measured",
		"FAIL api GET /health [health] p95: 150ms > budget 100ms (default)",
		"FAIL errors GET /health error-rate: 0.2% > budget 0.1% (default)",
		"pass endpoint GET /slow [health] p95: 900ms <= budget 1s (b.yaml:3)",
		"pass errors GET /health availability: 99.95% >= budget 99.9% (default)",
		"FAIL system system/cold-start cold-start: 3.5s > budget 3s (default)",
		"not measured endpoint GET /gone p99: budget max 1s (b.yaml:4; no http result named \"GET /gone\")",
		"not measured errors timeout-rate: budget max 0.01% (default; no result has a timeout-rate metric)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("text lacks %q:\n%s", w, out)
		}
	}
	if v.Passed+v.Failures+v.Unmeasured != len(v.Checks) {
		t.Errorf("counts %d+%d+%d != %d", v.Passed, v.Failures, v.Unmeasured, len(v.Checks))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"budget_text":"100ms","measured_text":"150ms"`)) || !bytes.Contains(raw, []byte(`"quantity":"duration"`)) {
		t.Errorf("json lacks readable values: %s", raw)
	}
}

func pageResult(url string, metrics map[string]float64) results.Benchmark {
	r := results.Benchmark{Name: url, Kind: results.KindPage, Labels: map[string]string{"url": url}}
	for _, typ := range ResourceTypes {
		r.Metrics = append(r.Metrics, results.Metric{Unit: "bytes-" + typ, Value: metrics["bytes-"+typ]},
			results.Metric{Unit: "requests-" + typ, Value: metrics["requests-"+typ]})
	}
	for _, u := range []string{results.UnitTTFB, results.UnitFCP, results.UnitLCP, results.UnitTTI, results.UnitCLS} {
		if v, ok := metrics[u]; ok {
			r.Metrics = append(r.Metrics, results.Metric{Unit: u, Value: v})
		}
	}
	return r
}

func TestEvaluatePage(t *testing.T) {
	rs := &results.Run{Benchmarks: []results.Benchmark{
		pageResult("http://127.0.0.1:8080/", map[string]float64{
			"bytes-document": 2000, "bytes-script": 130 << 10, "bytes-image": 600 << 10, "bytes-total": 740 << 10,
			results.UnitTTFB: 250 * ms, results.UnitFCP: 300 * ms, results.UnitLCP: 900 * ms, results.UnitTTI: 1000 * ms}),
	}}
	v := Evaluate(Default(), rs)
	url := "http://127.0.0.1:8080/"
	for _, tc := range []struct {
		metric string
		status Status
	}{
		{"bytes-document", Pass}, {"bytes-script", Pass}, {"bytes-image", Fail}, {"bytes-total", Pass},
		{"ttfb", Fail}, {"fcp", Pass}, {"lcp", Pass}, {"tti", Pass},
	} {
		if c := find(t, v, SectionPage, url, tc.metric); c.Status != tc.status {
			t.Errorf("%s: %v", tc.metric, c)
		}
	}
	if !strings.Contains(text(v), "FAIL page http://127.0.0.1:8080/ bytes-image: 600KiB > budget 500KiB (default)") {
		t.Errorf("text:\n%s", text(v))
	}
	// A page result without LCP lists the LCP budget as not measured for that page.
	rs.Benchmarks[0].Metrics = rs.Benchmarks[0].Metrics[:len(rs.Benchmarks[0].Metrics)-2]
	v = Evaluate(Default(), rs)
	if c := find(t, v, SectionPage, url, "lcp"); c.Status != NotMeasured || c.Note != "no lcp-ns metric" {
		t.Errorf("lcp: %v", c)
	}
}

func TestEvaluateUnits(t *testing.T) {
	r := httpResult("GET /health", "health", 0, 0, 0)
	r.Unit, r.PerOp.P95 = "sec/op", 0.15
	v := Evaluate(nil, &results.Run{Benchmarks: []results.Benchmark{r}})
	if c := find(t, v, SectionAPI, "GET /health", "p95"); c.Status != Fail || *c.Measured != 150*ms {
		t.Errorf("sec/op: %v", c)
	}
	r.Unit = "B/op"
	v = Evaluate(nil, &results.Run{Benchmarks: []results.Benchmark{r}})
	if c := find(t, v, SectionAPI, "GET /health", "p95"); c.Status != NotMeasured || !strings.Contains(c.Note, "B/op") {
		t.Errorf("B/op: %v", c)
	}
}

func TestEvaluateNothing(t *testing.T) {
	v := Evaluate(&Budgets{})
	if v.Failed() || len(v.Checks) != 0 {
		t.Errorf("empty budgets: %+v", v)
	}
	v = Evaluate(nil)
	if v.Failed() || v.Unmeasured != len(v.Checks) || v.Unmeasured == 0 {
		t.Errorf("no results: %d checks, %d not measured", len(v.Checks), v.Unmeasured)
	}
}

func TestEvaluateAPIUsesSingleRequests(t *testing.T) {
	// Per-round medians are all fast; the requests' tail is not: the p99
	// budget must judge the requests.
	r := httpResult("GET /health", "health", 10, 20, 900)
	r.Samples = []float64{10 * ms, 10 * ms}
	r.Stats = results.Stats{N: 2, Median: 10 * ms, P99: 10 * ms}
	v := Evaluate(nil, &results.Run{Benchmarks: []results.Benchmark{r}})
	if c := find(t, v, SectionAPI, "GET /health", "p99"); c.Status != Fail || *c.Measured != 900*ms {
		t.Errorf("p99: %v", c)
	}
	r.PerOp = nil
	v = Evaluate(nil, &results.Run{Benchmarks: []results.Benchmark{r}})
	if c := find(t, v, SectionAPI, "GET /health", "p99"); c.Status != NotMeasured {
		t.Errorf("without single requests: %v", c)
	}
}

func TestEvaluateFailedPageIsNotMeasured(t *testing.T) {
	r := results.Benchmark{Name: "http://x/", Kind: results.KindPage, Category: "page", Error: "all 3 runs failed",
		Labels: map[string]string{"url": "http://x/"}, Metrics: []results.Metric{{Unit: results.UnitLCP, Value: 0}, {Unit: results.UnitBytesPrefix + "total", Value: 0}}}
	v := Evaluate(Default(), &results.Run{Benchmarks: []results.Benchmark{r}})
	for _, c := range v.Checks {
		if c.Section == SectionPage && c.Status == Pass {
			t.Errorf("a failed page passed %s", c.Metric)
		}
	}
}
