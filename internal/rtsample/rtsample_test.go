package rtsample

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func readOne(t *testing.T, name string) metrics.Value {
	t.Helper()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value
}

func TestValuesAgreeWithRuntimeMetrics(t *testing.T) {
	r := New(Options{})
	defer r.Close()
	var s Sample
	r.Read(&s)
	// Stable values must match exactly; moving ones must be in a sane range.
	for _, k := range []Key{GOMAXPROCS, GCCycles} {
		got, ok := s.Uint(k)
		if !ok {
			t.Fatalf("%s missing", k.Name())
		}
		if want := readOne(t, k.Name()).Uint64(); got != want {
			t.Errorf("%s = %d, runtime/metrics says %d", k.Name(), got, want)
		}
	}
	if got, _ := s.Uint(GOMAXPROCS); got != uint64(runtime.GOMAXPROCS(0)) {
		t.Errorf("GOMAXPROCS = %d, want %d", got, runtime.GOMAXPROCS(0))
	}
	for _, k := range []Key{MemTotal, HeapGoal, HeapAllocBytes, Goroutines, GoroutinesCreated, Threads} {
		got, ok := s.Uint(k)
		if !ok || got == 0 {
			t.Errorf("%s = %d, %v; want > 0", k.Name(), got, ok)
		}
	}
	before := s
	// Large objects are counted at allocation (small ones when a span is
	// refilled), so 1 MiB must show at once.
	buf := make([]byte, 1<<20)
	runtime.KeepAlive(buf)
	runtime.GC() // the CPU classes are updated by GC cycles
	r.Read(&s)
	a0, _ := before.Uint(HeapAllocBytes)
	a1, _ := s.Uint(HeapAllocBytes)
	if a1 < a0+1<<20 {
		t.Errorf("allocated bytes grew %d after allocating 1 MiB", a1-a0)
	}
	if c0, _ := before.Uint(GCCycles); c0 >= func() uint64 { c, _ := s.Uint(GCCycles); return c }() {
		t.Error("GC cycles did not advance after runtime.GC")
	}
	if s.SchedLatency.Total() == 0 && len(s.SchedLatency.Counts) == 0 {
		t.Error("no scheduler latency histogram")
	}
	if len(s.SchedLatency.Buckets) != len(s.SchedLatency.Counts)+1 {
		t.Errorf("histogram has %d buckets for %d counts", len(s.SchedLatency.Buckets), len(s.SchedLatency.Counts))
	}
	if u, _ := s.Float(CPUTotal); u <= 0 {
		t.Errorf("cpu total %v", u)
	}
}

func TestSentinelsAreAbsent(t *testing.T) {
	r := New(Options{})
	var s Sample

	old := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(old)
	r.Read(&s)
	if s.Has(MemLimit) {
		t.Error("memory limit present without a limit")
	}
	debug.SetMemoryLimit(1 << 30)
	r.Read(&s)
	if v, ok := s.Uint(MemLimit); !ok || v != 1<<30 {
		t.Errorf("memory limit = %d, %v; want 1 GiB", v, ok)
	}

	oldGC := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(oldGC)
	r.Read(&s)
	if s.Has(GOGC) {
		t.Error("GOGC present with GOGC=off")
	}
	debug.SetGCPercent(0)
	r.Read(&s)
	if v, ok := s.Uint(GOGC); !ok || v != 0 {
		t.Errorf("GOGC = %d, %v; want 0 present", v, ok)
	}
	debug.SetGCPercent(150)
	r.Read(&s)
	if v, _ := s.Uint(GOGC); v != 150 {
		t.Errorf("GOGC = %d, want 150", v)
	}
}

func TestReadDoesNotAllocate(t *testing.T) {
	r := New(Options{Process: true})
	defer r.Close()
	var s Sample
	r.Read(&s)
	if n := testing.AllocsPerRun(100, func() { r.Read(&s) }); n != 0 {
		t.Errorf("Read allocates %v times per call", n)
	}
}

func TestProcess(t *testing.T) {
	// Burn a little CPU: the kernel accounts it in 10ms ticks.
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	r := New(Options{Process: true})
	defer r.Close()
	var s Sample
	r.Read(&s)
	p := s.Process
	if !p.OK || p.CPUUser+p.CPUSystem <= 0 {
		t.Fatalf("process CPU not read: %+v", p)
	}
	if runtime.GOOS != "linux" {
		t.Skip("RSS, threads and FDs are read on Linux only")
	}
	if p.RSS < 1<<20 || p.Virtual < p.RSS || p.Threads < 1 || p.FDs < 3 || p.Start.IsZero() {
		t.Fatalf("implausible process values: %+v", p)
	}
	var files []*os.File
	for i := 0; i < 20; i++ {
		f, err := os.Open(filepath.Join("testdata", "..", "doc.go"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	r.Read(&s)
	for _, f := range files {
		f.Close()
	}
	if got := s.Process.FDs - p.FDs; got != 20 {
		t.Errorf("opening 20 files moved the FD count by %d", got)
	}
}

func TestFDCountFallbackIsBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	p := newProcReader(4)
	defer p.close()
	var fallback Process
	p.read(&fallback)
	// countFDs uses the kernel's count when it has one; exercise the walk.
	n, truncated := p.walkFDs()
	if !truncated || n != 4 {
		t.Errorf("walk with MaxFDs=4 gave %d, truncated=%v", n, truncated)
	}
	p2 := newProcReader(1 << 20)
	defer p2.close()
	n2, truncated2 := p2.walkFDs()
	var direct Process
	p2.read(&direct)
	if truncated2 || n2 < 3 || (direct.FDs >= 0 && abs(direct.FDs-n2) > 1) {
		t.Errorf("walk counted %d (truncated %v), kernel says %d", n2, truncated2, direct.FDs)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestStatParsingSurvivesOddNames(t *testing.T) {
	line := []byte("123 (a b) c) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24")
	f := statFields(line)
	if got := string(field(f, 3)); got != "R" {
		t.Errorf("field 3 = %q", got)
	}
	if got := parseUint(field(f, 24)); got != 21 {
		t.Errorf("field 24 = %d", got)
	}
	if field(statFields([]byte("no paren")), 3) != nil {
		t.Error("malformed stat parsed")
	}
}

func BenchmarkRead(b *testing.B) {
	r := New(Options{Process: true})
	defer r.Close()
	var s Sample
	r.Read(&s)
	b.ReportAllocs()
	for b.Loop() {
		r.Read(&s)
	}
}

func BenchmarkReadRuntimeOnly(b *testing.B) {
	r := New(Options{})
	var s Sample
	r.Read(&s)
	b.ReportAllocs()
	for b.Loop() {
		r.Read(&s)
	}
}
