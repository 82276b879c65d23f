package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/perfagent/perfagent/exporters"
)

// ingestServer records what arrives at POST /ingest.
type ingestServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	cpu  []*profile.Profile
	heap []*profile.Profile
}

func newIngestServer(t *testing.T) *ingestServer {
	s := &ingestServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ingest" {
			http.NotFound(w, r)
			return
		}
		f, _, err := r.FormFile("profile")
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		defer f.Close()
		p, err := profile.Parse(f)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reqs = append(s.reqs, r)
		if r.URL.Query().Get("units") == "samples" {
			s.cpu = append(s.cpu, p)
		} else {
			s.heap = append(s.heap, p)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

//go:noinline
func profiledWork(d time.Duration) {
	buf := make([]byte, 8192)
	for end := time.Now().Add(d); time.Now().Before(end); {
		s := sha256.Sum256(buf)
		buf[0] = s[0]
	}
}

func labelled(ps []*profile.Profile, fn, key, value string) bool {
	for _, p := range ps {
		for _, s := range p.Sample {
			if !slicesContain(s.Label[key], value) {
				continue
			}
			for _, l := range s.Location {
				for _, ln := range l.Line {
					if ln.Function != nil && strings.Contains(ln.Function.Name, fn) {
						return true
					}
				}
			}
		}
	}
	return false
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestProfilingStreamsToPyroscope(t *testing.T) {
	srv := newIngestServer(t)
	a := start(t, WithPprof(true), WithServiceName("unit-svc"),
		WithResourceAttributes(attribute.String("service.version", "1.4.2"), attribute.String("deployment.environment.name", "test")),
		WithProfiling(Profiling{
			ServerAddress: srv.URL, Tags: map[string]string{"team": "perf"},
			BasicAuthUser: "u", BasicAuthPassword: "secret", TenantID: "t1",
			Headers: map[string]string{"Authorization": "Bearer tok"}, Interval: 200 * time.Millisecond,
		}))
	base := "http://" + a.Addr()

	// /debug/pprof/profile works while streaming: the profiler steps aside.
	var pprofCode int
	var pprofBody []byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(base + "/debug/pprof/profile?seconds=1")
		if err != nil {
			return
		}
		defer resp.Body.Close()
		pprofCode = resp.StatusCode
		pprofBody, _ = io.ReadAll(resp.Body)
	}()
	// Longer than the one-off profile and its hand-back (StopCPUProfile
	// waits up to ~200ms), so the continuous profiler samples it too.
	Tag(context.Background(), Labels("endpoint", "/hot"), func(context.Context) { profiledWork(2 * time.Second) })
	<-done
	if pprofCode != 200 {
		t.Fatalf("/debug/pprof/profile while streaming: %d %s", pprofCode, pprofBody)
	}
	if _, err := profile.ParseData(pprofBody); err != nil {
		t.Errorf("/debug/pprof/profile body: %v", err)
	}
	runtime.GC()

	code, body := get(t, base+"/debug/perfagent/profiling")
	var st ProfilingStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || !st.Enabled || st.Mode != "pyroscope" || st.Profiler.CPUPauses != 1 {
		t.Errorf("profiling status %d %s", code, body)
	}
	if strings.Contains(body, "secret") || strings.Contains(body, "tok") {
		t.Errorf("status leaks a secret: %s", body)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Errorf("second Shutdown: %v", err)
	}

	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.reqs) == 0 {
		t.Fatal("no uploads")
	}
	r := srv.reqs[0]
	if got, want := r.URL.Query().Get("name"), "unit-svc{deployment_environment=test,service_version=1.4.2,team=perf}"; got != want {
		t.Errorf("name %q, want %q", got, want)
	}
	// Explicit headers override basic auth, as in pyroscope-go.
	if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-Scope-OrgID") != "t1" {
		t.Errorf("headers %v", r.Header)
	}
	if !labelled(srv.cpu, "profiledWork", "endpoint", "/hot") {
		t.Error("no CPU sample of profiledWork carries endpoint=/hot")
	}
	if len(srv.heap) == 0 || len(srv.heap[0].SampleType) != 4 {
		t.Errorf("heap uploads %d", len(srv.heap))
	}
}

