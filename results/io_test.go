package results_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

func sampleResults() *results.Run {
	f := func(v float64) *float64 { return &v }
	a := sampled("system/alloc small", 12, 25, 0.05, 1)
	a.Category, a.Iterations, a.AllocsPerOp, a.BytesPerOp = "system", 12*4000, f(1), f(64)
	a.Metrics = []results.Metric{{Unit: "MB/s", Value: 2560, Better: "higher"}}
	a.Labels = map[string]string{"ops_per_sample": "4000"}
	h := results.Benchmark{Name: "api/health", Category: "health", Kind: results.KindHTTP, Unit: "ns/op", Iterations: 5000,
		Stats:   results.Stats{N: 5000, Mean: 1.1e6, Median: 1e6, P50: 1e6, P95: 2e6, P99: 4e6, Min: 3e5, Max: 9e6},
		Metrics: []results.Metric{{Unit: results.UnitReqPerSec, Value: 4500, Better: "higher"}, {Unit: results.UnitP999, Value: 6e6}}}
	broken := sampled("broken", 3, 10, 0.01, 2)
	broken.Error = "panic: boom\nsecond line"
	return &results.Run{
		Schema: results.Schema, Suite: "system",
		StartedAt:  time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		FinishedAt: time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC),
		Environment: results.Environment{GoVersion: "go1.26.8", GOOS: "linux", GOARCH: "amd64", CPU: "Test CPU @ 3.00GHz",
			NumCPU: 2, GOMAXPROCS: 2, Hostname: "ci", Revision: "abc123"},
		Benchmarks: []results.Benchmark{a, h, broken},
		Warnings:   []string{"noisy machine"},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := sampleResults()
	var buf bytes.Buffer
	if err := results.WriteJSON(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := results.Read(&buf, "mem.json")
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	_ = results.WriteJSON(&a, in)
	_ = results.WriteJSON(&b, out)
	if a.String() != b.String() {
		t.Errorf("round trip differs:\n%s\n---\n%s", a.String(), b.String())
	}
}

func TestReadResultsErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "  \n", "bad.json: empty file"},
		{"syntax", "{\n  \"schema\": \"perfagent.bench/v2\",\n  \"benchmarks\": [,]\n}", "bad.json:3:18: invalid JSON"},
		{"type", `{"schema": "perfagent.bench/v2", "benchmarks": [{"name": "x", "samples": "fast"}]}`, "field benchmarks.samples"},
		{"no schema", `{"benchmarks": []}`, `missing "schema": not a perfagent results file`},
		{"other schema", `{"schema": "perfagent.bench/v3"}`, `schema "perfagent.bench/v3" not supported (want perfagent.bench/v2)`},
		{"prefix is not enough", `{"schema": "perfagent.bench/v20"}`, `schema "perfagent.bench/v20" not supported`},
		{"v1 says why", `{"schema": "perfagent.bench/v1"}`, `samples were timed batches, not rounds: measure again`},
		{"no name", `{"schema": "perfagent.bench/v2", "benchmarks": [{"samples": [1]}]}`, "benchmarks[0]: empty name"},
		{"dup", `{"schema": "perfagent.bench/v2", "benchmarks": [{"name": "a"}, {"name": "a"}]}`, `benchmarks[1]: name "a" already used by benchmarks[0]`},
		{"n", `{"schema": "perfagent.bench/v2", "benchmarks": [{"name": "a", "samples": [1, 2], "stats": {"n": 1}}]}`, `"a": stats.n is 1 but there are 2 samples`},
		{"better", `{"schema": "perfagent.bench/v2", "benchmarks": [{"name": "a", "metrics": [{"unit": "req/s", "value": 1, "better": "more"}]}]}`, `better is "more"`},
		{"trailing", `{"schema": "perfagent.bench/v2"} {}`, "data after the results object"},
		{"text", "hello\nworld\n", "no benchmark results found"},
		{"bad line", "BenchmarkX 12 abc ns/op\n", "bad.json:1: parsing measurement"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := results.Read(strings.NewReader(tc.data), "bad.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := results.ReadFile(filepath.Join(t.TempDir(), "nope.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestBenchfmtReadByBenchstatParser checks that benchfmt, the parser
// benchstat uses, reads every sample back from our text format.
func TestBenchfmtReadByBenchstatParser(t *testing.T) {
	in := sampleResults()
	var buf bytes.Buffer
	if err := results.WriteBenchfmt(&buf, in); err != nil {
		t.Fatal(err)
	}
	rd := benchfmt.NewReader(bytes.NewReader(buf.Bytes()), "benchmark.txt")
	got := map[string][]float64{}
	var cpu string
	var iters []int
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			t.Errorf("syntax error: %v", rec)
		case *benchfmt.Result:
			v, ok := rec.Value("sec/op")
			if !ok {
				t.Fatalf("no sec/op in %s", rec.Name)
			}
			got[rec.Name.String()] = append(got[rec.Name.String()], v*1e9)
			cpu = rec.GetConfig("cpu")
			if rec.Name.String() == "system/alloc_small-2" {
				iters = append(iters, rec.Iters)
				// Once-per-benchmark values are on the first line only.
				mb, ok := rec.Value("B/s")
				if first := len(iters) == 1; ok != first || first && mb != 2560e6 {
					t.Errorf("line %d: MB/s = %v, %v", len(iters), mb, ok)
				}
			}
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if cpu != "Test CPU @ 3.00GHz" {
		t.Errorf("cpu %q", cpu)
	}
	want := in.Benchmarks[0].Samples
	if g := got["system/alloc_small-2"]; len(g) != len(want) {
		t.Fatalf("alloc samples %v, want %v", g, want)
	}
	for i, v := range got["system/alloc_small-2"] {
		if math.Abs(v-want[i]) > 1e-9*want[i] {
			t.Errorf("sample %d: %v, want %v", i, v, want[i])
		}
	}
	if slices.ContainsFunc(iters, func(n int) bool { return n != 4000 }) {
		t.Errorf("iterations per line %v, want 4000", iters)
	}
	if g := got["api/health-2"]; len(g) != 1 || g[0] != 1.1e6 {
		t.Errorf("unsampled result lines %v, want its mean", g)
	}
	if !strings.Contains(buf.String(), "Unit req/s better=higher") || !strings.Contains(buf.String(), "--- FAIL: Benchmarkbroken\n    panic: boom\n    second line\n") {
		t.Errorf("text:\n%s", buf.String())
	}

	// And our reader gets the same results back.
	back, err := results.Read(&buf, "benchmark.txt")
	if err != nil {
		t.Fatal(err)
	}
	if back.Environment.GOMAXPROCS != 2 || back.Environment.CPU != in.Environment.CPU || back.Suite != "system" {
		t.Errorf("environment %+v suite %q", back.Environment, back.Suite)
	}
	b0 := back.Benchmarks[0]
	if b0.Name != "system/alloc_small" || b0.Stats.N != 12 || *b0.AllocsPerOp != 1 || *b0.BytesPerOp != 64 || b0.Iterations != 12*4000 {
		t.Errorf("read back %+v", b0)
	}
	if len(b0.Metrics) != 1 || b0.Metrics[0].Better != "higher" {
		t.Errorf("metrics %+v", b0.Metrics)
	}
}

func TestImportGoTestOutput(t *testing.T) {
	res, err := results.ReadFile("testdata/gotest.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range res.Benchmarks {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"Parse/small", "Parse/large", "Get"}) {
		t.Fatalf("names %v", names)
	}
	small := res.Benchmarks[0]
	if !slices.Equal(small.Samples, []float64{1032, 1041, 1029}) || small.Stats.Median != 1032 || small.Unit != "ns/op" || small.Iterations != 3e6 {
		t.Errorf("small: %+v", small)
	}
	if *small.AllocsPerOp != 3 || *small.BytesPerOp != 240 || small.Category != "parser" || small.Labels["pkg"] != "example.com/app/parser" {
		t.Errorf("small: allocs %v bytes %v category %q", *small.AllocsPerOp, *small.BytesPerOp, small.Category)
	}
	if len(small.Metrics) != 1 || small.Metrics[0].Unit != "MB/s" || small.Metrics[0].Better != "higher" {
		t.Errorf("small metrics %+v", small.Metrics)
	}
	get := res.Benchmarks[2]
	if get.Category != "store" || get.Stats.N != 3 || get.AllocsPerOp != nil {
		t.Errorf("get %+v", get)
	}
	env := res.Environment
	if env.GOOS != "linux" || env.GOARCH != "amd64" || env.GOMAXPROCS != 2 || !strings.HasPrefix(env.CPU, "Intel") {
		t.Errorf("environment %+v", env)
	}
	// The imported run compares like our own.
	c := bench.Compare(res, res, bench.CompareOptions{})
	if r := c.Rows[0]; !r.Tested || r.DeltaString() != "~" {
		t.Errorf("self comparison %+v", r)
	}
}

func TestImportKeepsNamesWithoutCommonProcs(t *testing.T) {
	in := "BenchmarkA/size-64 10 5 ns/op\nBenchmarkA/size-128 10 6 ns/op\n"
	res, err := results.Read(strings.NewReader(in), "x.txt")
	if err != nil {
		t.Fatal(err)
	}
	if res.Benchmarks[0].Name != "A/size-64" || res.Environment.GOMAXPROCS != 0 {
		t.Errorf("names %q procs %d", res.Benchmarks[0].Name, res.Environment.GOMAXPROCS)
	}
	// Same name in two packages: qualified by the package.
	in = "pkg: a/x\nBenchmarkF-4 1 5 ns/op\npkg: b/y\nBenchmarkF-4 1 6 ns/op\n"
	if res, err = results.Read(strings.NewReader(in), "x.txt"); err != nil {
		t.Fatal(err)
	}
	if res.Benchmarks[0].Name != "a/x.F" || res.Benchmarks[1].Name != "b/y.F" {
		t.Errorf("names %q %q", res.Benchmarks[0].Name, res.Benchmarks[1].Name)
	}
	// A broken line among good ones is a warning, not an error.
	in = "BenchmarkF-4 1 5 ns/op\nBenchmarkF-4 x 5 ns/op\n"
	if res, err = results.Read(strings.NewReader(in), "x.txt"); err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "x.txt:2: parsing iteration count") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestBaseline(t *testing.T) {
	dir := t.TempDir()
	if _, err := results.LoadBaseline(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no baseline: %v", err)
	}
	in := sampleResults()
	path, err := results.SaveBaseline(filepath.Join(dir, "sub"), in)
	if err != nil || filepath.Base(path) != "baseline.json" {
		t.Fatalf("save: %s %v", path, err)
	}
	got, err := results.LoadBaseline(filepath.Join(dir, "sub"))
	if err != nil || len(got.Benchmarks) != 3 {
		t.Fatalf("load: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"schema":"something/else"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := results.LoadBaseline(filepath.Join(dir, "sub")); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("bad baseline: %v", err)
	}
}

func TestReadResultsTooLarge(t *testing.T) {
	line := "BenchmarkX-2 1 5 ns/op\n"
	for _, data := range []string{strings.Repeat(line, 100), `{"schema": "perfagent.bench/v2", "warnings": ["` + strings.Repeat("x", 3000) + `"]}`} {
		_, err := results.ReadWithLimit(strings.NewReader(data), "huge", 2048)
		if err == nil || !strings.Contains(err.Error(), "huge") || !strings.Contains(err.Error(), "too large") {
			t.Errorf("err = %v", err)
		}
		if _, err := results.ReadWithLimit(strings.NewReader(data), "ok", int64(len(data))); err != nil {
			t.Errorf("at the limit: %v", err)
		}
	}
}
