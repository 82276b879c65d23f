package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/perfagent/perfagent/agent"
	"github.com/perfagent/perfagent/internal/demo"
)

// demoTraffic sends a known mix of requests to the demo at base: three
// 200s on health, one 401 on login, two 401s on items.
func demoTraffic(t *testing.T, c *http.Client, base string) {
	t.Helper()
	for _, r := range []struct {
		method, path, body string
		n, code            int
	}{
		{"GET", "/health", "", 3, 200},
		{"POST", "/auth/login", `{"username":"demo","password":"wrong"}`, 1, 401},
		{"GET", "/api/items", "", 2, 401},
	} {
		for range r.n {
			req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != r.code {
				t.Fatalf("%s %s: %d, want %d", r.method, r.path, resp.StatusCode, r.code)
			}
		}
	}
}

// wantDemoCounts are the demo's request counts after demoTraffic, by
// route and code.
var wantDemoCounts = map[[2]string]int64{
	{"health", "200"}: 3,
	{"login", "401"}:  1,
	{"items", "401"}:  2,
}

// scrape fetches url with c and decodes the exposition by its content type.
func scrape(t *testing.T, c *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	fams := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			return fams
		} else if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		fams[mf.GetName()] = mf
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestDemoCommandMetrics runs perfagent demo, sends requests and finds the
// demo's request metrics next to the runtime's on the agent's /metrics.
func TestDemoCommandMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		e := &env{ctx: ctx, stdout: pw, stderr: &stderr, getenv: func(string) string { return "" }}
		done <- runEnv(e, []string{"demo", "--addr", "127.0.0.1:0"})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output; exit %d, stderr %q", <-done, stderr.String())
	}
	base, ok := strings.CutPrefix(lines.Text(), "demo target: ")
	if !ok {
		t.Fatalf("first line %q", lines.Text())
	}
	var drained sync.WaitGroup
	drained.Go(func() { io.Copy(io.Discard, pr) })
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
		drained.Wait()
	}()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	demoTraffic(t, c, base)
	fams := scrape(t, c, base+"/metrics")

	if fams["go_goroutine_count"] == nil {
		t.Error("no go_goroutine_count: not the agent's /metrics")
	}
	got := map[[2]string]int64{}
	for _, m := range fams["demo_http_requests_total"].GetMetric() {
		got[[2]string{label(m, "route"), label(m, "code")}] = int64(m.GetCounter().GetValue())
	}
	for k, want := range wantDemoCounts {
		if got[k] != want {
			t.Errorf("demo_http_requests_total{route=%q,code=%q} = %d, want %d (all: %v)", k[0], k[1], got[k], want, got)
		}
	}
	var health uint64
	for _, m := range fams["demo_http_request_duration_seconds"].GetMetric() {
		if label(m, "route") == "health" {
			health = m.GetHistogram().GetSampleCount()
		}
	}
	if health != 3 {
		t.Errorf("demo_http_request_duration_seconds_count{route=\"health\"} = %d, want 3", health)
	}
}

// TestDemoOTLPExport finds the demo's request metrics in what the agent
// exports to a reader other than Prometheus (an OTLP pipeline's view).
func TestDemoOTLPExport(t *testing.T) {
	var reader *sdkmetric.ManualReader
	srv, _, stop, err := startDemo(context.Background(), "127.0.0.1:0", slog.New(slog.DiscardHandler),
		agent.WithReader(func(p sdkmetric.Producer) sdkmetric.Reader {
			reader = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
			return reader
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	demoTraffic(t, &http.Client{Transport: tr}, srv.URL())

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if v, _ := rm.Resource.Set().Value("service.name"); v.AsString() != "perfagent-demo" {
		t.Errorf("resource service.name %q", v.AsString())
	}
	var requests *metricdata.Sum[int64]
	var duration *metricdata.Histogram[float64]
	var scopes []string
	for _, sm := range rm.ScopeMetrics {
		scopes = append(scopes, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch m.Name {
			case demo.MetricRequests:
				d := m.Data.(metricdata.Sum[int64])
				requests = &d
			case demo.MetricDuration:
				d := m.Data.(metricdata.Histogram[float64])
				duration = &d
			}
		}
	}
	if requests == nil || duration == nil {
		t.Fatalf("%s or %s missing from the export (scopes %v)", demo.MetricRequests, demo.MetricDuration, scopes)
	}
	got := map[[2]string]int64{}
	for _, p := range requests.DataPoints {
		route, _ := p.Attributes.Value("route")
		code, _ := p.Attributes.Value("code")
		got[[2]string{route.AsString(), code.Emit()}] = p.Value
	}
	for k, want := range wantDemoCounts {
		if got[k] != want {
			t.Errorf("%s{route=%q,code=%q} = %d, want %d (all: %v)", demo.MetricRequests, k[0], k[1], got[k], want, got)
		}
	}
	if !requests.IsMonotonic || requests.Temporality != metricdata.CumulativeTemporality {
		t.Errorf("%s: monotonic %v, temporality %v", demo.MetricRequests, requests.IsMonotonic, requests.Temporality)
	}
	for _, p := range duration.DataPoints {
		if v, _ := p.Attributes.Value("route"); v.AsString() == "health" && p.Count != 3 {
			t.Errorf("%s{route=health} count %d, want 3", demo.MetricDuration, p.Count)
		}
	}
}