func TestProfilingMetrics(t *testing.T) {
	srv := newIngestServer(t)
	a := start(t, WithProfiling(Profiling{ServerAddress: srv.URL, Interval: 50 * time.Millisecond}))
	for a.ProfilingStatus().Delivery.Delivered[exporters.KindCPU] == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	_, body := get(t, "http://"+a.Addr()+"/metrics")
	for _, want := range []string{`perfagent_profiling_uploaded_total{kind="cpu"`, `sink="pyroscope"`, "perfagent_profiling_collected_total",
		"perfagent_profiling_collection_time_seconds_total", "perfagent_profiling_queue_size"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestProfilingRestoresRates(t *testing.T) {
	srv := newIngestServer(t)
	prev := runtime.SetMutexProfileFraction(-1)
	a := start(t, WithProfiling(Profiling{ServerAddress: srv.URL, Types: []ProfileType{ProfileMutexCount, ProfileBlockCount}, MutexProfileFraction: 3}))
	if got := runtime.SetMutexProfileFraction(-1); got != 3 {
		t.Errorf("mutex fraction %d while profiling", got)
	}
	a.Shutdown(context.Background())
	if got := runtime.SetMutexProfileFraction(-1); got != prev {
		t.Errorf("mutex fraction %d after Shutdown, want %d", got, prev)
	}
	// Not held: the CPU profiler was never taken.
	if err := pprof.StartCPUProfile(&bytes.Buffer{}); err != nil {
		t.Error(err)
	} else {
		pprof.StopCPUProfile()
	}
}

// A final profile the server refuses makes Shutdown say so.
func TestProfilingShutdownReportsFailedUpload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad profile", http.StatusBadRequest)
	}))
	defer srv.Close()
	a := start(t, WithProfiling(Profiling{ServerAddress: srv.URL, Interval: time.Hour, Types: []ProfileType{ProfileCPU}}))
	err := a.Shutdown(context.Background())
	if err == nil || !strings.Contains(err.Error(), "final profiles not delivered") || !strings.Contains(err.Error(), "400") {
		t.Errorf("Shutdown = %v", err)
	}
	if st := a.ProfilingStatus(); st.Delivery.Failed["rejected"] != 1 {
		t.Errorf("delivery %+v", st.Delivery)
	}
}

func TestProfilingEnvironment(t *testing.T) {
	srv := newIngestServer(t)
	t.Setenv(EnvPyroscopeServerAddress, srv.URL)
	t.Setenv(EnvPyroscopeApplicationName, "from-env")
	t.Setenv(EnvProfilingTags, "region=eu, zone = b")
	t.Setenv(EnvProfilingTypes, "cpu,goroutine")
	t.Setenv(EnvProfilingInterval, "1h")
	a := start(t)
	st := a.ProfilingStatus()
	if !st.Enabled || st.Application != "from-env" || st.Tags["zone"] != "b" || len(st.Types) != 2 || st.IntervalSeconds != 3600 {
		t.Errorf("status %+v", st)
	}
	a.Shutdown(context.Background())

	// Options win; WithoutProfiling wins over the environment.
	a = start(t, WithProfiling(Profiling{ApplicationName: "from-option", Interval: time.Minute}))
	if st := a.ProfilingStatus(); st.Application != "from-option" || st.IntervalSeconds != 60 {
		t.Errorf("status %+v", st)
	}
	a.Shutdown(context.Background())
	a = start(t, WithoutProfiling())
	if a.ProfilingStatus().Enabled {
		t.Error("WithoutProfiling ignored")
	}
	a.Shutdown(context.Background())
	t.Setenv(EnvProfiling, "false")
	if a = start(t); a.ProfilingStatus().Enabled {
		t.Errorf("%s=false ignored", EnvProfiling)
	}
}

