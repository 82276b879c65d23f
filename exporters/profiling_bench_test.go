package exporters

import (
	"bytes"
	"io"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/grafana/pyroscope-go/godeltaprof"
)

// BenchmarkCollect measures one collection of each profile kind, the work
// the profiler does per period besides CPU sampling (the heap after a GC,
// as the profiler takes it).
//
//	go test -run '^$' -bench Collect -count 10 ./exporters
func BenchmarkCollect(b *testing.B) {
	runtime.SetMutexProfileFraction(DefaultMutexProfileFraction)
	runtime.SetBlockProfileRate(DefaultBlockProfileRate)
	defer runtime.SetMutexProfileFraction(0)
	defer runtime.SetBlockProfileRate(0)
	burnHot(50 * time.Millisecond) // some allocation sites
	runtime.GC()
	for _, bc := range []struct {
		kind  string
		write func(io.Writer) error
	}{
		{KindHeap, godeltaprof.NewHeapProfiler().Profile},
		{KindMutex, godeltaprof.NewMutexProfiler().Profile},
		{KindBlock, godeltaprof.NewBlockProfiler().Profile},
		{KindGoroutine, func(w io.Writer) error { return pprof.Lookup("goroutine").WriteTo(w, 0) }},
	} {
		b.Run("kind="+bc.kind, func(b *testing.B) {
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := bc.write(&buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "gz-bytes")
		})
	}
}

// BenchmarkCPURotation measures stopping and restarting the CPU profiler,
// what each period costs a continuous CPU profile (the runtime builds and
// symbolises the profile at stop).
func BenchmarkCPURotation(b *testing.B) {
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := pprof.StartCPUProfile(&buf); err != nil {
			b.Fatal(err)
		}
		burnHot(2 * time.Millisecond)
		pprof.StopCPUProfile()
	}
}

// BenchmarkSanitizeProfileStrings measures the check every CPU profile gets
// before upload (a clean profile: decompress and scan, no rewrite).
func BenchmarkSanitizeProfileStrings(b *testing.B) {
	var buf bytes.Buffer
	_ = pprof.StartCPUProfile(&buf)
	burnHot(200 * time.Millisecond)
	pprof.StopCPUProfile()
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var s sanitizer
	for b.Loop() {
		if _, changed, err := s.sanitize(data); err != nil || changed {
			b.Fatal(changed, err)
		}
	}
}
