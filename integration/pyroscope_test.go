package integration

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/agent"
)

// hotHandlerWork is the host's hot function: profiles must name it.
//
//go:noinline
func hotHandlerWork(d time.Duration) [32]byte {
	buf := make([]byte, 4096)
	var sum [32]byte
	for end := time.Now().Add(d); time.Now().Before(end); {
		sum = sha256.Sum256(buf)
		buf[sum[0]%64] ^= sum[1]
	}
	return sum
}

// hostServer is the service being profiled: GET /work/{ms} burns CPU in
// hotHandlerWork, GET /ping answers at once. Every request's CPU samples
// carry its route through agent.TagHTTP.
func hostServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work/{ms}", func(w http.ResponseWriter, r *http.Request) {
		var ms int
		fmt.Sscan(r.PathValue("ms"), &ms)
		sum := hotHandlerWork(time.Duration(ms) * time.Millisecond)
		json.NewEncoder(w).Encode(map[string]any{"sum": sum[:4]})
	})
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pong") })
	srv := httptest.NewServer(agent.TagHTTP(mux))
	t.Cleanup(srv.Close)
	return srv
}

// drive sends GET path to srv for d and returns each request's latency.
func drive(t *testing.T, srv *httptest.Server, path string, d time.Duration) []time.Duration {
	t.Helper()
	client := srv.Client()
	defer client.CloseIdleConnections()
	var lat []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end) && len(lat) < 100000; {
		t0 := time.Now()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
	}
	return lat
}

func labelledSamples(ups []ingestUpload, fn, key, value string) int {
	n := 0
	for _, u := range ups {
		for _, s := range u.Profile.Sample {
			if !slices.Contains(s.Label[key], value) {
				continue
			}
			for _, l := range s.Location {
				if slices.ContainsFunc(l.Line, func(ln profile.Line) bool { return ln.Function != nil && strings.Contains(ln.Function.Name, fn) }) {
					n++
					break
				}
			}
		}
	}
	return n
}

