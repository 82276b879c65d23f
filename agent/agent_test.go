package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, opts ...Option) *Agent {
	t.Helper()
	opts = append([]Option{WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger())}, opts...)
	a, err := Start(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return a
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStartServeShutdown(t *testing.T) {
	a, err := Start(context.Background(), WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()), WithServiceName("unit"))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addr()
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, want := range []string{
		"go_goroutine_count", "go_memory_used_bytes{", `go_memory_type="stack"`, "go_memory_allocated_bytes_total",
		"go_schedule_duration_seconds_bucket", "go_memory_gc_pause_duration_seconds_bucket", "go_cpu_time_seconds_total",
		"process_cpu_time_seconds_total", "process_memory_usage_bytes", "perfagent_go_memory_heap_live_bytes",
		`service_name="unit"`, "perfagent_agent_collection_count",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Bounded histogram series: 16 bounds + Inf.
	if n := strings.Count(body, "go_schedule_duration_seconds_bucket{"); n != 17 {
		t.Errorf("go.schedule.duration has %d bucket series, want 17", n)
	}
	code, body = get(t, base+"/debug/perfagent/")
	if code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, body)
	}
	if st.Collection.Count < 1 || st.Collection.LastSeconds <= 0 || st.GoVersion != runtime.Version() {
		t.Errorf("status %+v", st)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof served without being enabled: %d", code)
	}

	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Errorf("second Shutdown = %v, want ErrShutdown", err)
	}
	if _, err := http.Get(base + "/metrics"); err == nil {
		t.Error("listener still serving after Shutdown")
	}
}

func TestSecondStart(t *testing.T) {
	start(t)
	_, err := Start(context.Background(), WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()))
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), "WithAllowMultiple") {
		t.Fatalf("second Start: %v", err)
	}
	b := start(t, WithAllowMultiple())
	if b.Addr() == "" {
		t.Fatal("no address")
	}
}

func TestStartAfterShutdown(t *testing.T) {
	a := start(t)
	a.Shutdown(context.Background())
	start(t) // the slot is free again
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Start(context.Background(), WithHTTPAddr(ln.Addr().String()), WithLogger(quietLogger()))
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Start on a used port: %v", err)
	}
	// A failed Start leaves nothing running and frees the slot.
	start(t)
}

