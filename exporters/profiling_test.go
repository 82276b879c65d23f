package exporters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/internal/cpuprof"
)

// recorder is a ProfileSink keeping everything it is sent.
type recorder struct {
	mu     sync.Mutex
	got    []Profile
	closed int
}

func (r *recorder) Send(p Profile) {
	r.mu.Lock()
	r.got = append(r.got, p)
	r.mu.Unlock()
}

func (r *recorder) Close(context.Context) error {
	r.mu.Lock()
	r.closed++
	r.mu.Unlock()
	return nil
}

func (r *recorder) kind(k string) []Profile {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Profile
	for _, p := range r.got {
		if p.Kind == k {
			out = append(out, p)
		}
	}
	return out
}

// gcCycles reads the completed GC cycles without stopping the world.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// burnHot is the workload's hot function: hashing, which profiles show by
// name.
//
// burnHot burns d of this thread's CPU time (not wall time: on a loaded
// machine a wall-clock loop may get too little CPU for the 100 Hz profiler
// to sample it).
//
//go:noinline
func burnHot(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	var sum [32]byte
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(time.Minute); threadCPU()-start < d && time.Now().Before(deadline); {
		for range 50 {
			sum = sha256.Sum256(append(buf[:0:0], buf...)) // allocates too
			buf[0] = sum[0]
		}
	}
}

func parse(t *testing.T, p Profile) *profile.Profile {
	t.Helper()
	pp, err := profile.ParseData(p.Data)
	if err != nil {
		t.Fatalf("%s profile does not parse: %v", p.Kind, err)
	}
	return pp
}

func hasFunction(pp *profile.Profile, name string) bool {
	for _, s := range pp.Sample {
		for _, l := range s.Location {
			for _, ln := range l.Line {
				if ln.Function != nil && strings.Contains(ln.Function.Name, name) {
					return true
				}
			}
		}
	}
	return false
}

func sampleTypes(pp *profile.Profile) []string {
	var out []string
	for _, st := range pp.SampleType {
		out = append(out, st.Type)
	}
	return out
}

