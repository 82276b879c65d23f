package leak

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/snapshot"
)

// retained keeps what leakyAlloc leaks.
var retained [][]byte

//go:noinline
func leakyAlloc(n int) {
	for i := 0; i < n; i++ {
		retained = append(retained, make([]byte, 64<<10))
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// feed drives m with src until stop returns true or n snapshots were fed;
// between snapshots it calls between (may be nil).
func feed(m *Monitor, h *snapshot.History, src *synth, n int, between func(i int), stop func() bool) {
	for i := 0; i < n && !stop(); i++ {
		s := src.next()
		if h != nil {
			h.Add(&s)
		}
		m.Observe(&s)
		if between != nil {
			between(i)
		}
	}
}

type reports struct {
	mu  sync.Mutex
	all []*Report
}

func (r *reports) add(rep *Report) { r.mu.Lock(); r.all = append(r.all, rep); r.mu.Unlock() }
func (r *reports) len() int        { r.mu.Lock(); defer r.mu.Unlock(); return len(r.all) }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMonitorHeapReport(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 4096
	defer func() { runtime.MemProfileRate = old; retained = nil }()

	dir := t.TempDir()
	store, _ := snapshot.OpenStore(filepath.Join(dir, "memory"), snapshot.StoreOptions{})
	h := snapshot.NewHistory(500)
	var got reports
	var logBuf syncBuf
	m, err := NewMonitor(MonitorOptions{Store: store, History: h, Logger: slog.New(slog.NewTextHandler(&logBuf, nil)), OnReport: got.add})
	if err != nil {
		t.Fatal(err)
	}
	src := newSynth(1)
	src.heap = leakRate(8 * mib)
	leaked := false
	feed(m, h, src, 1000, func(int) {
		if !leaked && m.Status().BaselineProfile != "" {
			// After the baseline: leak 8 MiB through leakyAlloc, and let a
			// GC publish it in the heap profile.
			leakyAlloc(128)
			runtime.GC()
			leaked = true
		}
	}, func() bool { return got.len() > 0 })
	if got.len() == 0 {
		t.Fatal("no report")
	}
	r := got.all[0]
	if r.Kind != KindHeap || r.Status != StatusLeaking || !r.Evidence.Growing {
		t.Fatalf("report %+v", r)
	}
	if len(r.Sites) == 0 || !strings.HasSuffix(r.Sites[0].Function, ".leakyAlloc") || !strings.HasSuffix(r.Sites[0].File, "monitor_test.go") {
		t.Fatalf("top site %v, want leakyAlloc in monitor_test.go (sites %v)", r.Sites, r.Sites)
	}
	if s := r.Sites[0]; s.Bytes < 4<<20 || s.Objects < 64 || s.Line == 0 {
		t.Errorf("site gained %d bytes in %d objects, want about 8 MiB in 128", s.Bytes, s.Objects)
	}
	// Files: report, Markdown, chart, both profiles, all parseable.
	rep, err := ReadReport(bytes.NewReader(readFile(t, r.Files.Report)), r.Files.Report)
	if err != nil || rep.Files.Report != r.Files.Report || rep.Sites[0].Function != r.Sites[0].Function {
		t.Fatalf("report file: %v %+v", err, rep)
	}
	md := string(readFile(t, r.Files.Markdown))
	for _, want := range []string{"# Heap leak", "leakyAlloc", "go tool pprof", "theil-sen"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	for _, p := range []string{r.Files.BaselineProfile, r.Files.Profile} {
		if _, err := profile.ParseData(readFile(t, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !strings.Contains(r.Files.PprofCommand, "-diff_base="+r.Files.BaselineProfile) {
		t.Errorf("pprof command %q", r.Files.PprofCommand)
	}
	rows, err := ReadCSV(bytes.NewReader(readFile(t, r.Files.ChartCSV)))
	if err != nil || len(rows) != h.Len() {
		t.Fatalf("chart: %v, %d rows for %d snapshots", err, len(rows), h.Len())
	}
	for i := 1; i < len(rows); i++ {
		if !rows[i].Time.After(rows[i-1].Time) {
			t.Fatalf("chart times do not increase at row %d", i)
		}
	}
	if svg := string(readFile(t, r.Files.ChartSVG)); !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "polyline") {
		t.Errorf("SVG: %.100s", svg)
	}
	if !strings.Contains(logBuf.String(), "level=WARN") || !strings.Contains(logBuf.String(), "leakyAlloc") {
		t.Errorf("log: %s", logBuf.String())
	}
	st := m.Status()
	if st.ReportsWritten != 1 || len(st.Reports) != 1 || st.Series[0].State != StateLeaking {
		t.Errorf("status %+v", st)
	}
}

func TestMonitorCorruptBaselineIsRetaken(t *testing.T) {
	calls := 0
	m, err := NewMonitor(MonitorOptions{
		Config: Config{Realert: time.Minute}, Logger: quiet(),
		HeapProfile: func(w io.Writer) error {
			calls++
			if calls == 1 {
				_, err := w.Write([]byte("\x1f\x8bnot a profile"))
				return err
			}
			return realHeap(w)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got reports
	m.opts.OnReport = got.add
	src := newSynth(2)
	src.heap = leakRate(8 * mib)
	feed(m, nil, src, 1000, nil, func() bool { return got.len() >= 2 })
	if got.len() < 2 {
		t.Fatalf("%d reports", got.len())
	}
	first, second := got.all[0], got.all[1]
	if len(first.Sites) != 0 || len(first.Notes) == 0 || !strings.Contains(first.Notes[0], "baseline") {
		t.Errorf("first report: sites %v, notes %v", first.Sites, first.Notes)
	}
	if len(second.Notes) != 0 {
		t.Errorf("second report still has notes: %v", second.Notes)
	}
	if calls < 3 {
		t.Errorf("heap profile taken %d times", calls)
	}
}

func realHeap(w io.Writer) error {
	return pprof.Lookup("heap").WriteTo(w, 0)
}

func TestMonitorUnwritableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	store, _ := snapshot.OpenStore(filepath.Join(file, "memory"), snapshot.StoreOptions{})
	var errs []error
	var got reports
	m, _ := NewMonitor(MonitorOptions{Store: store, History: snapshot.NewHistory(10), Logger: quiet(),
		OnWriteError: func(err error) { errs = append(errs, err) }, OnReport: got.add})
	src := newSynth(3)
	src.heap = leakRate(8 * mib)
	feed(m, nil, src, 1000, nil, func() bool { return got.len() > 0 })
	if got.len() == 0 {
		t.Fatal("detection stopped when files could not be written")
	}
	r := got.all[0]
	if r.Files.Report != "" || len(errs) == 0 || m.Status().WriteFailures == 0 {
		t.Errorf("files %+v, %d errors, status %+v", r.Files, len(errs), m.Status())
	}
	if len(r.Sites) == 0 && len(r.Notes) == 0 {
		t.Errorf("in-memory baseline lost: %+v", r)
	}
}

//go:noinline
func leakyWorker(parked chan struct{}) { <-parked }

//go:noinline
func startLeakyWorkers(n int, parked chan struct{}) {
	for i := 0; i < n; i++ {
		go leakyWorker(parked)
	}
}

// waitParked waits until n goroutines wait in leakyWorker, so a dump taken
// next sees them all in one group.
func waitParked(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		d, err := TakeGoroutineDump()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range d.Groups {
			if g.State == "chan receive" && strings.Contains(g.WaitingIn, "leakyWorker") && g.Count == n {
				return
			}
		}
	}
	t.Fatalf("%d workers did not park within 10s", n)
}

func TestMonitorGoroutineReport(t *testing.T) {
	var got reports
	m, _ := NewMonitor(MonitorOptions{Logger: quiet(), OnReport: got.add})
	src := newSynth(4)
	src.gor = leakRate(60)
	started := false
	parked := make(chan struct{})
	defer close(parked) // release the workers so goleak passes
	feed(m, nil, src, 1000, func(int) {
		if !started && m.Status().Series[1].State == StateWatching {
			startLeakyWorkers(40, parked)
			waitParked(t, 40)
			started = true
		}
	}, func() bool { return got.len() > 0 })
	if got.len() == 0 {
		t.Fatal("no report")
	}
	r := got.all[0]
	if r.Kind != KindGoroutine || len(r.Goroutines) == 0 {
		t.Fatalf("report %+v", r)
	}
	g := r.Goroutines[0]
	if g.Gained != 40 || !strings.Contains(g.CreatedBy, "startLeakyWorkers") || !strings.Contains(g.WaitingIn, "leakyWorker") || g.State != "chan receive" {
		t.Errorf("top group %+v", g)
	}
	if r.Leaked == nil || (r.Leaked.Available != (GoroutineLeakProfile() != nil)) {
		t.Errorf("leaked %+v", r.Leaked)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
