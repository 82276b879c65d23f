package integration

import (
	"context"
	"net"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/perfagent/perfagent/agent"
)

// collector is a real OpenTelemetry Collector OTLP receiver (gRPC and HTTP)
// feeding a sink the test inspects.
type collector struct {
	GRPC, HTTP string // host:port
	Sink       *consumertest.MetricsSink
	rcv        receiver.Metrics
	once       sync.Once
}

// startCollector starts an otlpreceiver. Empty addresses pick free ports.
func startCollector(t *testing.T, grpcAddr, httpAddr string) *collector {
	t.Helper()
	if grpcAddr == "" {
		grpcAddr = "127.0.0.1:0"
	}
	if httpAddr == "" {
		httpAddr = "127.0.0.1:0"
	}
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = grpcAddr
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = httpAddr
	core, logs := observer.New(zapcore.InfoLevel)
	set := receivertest.NewNopSettings(f.Type())
	set.Logger = zap.New(core)
	c := &collector{Sink: new(consumertest.MetricsSink)}
	rcv, err := f.CreateMetrics(context.Background(), set, cfg, c.Sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	c.rcv = rcv
	t.Cleanup(c.stop)
	for _, e := range logs.All() {
		ep, _ := e.ContextMap()["endpoint"].(string)
		switch e.Message {
		case "Starting GRPC server":
			c.GRPC = ep
		case "Starting HTTP server":
			c.HTTP = ep
		}
	}
	if c.GRPC == "" || c.HTTP == "" {
		t.Fatalf("receiver addresses not logged: grpc %q http %q", c.GRPC, c.HTTP)
	}
	return c
}

func (c *collector) stop() {
	c.once.Do(func() { _ = c.rcv.Shutdown(context.Background()) })
}

// received flattens the sink's metrics by name.
func (c *collector) received() map[string]pmetric.Metric {
	out := map[string]pmetric.Metric{}
	for _, md := range c.Sink.AllMetrics() {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					out[ms.At(k).Name()] = ms.At(k)
				}
			}
		}
	}
	return out
}

type semconvMetric struct {
	unit  string
	typ   pmetric.MetricType
	mono  bool // for sums
	attrs []string
}

// The OpenTelemetry semantic conventions (schema 1.43.0) for Go runtime and
// process metrics, as they must arrive at a collector.
var goSemconv = map[string]semconvMetric{
	"go.memory.used":                     {"By", pmetric.MetricTypeSum, false, []string{"go.memory.type=other", "go.memory.type=stack"}},
	"go.memory.limit":                    {"By", pmetric.MetricTypeSum, false, nil},
	"go.memory.allocated":                {"By", pmetric.MetricTypeSum, true, nil},
	"go.memory.allocations":              {"{allocation}", pmetric.MetricTypeSum, true, nil},
	"go.memory.gc.goal":                  {"By", pmetric.MetricTypeSum, false, nil},
	"go.goroutine.count":                 {"{goroutine}", pmetric.MetricTypeSum, false, nil},
	"go.processor.limit":                 {"{thread}", pmetric.MetricTypeSum, false, nil},
	"go.config.gogc":                     {"%", pmetric.MetricTypeSum, false, nil},
	"go.schedule.duration":               {"s", pmetric.MetricTypeHistogram, false, nil},
	"go.memory.gc.cycles":                {"{gc_cycle}", pmetric.MetricTypeSum, true, nil},
	"go.memory.gc.pause.duration":        {"s", pmetric.MetricTypeHistogram, false, nil},
	"go.cpu.time":                        {"s", pmetric.MetricTypeSum, true, []string{"go.cpu.state=gc", "go.cpu.state=idle", "go.cpu.state=scavenge", "go.cpu.state=user"}},
	"process.cpu.time":                   {"s", pmetric.MetricTypeSum, true, []string{"cpu.mode=system", "cpu.mode=user"}},
	"process.memory.usage":               {"By", pmetric.MetricTypeSum, false, nil},
	"process.memory.virtual":             {"By", pmetric.MetricTypeSum, false, nil},
	"process.thread.count":               {"{thread}", pmetric.MetricTypeSum, false, nil},
	"process.unix.file_descriptor.count": {"{file_descriptor}", pmetric.MetricTypeSum, false, nil},
	"process.uptime":                     {"s", pmetric.MetricTypeGauge, false, nil},
}