func TestProfilerContinuousAllKinds(t *testing.T) {
	prevMutex := runtime.SetMutexProfileFraction(-1)
	rec := &recorder{}
	p, err := StartProfiler(ProfilerConfig{
		Types:    []ProfileType{ProfileCPU, ProfileInuseSpace, ProfileGoroutines, ProfileMutexCount, ProfileBlockDuration},
		Interval: 100 * time.Millisecond, GCCycles: gcCycles, Logger: quietLog(),
	}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != DefaultMutexProfileFraction {
		t.Errorf("mutex fraction while profiling = %d", got)
	}
	burnHot(400 * time.Millisecond)
	runtime.GC()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(context.Background()); !errors.Is(err, ErrProfilerStopped) {
		t.Errorf("second Stop = %v", err)
	}
	if rec.closed != 1 {
		t.Errorf("sink closed %d times", rec.closed)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != prevMutex {
		t.Errorf("mutex fraction after Stop = %d, want %d", got, prevMutex)
	}

	cpu := rec.kind(KindCPU)
	if len(cpu) < 2 {
		t.Fatalf("%d CPU profiles", len(cpu))
	}
	hot := false
	for i, c := range cpu {
		hot = hot || hasFunction(parse(t, c), "burnHot")
		if i > 0 && c.Start.Before(cpu[i-1].End) {
			t.Errorf("CPU profiles overlap: %v < %v", c.Start, cpu[i-1].End)
		}
	}
	if !hot {
		t.Error("no CPU profile shows burnHot")
	}
	heap := rec.kind(KindHeap)
	if len(heap) == 0 {
		t.Fatal("no heap profile")
	}
	last := parse(t, heap[len(heap)-1])
	if got := sampleTypes(last); !slices.Equal(got, []string{"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"}) {
		t.Errorf("heap sample types %v", got)
	}
	for _, k := range []string{KindGoroutine, KindMutex, KindBlock} {
		ps := rec.kind(k)
		if len(ps) == 0 {
			t.Errorf("no %s profile", k)
			continue
		}
		parse(t, ps[0])
	}
	st := p.Stats()
	if st.Collected[KindCPU] != int64(len(cpu)) || st.CollectSeconds <= 0 {
		t.Errorf("stats %+v", st)
	}
}

// The tail is never lost: with an hour-long period, everything arrives at
// Stop.
func TestProfilerStopHandsOverTail(t *testing.T) {
	rec := &recorder{}
	p, err := StartProfiler(ProfilerConfig{Interval: time.Hour, GCCycles: gcCycles, Logger: quietLog()}, rec)
	if err != nil {
		t.Fatal(err)
	}
	burnHot(200 * time.Millisecond)
	runtime.GC()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	cpu := rec.kind(KindCPU)
	if len(cpu) != 1 || !hasFunction(parse(t, cpu[0]), "burnHot") {
		t.Fatalf("%d CPU profiles, or the final one lacks the workload", len(cpu))
	}
	if len(rec.kind(KindHeap)) != 1 {
		t.Errorf("%d heap profiles at Stop", len(rec.kind(KindHeap)))
	}
}

func TestProfilerSkipsHeapWithoutGC(t *testing.T) {
	rec := &recorder{}
	p, err := StartProfiler(ProfilerConfig{Types: []ProfileType{ProfileInuseSpace}, Interval: time.Hour,
		GCCycles: func() uint64 { return 7 }, Logger: quietLog()}, rec)
	if err != nil {
		t.Fatal(err)
	}
	p.Stop(context.Background())
	if n := len(rec.kind(KindHeap)); n != 0 || p.Stats().Skipped[KindHeap] != 1 {
		t.Errorf("%d heap profiles, stats %+v", n, p.Stats())
	}
}

// One-off CPU profiles through the arbiter pause the profiler and resume
// it; without the arbiter they would fail with "cpu profiling already in
// use".
func TestProfilerYieldsCPUToOneOffProfiles(t *testing.T) {
	rec := &recorder{}
	p, err := StartProfiler(ProfilerConfig{Types: []ProfileType{ProfileCPU}, Interval: time.Hour, Logger: quietLog()}, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	if err := pprof.StartCPUProfile(&bytes.Buffer{}); err == nil {
		pprof.StopCPUProfile()
		t.Fatal("the profiler does not hold the CPU profiler")
	}
	var arbiter cpuprof.Profiler
	arbiter.SetOwner(p)
	var out bytes.Buffer
	done := make(chan error)
	// The one-off profile lasts until the burn is done, however long the
	// loaded machine takes to give it 150ms of CPU.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- arbiter.Profile(ctx, time.Minute, &out) }()
	for p.Stats().CPUPauses == 0 { // the one-off profile has taken over
		time.Sleep(time.Millisecond)
	}
	burnHot(150 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pp, err := profile.Parse(&out)
	if err != nil || !hasFunction(pp, "burnHot") {
		t.Fatalf("one-off profile: %v", err)
	}
	if len(rec.kind(KindCPU)) != 1 || p.Stats().CPUPauses != 1 {
		t.Errorf("the pause did not hand over the partial profile: %d, %+v", len(rec.kind(KindCPU)), p.Stats())
	}
	// Resumed: the CPU profiler is held again.
	if err := pprof.StartCPUProfile(&bytes.Buffer{}); err == nil {
		pprof.StopCPUProfile()
		t.Error("continuous profiling did not resume")
	}
	arbiter.SetOwner(nil)
	p.Stop(context.Background())
	if n := len(rec.kind(KindCPU)); n != 2 {
		t.Errorf("%d CPU profiles, want the partial one and the final one", n)
	}
	// After Stop the CPU profiler is free, and ResumeCPU does nothing.
	p.ResumeCPU()
	if err := pprof.StartCPUProfile(&bytes.Buffer{}); err != nil {
		t.Errorf("CPU profiler still held after Stop: %v", err)
	} else {
		pprof.StopCPUProfile()
	}
}

// With a CPU slice, the CPU profiler is held only for the slice: it is
// free again long before the period ends, and the slice is handed over.
func TestProfilerCPUSlice(t *testing.T) {
	rec := &recorder{}
	p, err := StartProfiler(ProfilerConfig{Types: []ProfileType{ProfileCPU}, Interval: time.Hour,
		CPUSlice: 20 * time.Millisecond, Logger: quietLog()}, rec)
	if err != nil {
		t.Fatal(err)
	}
	free := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if err := pprof.StartCPUProfile(&bytes.Buffer{}); err == nil {
			pprof.StopCPUProfile()
			free = true
			break
		}
	}
	p.Stop(context.Background())
	if !free {
		t.Fatal("the CPU profiler was not released after the slice")
	}
	if n := len(rec.kind(KindCPU)); n != 1 {
		t.Errorf("%d CPU profiles, want the one slice", n)
	}
}

func TestProfilerBusyCPU(t *testing.T) {
	var held bytes.Buffer
	if err := pprof.StartCPUProfile(&held); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	p, err := StartProfiler(ProfilerConfig{Types: []ProfileType{ProfileCPU}, Interval: time.Hour, Logger: quietLog()}, rec)
	pprof.StopCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	p.Stop(context.Background())
	if p.Stats().Errors["cpu_busy"] != 1 || len(rec.kind(KindCPU)) != 0 {
		t.Errorf("stats %+v", p.Stats())
	}
}

func TestProfilerConfigErrors(t *testing.T) {
	for _, cfg := range []ProfilerConfig{
		{Interval: -1}, {CPUSlice: -1}, {MutexProfileFraction: -1}, {Types: []ProfileType{"wall"}},
	} {
		if p, err := StartProfiler(cfg, &recorder{}); err == nil {
			p.Stop(context.Background())
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := StartProfiler(ProfilerConfig{}, nil); err == nil {
		t.Error("nil sink accepted")
	}
}

func TestParseProfileTypes(t *testing.T) {
	got, err := ParseProfileTypes(" cpu, heap ,goroutine,cpu,mutex_count")
	want := []ProfileType{ProfileCPU, ProfileAllocObjects, ProfileAllocSpace, ProfileInuseObjects, ProfileInuseSpace, ProfileGoroutines, ProfileMutexCount}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v %v", got, err)
	}
	if got, _ := ParseProfileTypes("default"); !slices.Equal(got, DefaultProfileTypes()) {
		t.Errorf("default = %v", got)
	}
	for _, bad := range []string{"", " , ", "wall", "cpu,heap,threads"} {
		if _, err := ParseProfileTypes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// dirWriter is the test's stand-in for snapshot.Store: one file per
// profile in a temporary directory.
type dirWriter struct {
	dir  string
	fail bool
	n    int
}

func (w *dirWriter) Write(kind string, at time.Time, data []byte) (string, error) {
	if w.fail {
		return "", errors.New("disk full")
	}
	w.n++
	p := filepath.Join(w.dir, fmt.Sprintf("%s-%s-%03d.pb.gz", kind, at.UTC().Format("20060102T150405.000000000"), w.n))
	return p, os.WriteFile(p, data, 0o644)
}

// Local rolling profiles: CPU slices, heap and goroutine profiles written as
// files that parse as pprof.
func TestLocalRollingProfiles(t *testing.T) {
	w := &dirWriter{dir: t.TempDir()}
	sink, err := NewFileSink(w, SinkOptions{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartProfiler(ProfilerConfig{Types: []ProfileType{ProfileCPU, ProfileInuseSpace, ProfileGoroutines},
		Interval: 200 * time.Millisecond, CPUSlice: 50 * time.Millisecond, GCCycles: gcCycles, Logger: quietLog()}, sink)
	if err != nil {
		t.Fatal(err)
	}
	burnHot(600 * time.Millisecond)
	runtime.GC()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(w.dir, "*.pb.gz"))
	kinds := map[string]int{}
	for _, f := range files {
		kinds[strings.SplitN(filepath.Base(f), "-", 2)[0]]++
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = profile.Parse(fh)
		fh.Close()
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if kinds["cpu"] < 2 || kinds["heap"] < 1 || kinds["goroutine"] < 2 {
		t.Errorf("files by kind %v", kinds)
	}
	st := sink.Stats()
	if st.Delivered["cpu"] != int64(kinds["cpu"]) || !strings.HasPrefix(st.LastPath, w.dir) {
		t.Errorf("sink stats %+v", st)
	}
}

func TestFileSinkWriteFailure(t *testing.T) {
	sink, _ := NewFileSink(&dirWriter{fail: true}, SinkOptions{Logger: quietLog()})
	sink.Send(Profile{Kind: KindHeap, Data: []byte("x")})
	if err := sink.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := sink.Stats(); st.Failed["write"] != 1 || !strings.Contains(st.LastError, "disk full") {
		t.Errorf("stats %+v", st)
	}
	if _, err := NewFileSink(nil, SinkOptions{}); err == nil {
		t.Error("nil writer accepted")
	}
}

// blockingWriter holds every write until released.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
}

func (w *blockingWriter) Write(string, time.Time, []byte) (string, error) {
	w.started <- struct{}{}
	<-w.release
	return "", nil
}

func TestSinkBoundsAndClose(t *testing.T) {
	w := &blockingWriter{started: make(chan struct{}, 10), release: make(chan struct{})}
	var drops int64
	sink, _ := NewFileSink(w, SinkOptions{MaxQueue: 2, MaxQueueBytes: 10, Workers: 1, Logger: quietLog(),
		OnDrop: func(n int64) { drops += n }})
	sink.Send(Profile{Kind: "a", Data: []byte("1")})
	<-w.started // the worker holds "a"
	sink.Send(Profile{Kind: "b", Data: []byte("1")})
	sink.Send(Profile{Kind: "c", Data: []byte("1")})
	sink.Send(Profile{Kind: "d", Data: []byte("1")}) // drops b
	sink.Send(Profile{Kind: "e", Data: []byte("123456789")})
	st := sink.Stats()
	if st.Dropped["queue_full"] != 2 || st.Queued != 2 || st.QueuedBytes != 10 {
		t.Errorf("stats %+v", st)
	}
	close(w.release)
	if err := sink.Close(context.Background()); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := sink.Close(context.Background()); !errors.Is(err, ErrSinkClosed) {
		t.Errorf("second Close = %v", err)
	}
	sink.Send(Profile{Kind: "f"})
	st = sink.Stats()
	if st.Dropped["closed"] != 1 || len(st.Delivered) != 3 || st.Delivered["b"]+st.Delivered["c"] != 0 || drops != 3 {
		t.Errorf("stats %+v, OnDrop total %d", st, drops)
	}
}
