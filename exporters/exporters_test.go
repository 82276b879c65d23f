package exporters

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// flaky is an exporter whose Export fails, panics or succeeds on demand.
type flaky struct {
	sdkmetric.Exporter
	mode  string
	calls atomic.Int64
}

func (f *flaky) Export(context.Context, *metricdata.ResourceMetrics) error {
	f.calls.Add(1)
	switch f.mode {
	case "fail":
		return errors.New("connection refused")
	case "panic":
		panic("exporter bug")
	}
	return nil
}

func newFlaky(t *testing.T) *flaky {
	// A real exporter underneath provides Temporality, Aggregation, Shutdown.
	inner, err := stdoutmetric.New(stdoutmetric.WithWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	return &flaky{Exporter: inner}
}

func TestGuardedExporterCountsAndRecovers(t *testing.T) {
	var logs bytes.Buffer
	f := newFlaky(t)
	panics := 0
	r, err := Push(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnPanic: func(string) { panics++ }}, "flaky", f)
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Reader))
	defer mp.Shutdown(context.Background())
	ctx := context.Background()

	for _, mode := range []string{"ok", "fail", "fail", "panic", "ok"} {
		f.mode = mode
		if err := mp.ForceFlush(ctx); err != nil {
			t.Fatalf("%s: ForceFlush = %v; failures must not reach the SDK", mode, err)
		}
	}
	st := r.Health.Status()
	if st.Exports != 5 || st.Failures != 3 || st.Panics != 1 || panics != 1 || !st.Healthy {
		t.Errorf("health %+v, panics %d", st, panics)
	}
	// Rate-limited: three failures within a minute log once.
	if n := strings.Count(logs.String(), "metric export failed"); n != 1 {
		t.Errorf("%d failure records logged:\n%s", n, logs.String())
	}
}

func TestPrometheusHandler(t *testing.T) {
	r, err := Prometheus(Config{}, PrometheusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Reader))
	defer mp.Shutdown(context.Background())
	c, _ := mp.Meter("t").Int64Counter("requests")
	c.Add(context.Background(), 3)
	rec := httptest.NewRecorder()
	r.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "requests_total") {
		t.Errorf("exposition:\n%s", rec.Body.String())
	}
}

func TestEndpoints(t *testing.T) {
	for in, want := range map[string]string{
		"http://c:4318":            "http://c:4318/v1/metrics",
		"http://c:4318/":           "http://c:4318/v1/metrics",
		"https://c/custom/metrics": "https://c/custom/metrics",
	} {
		if got := withSignalPath(in); got != want {
			t.Errorf("withSignalPath(%q) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"localhost:4317", "ftp://c", "http://", "::"} {
		if validateEndpoint(bad) == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
	if _, err := OTLP(context.Background(), Config{}, OTLPOptions{Protocol: "udp"}); err == nil {
		t.Error("protocol udp accepted")
	}
}

func TestHealthUnknownUntilFirstExport(t *testing.T) {
	var h Health
	if st := h.Status(); st.State != StateUnknown || st.Healthy {
		t.Errorf("no export yet: %+v", st)
	}
	h.Record(errors.New("deadline exceeded"), time.Now())
	if st := h.Status(); st.State != StateFailing || st.Healthy {
		t.Errorf("after a failure: %+v", st)
	}
	h.Record(nil, time.Now())
	if st := h.Status(); st.State != StateHealthy || !st.Healthy {
		t.Errorf("after a success: %+v", st)
	}
}

// A discarded reader's exports never reach its exporter: the final export
// at Shutdown of a reader that was never used sends nothing.
func TestDiscardedReaderSendsNothing(t *testing.T) {
	f := newFlaky(t)
	r, err := Push(Config{Logger: quietLog()}, "flaky", f)
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Reader))
	r.Discard()
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("a discarded reader exported %d times", n)
	}
}
