package monitor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/snapshot"
)

// TestOneSchemaForAgentAndMonitor writes an agent's history (snapshot's
// writer) and a monitoring run's (this package's) into one monitoring/
// directory and decodes both with snapshot's one decoder.
func TestOneSchemaForAgentAndMonitor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "monitoring")
	store, err := snapshot.OpenStore(dir, snapshot.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ah := snapshot.NewHistory(4)
	ah.Add(&snapshot.Snapshot{Time: t0, RSS: 40 << 20, HeapLive: 10 << 20, Goroutines: snapshot.Goroutines{Total: 20}, FDs: 12})
	agentPath, err := ah.Flush(store)
	if err != nil {
		t.Fatal(err)
	}
	h := syntheticHistory(t)
	files, err := CreateFiles(store, h.StartedAt, h)
	if err != nil {
		t.Fatal(err)
	}
	defer files.Release()

	read := func(path string) (*snapshot.HistoryFile, []byte) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := snapshot.ReadHistoryFile(bytes.NewReader(b), path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return f, b
	}
	af, _ := read(agentPath)
	mf, raw := read(files.History())
	if af.Schema != snapshot.HistorySchema || mf.Schema != af.Schema || af.Source != snapshot.SourceAgent || mf.Source != snapshot.SourceMonitor {
		t.Fatalf("schemas %q (%s) and %q (%s)", af.Schema, af.Source, mf.Schema, mf.Source)
	}
	if len(mf.Snapshots) != len(h.Samples) || !mf.From.Equal(h.Samples[0].Time) || !mf.To.Equal(h.Samples[len(h.Samples)-1].Time) {
		t.Fatalf("%d snapshots from %v to %v, want %d", len(mf.Snapshots), mf.From, mf.To, len(h.Samples))
	}
	// Each sample maps onto the snapshot fields it has.
	last, s := mf.Snapshots[len(mf.Snapshots)-1], h.Samples[len(h.Samples)-1]
	for _, c := range []struct {
		series Series
		got    float64
	}{
		{RSS, float64(last.RSS)}, {Heap, float64(last.HeapLive)}, {HeapGoal, float64(last.HeapGoal)},
		{Goroutines, float64(last.Goroutines.Total)}, {Threads, float64(last.Threads)}, {FDs, float64(last.FDs)},
		{CPU, last.CPUUtilization}, {GCRate, last.GCRate}, {SchedLagP99, last.SchedLatency.P99},
	} {
		if want, ok := s.Get(c.series); !ok || c.got != want {
			t.Errorf("%s: snapshot has %v, sample %v (%v)", c.series.Key(), c.got, want, ok)
		}
	}
	// Fields the monitor cannot fill are omitted, not zero.
	for _, absent := range []string{`"memory_total_bytes"`, `"alloc_bytes_total"`, `"gc_cycles"`, `"p50_seconds"`, `"cgroup_memory_limit_bytes"`} {
		if bytes.Contains(raw, []byte(absent)) {
			t.Errorf("the monitor's file has %s, which it does not measure", absent)
		}
	}
	// The Markdown report renders from the file as from the run.
	f, err := os.Open(files.History())
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadHistory(f, files.History())
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var want, got bytes.Buffer
	if err := WriteMarkdown(&want, h, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&got, back, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	if want.String() != got.String() {
		t.Errorf("the report of the file differs from the run's:\n%s\n---\n%s", got.String(), want.String())
	}
	// The monitor's reader names an agent's file as such.
	af2, _ := os.Open(agentPath)
	defer af2.Close()
	if _, err := ReadHistory(af2, agentPath); err == nil || !strings.Contains(err.Error(), agentPath) || !strings.Contains(err.Error(), "agent") {
		t.Errorf("an agent's history read as a run: %v", err)
	}
}

// TestMonitorFilesUnderQuota checks that repeated runs keep monitoring/
// within the store's file-count and byte quotas, evicting oldest first
// (old-layout files of earlier versions included), and never the history
// of the run going on.
func TestMonitorFilesUnderQuota(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "monitoring")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := []string{"metrics-history-20260101T000000Z.json", "report-20260101T000000Z.md", "metrics-history-20260101T000000Z_0002.json"}
	for _, n := range old {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := syntheticHistory(t)
	// One run's files, measured in a store of their own: the quota holds
	// two and a half runs.
	scratch, _ := snapshot.OpenStore(t.TempDir(), snapshot.StoreOptions{})
	one, err := CreateFiles(scratch, t0, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := one.WriteReport(h, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	perRun, _ := scratch.Files()
	var runBytes int64
	for _, f := range perRun {
		runBytes += f.Size
	}
	maxFiles, maxBytes := len(perRun)*5/2, runBytes*5/2
	store, err := snapshot.OpenStore(dir, snapshot.StoreOptions{MaxFiles: maxFiles, MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	for run := range 10 {
		files, err := CreateFiles(store, t0.Add(time.Duration(run)*time.Hour), h)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 { // checkpoints
			if err := files.WriteHistory(h); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := files.WriteReport(h, ReportOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(files.History()); err != nil {
			t.Fatalf("run %d: its history was evicted: %v", run, err)
		}
		files.Release()
		sf, err := store.Files()
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, f := range sf {
			total += f.Size
		}
		if len(sf) > maxFiles || total > maxBytes {
			t.Fatalf("run %d: %d files, %d bytes in %s; quota %d files, %d bytes", run, len(sf), total, dir, maxFiles, maxBytes)
		}
	}
	for _, n := range old {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s (an earlier version's) was not evicted first", n)
		}
	}
	if st := store.Stats(); st.Evicted == 0 || st.WriteErrors != 0 {
		t.Errorf("store stats %+v", st)
	}
}

// TestReadOldMonitorHistory checks that a file of the monitor's earlier
// schema still reads, as this version's history.
func TestReadOldMonitorHistory(t *testing.T) {
	in := `{"schema":"perfagent.monitor/v1","target":{"kind":"process","name":"x","pid":1},"started_at":"2026-11-25T19:00:00Z",
"status":"complete","readings":2,"summary":{"rss_bytes":{"n":2,"min":1,"mean":1.5,"p50":1,"p95":2,"max":2,"last":2}},
"samples":[{"time":"2026-11-25T19:00:00Z","rss_bytes":1,"goroutines":3},{"time":"2026-11-25T19:00:05Z","n":2,"rss_bytes":2,"cpu_cores":0.5}]}`
	h, err := ReadHistory(strings.NewReader(in), "metrics-history-20261125T190000Z.json")
	if err != nil {
		t.Fatal(err)
	}
	if h.Schema != Schema || h.Source != snapshot.SourceMonitor || len(h.Samples) != 2 || h.Samples[1].N != 2 || !h.To.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("%+v", h)
	}
	if g, _ := h.Samples[0].Get(Goroutines); g != 3 {
		t.Errorf("goroutines %v", g)
	}
	if c, _ := h.Samples[1].Get(CPU); c != 0.5 {
		t.Errorf("cpu %v", c)
	}
	var buf bytes.Buffer
	if err := h.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.ReadHistoryFile(&buf, "rewritten"); err != nil {
		t.Errorf("the rewritten file is not a metrics history: %v", err)
	}
}