// TestPyroscopeStreaming profiles a host under load and checks what the
// Pyroscope peer received: CPU profiles naming the hot function with the
// request's route label, heap profiles with their four sample types, the
// tags and credentials, contiguous CPU coverage up to Shutdown; and that
// /debug/pprof/profile works meanwhile.
func TestPyroscopeStreaming(t *testing.T) {
	peer := startPyroscopePeer(t)
	host := hostServer(t)
	started := time.Now()
	a := startAgent(t, agent.WithPprof(true), agent.WithServiceName("ignored-for-app-name"),
		agent.WithProfiling(agent.Profiling{
			ServerAddress: peer.URL, ApplicationName: "itest.checkout", Tags: map[string]string{"team": "perf", "region": "eu{1}"},
			BasicAuthUser: "user", BasicAuthPassword: "pass", TenantID: "tenant-7",
			Headers: map[string]string{"X-Extra": "present"}, Interval: 500 * time.Millisecond,
		}))

	pprofDone := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + a.Addr() + "/debug/pprof/profile?seconds=1")
		if err != nil {
			pprofDone <- err
			return
		}
		defer resp.Body.Close()
		p, err := profile.Parse(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if err == nil && len(p.Sample) == 0 {
			err = errors.New("no samples")
		}
		pprofDone <- err
	}()
	drive(t, host, "/work/5", 1800*time.Millisecond)
	if err := <-pprofDone; err != nil {
		t.Errorf("/debug/pprof/profile while streaming: %v", err)
	}
	runtime.GC()
	beforeShutdown := time.Now()
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	peer.mu.Lock()
	rejected := slices.Clone(peer.rejected)
	peer.mu.Unlock()
	if len(rejected) > 0 {
		t.Errorf("the peer rejected uploads: %v", rejected)
	}
	cpu := peer.byUnits("samples")
	if len(cpu) < 2 {
		t.Fatalf("%d CPU uploads", len(cpu))
	}
	if n := labelledSamples(cpu, "hotHandlerWork", "endpoint", "GET /work/{ms}"); n == 0 {
		t.Error("no CPU sample of hotHandlerWork carries endpoint=\"GET /work/{ms}\"")
	}
	for _, u := range cpu {
		if u.App != "itest.checkout" || u.Labels["team"] != "perf" || u.Labels["region"] != "eu_1_" {
			t.Errorf("name parsed as %q %v", u.App, u.Labels)
		}
		user, pass, ok := (&http.Request{Header: u.Header}).BasicAuth()
		if !ok || user != "user" || pass != "pass" || u.Header.Get("X-Scope-OrgID") != "tenant-7" || u.Header.Get("X-Extra") != "present" {
			t.Errorf("credentials and headers: %v", u.Header)
		}
		if u.SpyName != "gospy" || u.SampleRate != 100 || u.AggregationType != "sum" {
			t.Errorf("CPU upload fields %+v", u)
		}
	}
	// CPU coverage is contiguous from Start to Shutdown: a gap is only
	// the moment between stopping and restarting the CPU profiler, or a
	// /debug/pprof/profile capture (which has the samples itself).
	slices.SortFunc(cpu, func(a, b ingestUpload) int { return a.From.Compare(b.From) })
	if cpu[0].From.Before(started) || cpu[len(cpu)-1].Until.Before(beforeShutdown) {
		t.Errorf("CPU coverage %v..%v, agent ran %v..%v", cpu[0].From, cpu[len(cpu)-1].Until, started, beforeShutdown)
	}
	var gaps time.Duration
	for i := 1; i < len(cpu); i++ {
		gaps += max(0, cpu[i].From.Sub(cpu[i-1].Until))
	}
	if gaps > 1500*time.Millisecond { // the 1s pprof capture, plus rotations
		t.Errorf("CPU coverage has %v of gaps", gaps)
	}
	heap := peer.heapUploads()
	if len(heap) == 0 {
		t.Fatal("no heap uploads")
	}
	for _, u := range heap {
		var types []string
		for _, st := range u.Profile.SampleType {
			types = append(types, st.Type+"/"+st.Unit)
		}
		if !slices.Equal(types, []string{"alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes"}) || len(u.SampleTypeConfig) != 4 {
			t.Errorf("heap sample types %v, config %v", types, u.SampleTypeConfig)
		}
	}
}