func attrsOf(m pmetric.Metric) []string {
	var out []string
	add := func(a pcommon.Map) {
		a.Range(func(k string, v pcommon.Value) bool {
			out = append(out, k+"="+v.AsString())
			return true
		})
	}
	switch m.Type() {
	case pmetric.MetricTypeSum:
		for i := 0; i < m.Sum().DataPoints().Len(); i++ {
			add(m.Sum().DataPoints().At(i).Attributes())
		}
	case pmetric.MetricTypeGauge:
		for i := 0; i < m.Gauge().DataPoints().Len(); i++ {
			add(m.Gauge().DataPoints().At(i).Attributes())
		}
	}
	sort.Strings(out)
	return out
}

func TestCollectorReceivesSemanticConventions(t *testing.T) {
	old := debug.SetMemoryLimit(8 << 30) // go.memory.limit is left out without a limit
	defer debug.SetMemoryLimit(old)
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(strings.ReplaceAll(proto, "/", "-"), func(t *testing.T) {
			col := startCollector(t, "", "")
			ep := "http://" + col.GRPC
			if proto != "grpc" {
				ep = "http://" + col.HTTP
			}
			a := startAgent(t, agent.WithOTLP(proto, ep), agent.WithExportInterval(time.Hour), agent.WithServiceName("otlp-it"))
			if err := a.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := col.received()
			for name, w := range goSemconv {
				m, ok := got[name]
				if !ok {
					t.Errorf("%s not received", name)
					continue
				}
				if m.Unit() != w.unit || m.Type() != w.typ {
					t.Errorf("%s: unit %q type %v, want %q %v", name, m.Unit(), m.Type(), w.unit, w.typ)
				}
				if m.Description() == "" {
					t.Errorf("%s has no description", name)
				}
				if w.typ == pmetric.MetricTypeSum {
					if m.Sum().IsMonotonic() != w.mono || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
						t.Errorf("%s: monotonic %v temporality %v", name, m.Sum().IsMonotonic(), m.Sum().AggregationTemporality())
					}
				}
				if a := attrsOf(m); strings.Join(a, ",") != strings.Join(w.attrs, ",") {
					t.Errorf("%s attributes %v, want %v", name, a, w.attrs)
				}
			}
			h := got["go.schedule.duration"].Histogram().DataPoints().At(0)
			var n uint64
			for i := 0; i < h.BucketCounts().Len(); i++ {
				n += h.BucketCounts().At(i)
			}
			if h.Count() == 0 || n != h.Count() || h.ExplicitBounds().Len() != 16 || !h.HasSum() {
				t.Errorf("go.schedule.duration point: count %d, buckets total %d, %d bounds", h.Count(), n, h.ExplicitBounds().Len())
			}
			// Resource and scope.
			rm := col.Sink.AllMetrics()[0].ResourceMetrics().At(0)
			if v, _ := rm.Resource().Attributes().Get("service.name"); v.AsString() != "otlp-it" {
				t.Errorf("service.name = %q", v.AsString())
			}
			for _, key := range []string{"process.runtime.name", "process.runtime.version", "telemetry.sdk.language"} {
				if _, ok := rm.Resource().Attributes().Get(key); !ok {
					t.Errorf("resource lacks %s", key)
				}
			}
			found := false
			for i := 0; i < rm.ScopeMetrics().Len(); i++ {
				sm := rm.ScopeMetrics().At(i)
				if sm.Scope().Name() == "github.com/perfagent/perfagent/runtime" && sm.SchemaUrl() == "https://opentelemetry.io/schemas/1.43.0" {
					found = true
				}
			}
			if !found {
				t.Error("runtime scope with the semconv schema URL not received")
			}
		})
	}
}

