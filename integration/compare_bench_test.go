package integration

// Comparison benchmarks against the anchors users know. Run them side by
// side in one run and compare with benchstat:
//
//	cd integration && go test -run '^$' -bench 'Collect|Scrape|ReadPath' -count 10 . | tee bench.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl bench.txt

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	contribruntime "go.opentelemetry.io/contrib/instrumentation/runtime"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/perfagent/perfagent/agent"
	"github.com/perfagent/perfagent/internal/rtsample"
)

func countMetrics(rm *metricdata.ResourceMetrics) int {
	n := 0
	for _, sm := range rm.ScopeMetrics {
		n += len(sm.Metrics)
	}
	return n
}

// BenchmarkCollect measures one collection through an SDK ManualReader:
// perfagent's default set against the OTel contrib runtime instrumentation
// (with its ReadMemStats-era cache interval at 1ns, so it really reads, and
// its producer for go.schedule.duration).
func BenchmarkCollect(b *testing.B) {
	perfagent := func(b *testing.B, opts ...agent.Option) {
		var mr *sdkmetric.ManualReader
		opts = append(opts, agent.WithoutHTTPServer(), agent.WithoutExporters(), agent.WithAllowMultiple(),
			agent.WithLogger(quietLogger()),
			agent.WithReader(func(p sdkmetric.Producer) sdkmetric.Reader {
				mr = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
				return mr
			}))
		a, err := agent.Start(context.Background(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Shutdown(context.Background())
		benchCollect(b, mr)
	}
	// The default set: runtime (recommended, opt-in, extras) and process.
	b.Run("impl=perfagent", func(b *testing.B) { perfagent(b) })
	// The runtime groups only: contrib's scope (no /proc reads), still more metrics.
	b.Run("impl=perfagent-runtime", func(b *testing.B) { perfagent(b, agent.WithoutMetrics(agent.ProcessMetrics)) })
	b.Run("impl=contrib", func(b *testing.B) {
		mr := sdkmetric.NewManualReader(sdkmetric.WithProducer(contribruntime.NewProducer()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(mr))
		defer mp.Shutdown(context.Background())
		if err := contribruntime.Start(contribruntime.WithMeterProvider(mp), contribruntime.WithMinimumReadMemStatsInterval(time.Nanosecond)); err != nil {
			b.Fatal(err)
		}
		benchCollect(b, mr)
	})
}

func benchCollect(b *testing.B, mr *sdkmetric.ManualReader) {
	var rm metricdata.ResourceMetrics
	if err := mr.Collect(context.Background(), &rm); err != nil {
		b.Fatal(err)
	}
	n := countMetrics(&rm)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := mr.Collect(context.Background(), &rm); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "metrics")
}

// BenchmarkReadPath measures perfagent's read of the runtime and the
// process alone: it must not allocate.
func BenchmarkReadPath(b *testing.B) {
	r := rtsample.New(rtsample.Options{Process: true})
	defer r.Close()
	var s rtsample.Sample
	r.Read(&s)
	b.ReportAllocs()
	for b.Loop() {
		r.Read(&s)
	}
}

// BenchmarkScrape measures one full Prometheus scrape over loopback HTTP
// (request, collection, encoding, reading the body): perfagent's default
// runtime and process set against client_golang's NewGoCollector and
// NewProcessCollector, each on its own server.
func BenchmarkScrape(b *testing.B) {
	b.Run("impl=perfagent", func(b *testing.B) {
		a, err := agent.Start(context.Background(), agent.WithHTTPAddr("127.0.0.1:0"), agent.WithAllowMultiple(), agent.WithLogger(quietLogger()))
		if err != nil {
			b.Fatal(err)
		}
		defer a.Shutdown(context.Background())
		benchScrape(b, "http://"+a.Addr()+"/metrics")
	})
	b.Run("impl=client_golang", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		defer srv.Close()
		benchScrape(b, srv.URL)
	})
}

// BenchmarkScrapeHandler measures the same scrape without the network:
// the exposition handler serving into memory (collection, conversion,
// gathering, text encoding).
func BenchmarkScrapeHandler(b *testing.B) {
	b.Run("impl=perfagent", func(b *testing.B) {
		a, err := agent.Start(context.Background(), agent.WithoutHTTPServer(), agent.WithAllowMultiple(), agent.WithLogger(quietLogger()))
		if err != nil {
			b.Fatal(err)
		}
		defer a.Shutdown(context.Background())
		benchHandler(b, a.Handler(), "/metrics")
	})
	b.Run("impl=client_golang", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		benchHandler(b, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), "/metrics")
	})
}

func benchHandler(b *testing.B, h http.Handler, path string) {
	req := httptest.NewRequest("GET", path, nil)
	serve := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
		return rec.Body.Len()
	}
	size := serve()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
	b.ReportMetric(float64(size), "body-bytes")
}

func benchScrape(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	defer client.CloseIdleConnections()
	get := func() int {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return int(n)
	}
	size := get()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		get()
	}
	b.ReportMetric(float64(size), "body-bytes")
}
