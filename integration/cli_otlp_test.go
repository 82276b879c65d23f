package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// buildPerfagent builds the perfagent command once per test binary.
func buildPerfagent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "perfagent")
	// Built in the main module, with its go.mod, as users get it.
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/perfagent")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// benchPoints returns the perfagent.bench.value points by benchmark and
// statistic.
func benchPoints(col *collector) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	m, ok := col.received()["perfagent.bench.value"]
	if !ok || m.Type() != pmetric.MetricTypeGauge {
		return out
	}
	pts := m.Gauge().DataPoints()
	for i := 0; i < pts.Len(); i++ {
		p := pts.At(i)
		name, _ := p.Attributes().Get("benchmark")
		stat, _ := p.Attributes().Get("statistic")
		if out[name.AsString()] == nil {
			out[name.AsString()] = map[string]float64{}
		}
		out[name.AsString()][stat.AsString()] = p.DoubleValue()
	}
	return out
}

// TestResultsPushedToCollector runs `perfagent bench --otlp` and
// `perfagent monitor --otlp` and checks the results arrive at a real
// collector receiver.
func TestResultsPushedToCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the perfagent command")
	}
	bin := buildPerfagent(t)
	col := startCollector(t, "", "")
	out := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PERFAGENT_OUTPUT_DIR="+out, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("perfagent %v: %v\n%s", args, err, b)
		}
	}
	run("bench", "system", "--quick", "--run", "json/encode", "--no-baseline", "--otlp", "http://"+col.HTTP)
	pts := benchPoints(col)
	if v := pts["json/encode"]["median"]; v <= 0 {
		t.Fatalf("json/encode median not received: %v", pts)
	}

	a := startAgent(t)
	col.Sink.Reset()
	run("monitor", "--url", "http://"+a.Addr(), "--duration", "1s", "--interval", "200ms", "--otlp", "http://"+col.HTTP)
	if len(col.received()["perfagent.bench.metric"].Name()) == 0 {
		t.Fatalf("monitor figures not received: %v", col.received())
	}
}
