package budget

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/results"
)

func FuzzParse(f *testing.F) {
	for _, name := range []string{"budgets.yaml", "budget.json"} {
		data, err := os.ReadFile(filepath.Join("..", "examples", "budgets", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("api: {health: {p95: 80ms}}\nendpoints: {x: {p50: off}}\npage: {paths: [{path: /a*b$, timings: {cls: 0.1}}]}\n"))
	f.Add([]byte(`[{"path":"/x","options":{"firstPartyHostnames":["*.a.com"]},"resourceCounts":[{"resourceType":"total","budget":3}]}]`))
	f.Add([]byte(`{"system": {"cold-start": "1s"}, "errors": "off"}`))
	f.Add([]byte("a: &a {cold-start: 1s}\nsystem: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		check := func(section string, tg Targets) {
			for k, l := range tg {
				if !l.Off && (math.IsNaN(l.Value) || math.IsInf(l.Value, 0) || l.Value < 0) {
					t.Fatalf("%s.%s = %v", section, k, l.Value)
				}
			}
		}
		check("system", b.System)
		check("errors", b.Errors)
		for _, p := range b.Page {
			check("sizes", p.Sizes)
			check("counts", p.Counts)
			check("timings", p.Timings)
			if p.Path != "" && validatePath(p.Path) != nil {
				t.Fatalf("invalid path %q accepted", p.Path)
			}
		}
		v := Evaluate(b, &results.Run{Benchmarks: []results.Benchmark{
			httpResult("GET /", "health", 1, 2, 3, results.Metric{Unit: results.UnitErrorRate, Value: 0}),
			pageResult("http://h/x", map[string]float64{"bytes-total": 1}),
		}})
		if v.Passed+v.Failures+v.Unmeasured != len(v.Checks) {
			t.Fatal("verdict counts disagree")
		}
	})
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"50ms", "1.8s", "15KiB", "512MB", "0.1%", "0.05", "12", "0.25", "1e309", "-0", "NaN%"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, q uint8) {
		qq := Quantity(q % 5)
		v, err := parseValue(qq, s)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("parseValue(%v, %q) = %v", qq, s, v)
		}
		if qq == Fraction && v > 1 {
			t.Fatalf("fraction %q = %v > 1", s, v)
		}
		_ = qq.Format(v)
	})
}

func FuzzMatchPath(f *testing.F) {
	f.Add("/a*b$", "/a/x/b")
	f.Add("/*", "/")
	f.Add("/x$", "/x")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if validatePath(pattern) != nil {
			return
		}
		_ = MatchPath(pattern, path)
		if !strings.ContainsAny(pattern, "*$") && strings.HasPrefix(path, pattern) && !MatchPath(pattern, path) {
			t.Fatalf("plain pattern %q does not match %q", pattern, path)
		}
	})
}