func TestEnvironmentAndPrecedence(t *testing.T) {
	t.Setenv(EnvHTTPAddr, "127.0.0.1:0")
	t.Setenv(EnvPprof, "true")
	t.Setenv(EnvMetrics, "recommended")
	a, err := Start(context.Background(), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Addr(), "127.0.0.1:") {
		t.Errorf("address %q", a.Addr())
	}
	if code, _ := get(t, "http://"+a.Addr()+"/debug/pprof/"); code != 200 {
		t.Errorf("PERFAGENT_PPROF=true did not enable pprof: %d", code)
	}
	_, body := get(t, "http://"+a.Addr()+"/metrics")
	if strings.Contains(body, "process_cpu_time") || !strings.Contains(body, "go_goroutine_count") {
		t.Errorf("PERFAGENT_METRICS=recommended not applied")
	}
	a.Shutdown(context.Background())

	// Options win over the environment.
	a, err = Start(context.Background(), WithLogger(quietLogger()), WithPprof(false), WithoutHTTPServer(), WithMetrics(ProcessMetrics))
	if err != nil {
		t.Fatal(err)
	}
	if a.Addr() != "" {
		t.Errorf("WithoutHTTPServer ignored: %q", a.Addr())
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/debug/pprof/", nil)
	req.RemoteAddr = "127.0.0.1:1234"
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != 404 {
		t.Errorf("WithPprof(false) did not override the environment: %d", rec.Code)
	}
	a.Shutdown(context.Background())
}

func TestInvalidEnvironment(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{EnvHTTPAddr, "localhost", "PERFAGENT_HTTP_ADDR=\"localhost\""},
		{EnvHTTPAddr, "127.0.0.1:99999", "port"},
		{EnvPprof, "yes please", "PERFAGENT_PPROF"},
		{EnvMetrics, "recommended,gpu", `unknown metric group "gpu"`},
		{EnvHistograms, "linear", "PERFAGENT_HISTOGRAMS"},
		{"OTEL_METRICS_EXPORTER", "zipkin", `unknown exporter "zipkin"`},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "not supported"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317", "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"OTEL_METRIC_EXPORT_INTERVAL", "10s", "OTEL_METRIC_EXPORT_INTERVAL"},
		{"OTEL_RESOURCE_ATTRIBUTES", "novalue", "OTEL_RESOURCE_ATTRIBUTES"},
		{EnvHTTPMaxConns, "0", "PERFAGENT_HTTP_MAX_CONNS=\"0\""},
		{EnvHTTPMaxConns, "100000", "from 1 to 10000"},
		// Bounded, never overflowing, never falling back silently.
		{"OTEL_METRIC_EXPORT_INTERVAL", "18446744073710", "OTEL_METRIC_EXPORT_INTERVAL"},
		{"OTEL_METRIC_EXPORT_INTERVAL", "9223372036854775807", "OTEL_METRIC_EXPORT_INTERVAL"},
		{"OTEL_METRIC_EXPORT_INTERVAL", "1", "from 100"},
		{"OTEL_METRIC_EXPORT_TIMEOUT", "-5", "OTEL_METRIC_EXPORT_TIMEOUT"},
		{EnvMaxFDs, "-1", "PERFAGENT_MAX_FDS=\"-1\""},
		{EnvDebugToken, "   ", "PERFAGENT_DEBUG_TOKEN"},
		// The OTLP exporter's own variables are checked, not ignored.
		{"OTEL_EXPORTER_OTLP_HEADERS", "novalue", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "soon", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"},
		{"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", `want "gzip" or "none"`},
		{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem", "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"},
		{"OTEL_EXPORTER_OTLP_INSECURE", "maybe", "OTEL_EXPORTER_OTLP_INSECURE"},
		// Profiling variables are checked while profiling is off.
		{EnvProfilingInterval, "1ns", "PERFAGENT_PROFILING_INTERVAL"},
		{EnvProfilingMutexRate, "x", "PERFAGENT_PROFILING_MUTEX_RATE"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			opts := []Option{WithLogger(quietLogger())}
			if tc.name != EnvHTTPAddr { // the option would win over the variable
				opts = append(opts, WithHTTPAddr("127.0.0.1:0"))
			}
			a, err := Start(context.Background(), opts...)
			if err == nil {
				a.Shutdown(context.Background())
				t.Fatal("Start accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	// Every problem is reported at once.
	t.Setenv(EnvPprof, "maybe")
	t.Setenv(EnvHistograms, "linear")
	_, err := Start(context.Background(), WithLogger(quietLogger()), WithHTTPAddr("127.0.0.1:0"))
	if err == nil || !strings.Contains(err.Error(), EnvPprof) || !strings.Contains(err.Error(), EnvHistograms) {
		t.Errorf("joined errors: %v", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Option{WithServiceName(""), WithExportInterval(0), WithOTLP("udp", ""), WithHTTPAddr("nope"),
		WithHistogramBoundaries(2, 1), WithMetrics(), WithConsole(nil), WithMaxConnections(0), WithMaxConnections(10_001),
		WithExportInterval(time.Nanosecond), WithExportInterval(48 * time.Hour), WithExportTimeout(-1), WithSnapshotInterval(2 * time.Hour),
		WithHistory(maxHistorySize+1, 0), WithHistory(1, time.Millisecond), WithOutputQuota(maxOutputBytes+1, 1)} {
		a, err := Start(context.Background(), WithLogger(quietLogger()), WithHTTPAddr("127.0.0.1:0"), o)
		if err == nil {
			a.Shutdown(context.Background())
			t.Errorf("option accepted")
		}
	}
}

func TestDebugAccessRule(t *testing.T) {
	serve := func(a *Agent, local string, header string) int {
		req := httptest.NewRequest("GET", "/debug/perfagent/", nil)
		addr, _ := net.ResolveTCPAddr("tcp", local)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, addr))
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	a := start(t, WithoutHTTPServer())
	if c := serve(a, "127.0.0.1:80", ""); c != 200 {
		t.Errorf("loopback: %d", c)
	}
	if c := serve(a, "10.1.2.3:80", ""); c != 403 {
		t.Errorf("non-loopback without token: %d", c)
	}
	// /metrics is not a debug endpoint.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("/metrics off loopback: %d", rec.Code)
	}
	a.Shutdown(context.Background())

	a = start(t, WithoutHTTPServer(), WithDebugToken("s3cret"))
	if c := serve(a, "10.1.2.3:80", ""); c != 401 {
		t.Errorf("token required, none given: %d", c)
	}
	if c := serve(a, "10.1.2.3:80", "Bearer wrong"); c != 401 {
		t.Errorf("wrong token: %d", c)
	}
	if c := serve(a, "10.1.2.3:80", "Bearer s3cret"); c != 200 {
		t.Errorf("right token: %d", c)
	}
	st := a.Status()
	if st.Config["debug_token"] != "[redacted]" {
		t.Errorf("token not redacted: %v", st.Config["debug_token"])
	}
	a.Shutdown(context.Background())

	a = start(t, WithoutHTTPServer(), WithRemoteDebug(true))
	if c := serve(a, "10.1.2.3:80", ""); c != 200 {
		t.Errorf("remote debug allowed: %d", c)
	}
}

func TestManualReaderValues(t *testing.T) {
	var mr *sdkmetric.ManualReader
	start(t, WithoutExporters(), WithReader(func(p sdkmetric.Producer) sdkmetric.Reader {
		mr = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
		return mr
	}))
	var rm metricdata.ResourceMetrics
	if err := mr.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = true
			if m.Name == "go.processor.limit" {
				if v := m.Data.(metricdata.Sum[int64]).DataPoints[0].Value; v != int64(runtime.GOMAXPROCS(0)) {
					t.Errorf("go.processor.limit = %d", v)
				}
			}
		}
	}
	for _, n := range []string{"go.processor.limit", "go.memory.used", "perfagent.agent.collection.count"} {
		if !found[n] {
			t.Errorf("%s missing", n)
		}
	}
}

func TestConsoleExporter(t *testing.T) {
	var buf syncBuffer
	a := start(t, WithConsole(&buf), WithExportInterval(time.Hour))
	if err := a.Shutdown(context.Background()); err != nil { // final export on shutdown
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"go.goroutine.count"`) {
		t.Errorf("console output lacks go.goroutine.count:\n%.500s", buf.String())
	}
}

// TestShutdownHonoursDeadline points OTLP/HTTP at a server that accepts
// and never answers: Shutdown must return at its deadline.
func TestShutdownHonoursDeadline(t *testing.T) {
	peer := newHangPeer(t)
	ignore := goleak.IgnoreCurrent()
	a := start(t, WithOTLP("http/protobuf", peer.url()), WithExportInterval(time.Hour), WithExportTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(ctx) }()
	select {
	case err := <-done:
		if lerr := goleak.Find(ignore); lerr != nil {
			t.Errorf("goroutines alive right after Shutdown hit its deadline: %v", lerr)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want deadline exceeded", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown ignored its deadline")
	}
}

func TestUnreachableCollectorCounted(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	a := start(t, WithOTLP("http/protobuf", "http://"+addr), WithExportInterval(time.Hour), WithExportTimeout(2*time.Second))
	// Start succeeded; a flush fails, is counted, and does not surface.
	if err := a.ForceFlush(context.Background()); err == nil || !strings.Contains(err.Error(), "otlp-http") {
		t.Errorf("ForceFlush = %v, want the failed export named", err)
	}
	st := a.Status().Exporters["otlp-http"]
	if st.Failures < 1 || st.Healthy || st.LastError == "" {
		t.Errorf("otlp-http health %+v", st)
	}
	err := a.Shutdown(context.Background())
	if err == nil || !strings.Contains(err.Error(), "final export to otlp-http") {
		t.Errorf("Shutdown = %v, want the failed final export reported", err)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPprofCPUProfileThroughArbiter(t *testing.T) {
	a := start(t, WithPprof(true))
	code, body := get(t, "http://"+a.Addr()+"/debug/pprof/profile?seconds=1")
	if code != 200 || len(body) == 0 {
		t.Fatalf("profile: %d (%d bytes)", code, len(body))
	}
	if code, _ := get(t, "http://"+a.Addr()+"/debug/pprof/profile?seconds=abc"); code != 400 {
		t.Errorf("bad seconds: %d", code)
	}
}

// TestSelfMetricsByKey checks the keyed self-metrics: exports and failures
// by exporter (against an OTLP endpoint that refuses connections), panics
// by component and drops by kind, in key order.
func TestSelfMetricsByKey(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	var mr *sdkmetric.ManualReader
	a := start(t, WithoutPrometheus(), WithOTLP("http/protobuf", "http://"+dead), WithExportInterval(time.Hour),
		WithExportTimeout(time.Second),
		WithReader(func(p sdkmetric.Producer) sdkmetric.Reader {
			mr = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
			return mr
		}))
	if err := a.ForceFlush(context.Background()); err == nil {
		t.Fatal("ForceFlush to a closed port succeeded")
	}
	a.self.recoverPanic("sampler")
	a.self.drop("queue", 3)
	a.self.drop("capture", 1)
	a.self.drop("queue", 2)

	var rm metricdata.ResourceMetrics
	if err := mr.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{} // metric → "attr=value:point" in order
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !strings.HasPrefix(m.Name, "perfagent.agent.") {
				continue
			}
			for _, dp := range sum.DataPoints {
				var attrs []string
				for _, kv := range dp.Attributes.ToSlice() {
					attrs = append(attrs, string(kv.Key)+"="+kv.Value.Emit())
				}
				got[m.Name] = append(got[m.Name], fmt.Sprintf("%s:%d", strings.Join(attrs, ","), dp.Value))
			}
		}
	}
	want := map[string][]string{
		"perfagent.agent.export.count":    {"exporter=otlp-http:1"},
		"perfagent.agent.export.failures": {"exporter=otlp-http:1"},
		"perfagent.agent.panics":          {"component=sampler:1"},
		"perfagent.agent.dropped":         {"kind=capture:1", "kind=queue:5"},
	}
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("%s = %v, want %v", name, got[name], w)
		}
	}
}
