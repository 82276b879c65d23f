package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/internal/testout"
	"github.com/perfagent/perfagent/results"
)

func TestMain(m *testing.M) {
	// The cold-start measurement of perfagent's own demo target re-executes
	// this binary: act as perfagent then.
	if os.Getenv(selfExecEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	cleanup := testout.Redirect()
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) { cleanup(); os.Exit(code) }))
}

// cli runs perfagent with args and an environment of only vars (plus CI
// from the real environment), returning the exit code and both outputs.
func cli(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if k == "CI" {
			return os.Getenv("CI")
		}
		return ""
	}
	code := runEnv(&env{ctx: context.Background(), stdout: &out, stderr: &errb, getenv: getenv}, args)
	return code, out.String(), errb.String()
}

func TestUsageAndErrors(t *testing.T) {
	if code, out, _ := cli(t, nil); code != exitUsage || !strings.Contains(out, "usage: perfagent") {
		t.Errorf("no args: %d %q", code, out)
	}
	if code, out, _ := cli(t, nil, "help"); code != exitOK || !strings.Contains(out, "compare") {
		t.Errorf("help: %d", code)
	}
	if code, _, errb := cli(t, nil, "frobnicate"); code != exitUsage || !strings.Contains(errb, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errb)
	}
	for _, c := range commands() {
		code, out, _ := cli(t, nil, c.name, "--help")
		if code != exitOK || !strings.Contains(out, "usage: perfagent "+c.name) {
			t.Errorf("%s --help: %d %q", c.name, code, out)
		}
		if c.name != "version" && !strings.Contains(out, "examples:") {
			t.Errorf("%s --help has no examples", c.name)
		}
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"bench", "gpu"}, `unknown suite "gpu"`},
		{[]string{"bench", "--run", "("}, "--run"},
		{[]string{"bench", "api", "--duration", "soon"}, `invalid value "soon"`},
		{[]string{"bench", "api", "--ramp", "5s"}, "--ramp"},
		{[]string{"bench", "api", "--scenario", "/nonexistent.yaml"}, "nonexistent.yaml"},
		{[]string{"compare", "a", "b", "c"}, "want at most two results files"},
		{[]string{"compare", "--alpha", "NaN", "a", "b"}, "--alpha NaN"},
		{[]string{"compare", "--alpha", "1", "a", "b"}, "--alpha 1"},
		{[]string{"compare", "--threshold", "Inf", "a", "b"}, "--threshold +Inf"},
		{[]string{"compare", "--threshold", "-0.1", "a", "b"}, "--threshold -0.1"},
		{[]string{"bench", "system", "--alpha", "NaN"}, "--alpha NaN"},
		{[]string{"bench", "system", "--threshold", "Inf"}, "--threshold +Inf"},
		{[]string{"bench", "system", "--cold-start", "--cold-start-runs", "0"}, "--cold-start-runs 0"},
		{[]string{"demo", "--duration", "-1s"}, "--duration -1s"},
		{[]string{"compare", "--out", t.TempDir()}, "no results in"},
		{[]string{"compare", "/nonexistent-a.json", "/nonexistent-b.json"}, "nonexistent-a.json"},
		{[]string{"check", "--budgets", "/nonexistent.yaml", "x.json"}, "nonexistent.yaml"},
		{[]string{"report", "--out", t.TempDir()}, "no results in"},
		{[]string{"page"}, "give at least one URL"},
		{[]string{"page", "--network", "carrier-pigeon", "http://x"}, "--network"},
		{[]string{"demo", "--addr", "nowhere"}, "--addr nowhere"},
	}
	for _, tc := range cases {
		code, _, errb := cli(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(errb, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errb, tc.want)
		}
		if strings.Contains(errb, "goroutine ") {
			t.Errorf("%v printed a stack trace", tc.args)
		}
	}
}