func TestCollectorExponentialAndDelta(t *testing.T) {
	col := startCollector(t, "", "")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
	a := startAgent(t, agent.WithOTLP("grpc", "http://"+col.GRPC), agent.WithExportInterval(time.Hour), agent.WithExponentialHistograms())
	if err := a.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.Sink.Reset()
	_ = make([]byte, 4<<20)
	if err := a.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := col.received()
	h := got["go.schedule.duration"]
	if h.Type() != pmetric.MetricTypeExponentialHistogram {
		t.Fatalf("go.schedule.duration type %v", h.Type())
	}
	if h.ExponentialHistogram().AggregationTemporality() != pmetric.AggregationTemporalityDelta {
		t.Errorf("histogram temporality %v", h.ExponentialHistogram().AggregationTemporality())
	}
	alloc := got["go.memory.allocated"].Sum()
	if alloc.AggregationTemporality() != pmetric.AggregationTemporalityDelta {
		t.Errorf("counter temporality %v", alloc.AggregationTemporality())
	}
	if v := alloc.DataPoints().At(0).IntValue(); v < 4<<20 || v > 1<<30 {
		t.Errorf("delta allocated %d after a 4 MiB allocation", v)
	}
	// Up-down counters stay cumulative under the delta preference.
	if g := got["go.goroutine.count"].Sum(); g.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
		t.Errorf("updown temporality %v", g.AggregationTemporality())
	}
}

// TestCollectorDownAtStartThenUp: Start succeeds against nothing, failures
// are counted, and data flows once the collector appears.
func TestCollectorDownAtStartThenUp(t *testing.T) {
	grpcAddr, httpAddr := freePort(t), freePort(t)
	a := startAgent(t, agent.WithOTLP("grpc", "http://"+grpcAddr), agent.WithExportInterval(time.Hour), agent.WithExportTimeout(3*time.Second))
	if err := a.ForceFlush(context.Background()); err == nil {
		t.Fatal("flush to a missing collector succeeded")
	}
	// The flush may give up (its timeout) while the export is still
	// retrying; the export's failure is recorded when it ends.
	waitFor(t, 30*time.Second, func() bool {
		st := a.Status().Exporters["otlp-grpc"]
		return st.Failures >= 1 && !st.Healthy
	}, "the failed export to be counted")
	col := startCollector(t, grpcAddr, httpAddr)
	deadline := time.Now().Add(60 * time.Second)
	for len(col.received()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no data after the collector came up: %+v", a.Status().Exporters["otlp-grpc"])
		}
		_ = a.ForceFlush(context.Background())
	}
	if st := a.Status().Exporters["otlp-grpc"]; !st.Healthy {
		t.Errorf("exporter not healthy after recovery: %+v", st)
	}
}

// TestCollectorStoppedMidRun: exports fail once the collector stops; the
// agent keeps serving and reports the failure.
func TestCollectorStoppedMidRun(t *testing.T) {
	col := startCollector(t, "", "")
	a := startAgent(t, agent.WithOTLP("http/protobuf", "http://"+col.HTTP), agent.WithExportInterval(time.Hour), agent.WithExportTimeout(3*time.Second))
	if err := a.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.stop()
	if err := a.ForceFlush(context.Background()); err == nil {
		t.Fatal("flush to a stopped collector succeeded")
	}
	st := a.Status().Exporters["otlp-http"]
	if st.Failures != 1 || st.Exports != 2 || st.Healthy {
		t.Errorf("health %+v", st)
	}
	// The host-facing side is unaffected.
	if code := httpGetCode(t, "http://"+a.Addr()+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d", code)
	}
}

// TestShutdownWhileCollectorHangs: a gRPC endpoint that accepts connections
// and never answers must not hold Shutdown past its deadline.
func TestShutdownWhileCollectorHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	a, err := agent.Start(context.Background(), agent.WithHTTPAddr("127.0.0.1:0"), agent.WithLogger(quietLogger()),
		agent.WithOTLP("grpc", "http://"+ln.Addr().String()), agent.WithExportInterval(time.Hour), agent.WithExportTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err == nil || ctx.Err() == nil {
			t.Errorf("Shutdown = %v before its deadline against a hanging collector", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown ignored its deadline")
	}
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
