package integration

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/perfagent/perfagent/agent"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startAgent(t *testing.T, opts ...agent.Option) *agent.Agent {
	t.Helper()
	opts = append([]agent.Option{agent.WithHTTPAddr("127.0.0.1:0"), agent.WithLogger(quietLogger())}, opts...)
	a, err := agent.Start(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return a
}

// TestPrometheusScrapesAgent has a real Prometheus server scrape the agent
// and checks, through Prometheus' query API, that the runtime series exist
// with sane values and that histograms stay within a bounded series count.
func TestPrometheusScrapesAgent(t *testing.T) {
	forEachPrometheus(t, testPrometheusScrapesAgent)
}

func testPrometheusScrapesAgent(t *testing.T, bin promBinary) {
	a := startAgent(t, agent.WithServiceName("prom-it"))
	prom := startPrometheus(t, bin, promConfig{}, scrapeJob{Name: "perfagent", Target: a.Addr()})

	prom.eventually(t, `up{job="perfagent"} == 1`, 30*time.Second)
	prom.eventually(t, `go_goroutine_count{job="perfagent"}`, 30*time.Second)

	checks := []struct {
		query string
		ok    func(float64) bool
		what  string
	}{
		{`go_goroutine_count{job="perfagent"}`, func(v float64) bool { return v >= 1 }, ">= 1"},
		{`go_memory_used_bytes{job="perfagent",go_memory_type="other"}`, func(v float64) bool { return v > 1<<20 }, "> 1 MiB"},
		{`go_memory_used_bytes{job="perfagent",go_memory_type="stack"}`, func(v float64) bool { return v > 0 }, "> 0"},
		{`go_processor_limit{job="perfagent"}`, func(v float64) bool { return v >= 1 }, ">= 1"},
		{`go_memory_allocated_bytes_total{job="perfagent"}`, func(v float64) bool { return v > 0 }, "> 0"},
		{`go_config_gogc_percent{job="perfagent"}`, func(v float64) bool { return v > 0 }, "> 0"},
		{`process_memory_usage_bytes{job="perfagent"}`, func(v float64) bool { return v > 1<<20 }, "> 1 MiB"},
		{`process_unix_file_descriptor_count{job="perfagent"}`, func(v float64) bool { return v >= 3 }, ">= 3"},
		{`sum(process_cpu_time_seconds_total{job="perfagent"})`, func(v float64) bool { return v > 0 }, "> 0"},
		{`go_schedule_duration_seconds_count{job="perfagent"}`, func(v float64) bool { return v > 0 }, "> 0"},
		// 16 explicit boundaries plus +Inf, for each runtime histogram.
		{`count(go_schedule_duration_seconds_bucket{job="perfagent"})`, func(v float64) bool { return v == 17 }, "== 17"},
		{`count(go_memory_gc_pause_duration_seconds_bucket{job="perfagent"})`, func(v float64) bool { return v == 17 }, "== 17"},
		{`count(target_info{job="perfagent",service_name="prom-it"})`, func(v float64) bool { return v == 1 }, "== 1"},
	}
	for _, c := range checks {
		res := prom.query(t, c.query)
		if len(res) != 1 {
			t.Errorf("%s: %d results, want 1", c.query, len(res))
			continue
		}
		if v := res[0].float(t); !c.ok(v) {
			t.Errorf("%s = %v, want %s", c.query, v, c.what)
		}
	}
	total := prom.query(t, `count({job="perfagent"})`)[0].float(t)
	t.Logf("Prometheus %s: series scraped from the agent (default set, explicit histograms): %v", bin.Name, total)
	if total > 150 {
		t.Errorf("the agent exposes %v series; the default set should stay well under 150", total)
	}
}

// TestPrometheusNativeHistograms scrapes an agent exporting exponential
// histograms with native histograms enabled (negotiated through the
// protobuf exposition): the distribution arrives as one native histogram
// series instead of bucket series.
func TestPrometheusNativeHistograms(t *testing.T) {
	forEachPrometheus(t, testPrometheusNativeHistograms)
}

func testPrometheusNativeHistograms(t *testing.T, bin promBinary) {
	a := startAgent(t, agent.WithExponentialHistograms())
	prom := startPrometheus(t, bin, promConfig{}, scrapeJob{Name: "native", Target: a.Addr(), Native: true})
	prom.eventually(t, `up{job="native"} == 1`, 30*time.Second)
	res := prom.eventually(t, `histogram_count(go_schedule_duration_seconds{job="native"})`, 30*time.Second)
	if v := res[0].float(t); v <= 0 {
		t.Errorf("native histogram count %v", v)
	}
	if n := len(prom.query(t, `go_schedule_duration_seconds_bucket{job="native"}`)); n != 0 {
		t.Errorf("%d classic bucket series alongside the native histogram", n)
	}
	total := prom.query(t, `count({job="native"})`)[0].float(t)
	t.Logf("Prometheus %s: series scraped from the agent (exponential histograms, native): %v", bin.Name, total)
}