// TestPyroscopeShutdownDeliversTail: with an hour-long interval, everything
// reaches the server at Shutdown.
func TestPyroscopeShutdownDeliversTail(t *testing.T) {
	peer := startPyroscopePeer(t)
	host := hostServer(t)
	a := startAgent(t, agent.WithProfiling(agent.Profiling{ServerAddress: peer.URL, ApplicationName: "tail", Interval: time.Hour,
		Types: []agent.ProfileType{agent.ProfileCPU, agent.ProfileInuseSpace, agent.ProfileGoroutines}}))
	drive(t, host, "/work/20", 600*time.Millisecond)
	runtime.GC()
	if len(peer.all()) != 0 {
		t.Fatal("uploads before the first period ended")
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cpu := peer.byUnits("samples")
	if len(cpu) != 1 || labelledSamples(cpu, "hotHandlerWork", "endpoint", "GET /work/{ms}") == 0 {
		t.Fatalf("%d CPU uploads at Shutdown, or without the workload", len(cpu))
	}
	if len(peer.heapUploads()) != 1 || len(peer.byUnits("goroutines")) != 1 {
		t.Errorf("heap %d, goroutine %d uploads at Shutdown", len(peer.heapUploads()), len(peer.byUnits("goroutines")))
	}
}

// TestPyroscopeInvalidUTF8Labels: labels set with runtime/pprof directly
// (not through agent.Labels) carry invalid UTF-8; the peer, like
// Pyroscope, rejects such profiles, so perfagent must repair them.
func TestPyroscopeInvalidUTF8Labels(t *testing.T) {
	peer := startPyroscopePeer(t)
	a := startAgent(t, agent.WithProfiling(agent.Profiling{ServerAddress: peer.URL, ApplicationName: "utf8", Interval: time.Hour,
		Types: []agent.ProfileType{agent.ProfileCPU}}))
	pprof.Do(context.Background(), pprof.Labels("user", "caf\xe9"), func(context.Context) { hotHandlerWork(300 * time.Millisecond) })
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cpu := peer.byUnits("samples")
	if len(cpu) != 1 || labelledSamples(cpu, "hotHandlerWork", "user", "caf\uFFFD") == 0 {
		peer.mu.Lock()
		t.Errorf("%d CPU uploads; rejected: %v", len(cpu), peer.rejected)
		peer.mu.Unlock()
	}
}

func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// TestPyroscopeServerFaults: a server that answers 500 or 429, hangs, or
// closes the connection never blocks or slows the host, memory stays
// bounded, failures are counted, and Shutdown keeps its deadline.
func TestPyroscopeServerFaults(t *testing.T) {
	for _, mode := range []string{"500", "429", "hang", "close"} {
		t.Run(mode, func(t *testing.T) {
			peer := startPyroscopePeer(t)
			peer.setMode(mode)
			host := hostServer(t)
			runtime.GC()
			live0 := heapLive()
			a := startAgent(t, agent.WithProfiling(agent.Profiling{ServerAddress: peer.URL, ApplicationName: "faults",
				Interval: 50 * time.Millisecond, Types: []agent.ProfileType{agent.ProfileCPU, agent.ProfileInuseSpace, agent.ProfileGoroutines}}))
			lat := drive(t, host, "/ping", 2*time.Second)
			runtime.GC()
			grown := int64(heapLive()) - int64(live0)
			st := a.ProfilingStatus()

			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			t0 := time.Now()
			err := a.Shutdown(ctx)
			took := time.Since(t0)

			p99, worst := percentile(lat, 0.99), percentile(lat, 1)
			t.Logf("%d host requests, p99 %v, max %v; heap grew %d KiB; profiling %+v; shutdown %v (%v)",
				len(lat), p99, worst, grown/1024, st.Delivery, took, err)
			peer.mu.Lock()
			faults := peer.faults
			peer.mu.Unlock()
			if faults == 0 {
				t.Fatal("the peer saw no upload")
			}
			// The host is never blocked: a blocked host would wait for the
			// 10s upload timeout, or forever, here. The bounds are loose
			// for a loaded CI machine.
			if p99 > 250*time.Millisecond || worst > 2*time.Second {
				t.Errorf("host latency p99 %v, max %v", p99, worst)
			}
			// Memory: the queue is bounded (16 MiB by default); the heap
			// may not grow by more than that plus slack.
			if grown > 24<<20 {
				t.Errorf("heap grew by %d MiB", grown>>20)
			}
			if took > 3*time.Second || (err != nil && !errors.Is(err, context.DeadlineExceeded)) {
				t.Errorf("Shutdown took %v: %v", took, err)
			}
			d := st.Delivery
			if sum(d.Delivered) != 0 {
				t.Errorf("delivered %v to a failing server", d.Delivered)
			}
			switch mode {
			case "500":
				if d.Retries == 0 || d.Failed["server_error"] == 0 {
					t.Errorf("500: %+v", d)
				}
			case "429":
				if d.Retries == 0 || d.Failed["throttled"]+d.Dropped["queue_full"] == 0 {
					t.Errorf("429: %+v", d)
				}
			case "hang":
				if d.Dropped["queue_full"] == 0 {
					t.Errorf("hang: nothing dropped while the queue was stuck: %+v", d)
				}
			case "close":
				if d.Failed["network"] == 0 {
					t.Errorf("close: %+v", d)
				}
			}
		})
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
