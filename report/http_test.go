package report_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

func svgTitles(n *html.Node) []string {
	var out []string
	for _, s := range findAll(n, tag("svg")) {
		if ts := findAll(s, tag("title")); len(ts) > 0 {
			out = append(out, text(ts[0]))
		}
	}
	return out
}

// TestHTMLHTTPCard reads the card of an endpoint measured by package load:
// targets judged against the run's percentiles, status codes, phases,
// rounds and the per-second series.
func TestHTMLHTTPCard(t *testing.T) {
	res := apiReport(1).BenchResults()
	var buf bytes.Buffer
	if err := report.HTML(&buf, res, nil); err != nil {
		t.Fatal(err)
	}
	doc := parse(t, buf.Bytes())
	card := byID(doc.root, "b-api-health")
	if card == nil {
		t.Fatal("no card for api/health")
	}
	if got := text(findAll(card, func(n *html.Node) bool { return hasClass(n, "endpoint") })[0]); got != "GET http://127.0.0.1:8080/health" {
		t.Errorf("endpoint %q", got)
	}
	targets := tableOf(t, card, "targets")
	for _, c := range []struct{ pct, measured, result string }{{"p50", "1.10ms", "pass"}, {"p95", "2.80ms", "pass"}, {"p99", "4.40ms", "fail"}} {
		if got := targets.cell(t, c.pct, "measured"); got != c.measured {
			t.Errorf("target %s measured %q, want %q", c.pct, got, c.measured)
		}
		if got := targets.cell(t, c.pct, "result"); got != c.result {
			t.Errorf("target %s: %q, want %q", c.pct, got, c.result)
		}
	}
	if got := targets.cell(t, "p99", "limit"); got != "≤ 4.00ms" {
		t.Errorf("p99 limit %q", got)
	}
	if len(targets.rows) != 3 {
		t.Errorf("%d targets", len(targets.rows))
	}
	st := tableOf(t, card, "statuses")
	for _, c := range []struct{ key, col, want string }{
		{"200", "responses", "9985"}, {"200", "share", "99.85%"}, {"503 (unexpected)", "responses", "10"},
		{"error: status", "responses", "10 (0.10%)"}, {"error: timeout", "responses", "5 (0.05%)"},
	} {
		if got := st.cell(t, c.key, c.col); got != c.want {
			t.Errorf("statuses %s / %s = %q, want %q", c.key, c.col, got, c.want)
		}
	}
	ph := tableOf(t, card, "phases")
	var names []string
	for _, r := range ph.rows {
		names = append(names, r[0])
	}
	if strings.Join(names, ",") != "dns,connect,ttfb,body" || ph.cell(t, "connect", "p99") != "120µs" || ph.cell(t, "ttfb", "n") != "9990" {
		t.Errorf("phases %q", ph.rows)
	}
	if !strings.Contains(text(card), "not measured: tls (plain HTTP: no TLS)") {
		t.Error("the card does not say that TLS was not measured")
	}
	rd := tableOf(t, card, "rounds")
	if len(rd.rows) != 5 || rd.cell(t, "3", "start") != "4.00s" || rd.cell(t, "3", "requests") != "2000" || rd.cell(t, "1", "errors") != "0.10%" {
		t.Errorf("rounds %q", rd.rows)
	}
	facts := tableOf(t, card, "facts")
	for _, c := range []struct{ k, want string }{
		{"phase", "measured"}, {"throughput", "1000 req/s"}, {"availability", "99.85%"}, {"load", "closed model, 10 connections"}, {"stops after", "10.0s"},
		{"received", "146KiB of bodies, 1.23MiB on the wire"}, {"requests", "10000 (0.15% errors, 0.05% timeouts)"},
	} {
		if got := facts.cell(t, c.k, "value"); got != c.want {
			t.Errorf("fact %s = %q, want %q", c.k, got, c.want)
		}
	}
	titles := svgTitles(card)
	for _, want := range []string{"Requests per second (per 1.00s interval)", "Latency per 1.00s interval (p50, p99)", "Percentiles per operation (ns/op, n=9990)"} {
		found := false
		for _, got := range titles {
			found = found || got == want
		}
		if !found {
			t.Errorf("no chart %q among %q", want, titles)
		}
	}
	// Requests and errors per second: two lines, ten points each; the last
	// 50ms are too short for a rate and said to be left out.
	if !strings.Contains(text(card), "intervals shorter than half of 1.00s are left out of the rate line: 50.0ms at 10.0s.") {
		t.Error("the card does not say which interval the rate line leaves out")
	}
	drawn := 0
	for _, s := range findAll(card, tag("svg")) {
		if text(findAll(s, tag("title"))[0]) != "Requests per second (per 1.00s interval)" {
			continue
		}
		drawn++
		lines := findAll(s, func(n *html.Node) bool { return n.Data == "polyline" })
		if len(lines) != 2 || len(strings.Fields(attr(lines[0], "points"))) != 10 {
			t.Errorf("throughput chart: %d lines, the first of %d points", len(lines), len(strings.Fields(attr(lines[0], "points"))))
		}
	}
	if drawn != 1 {
		t.Errorf("%d throughput charts", drawn)
	}
	if strings.Contains(text(card), "not in the results file") {
		t.Error("the card misses a field load writes")
	}
}

