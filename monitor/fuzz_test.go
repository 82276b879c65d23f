package monitor

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
)

// exposition seeds: the agent's OpenTelemetry names and client_golang's.
const (
	seedOTel = `# TYPE process_cpu_time_seconds_total counter
process_cpu_time_seconds_total{cpu_mode="system"} 0.02
process_cpu_time_seconds_total{cpu_mode="user"} 0.01
# TYPE process_memory_usage_bytes gauge
process_memory_usage_bytes 1.9750912e+07
# TYPE go_goroutine_count gauge
go_goroutine_count 17
# TYPE perfagent_go_memory_heap_live_bytes gauge
perfagent_go_memory_heap_live_bytes 0
# TYPE go_schedule_duration_seconds histogram
go_schedule_duration_seconds_bucket{le="1e-06"} 60
go_schedule_duration_seconds_bucket{le="0.001"} 69
go_schedule_duration_seconds_bucket{le="+Inf"} 70
go_schedule_duration_seconds_sum 0.005
go_schedule_duration_seconds_count 70
# TYPE target_info gauge
target_info{service_name="checkout",process_pid="4242"} 1
`
	seedClientGolang = `# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 2.5e+07
# TYPE go_goroutines gauge
go_goroutines 8
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 1e-05
go_gc_duration_seconds_sum 0.001
go_gc_duration_seconds_count 12
# TYPE go_sched_latencies_seconds histogram
go_sched_latencies_seconds_bucket{le="6.4e-08"} 5
go_sched_latencies_seconds_bucket{le="+Inf"} 9
go_sched_latencies_seconds_sum NaN
go_sched_latencies_seconds_count 9
# TYPE process_open_fds gauge
process_open_fds NaN
`
)

func TestExpositionSeeds(t *testing.T) {
	for _, tc := range []struct {
		text string
		want map[Series]float64
		cpu  float64
		x    exposition
	}{
		{seedOTel, map[Series]float64{RSS: 1.9750912e+07, Goroutines: 17}, 0.03, exposition{service: "checkout", pid: 4242}},
		{seedClientGolang, map[Series]float64{RSS: 2.5e7, Goroutines: 8}, 1.5, exposition{}},
	} {
		fams, err := decodeFamilies(strings.NewReader(tc.text), expfmt.FmtText)
		if err != nil {
			t.Fatal(err)
		}
		var r Reading
		x := fillReading(fams, &r)
		for s, w := range tc.want {
			if v, ok := r.Gauges.Get(s); !ok || v != w {
				t.Errorf("%s = %v, %v; want %v", s.Key(), v, ok, w)
			}
		}
		if !r.HasCPU || math.Abs(r.CPUSeconds-tc.cpu) > 1e-12 || x != tc.x {
			t.Errorf("cpu %v %v, target %+v", r.CPUSeconds, r.HasCPU, x)
		}
		// A live heap of 0 (no GC yet) and a NaN gauge are left out.
		if r.Gauges.Has(Heap) || r.Gauges.Has(FDs) {
			t.Errorf("heap %v fds %v should be absent", r.Gauges.Has(Heap), r.Gauges.Has(FDs))
		}
		if r.Sched.Empty() || !r.Sched.valid() {
			t.Errorf("histogram %+v", r.Sched)
		}
	}
}

// FuzzExposition feeds arbitrary text through the exposition parser and the
// series extraction: no panic, and a reading holds only finite,
// non-negative values and a well-formed histogram.
func FuzzExposition(f *testing.F) {
	f.Add(seedOTel)
	f.Add(seedClientGolang)
	f.Add("go_goroutines -1\nprocess_open_fds +Inf\n")
	f.Add("# TYPE go_sched_latencies_seconds histogram\ngo_sched_latencies_seconds_bucket{le=\"2\"} 5\ngo_sched_latencies_seconds_bucket{le=\"1\"} 9\ngo_sched_latencies_seconds_count 3\n")
	f.Fuzz(func(t *testing.T, text string) {
		fams, err := decodeFamilies(strings.NewReader(text), expfmt.FmtText)
		if err != nil {
			return
		}
		var r Reading
		fillReading(fams, &r)
		for s := Series(0); s < NumSeries; s++ {
			if v, ok := r.Gauges.Get(s); ok && (math.IsNaN(v) || math.IsInf(v, 0) || v < 0) {
				t.Fatalf("%s = %v", s.Key(), v)
			}
		}
		if r.HasCPU && (math.IsNaN(r.CPUSeconds) || math.IsInf(r.CPUSeconds, 0) || r.CPUSeconds < 0) {
			t.Fatalf("cpu %v", r.CPUSeconds)
		}
		if !r.Sched.Empty() && !r.Sched.valid() {
			t.Fatalf("malformed histogram kept: %+v", r.Sched)
		}
		if v, ok := histogramQuantile(r.Sched.Bounds, r.Sched.Counts, 0.99); ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Fatalf("p99 %v", v)
		}
	})
}

// FuzzReadHistory checks that any input either fails to load or survives a
// write/read round trip unchanged.
func FuzzReadHistory(f *testing.F) {
	var buf bytes.Buffer
	h := &History{Schema: Schema, StartedAt: t0, Summary: map[string]Summary{}}
	var s Sample
	s.Time = t0.Add(time.Second)
	s.Set(RSS, 1<<20)
	h.Samples = []Sample{s}
	h.Thresholds = []Threshold{{Series: RSS, Max: 1e6}}
	_ = h.WriteJSON(&buf)
	f.Add(buf.String())
	f.Add(`{"schema":"perfagent.monitor/v1","samples":[{"time":"2026-11-25T19:00:00Z","cpu_cores":1e400}]}`)
	f.Add(`{"schema":"perfagent.monitor/v1","breaches":[{"series":"goroutines","start":"2026-11-25T19:00:00Z"}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		h, err := ReadHistory(strings.NewReader(in), "fuzz.json")
		if err != nil {
			return
		}
		var a, b bytes.Buffer
		if err := h.WriteJSON(&a); err != nil {
			t.Fatalf("a history that loaded does not write: %v", err)
		}
		h2, err := ReadHistory(bytes.NewReader(a.Bytes()), "again.json")
		if err != nil {
			t.Fatalf("a written history does not load: %v\n%s", err, a.String())
		}
		if err := h2.WriteJSON(&b); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("round trip changed the history:\n%s\n%s", a.String(), b.String())
		}
	})
}

func FuzzParseHWM(f *testing.F) {
	f.Add([]byte("Name:\tx\nVmHWM:\t    2048 kB\n"))
	f.Add([]byte("VmHWM: x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v := parseHWM(b); v < 0 || math.IsNaN(v) {
			t.Fatalf("%v from %q", v, b)
		}
	})
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"512MiB", "1.5GB", "50ms", "25%", "0.8", "1e308KiB", "-0", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for s := Series(0); s < NumSeries; s++ {
			v, err := s.ParseLimit(in)
			if err == nil && (!(v > 0) || math.IsInf(v, 0)) {
				t.Fatalf("%s %q → %v", s.Key(), in, v)
			}
		}
	})
}