func TestProfilingInvalidConfiguration(t *testing.T) {
	cases := []struct {
		env  map[string]string
		opt  *Profiling
		want string
	}{
		{env: map[string]string{EnvPyroscopeServerAddress: "pyroscope:4040"}, want: EnvPyroscopeServerAddress},
		{env: map[string]string{EnvProfiling: "maybe"}, want: EnvProfiling},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvProfilingTags: "bad-name=x"}, want: `"bad-name"`},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvProfilingTags: "novalue"}, want: EnvProfilingTags},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvProfilingInterval: "10"}, want: EnvProfilingInterval},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvProfilingTypes: "wall"}, want: `"wall"`},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvPyroscopeApplicationName: "my app"}, want: EnvPyroscopeApplicationName},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvPyroscopeBasicAuthUser: "u"}, want: "both a user and a password"},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvProfilingHeaders: "X Y=1"}, want: EnvProfilingHeaders},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvProfilingMutexRate: "-2"}, want: EnvProfilingMutexRate},
		{opt: &Profiling{ServerAddress: "http://h", Tags: map[string]string{"a b": "x"}}, want: "Profiling.Tags"},
		{opt: &Profiling{ServerAddress: "http://h", Interval: -time.Second}, want: "Profiling.Interval"},
		{opt: &Profiling{ServerAddress: "http://h", Interval: time.Nanosecond}, want: "Profiling.Interval"},
		{opt: &Profiling{ServerAddress: "http://h", CPUSlice: time.Nanosecond}, want: "Profiling.CPUSlice"},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvProfilingInterval: "1ns"}, want: "at least 50ms"},
		{env: map[string]string{EnvPyroscopeServerAddress: "http://h", EnvProfilingInterval: "9999999h"}, want: EnvProfilingInterval},
		{opt: &Profiling{ServerAddress: "http://h", Types: []ProfileType{"wall"}}, want: "Profiling.Types"},
		{opt: &Profiling{ServerAddress: "http://h", Types: []ProfileType{}}, want: "Profiling.Types is empty"},
		{opt: &Profiling{ServerAddress: "udp://h"}, want: "Profiling.ServerAddress"},
		// (No server and no output directory: TestLocalProfilingNeedsOutputDir.)
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			opts := []Option{WithLogger(quietLogger()), WithHTTPAddr("127.0.0.1:0")}
			if tc.opt != nil {
				opts = append(opts, WithProfiling(*tc.opt))
			}
			a, err := Start(context.Background(), opts...)
			if err == nil {
				a.Shutdown(context.Background())
				t.Fatal("Start accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestLabels(t *testing.T) {
	ctx := pprof.WithLabels(context.Background(), Labels("end point", "/x\xff", "ok", "v", "unpaired"))
	if v, _ := pprof.Label(ctx, "end_point"); v != "/x\uFFFD" {
		t.Errorf("sanitised label %q", v)
	}
	if v, ok := pprof.Label(ctx, "ok"); !ok || v != "v" {
		t.Errorf("label ok = %q", v)
	}
	if _, ok := pprof.Label(ctx, "unpaired"); ok {
		t.Error("unpaired key kept")
	}
	var seen string
	Tag(context.Background(), Labels("a", "1"), func(ctx context.Context) {
		Tag(ctx, Labels("b", "2"), func(ctx context.Context) {
			a, _ := pprof.Label(ctx, "a")
			b, _ := pprof.Label(ctx, "b")
			seen = a + b
		})
	})
	if seen != "12" {
		t.Errorf("nested Tag labels %q", seen)
	}
}

func TestTagHTTP(t *testing.T) {
	endpoint := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := pprof.Label(r.Context(), "endpoint")
		io.WriteString(w, v)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", endpoint)
	mux.Handle("GET /inner", TagHTTP(endpoint)) // labelled from r.Pattern
	mux.Handle("/", endpoint)
	plain := http.NewServeMux()
	plain.Handle("GET /inner", TagHTTP(endpoint))
	for _, tc := range []struct {
		h          http.Handler
		path, want string
	}{
		{TagHTTP(mux), "/items/42", "GET /items/{id}"},
		{TagHTTP(mux), "/other", "/"},
		{mux, "/inner", "GET /inner"},
		{TagHTTP(endpoint), "/anything", ""}, // no router, no pattern
	} {
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if got := rec.Body.String(); got != tc.want {
			t.Errorf("%s: endpoint label %q, want %q", tc.path, got, tc.want)
		}
	}
}

// Stream CPU and heap profiles to Grafana Pyroscope, with the OTel service
// name as the application name. The same from the environment alone:
// PYROSCOPE_SERVER_ADDRESS=http://pyroscope:4040.
func ExampleWithProfiling() {
	a, err := Start(context.Background(),
		WithServiceName("checkout"),
		WithProfiling(Profiling{
			ServerAddress: "http://pyroscope:4040",
			Tags:          map[string]string{"region": "eu-west-1"},
			Types:         []ProfileType{ProfileCPU, ProfileInuseSpace, ProfileAllocSpace, ProfileGoroutines},
		}))
	if err != nil {
		return
	}
	// Shutdown uploads the final profiles within its deadline.
	defer a.Shutdown(context.Background())
}

// Label the CPU samples of one piece of work, so flame graphs can be
// filtered by it.
func ExampleTag() {
	checkout := Labels("endpoint", "/checkout")
	Tag(context.Background(), checkout, func(ctx context.Context) {
		v, _ := pprof.Label(ctx, "endpoint")
		fmt.Println(v)
	})
	// Output: /checkout
}

// Label every request's CPU samples with its route pattern.
func ExampleTagHTTP() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		v, _ := pprof.Label(r.Context(), "endpoint")
		fmt.Println(v)
	})
	h := TagHTTP(mux) // serve h: http.ListenAndServe(addr, h)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/42", nil))
	// Output: GET /items/{id}
}

// The agent's own metrics (self, leak, capture, profiling) all come from
// the producer: a reader that ignores the producer sees none of them, so
// none is an SDK instrument.
func TestOwnMetricsOnlyThroughProducer(t *testing.T) {
	srv := newIngestServer(t)
	var withP, withoutP *sdkmetric.ManualReader
	a := start(t, WithProfiling(Profiling{ServerAddress: srv.URL, Interval: 50 * time.Millisecond}),
		WithReader(func(p sdkmetric.Producer) sdkmetric.Reader {
			withP = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
			return withP
		}),
		WithReader(func(sdkmetric.Producer) sdkmetric.Reader {
			withoutP = sdkmetric.NewManualReader()
			return withoutP
		}))
	for a.ProfilingStatus().Profiler.Collected[exporters.KindCPU] == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	names := func(r *sdkmetric.ManualReader) map[string]bool {
		var rm metricdata.ResourceMetrics
		if err := r.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				out[m.Name] = true
			}
		}
		return out
	}
	got := names(withP)
	for _, want := range []string{"perfagent.profiling.collected", "perfagent.profiling.queue.size", "perfagent.profiling.collection.time",
		"perfagent.agent.collection.count", "go.goroutine.count"} {
		if !got[want] {
			t.Errorf("producer lacks %s", want)
		}
	}
	for name := range names(withoutP) {
		t.Errorf("%s is an SDK instrument (seen by a reader without the producer)", name)
	}
}
