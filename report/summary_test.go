package report_test

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/report"
)

// TestHTMLSummary reads the summary table that opens the page, cell by
// cell, with and without a baseline.
func TestHTMLSummary(t *testing.T) {
	base, cur := fixture()
	var buf bytes.Buffer
	if err := report.HTML(&buf, cur, bench.Compare(base, cur, bench.CompareOptions{})); err != nil {
		t.Fatal(err)
	}
	doc := parse(t, buf.Bytes())
	// The summary is the first card of the page.
	cards := findAll(doc.root, func(n *html.Node) bool { return n.Data == "section" })
	if len(cards) == 0 || attr(cards[0], "id") != "summary" {
		t.Fatalf("the page does not open with the summary")
	}
	g := tableOf(t, cards[0], "summary")
	wantHead := []string{"benchmark", "unit", "median ± 95% CI", "rounds", "p95 per operation", "p99 per operation", "baseline", "change", "p", "adj. p", "gate"}
	if strings.Join(g.head, "|") != strings.Join(wantHead, "|") {
		t.Errorf("summary header %q", g.head)
	}
	if len(g.rows) != len(cur.Benchmarks)+1 {
		t.Errorf("%d summary rows, want one per benchmark and one for the benchmark only in the baseline", len(g.rows))
	}
	for _, c := range []struct{ row, col, want string }{
		{"parse/small", "median ± 95% CI", "1.03µs ±0.4%"},
		{"parse/small", "rounds", "200"},
		{"parse/small", "change", "~"},
		{"parse/small", "p", "0.615"},
		{"parse/small", "gate", "no change"},
		{"parse/small", "p95 per operation", "-"}, // batched: no single operations
		{"parse/large", "change", "+19.54%"},
		{"parse/large", "adj. p", "0.000"},
		{"parse/large", "gate", "regression"},
		{"render/page", "gate", "improvement"},
		{"api/health", "p95 per operation", "2.83ms"},
		{"api/health", "p99 per operation", "4.44ms"},
		{"api/health", "rounds", "5"},
		{"api/health", "median ± 95% CI", "1.11ms"}, // 5 rounds: no interval
		{"sched/latency", "unit", "ns/wakeup"},
		{"sched/latency", "p99 per operation", "109µs"},
		{"system/throughput", "median ± 95% CI", "1.80GiB/s"},
		{"system/throughput", "rounds", "once"},
		{"system/throughput", "p", "-"},
		{"system/throughput", "gate", "not gated (measured once, budgets apply)"},
		{"page/home", "gate", "not gated (new: not in the baseline)"},
		{"memory/cache-fill", "median ± 95% CI", "48.0MiB"},
		{"db/query <slow> | join", "gate", "failed (fails the gate)"},
		{"legacy/removed", "baseline", "495ns"},
		{"legacy/removed", "gate", "not gated (missing from this run)"},
	} {
		if got := g.cell(t, c.row, c.col); got != c.want {
			t.Errorf("summary %s / %s = %q, want %q", c.row, c.col, got, c.want)
		}
	}
	// The interval itself is the cell's title.
	cells := findAll(cards[0], func(n *html.Node) bool { return n.Data == "td" && strings.HasPrefix(attr(n, "title"), "95% CI: ") })
	titles := map[string]bool{}
	for _, c := range cells {
		titles[text(c)+" "+attr(c, "title")] = true
	}
	for _, want := range []string{"121µs ±0.4% 95% CI: [121µs, 122µs]", "1.11ms 95% CI: no 95% interval: too few rounds", "800ms 95% CI: measured once: no interval"} {
		if !titles[want] {
			t.Errorf("no median cell %q in %v", want, titles)
		}
	}
	// Names link to their cards.
	links := findAll(cards[0], func(n *html.Node) bool { return n.Data == "a" })
	for _, a := range links {
		if id := strings.TrimPrefix(attr(a, "href"), "#"); byID(doc.root, id) == nil {
			t.Errorf("summary link %q has no target", attr(a, "href"))
		}
	}
	if len(links) != len(cur.Benchmarks) {
		t.Errorf("%d links", len(links))
	}

	// Without a baseline: the same table without the comparison columns.
	buf.Reset()
	if err := report.HTML(&buf, cur, nil); err != nil {
		t.Fatal(err)
	}
	doc = parse(t, buf.Bytes())
	g = tableOf(t, byID(doc.root, "summary"), "summary")
	if strings.Join(g.head, "|") != strings.Join(wantHead[:6], "|") || len(g.rows) != len(cur.Benchmarks) {
		t.Errorf("summary without baseline: %q, %d rows", g.head, len(g.rows))
	}
	if got := g.cell(t, "parse/large", "median ± 95% CI"); got != "121µs ±0.4%" {
		t.Errorf("parse/large median %q", got)
	}
}

// TestHTMLSecondaryRowsNotGated: the comparison table says for every row
// whether the gate tested it, and why not.
func TestHTMLSecondaryRowsNotGated(t *testing.T) {
	base, cur := fixture()
	cmp := bench.Compare(base, cur, bench.CompareOptions{})
	var buf bytes.Buffer
	if err := report.HTML(&buf, cur, cmp); err != nil {
		t.Fatal(err)
	}
	g := tableOf(t, parse(t, buf.Bytes()).root, "comparison")
	if len(g.rows) != len(cmp.Rows) {
		t.Fatalf("%d comparison rows, want %d", len(g.rows), len(cmp.Rows))
	}
	gateCol := len(g.head) - 1
	for i, r := range cmp.Rows {
		got := g.rows[i][gateCol]
		if !r.Gated && r.Status != bench.StatusFailed && !strings.HasPrefix(got, "not gated (") {
			t.Errorf("row %s %s (%s): gate %q", r.Name, r.Unit, r.Status, got)
		}
		if r.Gated && strings.Contains(got, "not gated") {
			t.Errorf("gated row %s %s: %q", r.Name, r.Unit, got)
		}
	}
}
