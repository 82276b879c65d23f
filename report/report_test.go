package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
	"github.com/perfagent/perfagent/results/pageload"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestMarkdownGolden(t *testing.T) {
	base, cur := fixture()
	cmp := bench.Compare(base, cur, bench.CompareOptions{})
	for _, tc := range []struct {
		file string
		cmp  *bench.Comparison
	}{{"summary.md", cmp}, {"summary-nobaseline.md", nil}} {
		var buf bytes.Buffer
		if err := report.Markdown(&buf, cur, tc.cmp); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.file, buf.Bytes())
	}
}

func TestMarkdownContent(t *testing.T) {
	base, cur := fixture()
	cmp := bench.Compare(base, cur, bench.CompareOptions{})
	var buf bytes.Buffer
	if err := report.Markdown(&buf, cur, cmp); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"❌ **1 regression(s)** against the baseline: 5 row(s) gated",
		"| parse/small | 1.03µs ±0.4% | 200 | - | - | 3 | 240B | 1.03µs | ~ |", // not significant
		"| +19.54% | 0.000 | 0.000 | ❌ regression |",                           // gated regression
		"| -13.48% | 0.000 | 0.000 | 🟢 improvement |",
		"| 2.83ms | 4.44ms |", // api/health per operation
		"| system/throughput | 1.80GiB/s | once |",
		"| -25.73% | - | - | not gated (measured once, budgets apply) |",
		`db/query &lt;slow&gt; \| join (failed)`, // escaped, failed
		"- **regression** parse/large (ns/op)",   // listed
		"- **missing** legacy/removed",
		"<details><summary>",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row has the header's column count.
	var cols int
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row has %d separators, header %d: %s", n, cols, line)
		}
	}
}

// TestMarkdownMarksUntestedRows: a row the gate did not test says "not
// gated (reason)" and never carries "❌", which marks gated regressions
// only, in the table and in the verdict.
func TestMarkdownMarksUntestedRows(t *testing.T) {
	base, cur := fixture()
	cmp := bench.Compare(base, cur, bench.CompareOptions{})
	var buf bytes.Buffer
	if err := report.Markdown(&buf, cur, cmp); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Benchmark") {
			continue
		}
		rows++
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		gate := cells[len(cells)-1]
		name := cells[0]
		var r bench.Row
		for _, cr := range cmp.Rows {
			if cr.Primary && strings.NewReplacer("<", "&lt;", ">", "&gt;", "|", `\|`).Replace(cr.Name) == strings.TrimSuffix(name, " (failed)") {
				r = cr
			}
		}
		if (strings.Contains(line, "❌")) != (r.Status == bench.StatusRegression) {
			t.Errorf("❌ on a row with status %s: %s", r.Status, line)
		}
		if !r.Gated && !strings.HasPrefix(gate, "not gated (") && r.Status != bench.StatusFailed {
			t.Errorf("untested row (%s) not marked not gated: %s", r.Status, line)
		}
		if r.Gated && strings.Contains(gate, "not gated") {
			t.Errorf("gated row marked not gated: %s", line)
		}
	}
	if rows != len(cur.Benchmarks)+1 { // and legacy/removed, only in the baseline
		t.Errorf("%d table rows", rows)
	}
	// A comparison whose only failure is a failed benchmark shows no ❌.
	_, cur2 := fixture()
	cur2.Benchmarks = slices.DeleteFunc(cur2.Benchmarks, func(b results.Benchmark) bool { return b.Name == "parse/large" })
	buf.Reset()
	if err := report.Markdown(&buf, cur2, bench.Compare(base, cur2, bench.CompareOptions{})); err != nil {
		t.Fatal(err)
	}
	if md := buf.String(); strings.Contains(md, "❌") || !strings.Contains(md, "⚠️ **1 benchmark(s) failed**, which fails the gate") {
		t.Errorf("failed benchmark without regressions:\n%s", md)
	}
}

func TestCSV(t *testing.T) {
	_, cur := fixture()
	var buf bytes.Buffer
	if err := report.CSV(&buf, cur); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(cur.Benchmarks)+1 || recs[0][0] != "name" || recs[1][0] != "parse/small" || recs[5][20] == "" {
		t.Errorf("csv %v", recs)
	}
	if recs[4][0] != "api/health" || recs[4][18] != "" { // no allocation figures
		t.Errorf("allocs of an HTTP result: %q", recs[4])
	}
	// Per-operation percentiles where single operations were measured.
	if recs[4][21] != "9990" || recs[4][23] != strconv.FormatFloat(float64(cur.Benchmarks[3].PerOp.P95), 'g', -1, 64) || recs[1][21] != "" {
		t.Errorf("per-operation columns: %q, %q", recs[4][21:], recs[1][21:])
	}
}

