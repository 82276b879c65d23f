package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/internal/flightrec"
)

// waitFor polls cond for at most a generous 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func traceFiles(t *testing.T, dir string) (outs, jsons []string) {
	t.Helper()
	outs, _ = filepath.Glob(filepath.Join(dir, "profiles", "traces", "trace-*.out"))
	jsons, _ = filepath.Glob(filepath.Join(dir, "profiles", "traces", "trace-*.json"))
	return outs, jsons
}

func TestTraceSlowRequest(t *testing.T) {
	dir := t.TempDir()
	a := start(t, WithOutputDir(dir), WithoutLeakDetection(), WithoutCaptureTriggers(),
		WithFlightRecorder(FlightRecorderConfig{Window: 5 * time.Second, SlowRequest: 200 * time.Millisecond,
			SlowP99Multiple: -1, SchedLatencyP99: -1, GCCPUFraction: -1}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow/{id}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "slow")
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fast") })
	srv := httptest.NewServer(a.TraceHTTP(mux))
	defer srv.Close()
	for range 20 {
		if code, _ := get(t, srv.URL+"/fast"); code != 200 {
			t.Fatalf("fast: %d", code)
		}
	}
	if st := a.TraceStatus(); st.SlowRequests != 0 || st.Captures.Fired[flightrec.TriggerSlowRequest] != 0 {
		t.Fatalf("fast requests fired: %+v", st)
	}
	if code, _ := get(t, srv.URL+"/slow/42"); code != 200 {
		t.Fatalf("slow: %d", code)
	}
	waitFor(t, "the slow request's capture", func() bool { return a.TraceStatus().Captures.Taken == 1 })
	outs, jsons := traceFiles(t, dir)
	if len(outs) != 1 || len(jsons) != 1 {
		t.Fatalf("files: %v %v", outs, jsons)
	}
	var rep TraceReport
	b, _ := os.ReadFile(jsons[0])
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Trigger != flightrec.TriggerSlowRequest || rep.Route != "GET /slow/{id}" || rep.DurationSeconds < 0.3 ||
		rep.ThresholdSeconds != 0.2 || rep.TraceFile != outs[0] || rep.From != "trace" || rep.WindowSeconds <= 0 || rep.WindowSeconds > 5 || len(rep.Tasks) == 0 {
		t.Fatalf("report: %s", b)
	}
	data, _ := os.ReadFile(outs[0])
	// The task's name is in the trace's string table.
	if !bytes.HasPrefix(data, []byte("go 1.")) || !bytes.Contains(data, []byte("GET /slow/{id}")) {
		t.Fatalf("trace of %d bytes lacks the header or the route's task", len(data))
	}
}

func TestTraceSlowP99Multiple(t *testing.T) {
	a := start(t, WithOutputDir(t.TempDir()), WithoutLeakDetection(), WithoutCaptureTriggers(),
		WithFlightRecorder(FlightRecorderConfig{SlowRequest: -1, SlowP99Multiple: 3, SchedLatencyP99: -1, GCCPUFraction: -1}))
	slow := false
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := slow
		mu.Unlock()
		if s {
			time.Sleep(150 * time.Millisecond)
		} else {
			time.Sleep(time.Millisecond)
		}
	})
	h := a.TraceHTTP(mux)
	call := func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	}
	for range traceP99MinSample + p99Every {
		call()
	}
	if st := a.TraceStatus(); st.SlowRequests != 0 {
		t.Fatalf("steady requests fired: %+v", st)
	}
	mu.Lock()
	slow = true
	mu.Unlock()
	call()
	waitFor(t, "the p99-multiple capture", func() bool { return a.TraceStatus().Captures.Taken == 1 })
	rep := a.TraceStatus().Captures.Last
	if rep.RouteP99Seconds <= 0 || rep.ThresholdSeconds < 3*rep.RouteP99Seconds*0.99 || rep.Route != "GET /x" {
		t.Fatalf("report %+v", rep)
	}
}

func TestTraceSchedTriggerHogNotIdle(t *testing.T) {
	a := start(t, WithOutputDir(t.TempDir()), WithoutLeakDetection(), WithoutCaptureTriggers(),
		WithSnapshotInterval(100*time.Millisecond),
		WithFlightRecorder(FlightRecorderConfig{SlowRequest: -1, SlowP99Multiple: -1, GCCPUFraction: -1})) // the default 50ms scheduler threshold
	time.Sleep(time.Second) // idle: ten snapshots
	if n := a.TraceStatus().Captures.Fired[flightrec.TriggerSchedLatency]; n != 0 {
		t.Fatalf("idle: the scheduler trigger fired %d times", n)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := 0; ; x++ {
				if x%1024 == 0 {
					select {
					case <-stop:
						return
					default:
					}
				}
			}
		}()
	}
	waitFor(t, "the scheduler trigger under a CPU hog", func() bool { return a.TraceStatus().Captures.Taken >= 1 })
	close(stop)
	wg.Wait()
	rep := a.TraceStatus().Captures.Last
	if rep.Trigger != flightrec.TriggerSchedLatency || rep.SchedLatencyP99Seconds <= 0.05 || rep.ThresholdSeconds != 0.05 {
		t.Fatalf("report %+v", rep)
	}
}

