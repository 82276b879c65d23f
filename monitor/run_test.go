package monitor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/snapshot"
)

// fast are options for runs against a real child: short, and generous to a
// loaded machine (nothing asserts on timing).
func fast(d time.Duration) Options {
	return Options{Interval: 100 * time.Millisecond, Duration: d}
}

func mustHave(t *testing.T, h *History, series ...Series) {
	t.Helper()
	for _, s := range series {
		if !h.Has(s) {
			t.Errorf("no %s values; summary %v, origins %v", s.Key(), h.Summary, h.Origins)
		}
	}
}

func TestAgentTargetWithCaptures(t *testing.T) {
	t.Parallel()
	c := startChild(t, envChildCapture+"=own")
	src, err := NewAgentSource(c.url+"/metrics", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	o := fast(time.Second)
	o.Thresholds = []Threshold{{Series: Goroutines, Max: 1}, {Series: RSS, Max: 1 << 40}}
	o.CaptureCooldown = time.Hour
	var warnings []string
	o.Warn = func(s string) { warnings = append(warnings, s) }
	h, err := Run(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != StatusComplete || h.Partial {
		t.Errorf("status %s partial %v", h.Status, h.Partial)
	}
	if h.Readings < 3 || h.Failures.Count != 0 {
		t.Errorf("%d readings, %d failures (%s)", h.Readings, h.Failures.Count, h.Failures.LastError)
	}
	tg := h.Target
	if tg.Kind != KindAgent || tg.Name != "monitor-child" || tg.PID != c.pid || tg.Version == "" || tg.URL != c.url {
		t.Errorf("target %+v, want the agent monitor-child at %s, pid %d", tg, c.url, c.pid)
	}
	mustHave(t, h, CPU, RSS, HeapGoal, Goroutines, Threads, FDs, GCRate)
	if h.Origins[RSS.Key()] != "process_memory_usage_bytes" || h.Origins[Goroutines.Key()] != "go_goroutine_count" {
		t.Errorf("origins %v, want the OpenTelemetry names", h.Origins)
	}
	if h.System.SchedLagP99 == nil || h.System.RSSBaseline == nil || h.System.RSSPeak == nil || h.System.CPUIdle == nil {
		t.Errorf("system figures missing: %+v", h.System)
	}
	// One breach episode of goroutines over 1 for the whole run, none of
	// RSS; one capture (the cooldown is an hour), a real heap profile.
	if len(h.Breaches) != 1 || h.Breaches[0].Series != Goroutines || !h.Breaches[0].Open || h.Breaches[0].Readings != h.Readings {
		t.Errorf("breaches %+v, want one open goroutine breach over all %d readings", h.Breaches, h.Readings)
	}
	if len(h.Captures) != 1 || h.Captures[0].Error != "" || !strings.Contains(h.Captures[0].Reason, "Goroutines") {
		t.Fatalf("captures %+v, want one successful capture", h.Captures)
	}
	f, err := os.Open(h.Captures[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("capture %s is not a pprof profile: %v", h.Captures[0].Path, err)
	}
	if len(p.SampleType) == 0 || p.SampleType[0].Type != "alloc_objects" {
		t.Errorf("capture sample types %v, want a heap profile", p.SampleType)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
}

func TestAgentWithoutCaptureEndpoint(t *testing.T) {
	t.Parallel()
	c := startChild(t, envChildCapture+"=none")
	src, err := NewAgentSource(c.url, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	o := fast(600 * time.Millisecond)
	o.Thresholds = []Threshold{{Series: Goroutines, Max: 1}}
	o.CaptureCooldown = time.Nanosecond
	var warnings []string
	o.Warn = func(s string) { warnings = append(warnings, s) }
	h, err := Run(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	// The first breach tries once; the 404 turns captures off with one
	// warning, however many readings breach after it.
	if len(h.Captures) != 1 || !strings.Contains(h.Captures[0].Error, "no capture endpoint") {
		t.Errorf("captures %+v, want one failed attempt", h.Captures)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "no capture endpoint") || len(h.Warnings) != 1 {
		t.Errorf("warnings %q (history %q), want one about the missing endpoint", warnings, h.Warnings)
	}
	if h.Readings < 3 {
		t.Errorf("%d readings", h.Readings)
	}
}

// TestAgentCaptureOnTheRealAgent runs against the agent's own handler: an
// agent with the capture endpoint writes a profile, one without it turns
// captures off with a warning. Either way the run records exactly one
// attempt.
func TestAgentCaptureOnTheRealAgent(t *testing.T) {
	t.Parallel()
	c := startChild(t)
	src, err := NewAgentSource(c.url, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	o := fast(400 * time.Millisecond)
	o.Thresholds = []Threshold{{Series: Goroutines, Max: 1}}
	o.CaptureCooldown = time.Hour
	h, err := Run(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Captures) != 1 {
		t.Fatalf("captures %+v, want one attempt", h.Captures)
	}
	cp := h.Captures[0]
	switch {
	case cp.Error == "" && cp.Path != "":
		if _, err := os.Stat(cp.Path); err != nil {
			t.Errorf("the agent's capture: %v", err)
		}
	case strings.Contains(cp.Error, "no capture endpoint"):
		if len(h.Warnings) != 1 {
			t.Errorf("warnings %q, want one", h.Warnings)
		}
	default:
		t.Errorf("capture %+v", cp)
	}
}

func TestAgentToken(t *testing.T) {
	t.Parallel()
	c := startChild(t, envChildToken+"=s3cret")
	src, err := NewAgentSource(c.url, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = Run(context.Background(), src, fast(200*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "--token") {
		t.Fatalf("without the token: %v, want a 401 naming --token", err)
	}
	src2, err := NewAgentSource(c.url, HTTPOptions{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close()
	h, err := Run(context.Background(), src2, fast(200*time.Millisecond))
	if err != nil || h.Readings < 2 {
		t.Fatalf("with the token: %v", err)
	}
}

func TestPrometheusTargets(t *testing.T) {
	t.Parallel()
	c := startChild(t)
	for _, tc := range []struct {
		path    string
		origins map[Series]string
	}{
		{"/prom/metrics", map[Series]string{RSS: "process_resident_memory_bytes", CPU: "process_cpu_seconds_total",
			Goroutines: "go_goroutines", Heap: "go_memstats_heap_alloc_bytes", FDs: "process_open_fds",
			SchedLagP99: "go_sched_latencies_seconds", GCRate: "go_gc_duration_seconds"}},
		{"/metrics", map[Series]string{RSS: "process_memory_usage_bytes", CPU: "process_cpu_time_seconds_total",
			Goroutines: "go_goroutine_count", SchedLagP99: "go_schedule_duration_seconds", GCRate: "go_memory_gc_cycles_total"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			src, err := NewPrometheusSource(c.url+tc.path, HTTPOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			h, err := Run(context.Background(), src, fast(700*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if h.Target.Kind != KindPrometheus || h.Readings < 3 {
				t.Errorf("target %+v, %d readings", h.Target, h.Readings)
			}
			for s, name := range tc.origins {
				if got := h.Origins[s.Key()]; got != name {
					t.Errorf("%s read from %q, want %q", s.Key(), got, name)
				}
			}
			mustHave(t, h, CPU, RSS, Goroutines, FDs)
			if h.System.SchedLagP99 == nil {
				t.Error("no scheduler-lag p99 over the run")
			}
			if len(h.Captures) != 0 {
				t.Errorf("captures %+v on a Prometheus target", h.Captures)
			}
		})
	}
}

func TestProcessTarget(t *testing.T) {
	t.Parallel()
	c := startChild(t)
	src, err := NewProcessSource(c.pid, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	o := fast(600 * time.Millisecond)
	o.Thresholds = []Threshold{{Series: Threads, Max: 1}}
	h, err := Run(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	if h.Target.Kind != KindProcess || h.Target.PID != c.pid || h.Target.Name == "" || strings.HasPrefix(h.Target.Name, "pid-") {
		t.Errorf("target %+v", h.Target)
	}
	mustHave(t, h, CPU, RSS, Threads, FDs)
	if h.Has(Goroutines) || h.Has(Heap) {
		t.Errorf("a process by PID has no goroutines or heap: %v", h.Summary)
	}
	if h.System.RSSPeak == nil || h.System.RSSPeakSource != "VmHWM" || *h.System.RSSPeak < h.Summary[RSS.Key()].Max {
		t.Errorf("peak %v from %q, max RSS read %v", h.System.RSSPeak, h.System.RSSPeakSource, h.Summary[RSS.Key()].Max)
	}
	// A process target cannot capture: breaches are recorded, nothing is
	// asked.
	if len(h.Breaches) != 1 || len(h.Captures) != 0 {
		t.Errorf("breaches %+v captures %+v", h.Breaches, h.Captures)
	}
}

func TestProcessExitEndsTheRun(t *testing.T) {
	t.Parallel()
	c := startChild(t, envChildExit+"=700ms")
	src, err := NewProcessSource(c.pid, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var checkpoints int
	o := Options{Interval: 100 * time.Millisecond, Checkpoint: func(*History) error { checkpoints++; return nil }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := Run(ctx, src, o)
	if !errors.Is(err, ErrTargetGone) {
		t.Fatalf("err %v, want ErrTargetGone", err)
	}
	if h == nil || h.Status != StatusTargetGone || !h.Partial || h.Readings < 2 || !strings.Contains(h.End, "exited") {
		t.Fatalf("history %+v", h)
	}
	if checkpoints < 1 {
		t.Error("no checkpoint")
	}
	if ctx.Err() != nil {
		t.Error("the run went on until the test's timeout")
	}
}

func TestTargetDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	notAgent := httptest.NewServer(http.NotFoundHandler())
	defer notAgent.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>hi</html>")) }))
	defer html.Close()

	agentAt := func(u string) Source {
		s, err := NewAgentSource(u, HTTPOptions{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	promAt := func(u string) Source {
		s, err := NewPrometheusSource(u, HTTPOptions{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	proc, err := NewProcessSource(1<<22+12345, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"refused", agentAt("http://" + addr), "connection refused"},
		{"not an agent", agentAt(notAgent.URL), "not a perfagent agent"},
		{"html", agentAt(html.URL), "not a perfagent status document"},
		{"metrics 404", promAt(notAgent.URL + "/metrics"), "404"},
		{"no process", proc, "no such process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.src.Close()
			h, err := Run(context.Background(), tc.src, fast(time.Second))
			if h != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("history %v, error %v; want an error with %q", h, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestFailuresMidRunAreCounted(t *testing.T) {
	t.Parallel()
	c := startChild(t, envChildExit+"=500ms")
	src, err := NewPrometheusSource(c.url+"/metrics", HTTPOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	h, err := Run(context.Background(), src, fast(1200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != StatusComplete || h.Failures.Count == 0 || h.Failures.LastError == "" || h.Readings < 2 {
		t.Errorf("status %s, %d readings, failures %+v", h.Status, h.Readings, h.Failures)
	}
}

func TestInterruptKeepsWhatWasMeasured(t *testing.T) {
	t.Parallel()
	c := startChild(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		duration time.Duration
		status   string
		partial  bool
	}{
		{time.Hour, StatusInterrupted, true},
		{0, StatusStopped, false},
	} {
		src, err := NewAgentSource(c.url, HTTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var files *Files
		var mu sync.Mutex
		o := Options{Interval: 100 * time.Millisecond, Duration: tc.duration, CheckpointEvery: 100 * time.Millisecond,
			Checkpoint: func(h *History) error {
				mu.Lock()
				defer mu.Unlock()
				if files == nil {
					store, err := snapshot.OpenStore(dir, snapshot.StoreOptions{})
					if err != nil {
						return err
					}
					f, err := CreateFiles(store, h.StartedAt, h)
					files = &f
					return err
				}
				if h.Readings >= 4 {
					cancel() // Ctrl-C
				}
				return files.WriteHistory(h)
			}}
		h, err := Run(ctx, src, o)
		cancel()
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != tc.status || h.Partial != tc.partial || h.Readings < 4 {
			t.Errorf("duration %v: status %s partial %v readings %d", tc.duration, h.Status, h.Partial, h.Readings)
		}
		// The checkpoint on disk holds the readings up to it.
		f, err := os.Open(files.History())
		if err != nil {
			t.Fatal(err)
		}
		ck, err := ReadHistory(f, files.History())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ck.Status != StatusRunning || len(ck.Samples) < 4 {
			t.Errorf("checkpoint status %s with %d samples", ck.Status, len(ck.Samples))
		}
		if err := files.WriteHistory(h); err != nil {
			t.Fatal(err)
		}
		paths, err := files.WriteReport(h, ReportOptions{})
		if err != nil || len(paths) < 2 {
			t.Fatalf("report: %v %v", paths, err)
		}
		md, _ := os.ReadFile(paths[0])
		if tc.partial && !strings.Contains(string(md), "**partial**") {
			t.Errorf("the report of an interrupted run does not say partial")
		}
	}
}
