package monitor

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
)

// BenchmarkRecord is the per-reading cost of the monitor itself: deriving
// the interval series (CPU, GC, scheduler-lag p99 from 16 histogram
// buckets), statistics, the bounded history with its halvings, and the
// thresholds. It should not allocate.
func BenchmarkRecord(b *testing.B) {
	o, _ := Options{MaxSamples: 1024, Thresholds: []Threshold{{Series: RSS, Max: 1 << 40}, {Series: Goroutines, Max: 1e6}}}.withDefaults()
	rc := newRecorder(Target{}, t0, &o)
	bounds := []float64{1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 1, math.Inf(1)}
	var r Reading
	r.Sched.Bounds = bounds
	r.Sched.Counts = make([]float64, len(bounds))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Time = t0.Add(time.Duration(i) * time.Second)
		r.Gauges.Set(RSS, float64(20<<20+i%1000))
		r.Gauges.Set(Goroutines, 17)
		r.CPUSeconds, r.HasCPU = float64(i)*0.01, true
		r.GCCycles, r.HasGC = float64(i/10), true
		for j := range r.Sched.Counts {
			r.Sched.Counts[j] = float64(i * (j + 1))
		}
		r.Sched.Counts[len(bounds)-1] = r.Sched.Counts[len(bounds)-2]
		rc.record(&r)
	}
}

// BenchmarkParseExposition is the cost of one scrape's parsing and series
// extraction on a real agent exposition (expfmt's text parser dominates).
func BenchmarkParseExposition(b *testing.B) {
	data, err := os.ReadFile("testdata/agent-metrics.txt") // curl http://127.0.0.1:8080/metrics of `perfagent demo`
	if err != nil {
		b.Fatal(err)
	}
	text := string(data)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		fams, err := decodeFamilies(strings.NewReader(text), expfmt.FmtText)
		if err != nil {
			b.Fatal(err)
		}
		var r Reading
		fillReading(fams, &r)
	}
}