func TestHTMLSelfContained(t *testing.T) {
	base, cur := fixture()
	var buf bytes.Buffer
	if err := report.HTML(&buf, cur, bench.Compare(base, cur, bench.CompareOptions{})); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	lower := strings.ToLower(page)
	for _, bad := range []string{"<script", "<link", "<iframe", "<img", "url(", "@import"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	// The only URLs are the SVG namespace and the text of a label.
	rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	rest = strings.ReplaceAll(rest, "http://127.0.0.1:8080/health", "")
	if strings.Contains(rest, "http://") || strings.Contains(rest, "https://") {
		t.Error("page refers to a URL")
	}
	if !strings.Contains(page, `Content-Security-Policy" content="default-src 'none'`) {
		t.Error("no CSP")
	}
	// Names are escaped, in text and in charts.
	if strings.Contains(page, "<slow>") || !strings.Contains(page, "db/query &lt;slow&gt; | join") {
		t.Error("benchmark name not escaped")
	}
	// A histogram per benchmark with rounds (7), per-operation percentiles
	// where single operations were measured (2), the HTTP series (2), page
	// bytes (1) and the comparison (1).
	if n := strings.Count(page, `<svg `); n != 13 {
		t.Errorf("%d charts", n)
	}
	for _, want := range []string{"Comparison with baseline", "1 regression(s)", "Distribution of 200 rounds", "Percentiles per operation (ns/wakeup, n=50000)",
		"Bytes by type", "failed: panic: connection refused", "heap-growth-bytes/s</td><td class=\"num\">200KiB/s (measured once)"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "partial") || strings.Contains(page, "205k") {
		t.Error("the page says partial or formats a byte rate as a plain number")
	}
	// Without a comparison the page still renders.
	buf.Reset()
	if err := report.HTML(&buf, cur, nil); err != nil || strings.Contains(buf.String(), "Comparison with baseline") {
		t.Errorf("no comparison: %v", err)
	}
	if err := report.HTML(&buf, nil, nil); err == nil {
		t.Error("nil results accepted")
	}
	// An empty run renders too.
	buf.Reset()
	if err := report.HTML(&buf, &results.Run{}, nil); err != nil {
		t.Error(err)
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{1032, "ns/op", "1.03µs"}, {1.5e6, "p99-ns", "1.50ms"}, {2.5e9, "ns/wakeup", "2.50s"}, {12, "ns/op", "12.0ns"},
		{0.5, "ns/op", "0.5ns"}, {240, "B/op", "240B"}, {24576, "B/op", "24.0KiB"}, {96 << 20, "rss-peak-bytes", "96.0MiB"},
		{0.0004, "error-rate", "0.04%"}, {0.999, "availability", "99.90%"}, {3, "allocs/op", "3"}, {2.5, "allocs/op", "2.50"},
		{4800, "req/s", "4800 req/s"}, {48000, "req/s", "48.0k req/s"}, {0.02, "cls", "0.02"}, {2560, "MB/s", "2.38GiB/s"},
		{1.5, "sec/op", "1.50s"}, {48.07, "cpu-ns/op", "48.1ns"}, {729123, "gc-cpu-ns/op", "729µs"}, {14336, "runtime-sched-latency-p99-ns", "14.3µs"},
		{3911512, "live-heap-bytes", "3.73MiB"}, {1 << 30, "process-rss-peak-bytes", "1.00GiB"}, {512, "bytes-script", "512B"}, {1536, "B", "1.50KiB"},
		{205000, "heap-growth-bytes/s", "200KiB/s"}, {-205000, "heap-growth-bytes/s", "-200KiB/s"}, {3 << 20, "B/s", "3.00MiB/s"}, {325.88, "MB/s", "311MiB/s"},
		{0.5, "MB/s", "488KiB/s"}, {0.0001, "timeout-rate", "0.01%"}, {0.00001, "timeout-rate", "0.0010%"}, {0.9999, "availability", "99.99%"}, {0.99999, "availability", "99.9990%"}, {1, "availability", "100%"},
		{0, "error-rate", "0%"}, {0.035, "cpu-idle-fraction", "3.50%"}, {2, "gc-pauses/op", "2"}, {12, "requests-script", "12"}, {120, "goroutines", "120"},
		{2.5, "GC cycles/s", "2.50 GC cycles/s"}, {math.NaN(), "ns/op", "-"}, {math.Inf(1), "B/op", "-"}, {0, "ns/op", "0"},
	} {
		if got := report.FormatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

func TestHTMLDrawsPageLoads(t *testing.T) {
	r := &pageload.Report{Schema: pageload.ReportSchema, URL: "http://h/", Runs: []pageload.Load{{Index: 1, LoadEvent: 500 * time.Millisecond,
		Requests: []pageload.Request{{URL: "http://h/", Type: "document", Status: 200, End: 20 * time.Millisecond, Bytes: 2000}}}}}
	detail, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	res := &results.Run{Schema: results.Schema, Benchmarks: []results.Benchmark{{Name: "http://h/", Kind: results.KindPage,
		Samples: []float64{5e8}, Stats: results.Stats{N: 1, Median: 5e8}, Detail: detail}}}
	var buf bytes.Buffer
	if err := report.HTML(&buf, res, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Page load of http://h/") {
		t.Error("the page result's chart (pageload.RenderSVG) is missing")
	}
}
