package leak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/snapshot"
)

const dump = `goroutine 1 [running]:
main.main()
	/src/main.go:10 +0x1d

goroutine 18 [chan receive, 3 minutes]:
main.worker(0xc000010000)
	/src/main.go:20 +0x2b
created by main.start in goroutine 1
	/src/main.go:15 +0x45

goroutine 19 [chan receive]:
main.worker(0xc000010001)
	/src/main.go:20 +0x2b
created by main.start in goroutine 1
	/src/main.go:15 +0x45

goroutine 20 gp=0xc000007a40 m=nil [select, locked to thread]:
runtime.gopark(0x0?)
	/go/src/runtime/proc.go:435 +0xce
main.(*Server).loop(...)
	/src/server.go:7
...additional frames elided...
created by main.(*Server).Start in goroutine 1
	/src/server.go:3 +0x66
`

func TestParseGoroutineDump(t *testing.T) {
	d, err := ParseGoroutineDump(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	if d.Total != 4 || len(d.Groups) != 3 {
		t.Fatalf("total %d, groups %+v", d.Total, d.Groups)
	}
	g := d.Groups[0]
	if g.Count != 2 || g.State != "chan receive" || g.WaitingIn != "main.worker /src/main.go:20" || g.CreatedBy != "main.start /src/main.go:15" {
		t.Errorf("largest group %+v", g)
	}
	var srv GoroutineGroup
	for _, x := range d.Groups {
		if strings.Contains(x.CreatedBy, "Server") {
			srv = x
		}
	}
	if srv.State != "select" || srv.WaitingIn != "main.(*Server).loop /src/server.go:7" || srv.CreatedBy != "main.(*Server).Start /src/server.go:3" {
		t.Errorf("method group %+v", srv)
	}
	// Only goroutines not seen before: the IDs of a first dump are skipped
	// in a second one, whatever their order.
	ids := map[int64]bool{}
	_, err = parseDump(strings.NewReader(dump), nil, ids)
	if err != nil || len(ids) != d.Total {
		t.Fatalf("ids %v for %d goroutines, %v", ids, d.Total, err)
	}
	more := dump + "\ngoroutine 3 [chan receive]:\nmain.late()\n\t/src/main.go:30 +0x2b\ncreated by main.start in goroutine 1\n\t/src/main.go:15 +0x45\n"
	d2, err := parseDump(strings.NewReader(more), ids, nil)
	if err != nil || d2.Total != 1 || d2.Groups[0].WaitingIn != "main.late /src/main.go:30" {
		t.Errorf("new goroutines only: %+v, %v", d2, err)
	}
	for _, bad := range []string{"hello\n", "goroutine x [running]:\n", "goroutine 1 running:\n"} {
		if _, err := ParseGoroutineDump(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestDiffGoroutines(t *testing.T) {
	base, _ := ParseGoroutineDump(strings.NewReader(dump))
	more := dump + "\ngoroutine 30 [chan receive]:\nmain.worker(0x1)\n\t/src/main.go:20 +0x2b\ncreated by main.start in goroutine 1\n\t/src/main.go:15 +0x45\n"
	cur, _ := ParseGoroutineDump(strings.NewReader(more))
	diff := DiffGoroutines(base, cur, 10)
	if len(diff) != 1 || diff[0].Gained != 1 || diff[0].Count != 3 {
		t.Errorf("diff %+v", diff)
	}
	if all := DiffGoroutines(nil, cur, 1); len(all) != 1 || all[0].Gained != 3 {
		t.Errorf("against nothing: %+v", all)
	}
}

func TestTakeGoroutineDumpNamesCreator(t *testing.T) {
	stop := make(chan struct{})
	for i := 0; i < 3; i++ {
		go func() { <-stop }()
	}
	defer close(stop)
	// The goroutines may not have parked yet: retry for a while.
	var d *GoroutineDump
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var err error
		if d, err = TakeGoroutineDump(); err != nil {
			t.Fatal(err)
		}
		for _, g := range d.Groups {
			if strings.Contains(g.CreatedBy, "TestTakeGoroutineDumpNamesCreator") && g.Count == 3 && g.State == "chan receive" {
				return
			}
		}
	}
	t.Errorf("group of 3 waiting goroutines not found: %+v", d.Groups)
}

// heapProfile builds an in-use heap profile with the given sites.
func heapProfile(sites map[string][2]int64) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"}},
	}
	rt := &profile.Function{ID: 1, Name: "runtime.mapassign_faststr", Filename: "/go/src/runtime/map.go"}
	p.Function = append(p.Function, rt)
	id := uint64(2)
	for name, v := range sites {
		fn := &profile.Function{ID: id, Name: name, Filename: "/src/" + name + ".go"}
		std := &profile.Function{ID: id + 1, Name: "encoding/json.Unmarshal", Filename: "/go/src/encoding/json/decode.go"}
		p.Function = append(p.Function, fn, std)
		locs := []*profile.Location{
			{ID: id, Line: []profile.Line{{Function: rt, Line: 10}}},
			{ID: id + 1, Line: []profile.Line{{Function: std, Line: 20}}},
			{ID: id + 2, Line: []profile.Line{{Function: fn, Line: 30}}},
		}
		p.Location = append(p.Location, locs...)
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{0, 0, v[1], v[0]}})
		id += 3
	}
	return p
}