func readJSON(t *testing.T, path string) *results.Run {
	t.Helper()
	r, err := results.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBenchBaselineCompareReportCheck(t *testing.T) {
	root := t.TempDir()
	vars := map[string]string{"PERFAGENT_OUTPUT_DIR": root}
	code, out, errb := cli(t, vars, "bench", "system", "--quick", "--run", "json/")
	if code != exitOK {
		t.Fatalf("bench: %d\n%s\n%s", code, out, errb)
	}
	files, _ := filepath.Glob(filepath.Join(root, "benchmarks", "benchmark-*.json"))
	html, _ := filepath.Glob(filepath.Join(root, "benchmarks", "report-*.html"))
	txt, _ := filepath.Glob(filepath.Join(root, "benchmarks", "benchmark-*.txt"))
	if len(files) != 1 || len(html) != 1 || len(txt) != 1 {
		t.Fatalf("files: %v %v %v", files, html, txt)
	}
	res := readJSON(t, files[0])
	if len(res.Benchmarks) != 2 || res.Benchmarks[0].Name != "json/encode" || res.Environment.GoVersion == "" {
		t.Fatalf("results: %+v", res.Benchmarks)
	}

	if code, out, errb := cli(t, vars, "baseline"); code != exitOK || !strings.Contains(out, "baseline.json") {
		t.Fatalf("baseline: %d %s %s", code, out, errb)
	}
	// A second run compares with the baseline and prints the comparison.
	code, out, _ = cli(t, vars, "bench", "system", "--quick", "--run", "json/", "--json")
	if code != exitOK && code != exitFailed {
		t.Fatalf("second bench: %d", code)
	}
	var doc struct {
		Results    *results.Run      `json:"results"`
		Comparison *bench.Comparison `json:"comparison"`
		Files      []string          `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if doc.Comparison == nil || len(doc.Comparison.Rows) == 0 || len(doc.Files) != 3 {
		t.Errorf("comparison missing: %+v", doc)
	}

	if code, out, _ := cli(t, vars, "report", "--markdown"); code != exitOK || !strings.Contains(out, "json/encode") {
		t.Errorf("report --markdown: %d %s", code, out)
	}
	if code, out, _ := cli(t, vars, "report"); code != exitOK || !strings.Contains(out, "report-") {
		t.Errorf("report: %d %s", code, out)
	}

	// Budgets: the latest results pass a generous budget and fail a tight one.
	loose := filepath.Join(root, "loose.yaml")
	tight := filepath.Join(root, "tight.yaml")
	os.WriteFile(loose, []byte("endpoints: {}\n"), 0o644)
	os.WriteFile(tight, []byte("system: {scheduler-lag: 1ns}\n"), 0o644)
	code, out, errb = cli(t, vars, "bench", "system", "--quick", "--run", "sched/latency/idle", "--no-baseline")
	if code != exitOK {
		t.Fatalf("bench sched: %d %s %s", code, out, errb)
	}
	if code, out, _ := cli(t, vars, "check", "--budgets", loose); code != exitOK {
		t.Errorf("check loose: %d\n%s", code, out)
	}
	code, out, _ = cli(t, vars, "check", "--budgets", tight)
	if code != exitFailed || !strings.Contains(out, "FAIL") || !strings.Contains(out, "scheduler-lag") {
		t.Errorf("check tight: %d\n%s", code, out)
	}
	code, out, _ = cli(t, vars, "check", "--budgets", tight, "--json")
	var verdict map[string]any
	if code != exitFailed || json.Unmarshal([]byte(out), &verdict) != nil {
		t.Errorf("check --json: %d %s", code, out)
	}
}

// writeResults writes a results file with one benchmark of the given
// samples.
func writeResults(t *testing.T, path string, samples []float64) {
	t.Helper()
	st, _ := results.Summarize(samples)
	res := &results.Run{Schema: results.Schema, Suite: "t", StartedAt: time.Now(), FinishedAt: time.Now(),
		Environment: results.CurrentEnvironment(),
		Benchmarks:  []results.Benchmark{{Name: "op", Unit: results.UnitNsPerOp, Iterations: int64(len(samples)), Samples: samples, Stats: st}}}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := results.WriteJSON(f, res); err != nil {
		t.Fatal(err)
	}
}

func TestCompareExitCodes(t *testing.T) {
	dir := t.TempDir()
	base, same, slower := filepath.Join(dir, "base.json"), filepath.Join(dir, "same.json"), filepath.Join(dir, "slower.json")
	var a, b, c []float64
	for i := 0; i < 20; i++ {
		a = append(a, 100+float64(i%5))
		b = append(b, 100+float64((i+2)%5))
		c = append(c, 150+float64(i%5))
	}
	writeResults(t, base, a)
	writeResults(t, same, b)
	writeResults(t, slower, c)
	if code, out, _ := cli(t, nil, "compare", base, same); code != exitOK || !strings.Contains(out, "~") {
		t.Errorf("no change: %d\n%s", code, out)
	}
	code, out, errb := cli(t, nil, "compare", base, slower)
	if code != exitFailed || !strings.Contains(errb, "regression") {
		t.Errorf("regression: %d\n%s\n%s", code, out, errb)
	}
	if code, _, _ := cli(t, nil, "compare", "--threshold", "0.9", base, slower); code != exitOK {
		t.Errorf("50%% slower with a 90%% threshold: %d", code)
	}
	if code, out, _ := cli(t, nil, "compare", "--markdown", base, slower); code != exitFailed || !strings.Contains(out, "|") {
		t.Errorf("markdown: %d %s", code, out)
	}
	// go test -bench output is read too.
	gotest := filepath.Join(dir, "new.txt")
	var buf strings.Builder
	for _, v := range c {
		fmt.Fprintf(&buf, "Benchmarkop \t 1000\t %g ns/op\n", v)
	}
	os.WriteFile(gotest, []byte("goos: linux\n"+buf.String()), 0o644)
	if code, out, errb := cli(t, nil, "compare", base, gotest); code != exitFailed {
		t.Errorf("go test output: %d %s %s", code, out, errb)
	}
}

// TestCompareOutcomes covers the outcomes that used to lie: no benchmark in
// common, a quick run against a full one, "--" before the files, and the
// default files (the baseline against the latest run).
func TestCompareOutcomes(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	writeResults(t, a, []float64{1, 2, 3, 4, 5, 6})
	other := &results.Run{Schema: results.Schema, Benchmarks: []results.Benchmark{{Name: "other", Samples: []float64{1, 2}, Stats: results.Stats{N: 2}}}}
	writeRun(t, b, other)
	if code, _, errb := cli(t, nil, "compare", a, b); code != exitUsage || !strings.Contains(errb, "no benchmark in common") || !strings.Contains(errb, "other") {
		t.Errorf("nothing in common: %d %q", code, errb)
	}
	quick := readJSON(t, a)
	quick.Quick = true
	q := filepath.Join(dir, "quick.json")
	writeRun(t, q, quick)
	if code, _, errb := cli(t, nil, "compare", a, q); code != exitUsage || !strings.Contains(errb, "quick run") {
		t.Errorf("quick vs full: %d %q", code, errb)
	}
	if code, out, errb := cli(t, nil, "compare", "--", a, a); code != exitOK || !strings.Contains(out, "gate: 1 row(s) tested") {
		t.Errorf("compare -- a a: %d %s %s", code, out, errb)
	}
	root := t.TempDir()
	bdir := filepath.Join(root, "benchmarks")
	os.MkdirAll(bdir, 0o755)
	writeResults(t, filepath.Join(bdir, results.BaselineFile), []float64{1, 2, 3, 4, 5, 6})
	writeResults(t, filepath.Join(bdir, "benchmark-20260101T000000Z.json"), []float64{1, 2, 3, 4, 5, 6})
	if code, out, errb := cli(t, map[string]string{"PERFAGENT_OUTPUT_DIR": root}, "compare"); code != exitOK || !strings.Contains(out, "op") {
		t.Errorf("compare (defaults): %d %s %s", code, out, errb)
	}
	if code, _, errb := cli(t, map[string]string{"PERFAGENT_OUTPUT_DIR": t.TempDir()}, "compare", a); code != exitUsage || !strings.Contains(errb, "no baseline at") {
		t.Errorf("compare FILE without a baseline: %d %q", code, errb)
	}
}

// TestBaselineRefusesPartialText covers the .txt twin of an interrupted run:
// it says it is partial, and baseline refuses it.
func TestBaselineRefusesPartialText(t *testing.T) {
	dir := t.TempDir()
	res := readJSONFromRun(t, &results.Run{Schema: results.Schema, Partial: true, Benchmarks: []results.Benchmark{{Name: "op", Samples: []float64{1, 2}, Stats: results.Stats{N: 2}}}})
	var buf bytes.Buffer
	if err := results.WriteBenchfmt(&buf, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "partial: true") {
		t.Fatalf("the text twin does not say partial:\n%s", buf.String())
	}
	p := filepath.Join(dir, "partial.txt")
	os.WriteFile(p, buf.Bytes(), 0o644)
	if code, _, errb := cli(t, map[string]string{"PERFAGENT_OUTPUT_DIR": dir}, "baseline", p); code != exitUsage || !strings.Contains(errb, "partial") {
		t.Errorf("partial text baseline: %d %s", code, errb)
	}
}

func readJSONFromRun(t *testing.T, r *results.Run) *results.Run {
	t.Helper()
	for i := range r.Benchmarks {
		r.Benchmarks[i].Stats, _ = results.Summarize(r.Benchmarks[i].Samples)
	}
	return r
}

func writeRun(t *testing.T, path string, res *results.Run) {
	t.Helper()
	for i := range res.Benchmarks {
		if len(res.Benchmarks[i].Samples) > 0 {
			res.Benchmarks[i].Stats, _ = results.Summarize(res.Benchmarks[i].Samples)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := results.WriteJSON(f, res); err != nil {
		t.Fatal(err)
	}
}

func TestBaselineRefusesPartial(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "partial.json")
	res := &results.Run{Schema: results.Schema, Partial: true}
	f, _ := os.Create(p)
	results.WriteJSON(f, res)
	f.Close()
	if code, _, errb := cli(t, map[string]string{"PERFAGENT_OUTPUT_DIR": dir}, "baseline", p); code != exitUsage || !strings.Contains(errb, "partial") {
		t.Errorf("partial baseline: %d %s", code, errb)
	}
}

func TestBenchAPIAgainstDemo(t *testing.T) {
	root := t.TempDir()
	code, out, errb := cli(t, map[string]string{"PERFAGENT_OUTPUT_DIR": root}, "bench", "api", "--duration", "1s", "--concurrency", "4")
	if code != exitOK && code != exitFailed {
		t.Fatalf("bench api: %d\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(errb, "built-in demo target") || !strings.Contains(out, "demo/health") {
		t.Errorf("output:\n%s\n%s", out, errb)
	}
	files, _ := filepath.Glob(filepath.Join(root, "benchmarks", "benchmark-*.json"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	res := readJSON(t, files[0])
	var http int
	for _, b := range res.Benchmarks {
		if b.Kind == results.KindHTTP && b.Stats.N > 0 {
			http++
		}
	}
	if http < 5 {
		t.Errorf("%d HTTP results", http)
	}
}

func TestBenchInterruptedKeepsResults(t *testing.T) {
	root := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- runEnv(&env{ctx: ctx, stdout: &out, stderr: &errb, getenv: func(k string) string {
			if k == "PERFAGENT_OUTPUT_DIR" {
				return root
			}
			return ""
		}}, []string{"bench", "api", "--duration", "1m", "--concurrency", "2"})
	}()
	time.Sleep(1500 * time.Millisecond)
	cancel()
	code := <-done
	if code != exitRunError || !strings.Contains(errb.String(), "partial") {
		t.Fatalf("interrupted bench: %d\n%s", code, errb.String())
	}
	files, _ := filepath.Glob(filepath.Join(root, "benchmarks", "benchmark-*.json"))
	if len(files) != 1 || !readJSON(t, files[0]).Partial {
		t.Fatalf("partial results not written: %v", files)
	}
}

func TestColdStart(t *testing.T) {
	root := t.TempDir()
	// Without a command, the cold start measures perfagent's own demo
	// target (this test binary re-executed as perfagent, see TestMain).
	code, out, errb := cli(t, map[string]string{"PERFAGENT_OUTPUT_DIR": root}, "bench", "system", "--quick", "--run", "^$",
		"--cold-start", "--cold-start-runs", "2", "--idle", "300ms")
	if code != exitOK {
		t.Fatalf("cold start: %d\n%s\n%s", code, out, errb)
	}
	files, _ := filepath.Glob(filepath.Join(root, "benchmarks", "benchmark-*.json"))
	res := readJSON(t, files[0])
	var found bool
	for _, b := range res.Benchmarks {
		if b.Name != "system/cold-start" {
			continue
		}
		found = true
		units := map[string]float64{}
		for _, m := range b.Metrics {
			units[m.Unit] = m.Value
		}
		if b.Stats.N != 2 || units[results.UnitColdStart] <= 0 || units[results.UnitRSSBaseline] < 1<<20 || units[results.UnitRSSPeak] < units[results.UnitRSSBaseline] {
			t.Errorf("cold start result %+v", b)
		}
	}
	if !found {
		t.Fatalf("no cold-start result in %s", out)
	}
	// A command that never becomes healthy is a failed benchmark, not a hang.
	code, _, errb = cli(t, map[string]string{"PERFAGENT_OUTPUT_DIR": root}, "bench", "system", "--quick", "--run", "^$",
		"--cold-start", "--cold-start-runs", "1", "--start-timeout", "500ms", "--health-url", "http://127.0.0.1:1/health", "--", "sleep", "5")
	if code != exitRunError || !strings.Contains(errb, "not healthy") {
		t.Errorf("unhealthy command: %d %s", code, errb)
	}
}

func TestDemoCommand(t *testing.T) {
	code, out, errb := cli(t, nil, "demo", "--addr", "127.0.0.1:0", "--duration", "200ms")
	if code != exitOK || !strings.Contains(out, "demo target: http://127.0.0.1:") {
		t.Errorf("demo: %d %s %s", code, out, errb)
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := cli(t, nil, "version"); code != exitOK || !strings.HasPrefix(out, "perfagent ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestBenchMemory(t *testing.T) {
	root := t.TempDir()
	vars := map[string]string{"PERFAGENT_OUTPUT_DIR": root}
	code, out, errb := cli(t, vars, "bench", "memory", "--quick", "--no-baseline")
	if code != exitOK {
		t.Fatalf("bench memory: %d\n%s\n%s", code, out, errb)
	}
	for _, pattern := range []string{"memory-profile-*.json", "memory-chart-*.csv", "memory-chart-*.svg", "heap-*.pb.gz"} {
		if m, _ := filepath.Glob(filepath.Join(root, "memory", pattern)); len(m) != 1 {
			t.Errorf("%s: %v", pattern, m)
		}
	}
	// A Go benchmark: its B/op and allocs/op are imported and its heap
	// profile kept.
	code, out, errb = cli(t, vars, "bench", "memory", "--no-baseline", "--",
		"go", "test", "-run", "^$", "-bench", "BenchmarkReadRuntimeOnly", "-benchtime", "200x", "github.com/perfagent/perfagent/internal/rtsample")
	if code != exitOK || !strings.Contains(out, "heap profile") {
		t.Fatalf("bench memory -- go test: %d\n%s\n%s", code, out, errb)
	}
	if _, err := os.Stat("rtsample.test"); err == nil {
		t.Error("go test left its test binary rtsample.test in the current directory")
	}
	files, _ := filepath.Glob(filepath.Join(root, "benchmarks", "benchmark-*.json"))
	slices.Sort(files)
	res := readJSON(t, files[len(files)-1])
	if len(res.Benchmarks) != 1 || res.Benchmarks[0].AllocsPerOp == nil || res.Benchmarks[0].Labels["heap_profile"] == "" {
		t.Errorf("results %+v", res.Benchmarks)
	}
	if code, _, errb := cli(t, vars, "bench", "memory", "--", "ls", "-l"); code != exitRunError || !strings.Contains(errb, "go test") {
		t.Errorf("non-go-test command: %d %s", code, errb)
	}
}

// --threshold 0 means no threshold (every significant worsening fails), not
// the default.
func TestCompareThresholdZero(t *testing.T) {
	dir := t.TempDir()
	old, cur := filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json")
	var a, b []float64
	for i := range 10 {
		a = append(a, 1000+float64(i))
		b = append(b, 1030+float64(i)) // 3% slower, clearly significant
	}
	writeResults(t, old, a)
	writeResults(t, cur, b)
	if code, out, errb := cli(t, nil, "compare", old, cur); code != exitOK {
		t.Errorf("default threshold 5%%: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := cli(t, nil, "compare", "--threshold", "0", old, cur); code != exitFailed {
		t.Errorf("--threshold 0: exit %d, want 1\n%s%s", code, out, errb)
	}
}