// TestHTMLHTTPCardOfARun renders the card of a real run of package load
// against a local server, so the card reads what load writes today.
func TestHTMLHTTPCardOfARun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	sc := &load.Scenario{Name: "local", BaseURL: srv.URL, Endpoints: []load.Endpoint{
		{Request: load.Request{Name: "ok", Path: "/ok"}, Targets: load.Targets{P99: time.Minute}},
		{Request: load.Request{Name: "missing", Path: "/missing", ExpectStatus: []int{200}}},
	}}
	rep, err := load.Run(context.Background(), sc, load.Options{Load: load.Load{Concurrency: 2, Requests: 400}, Rounds: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	res := rep.BenchResults()
	var buf bytes.Buffer
	if err := report.HTML(&buf, res, nil); err != nil {
		t.Fatal(err)
	}
	doc := parse(t, buf.Bytes())
	for i, ep := range rep.Endpoints {
		card := byID(doc.root, "b-local-"+ep.Name)
		if card == nil {
			t.Fatalf("no card for %s", ep.Name)
		}
		if strings.Contains(text(card), "not in the results file") || strings.Contains(text(card), "http detail") {
			t.Errorf("%s: the card lacks fields load writes: %s", ep.Name, text(card))
		}
		st := tableOf(t, card, "statuses")
		code, want := "200", strconv.FormatInt(ep.Requests, 10)
		if ep.Name == "missing" {
			code = "404 (unexpected)"
		}
		if got := st.cell(t, code, "responses"); got != want {
			t.Errorf("%s: status %s: %q responses, want %s", ep.Name, code, got, want)
		}
		if rd := tableOf(t, card, "rounds"); len(rd.rows) != len(ep.Rounds) || len(rd.rows) == 0 {
			t.Errorf("%s: %d rounds shown, %d measured", ep.Name, len(rd.rows), len(ep.Rounds))
		}
		ph := tableOf(t, card, "phases")
		if got := ph.cell(t, "ttfb", "n"); got != strconv.FormatInt(ep.Phases["ttfb"].N, 10) {
			t.Errorf("%s: ttfb n %q", ep.Name, got)
		}
		tg := tableOf(t, card, "targets")
		switch ep.Name {
		case "ok":
			if got := tg.cell(t, "p99", "result"); got != "pass" {
				t.Errorf("ok p99 within a minute: %q", got)
			}
		case "missing":
			if !strings.Contains(text(card), "no latency targets set") {
				t.Error("missing: no word on the absent targets")
			}
		}
		if b := res.Benchmarks[i]; b.Kind != results.KindHTTP {
			t.Errorf("kind %q", b.Kind)
		}
	}
}

// TestHTMLHTTPCardOfADeadTarget: a target that answered nothing shows no
// responses, every request as an error of its kind, and its targets
// failed as not measured.
func TestHTMLHTTPCardOfADeadTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	sc := &load.Scenario{Name: "dead", BaseURL: "http://" + addr, Endpoints: []load.Endpoint{
		{Request: load.Request{Name: "health", Path: "/health"}, Targets: load.Targets{P95: time.Second}},
	}}
	rep, err := load.Run(context.Background(), sc, load.Options{Load: load.Load{Concurrency: 1, Requests: 20}, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.HTML(&buf, rep.BenchResults(), nil); err != nil {
		t.Fatal(err)
	}
	card := byID(parse(t, buf.Bytes()).root, "b-dead-health")
	if card == nil {
		t.Fatal("no card")
	}
	st := tableOf(t, card, "statuses")
	if len(st.rows) != 2 || st.rows[0][0] != "no responses" || st.cell(t, "error: connect-refused", "responses") != "20 (100%)" {
		t.Errorf("statuses %q", st.rows)
	}
	tg := tableOf(t, card, "targets")
	if got := tg.cell(t, "p95", "result"); got != "fail: no latency measured" {
		t.Errorf("p95 target of a dead target: %q", got)
	}
	facts := tableOf(t, card, "facts")
	if got := facts.cell(t, "availability", "value"); got != "0%" {
		t.Errorf("availability %q", got)
	}
	if !strings.Contains(text(card), "failed: no response: all 20 requests failed") {
		t.Errorf("the card does not say the benchmark failed: %s", text(card))
	}
}