func TestDiffHeap(t *testing.T) {
	base := heapProfile(map[string][2]int64{"main.cache": {1000, 10}, "main.steady": {5000, 50}})
	cur := heapProfile(map[string][2]int64{"main.cache": {9000, 90}, "main.steady": {5000, 50}, "main.fresh": {3000, 3}})
	sites, total, err := DiffHeap(base, cur, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 2 || total != 11000 {
		t.Fatalf("sites %+v total %d", sites, total)
	}
	// The site is the first frame outside the runtime and the standard
	// library, with the stack from there.
	s := sites[0]
	if s.Function != "main.cache" || s.File != "/src/main.cache.go" || s.Line != 30 || s.Bytes != 8000 || s.Objects != 80 || s.InUseBytes != 9000 {
		t.Errorf("top site %+v", s)
	}
	if sites[1].Function != "main.fresh" {
		t.Errorf("second %+v", sites[1])
	}
	if _, _, err := DiffHeap(&profile.Profile{SampleType: []*profile.ValueType{{Type: "cpu"}}}, cur, 1); err == nil {
		t.Error("CPU profile accepted as a heap baseline")
	}
	if !isStd("encoding/json.Unmarshal") || isStd("main.x") || isStd("github.com/a/b.F") || !isRuntime("internal/runtime/maps.newarray") {
		t.Error("package classification")
	}
}

func TestChartRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	rows := []ChartRow{{Time: at, HeapLive: 1, HeapGoal: 2, MemTotal: 3, RSS: 4, Goroutines: 5, GCCycles: 6, HeapInUse: 7},
		{Time: at.Add(time.Second), HeapLive: 10, HeapGoal: 20, MemTotal: 30, RSS: 40, Goroutines: 50, GCCycles: 60, HeapInUse: 70}}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "time,heap_live_bytes,heap_goal_bytes,memory_total_bytes,rss_bytes,goroutines,gc_cycles,heap_in_use_bytes\n2026-01-02T03:04:05.000000006Z,1,2,3,4,5,6,7\n") {
		t.Errorf("CSV:\n%s", buf.String())
	}
	back, err := ReadCSV(&buf)
	if err != nil || len(back) != 2 || back[1] != rows[1] || !back[0].Time.Equal(at) {
		t.Errorf("round trip: %v %+v", err, back)
	}
	if _, err := ReadCSV(strings.NewReader("time,heap\n")); err == nil {
		t.Error("bad header accepted")
	}
	_, err = ReadCSV(strings.NewReader(strings.Join(chartHeader, ",") + "\n2026-01-02T03:04:05Z,1,2,x,4,5,6,7\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2, column memory_total_bytes") {
		t.Errorf("bad value: %v", err)
	}
	var svg bytes.Buffer
	if err := WriteSVG(&svg, rows, "a <b> & c"); err != nil || !strings.Contains(svg.String(), "a &lt;b&gt; &amp; c") || strings.Count(svg.String(), "<polyline") != 5 {
		t.Errorf("SVG %v:\n%s", err, svg.String())
	}
	svg.Reset()
	WriteSVG(&svg, rows[:1], "one")
	if !strings.Contains(svg.String(), "not enough samples") {
		t.Errorf("one-row SVG: %s", svg.String())
	}
}