func TestTraceOnDemand(t *testing.T) {
	a := start(t, WithOutputDir(t.TempDir()), WithoutLeakDetection(), WithoutCaptureTriggers(), WithFlightRecorder(FlightRecorderConfig{}))
	post := func() (int, http.Header, string) {
		resp, err := http.Post("http://"+a.Addr()+"/debug/perfagent/capture?type=trace", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for i := range DefaultCaptureBurst {
		code, _, body := post()
		var rep TraceReport
		if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || rep.Trigger != flightrec.TriggerOnDemand || rep.TraceBytes == 0 {
			t.Fatalf("capture %d: %d %s", i, code, body)
		}
	}
	code, h, body := post()
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s", code, body)
	}
	code, body = get(t, "http://"+a.Addr()+"/debug/perfagent/trace")
	if code != 200 || !strings.Contains(body, `"available": true`) || !strings.Contains(body, `"rate_limit": 1`) {
		t.Fatalf("status: %d %s", code, body)
	}
}

func TestTraceOffByDefault(t *testing.T) {
	a := start(t, WithOutputDir("off"))
	resp, err := http.Post("http://"+a.Addr()+"/debug/perfagent/capture?type=trace", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("capture with the recorder off: %d", resp.StatusCode)
	}
	h := http.NewServeMux()
	if got := a.TraceHTTP(h); got != http.Handler(h) {
		t.Fatal("TraceHTTP wraps with the recorder off")
	}
	if a.TraceStatus().Enabled {
		t.Fatal("enabled by default")
	}
}

func TestTraceSecondRecorderNotAvailable(t *testing.T) {
	a := start(t, WithOutputDir("off"), WithAllowMultiple(), WithFlightRecorder(FlightRecorderConfig{}))
	b := start(t, WithOutputDir("off"), WithAllowMultiple(), WithFlightRecorder(FlightRecorderConfig{}))
	if st := a.TraceStatus(); !st.Available {
		t.Fatalf("first: %+v", st)
	}
	st := b.TraceStatus()
	if st.Available || !strings.Contains(st.Error, flightrec.ErrInUse.Error()) {
		t.Fatalf("second: %+v", st)
	}
	resp, err := http.Post("http://"+b.Addr()+"/debug/perfagent/capture?type=trace", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(msg), "not available") {
		t.Fatalf("second's capture: %d %s", resp.StatusCode, msg)
	}
	// Files off: the first's capture is dropped and counted, the request answered.
	resp, err = http.Post("http://"+a.Addr()+"/debug/perfagent/capture?type=trace", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || a.TraceStatus().Captures.Skipped[flightrec.SkipFiles] != 1 {
		t.Fatalf("files off: %d %+v", resp.StatusCode, a.TraceStatus())
	}
}

func TestTraceShutdownLeavesNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	a, err := Start(context.Background(), WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()), WithOutputDir(t.TempDir()),
		WithFlightRecorder(FlightRecorderConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	h := a.TraceHTTP(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Fatal(err)
	}
	// The process's recorder is free again.
	r, err := flightrec.Start(nil, flightrec.Config{})
	if err != nil {
		t.Fatalf("after Shutdown: %v", err)
	}
	r.Stop()
}

func TestTraceEnv(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{EnvTrace, "maybe"},
		{EnvTraceWindow, "100ms"}, {EnvTraceWindow, "2m"},
		{EnvTraceMaxBytes, "1KiB"}, {EnvTraceMaxBytes, "1GiB"},
		{EnvTraceSlow, "0s"}, {EnvTraceSlow, "2h"}, {EnvTraceSlow, "soon"},
		{EnvTraceSlowP99, "1.1"}, {EnvTraceSlowP99, "1000"},
		{EnvTraceSchedP99, "20s"},
		{EnvTraceGCCPU, "2"}, {EnvTraceGCCPU, "0.001"},
		{EnvTraceCooldown, "10ms"}, {EnvTraceCooldown, "48h"},
		{EnvTraceQuota, "5"}, {EnvTraceQuota, "0/10m"}, {EnvTraceQuota, "5/10ms"},
	} {
		lookup := func(k string) (string, bool) {
			if k == tc.name {
				return tc.value, true
			}
			return "", false
		}
		c := config{}
		err := c.resolve(lookup)
		if err == nil || !strings.Contains(err.Error(), tc.name+"=") || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%s=%s: %v", tc.name, tc.value, err)
		}
	}
	env := map[string]string{EnvTrace: "true", EnvTraceWindow: "20s", EnvTraceMaxBytes: "32MiB", EnvTraceSlow: "off",
		EnvTraceSlowP99: "5", EnvTraceSchedP99: "10ms", EnvTraceGCCPU: "50%", EnvTraceCooldown: "30s", EnvTraceQuota: "3/1h"}
	c := config{}
	if err := c.resolve(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	want := FlightRecorderConfig{Window: 20 * time.Second, MaxBytes: 32 << 20, SlowRequest: -1, SlowP99Multiple: 5,
		SchedLatencyP99: 10 * time.Millisecond, GCCPUFraction: 0.5, Cooldown: 30 * time.Second, QuotaBurst: 3, QuotaEvery: time.Hour}
	if !c.trace.on || c.trace.c.Summarize != nil || !equalTraceConfig(c.trace.c, want) {
		t.Fatalf("got %+v, want %+v", c.trace.c, want)
	}
	if _, err := newConfig([]Option{WithFlightRecorder(FlightRecorderConfig{Window: time.Hour})}); err == nil || !strings.Contains(err.Error(), "WithFlightRecorder: Window") {
		t.Fatalf("bad option: %v", err)
	}
}

func equalTraceConfig(a, b FlightRecorderConfig) bool {
	a.Summarize, b.Summarize = nil, nil
	return a.Window == b.Window && a.MaxBytes == b.MaxBytes && a.SlowRequest == b.SlowRequest && a.SlowP99Multiple == b.SlowP99Multiple &&
		a.SchedLatencyP99 == b.SchedLatencyP99 && a.GCCPUFraction == b.GCCPUFraction && a.Cooldown == b.Cooldown &&
		a.QuotaBurst == b.QuotaBurst && a.QuotaEvery == b.QuotaEvery
}
