package monitor

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/budget"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// syntheticHistory is a two-minute run against an agent whose RSS grows
// past a 50MiB threshold, built through the recorder as Run builds it.
func syntheticHistory(t *testing.T) *History {
	t.Helper()
	rc := newTestRecorder(t, Target{Kind: KindAgent, Name: "checkout", URL: "http://127.0.0.1:9464", PID: 4242, Version: "v0.3.0", GoVersion: "go1.26.8"},
		Options{Interval: 5 * time.Second, Duration: 2 * time.Minute,
			Thresholds: []Threshold{{Series: RSS, Max: 50 << 20}, {Series: Goroutines, Max: 1000}}})
	feed(rc, 25, 5*time.Second, func(i int, r *Reading) {
		r.Gauges.Set(RSS, float64(40<<20+i*(512<<10)))
		r.Gauges.Set(Heap, float64(10<<20+i*(256<<10)))
		r.Gauges.Set(HeapGoal, 24<<20)
		r.Gauges.Set(Goroutines, float64(20+i%3))
		r.Gauges.Set(Threads, 9)
		r.Gauges.Set(FDs, 12)
		r.CPUSeconds, r.HasCPU = float64(i)*0.3, true
		r.GCCycles, r.HasGC = float64(2*i), true
		n := float64(100 * i)
		r.Sched = Histogram{Bounds: []float64{1e-5, 1e-4, 1e-3, 1e-2, math.Inf(1)},
			Counts: []float64{0.5 * n, 0.9 * n, 0.99 * n, n, n}}
		for s, name := range map[Series]string{RSS: "process_memory_usage_bytes", Heap: "perfagent_go_memory_heap_live_bytes",
			HeapGoal: "go_memory_gc_goal_bytes", Goroutines: "go_goroutine_count", Threads: "process_thread_count",
			FDs: "process_unix_file_descriptor_count", CPU: "process_cpu_time_seconds_total", GCRate: "go_memory_gc_cycles_total",
			SchedLagP99: "go_schedule_duration_seconds"} {
			r.Origins[s] = name
		}
		if i == 21 {
			rc.h.Captures = append(rc.h.Captures, Capture{Time: r.Time, Reason: "RSS 50.5MiB > 50.0MiB",
				Path: "/srv/checkout/perf/memory/heap-20261125T190145Z.pb.gz"})
		}
	})
	return rc.snapshot(StatusComplete, "the duration elapsed")
}

// downsampledHistory is an interrupted run against a process, long enough
// to be downsampled, with failed reads and a restart.
func downsampledHistory(t *testing.T) *History {
	t.Helper()
	rc := newTestRecorder(t, Target{Kind: KindProcess, Name: "worker", PID: 777},
		Options{Interval: time.Second, Duration: time.Hour, MaxSamples: 16, BaselineWindow: 10 * time.Second,
			Thresholds: []Threshold{{Series: CPU, Max: 0.9}}})
	cpu := 0.0
	feed(rc, 100, time.Second, func(i int, r *Reading) {
		r.Gauges.Set(RSS, float64(100<<20+(i%10)*(1<<20)))
		r.Gauges.Set(Threads, 12)
		r.RSSPeak = 130 << 20
		switch {
		case i == 50:
			cpu = 0.5 // restarted: the counter went down
		case i >= 60 && i < 70:
			cpu += 1.5 // busy
		default:
			cpu += 0.1
		}
		r.CPUSeconds, r.HasCPU = cpu, true
		r.Origins[RSS], r.Origins[CPU], r.Origins[Threads] = "/proc/<pid>/stat rss", "/proc/<pid>/stat utime+stime", "/proc/<pid>/stat num_threads"
	})
	rc.fail(t0.Add(30*time.Second), errors.New("process 777: read /proc/777/stat: interrupted system call"))
	rc.fail(t0.Add(31*time.Second), errors.New("process 777: read /proc/777/stat: interrupted system call"))
	return rc.snapshot(StatusInterrupted, "interrupted after 1m39s of 1h0m0s")
}

func TestMarkdownGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		h    *History
		o    ReportOptions
	}{
		{"report.md", syntheticHistory(t), ReportOptions{Charts: map[Series]string{RSS: "report-20261125T190000Z-rss_bytes.svg",
			CPU: "report-20261125T190000Z-cpu_cores.svg"}}},
		{"report-downsampled.md", downsampledHistory(t), ReportOptions{}},
	} {
		var buf bytes.Buffer
		if err := WriteMarkdown(&buf, tc.h, tc.o); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.file, buf.Bytes())
	}
}

func TestTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := syntheticHistory(t).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("---\n")
	if err := downsampledHistory(t).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.txt", buf.Bytes())
}

func TestMarkdownContent(t *testing.T) {
	h := syntheticHistory(t)
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, h, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"| Status | complete: the duration elapsed |",
		"| RSS | 40.0MiB |",                           // exact minimum
		"| memory-baseline | median RSS, first 30s |", // the baseline's definition
		"| cpu-idle | mean CPU, first 30s | 6.00% | 5.00% | **FAIL** |",
		"| scheduler-lag | p99 over the run | 1.00ms | 50.0ms | pass |",
		"| RSS | 50.0MiB | +1:45 | +2:00 (still over) | 4 | 52.0MiB |",
		"`/srv/checkout/perf/memory/heap-20261125T190145Z.pb.gz`",
		"## Timeline",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	// A budgets file replaces the seed's targets.
	b, err := budget.Parse("tight.yaml", []byte("system:\n  cpu-idle: 10%\n  memory-peak: 10MiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	b.File = "tight.yaml"
	buf.Reset()
	if err := WriteMarkdown(&buf, h, ReportOptions{Budgets: b}); err != nil {
		t.Fatal(err)
	}
	md = buf.String()
	for _, want := range []string{"the budgets in `tight.yaml`", "| cpu-idle | mean CPU, first 30s | 6.00% | 10.00% | pass |",
		"| memory-peak | largest RSS read | 52.0MiB | 10.0MiB | **FAIL** |"} {
		if !strings.Contains(md, want) {
			t.Errorf("with a budgets file the report lacks %q:\n%s", want, md)
		}
	}
}

func TestMarkdownEscapesTargetText(t *testing.T) {
	h := syntheticHistory(t)
	h.Target.Name = "evil | <script>alert(1)</script>"
	h.Warnings = []string{"line1\nline2 | x"}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, h, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<script>") || strings.Contains(buf.String(), "line1\nline2") {
		t.Errorf("target text not escaped:\n%s", buf.String())
	}
}