func TestReportRoundTripAndMarkdown(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Report{Schema: ReportSchema, Kind: KindHeap, Status: StatusLeaking, At: at, DetectedAt: at, GrowingSince: at.Add(-time.Minute),
		Evidence:   Evidence{Kind: KindHeap, Unit: "bytes", Estimator: "theil-sen", Slope: 17477, Growth: 2 << 20, GrowthRatio: 0.03, From: at.Add(-4 * time.Minute), To: at, Samples: 40, Level: 64 << 20, Growing: true},
		Projection: projection(1<<30, 512<<20, "GOMEMLIMIT", 17477, at),
		Sites:      []Site{{Function: "main.(*Cache).Put|x", File: "/src/cache.go", Line: 42, Bytes: 2 << 20, Objects: 100}},
		Files:      Files{Report: "/perf/memory/leak-x.json", PprofCommand: "go tool pprof -diff_base=a b"},
		Notes:      []string{"a note"}}
	var js bytes.Buffer
	r.WriteJSON(&js)
	back, err := ReadReport(&js, "x.json")
	if err != nil || back.Sites[0].String() != r.Sites[0].String() || back.Projection.Seconds != r.Projection.Seconds {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	if p := r.Projection; p.Seconds != 30719 || p.Used != 512<<20 || !p.At.Equal(at.Add(30719*time.Second)) {
		t.Errorf("projection %+v", p)
	}
	var md bytes.Buffer
	r.WriteMarkdown(&md)
	for _, want := range []string{"# Heap leak", "1.00MiB/min", "main.(*Cache).Put\\|x", "/src/cache.go:42", "GOMEMLIMIT", "go tool pprof -diff_base=a b", "a note"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	for in, want := range map[string]string{
		`{"schema":"x"}`: "schema",
		`{"schema":"perfagent.leak/v1","kind":"disk","status":"leaking"}`: "kind",
		`{"schema":"perfagent.leak/v1","kind":"heap","status":"maybe"}`:   "status",
	} {
		if _, err := ReadReport(strings.NewReader(in), "f"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", in, err)
		}
	}
	if FormatBytes(1536) != "1.50KiB" || FormatBytes(-3<<20) != "-3.00MiB" || FormatBytes(12) != "12B" {
		t.Error("FormatBytes")
	}
}

func TestProfileFunction(t *testing.T) {
	defer func() { retained = nil }()
	res, p, err := ProfileFunction(context.Background(), func(ctx context.Context) (int, error) {
		for i := 0; i < 64; i++ {
			leakyAlloc(1) // 64 KiB each, kept
			time.Sleep(time.Millisecond)
		}
		return 42, nil
	}, ProfileOptions{Name: "keeps 4 MiB", Interval: 2 * time.Millisecond, GC: true})
	if err != nil || res != 42 {
		t.Fatalf("result %d, %v", res, err)
	}
	if p.Retained < 4<<20 || !p.RetainedExact || !p.Leak.Suspected || !strings.Contains(p.Leak.Reason, "retained") {
		t.Errorf("retained %d exact %v verdict %+v", p.Retained, p.RetainedExact, p.Leak)
	}
	if len(p.Samples) < 3 || p.PeakHeapInUse < 4<<20 || p.Allocated < 4<<20 || p.Name != "keeps 4 MiB" {
		t.Errorf("profile: %d samples, peak %d, allocated %d", len(p.Samples), p.PeakHeapInUse, p.Allocated)
	}
	retained = nil

	// A function that only makes garbage is not a leak.
	_, p, _ = ProfileFunction(context.Background(), func(ctx context.Context) (struct{}, error) {
		for i := 0; i < 200; i++ {
			sinkBytes = make([]byte, 256<<10)
		}
		return struct{}{}, nil
	}, ProfileOptions{GC: true})
	if p.Leak.Suspected {
		t.Errorf("garbage reported as a leak: %+v (retained %d)", p.Leak, p.Retained)
	}

	// Errors and panics come back; the profile covers the run.
	_, p, err = ProfileFunction(context.Background(), func(context.Context) (int, error) { panic("boom") }, ProfileOptions{Name: "panics"})
	if err == nil || !strings.Contains(err.Error(), "boom") || p == nil || p.Error == "" {
		t.Errorf("panic: %v %+v", err, p)
	}
	want := errors.New("failed")
	if _, _, err := ProfileFunction(context.Background(), func(context.Context) (int, error) { return 0, want }, ProfileOptions{}); !errors.Is(err, want) {
		t.Errorf("error: %v", err)
	}
}

var sinkBytes []byte

func TestRecorderBoundsAndFiles(t *testing.T) {
	r := StartWith(ProfileOptions{Interval: time.Millisecond, MaxSamples: 8})
	time.Sleep(60 * time.Millisecond)
	p := r.Stop()
	if len(p.Samples) > 8 || p.IntervalSeconds <= 0.001 {
		t.Errorf("%d samples at %vs: not bounded", len(p.Samples), p.IntervalSeconds)
	}
	if r.Stop() != p {
		t.Error("second Stop returned another profile")
	}
	dir := filepath.Join(t.TempDir(), "memory")
	path, err := SaveProfile(dir, p)
	if err != nil || !strings.Contains(filepath.Base(path), "memory-profile-") {
		t.Fatalf("SaveProfile = %s, %v", path, err)
	}
	f, _ := os.Open(path)
	back, err := ReadMemoryProfile(f, path)
	f.Close()
	if err != nil || len(back.Samples) != len(p.Samples) {
		t.Errorf("read back: %v", err)
	}
	csvPath, svgPath, err := WriteChart(dir, p)
	if err != nil || strings.TrimSuffix(csvPath, ".csv") != strings.TrimSuffix(svgPath, ".svg") {
		t.Errorf("WriteChart = %s %s %v", csvPath, svgPath, err)
	}
	heap, err := TakeHeapSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := profile.ParseData(readFile(t, heap)); err != nil {
		t.Errorf("heap snapshot: %v", err)
	}
}

// fakeT records VerifyNone's verdict.
type fakeT struct {
	cleanups []func()
	errs     []string
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Cleanup(fn func())              { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Errorf(format string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(format, a...)) }
func (f *fakeT) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

//go:noinline
func startBlocked(ch chan struct{}) { go func() { <-ch }() }

func TestVerifyNone(t *testing.T) {
	// A clean test passes.
	ft := &fakeT{}
	VerifyNone(ft)
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	ft.finish()
	if len(ft.errs) != 0 {
		t.Errorf("clean test failed: %v", ft.errs)
	}

	// A leaked goroutine is named by its creator.
	ft = &fakeT{}
	VerifyNone(ft, WaitFor(50*time.Millisecond), IgnoreHeap())
	ch := make(chan struct{})
	startBlocked(ch)
	ft.finish()
	close(ch)
	if len(ft.errs) != 1 || !strings.Contains(ft.errs[0], "startBlocked") || !strings.Contains(ft.errs[0], "chan receive") {
		t.Errorf("goroutine leak: %v", ft.errs)
	}

	// Retained heap is reported with its growing site.
	old := runtimeMemProfileRate(4096)
	defer runtimeMemProfileRate(old)
	ft = &fakeT{}
	VerifyNone(ft, IgnoreGoroutines(), MaxRetained(1<<20))
	leakyAlloc(64) // 4 MiB
	ft.finish()
	retained = nil
	if len(ft.errs) != 1 || !strings.Contains(ft.errs[0], "live heap grew") || !strings.Contains(ft.errs[0], "leakyAlloc") {
		t.Errorf("heap leak: %v", ft.errs)
	}
}

func runtimeMemProfileRate(r int) int {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = r
	return old
}

func TestConfigJSON(t *testing.T) {
	c := Config{WarmUp: time.Minute, Window: 90 * time.Second, MinGrowth: 5, MinGrowthRatio: 0.02}.WithDefaults()
	b, err := json.Marshal(c)
	if err != nil || !strings.Contains(string(b), `"window":"1m30s"`) || !strings.Contains(string(b), `"min_growth_bytes":5`) {
		t.Fatalf("%s, %v", b, err)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back, c)
	}
	if err := json.Unmarshal([]byte(`{"window":"soon"}`), &back); err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("bad duration: %v", err)
	}
}

func TestDurationFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 45 * time.Second: "45s", 2 * time.Minute: "2m", 160 * time.Second: "2m40s",
		3 * time.Hour: "3h", 3*time.Hour + 5*time.Minute: "3h5m", 49 * time.Hour: "2.0 days"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// The time to the memory limit comes from the snapshot alone: GOMEMLIMIT
// and the cgroup limit it carries, whichever is reached first.
func TestProjectLimitFromSnapshot(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &snapshot.Snapshot{MemLimit: 1 << 30, MemTotal: 600 << 20, HeapReleased: 100 << 20, RSS: 700 << 20}
	if p := projectLimit(s, 1<<20, at); p == nil || p.Source != "GOMEMLIMIT" || p.Seconds != 524 {
		t.Errorf("GOMEMLIMIT only: %+v", p)
	}
	s.CgroupMemLimit = 800 << 20 // 100 MiB left by RSS, sooner than GOMEMLIMIT's 524 MiB
	if p := projectLimit(s, 1<<20, at); p == nil || p.Source != "cgroup memory.max" || p.Seconds != 100 {
		t.Errorf("cgroup sooner: %+v", p)
	}
	s.MemLimit = 0
	s.CgroupMemLimit = 0
	if p := projectLimit(s, 1<<20, at); p != nil {
		t.Errorf("no limit: %+v", p)
	}
}
