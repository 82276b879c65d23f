package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/leak"
	"github.com/perfagent/perfagent/snapshot"
)

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHistoryAndCaptureEndpoints(t *testing.T) {
	dir := t.TempDir()
	a := start(t, WithOutputDir(dir), WithSnapshotInterval(100*time.Millisecond), WithoutCaptureTriggers())
	base := "http://" + a.Addr()
	time.Sleep(350 * time.Millisecond)

	code, body := get(t, base+"/debug/perfagent/history")
	if code != 200 {
		t.Fatalf("history: %d %s", code, body)
	}
	h, err := snapshot.ReadHistoryFile(strings.NewReader(body), "history")
	if err != nil || len(h.Snapshots) < 3 {
		t.Fatalf("history: %v, %d snapshots", err, len(h.Snapshots))
	}
	if s := h.Snapshots[len(h.Snapshots)-1]; s.HeapGoal == 0 || s.Goroutines.Total == 0 || s.IntervalSeconds <= 0 {
		t.Errorf("snapshot %+v", s)
	}
	if _, body := get(t, base+"/debug/perfagent/history?last=1"); strings.Count(body, `"time"`) != 1 {
		t.Errorf("last=1 gave %d snapshots", strings.Count(body, `"time"`))
	}
	if code, _ := get(t, base+"/debug/perfagent/history?last=x"); code != 400 {
		t.Errorf("last=x: %d", code)
	}
	if code, _ := get(t, base+"/debug/perfagent/history?since=yesterday"); code != 400 {
		t.Errorf("since=yesterday: %d", code)
	}

	code, body = post(t, base+"/debug/perfagent/capture?type=heap")
	if code != 200 {
		t.Fatalf("capture: %d %s", code, body)
	}
	var c snapshot.Capture
	if err := json.Unmarshal([]byte(body), &c); err != nil || filepath.Dir(c.Path) != filepath.Join(dir, "profiles", "on-demand") {
		t.Fatalf("capture %+v, %v", c, err)
	}
	if b, err := os.ReadFile(c.Path); err != nil {
		t.Fatal(err)
	} else if _, err := profile.ParseData(b); err != nil {
		t.Errorf("captured heap profile: %v", err)
	}
	if code, body := post(t, base+"/debug/perfagent/capture?type=cpu&seconds=1"); code != 200 || !strings.Contains(body, "cpu-") {
		t.Errorf("CPU capture: %d %s", code, body)
	}
	if code, _ := post(t, base+"/debug/perfagent/capture?type=disk"); code != 400 {
		t.Errorf("unknown type: %d", code)
	}
	if code, _ := post(t, base+"/debug/perfagent/capture?type=cpu&seconds=999"); code != 400 {
		t.Errorf("seconds=999: %d", code)
	}
	if code, _ := get(t, base+"/debug/perfagent/capture?type=heap"); code != 405 {
		t.Errorf("GET capture: %d", code)
	}
	var st LeakStatus
	_, body = get(t, base+"/debug/perfagent/leak")
	if err := json.Unmarshal([]byte(body), &st); err != nil || !st.Enabled || st.Captures.Taken["heap"] != 1 || st.Detector == nil {
		t.Errorf("leak status %v: %s", err, body)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{`perfagent_capture_count_total{`, `type="heap"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Shutdown writes the snapshots not yet in a file.
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "monitoring", "metrics-history-*.json"))
	if len(files) != 1 {
		t.Fatalf("history files %v", files)
	}
	f, _ := os.Open(files[0])
	defer f.Close()
	if h, err := snapshot.ReadHistoryFile(f, files[0]); err != nil || len(h.Snapshots) < 3 {
		t.Errorf("history file: %v", err)
	}
}

func TestCaptureWithoutFiles(t *testing.T) {
	a := start(t, WithOutputDir("off"))
	if code, body := post(t, "http://"+a.Addr()+"/debug/perfagent/capture?type=heap"); code != 503 {
		t.Errorf("capture with files off: %d %s", code, body)
	}
	if st := a.LeakStatus(); st.OutputDir != "" || st.Files != nil {
		t.Errorf("status %+v", st)
	}
}

func TestUnwritableOutputIsCountedNotFatal(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	var logs syncBuffer
	a := start(t, WithOutputDir(filepath.Join(file, "perf")), WithSnapshotInterval(100*time.Millisecond),
		WithLogger(slogTo(&logs)))
	if code, _ := post(t, "http://"+a.Addr()+"/debug/perfagent/capture?type=heap"); code != 500 {
		t.Errorf("capture into an unwritable directory: %d", code)
	}
	time.Sleep(250 * time.Millisecond)
	if err := a.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown = %v; file errors are logged and counted, not returned", err)
	}
	if n := a.Status().Dropped["file"]; n < 2 {
		t.Errorf("dropped files %d, want the capture and the history", n)
	}
	if !strings.Contains(logs.String(), "cannot write") {
		t.Errorf("not logged: %s", logs.String())
	}
}

// TestLeakDetectedByTheAgent leaks memory in this process and expects the
// agent to report it, with files and metrics, on its own.
func TestLeakDetectedByTheAgent(t *testing.T) {
	old := debug.SetGCPercent(20)
	defer debug.SetGCPercent(old)
	oldRate := runtime.MemProfileRate
	runtime.MemProfileRate = 16 << 10
	defer func() { runtime.MemProfileRate = oldRate }()

	dir := t.TempDir()
	a := start(t, WithOutputDir(dir), WithSnapshotInterval(50*time.Millisecond), WithoutCaptureTriggers(),
		WithLeakDetection(leak.Config{WarmUp: 300 * time.Millisecond, Window: 600 * time.Millisecond, Persist: 300 * time.Millisecond,
			MinGrowth: 1 << 20, MinGoroutineGrowth: -1}))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		agentTestLeak(stop)
	}()
	defer func() { close(stop); wg.Wait(); agentTestKept = nil }()

	deadline := time.Now().Add(20 * time.Second)
	var reports []string
	for time.Now().Before(deadline) {
		reports, _ = filepath.Glob(filepath.Join(dir, "memory", "leak-*.json"))
		if len(reports) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(reports) == 0 {
		t.Fatalf("no leak report; status %+v", a.LeakStatus().Detector)
	}
	f, _ := os.Open(reports[0])
	r, err := leak.ReadReport(f, reports[0])
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != leak.KindHeap || len(r.Sites) == 0 || !strings.Contains(r.Sites[0].Function, "agentTestLeak") {
		t.Errorf("report: kind %s, sites %v, notes %v", r.Kind, r.Sites, r.Notes)
	}
	// The report's files are written before it is counted: wait for the count.
	var metrics string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, metrics = get(t, "http://"+a.Addr()+"/metrics"); strings.Contains(metrics, "perfagent_leak_reports_total{") {
			break
		}
	}
	for _, want := range []string{`perfagent_leak_suspected{kind="heap"`, `perfagent_leak_reports_total{kind="heap",`, "perfagent_leak_heap_growth_rate_bytes_per_second"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "perfagent_leak"))
		}
	}
	for _, p := range []string{r.Files.Markdown, r.Files.ChartCSV, r.Files.ChartSVG, r.Files.BaselineProfile, r.Files.Profile} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
}

var agentTestKept [][]byte
var agentTestSink []byte

//go:noinline
func agentTestLeak(stop chan struct{}) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			agentTestKept = append(agentTestKept, make([]byte, 32<<10)) // kept: 6.4 MB/s
			for i := 0; i < 8; i++ {
				agentTestSink = make([]byte, 64<<10) // garbage, so GCs run
			}
		}
	}
}

func TestLeakConfiguration(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{EnvSnapshotInterval, "5", EnvSnapshotInterval},
		{EnvSnapshotInterval, "1ms", "at least 10ms"},
		{EnvHistorySize, "-3", EnvHistorySize},
		{EnvHistoryFlush, "soon", EnvHistoryFlush},
		{EnvOutputMaxBytes, "lots", EnvOutputMaxBytes},
		{EnvOutputMaxFiles, "0", EnvOutputMaxFiles},
		{EnvLeak, "maybe", EnvLeak},
		{EnvCaptureTriggers, "sometimes", EnvCaptureTriggers},
		{EnvLeakWindow, "1", EnvLeakWindow},
		{EnvLeakMinGrowth, "1 parsec", EnvLeakMinGrowth},
		{EnvLeakMinRatio, "-5%", EnvLeakMinRatio},
		{EnvLeakMinGoroutine, "ten", EnvLeakMinGoroutine},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			a, err := Start(context.Background(), WithLogger(quietLogger()), WithHTTPAddr("127.0.0.1:0"))
			if err == nil {
				a.Shutdown(context.Background())
				t.Fatal("Start accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	_, err := Start(context.Background(), WithLogger(quietLogger()), WithHTTPAddr("127.0.0.1:0"), WithLeakDetection(leak.Config{MinSamples: 2}))
	if err == nil || !strings.Contains(err.Error(), "MinSamples") {
		t.Errorf("invalid leak config: %v", err)
	}
	for _, o := range []Option{WithSnapshotInterval(time.Millisecond), WithHistory(0, time.Minute), WithOutputQuota(0, 1)} {
		if a, err := Start(context.Background(), WithLogger(quietLogger()), WithHTTPAddr("127.0.0.1:0"), o); err == nil {
			a.Shutdown(context.Background())
			t.Error("invalid option accepted")
		}
	}

	// The environment fills what options leave; options win.
	t.Setenv(EnvLeak, "false")
	t.Setenv(EnvLeakWindow, "2m")
	t.Setenv(EnvOutputDir, "off")
	a := start(t)
	if st := a.LeakStatus(); st.Enabled || st.OutputDir != "" {
		t.Errorf("PERFAGENT_LEAK=false, PERFAGENT_OUTPUT_DIR=off: %+v", st)
	}
	a.Shutdown(context.Background())
	a = start(t, WithLeakDetection(leak.Config{Persist: 2 * time.Minute}), WithOutputDir(t.TempDir()))
	st := a.LeakStatus()
	if !st.Enabled || st.Detector.Config.Window != 2*time.Minute || st.Detector.Config.Persist != 2*time.Minute || st.OutputDir == "" {
		t.Errorf("merged config %+v", st.Detector.Config)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// liveHeap returns the live heap after two GCs.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRetainedMemory reports the heap the agent retains with a full
// history (1440 snapshots) and the leak detector on ("agent-bytes"), and
// the part of it that is the snapshot and leak component, by difference
// with an agent without them ("component-bytes"). Captured profiles (the
// baseline heap profile kept after warm-up) are excluded: the run stays in
// the warm-up.
func BenchmarkRetainedMemory(b *testing.B) {
	measure := func(opts ...Option) uint64 {
		before := liveHeap()
		opts = append([]Option{WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()), WithOutputDir("off")}, opts...)
		a, err := Start(context.Background(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		if a.lk != nil {
			for i := 0; i < snapshot.DefaultHistorySize+10; i++ {
				a.lk.pipeline.Tick()
			}
		}
		// One scrape, so the metric pipeline holds its state too.
		if resp, err := http.Get("http://" + a.Addr() + "/metrics"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		after := liveHeap()
		a.Shutdown(context.Background())
		return after - min(before, after)
	}
	var with, without uint64
	for b.Loop() {
		with = measure()
		without = measure(WithoutLeakDetection(), WithHistory(1, 0), WithoutCaptureTriggers())
	}
	b.ReportMetric(float64(with), "agent-bytes")
	b.ReportMetric(float64(with)-float64(without), "component-bytes")
}

// BenchmarkTick is the cost of one snapshot tick in the agent: sample,
// history, triggers and the leak detector.
func BenchmarkTick(b *testing.B) {
	a, err := Start(context.Background(), WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()), WithOutputDir("off"))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	for i := 0; i < 10; i++ {
		a.lk.pipeline.Tick()
	}
	b.ReportAllocs()
	for b.Loop() {
		a.lk.pipeline.Tick()
	}
}
