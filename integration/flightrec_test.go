package integration

// The flight recorder end to end: the written trace parsed and checked
// with golang.org/x/exp/trace, its summary, and the recorder's cost.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	xtrace "golang.org/x/exp/trace"

	"github.com/perfagent/perfagent/agent"
)

// lockHolder holds mu for d: the cause the slow request's trace shows.
func lockHolder(mu *sync.Mutex, d time.Duration, held chan<- struct{}) {
	mu.Lock()
	close(held)
	time.Sleep(d)
	mu.Unlock()
}

// markerBefore runs well before the trigger, so the trace shows it only
// if the window covers the seconds before the slow request.
func markerBefore(done <-chan struct{}) { <-done }

func traceAgent(t *testing.T, dir string, fc agent.FlightRecorderConfig, extra ...agent.Option) *agent.Agent {
	t.Helper()
	opts := append([]agent.Option{agent.WithoutHTTPServer(), agent.WithoutExporters(), agent.WithLogger(quietLogger()),
		agent.WithOutputDir(dir), agent.WithoutLeakDetection(), agent.WithoutCaptureTriggers(), agent.WithFlightRecorder(fc)}, extra...)
	a, err := agent.Start(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestFlightRecorderTrace(t *testing.T) {
	dir := t.TempDir()
	a := traceAgent(t, dir, agent.FlightRecorderConfig{Window: 10 * time.Second, SlowRequest: 300 * time.Millisecond,
		SlowP99Multiple: -1, SchedLatencyP99: -1, GCCPUFraction: -1})
	defer a.Shutdown(context.Background())
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock() // waits for lockHolder
		mu.Unlock()
		io.WriteString(w, "order")
	})
	srv := httptest.NewServer(a.TraceHTTP(mux))
	defer srv.Close()

	done := make(chan struct{})
	go markerBefore(done)
	time.Sleep(1500 * time.Millisecond)
	close(done)
	held := make(chan struct{})
	go lockHolder(&mu, 500*time.Millisecond, held)
	<-held
	resp, err := http.Get(srv.URL + "/orders/7")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for a.TraceStatus().Captures.Taken == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	jsons, _ := filepath.Glob(filepath.Join(dir, "profiles", "traces", "trace-*.json"))
	if len(jsons) != 1 {
		t.Fatalf("reports: %v (status %+v)", jsons, a.TraceStatus())
	}
	js, _ := os.ReadFile(jsons[0])
	var rep agent.TraceReport
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", js)
	if rep.Trigger != "slow_request" || rep.Route != "GET /orders/{id}" || rep.DurationSeconds < 0.4 || rep.From != "trace" || rep.Error != "" {
		t.Fatalf("report: %s", js)
	}
	// The summary names the slow request's task and where it blocked.
	if len(rep.Tasks) == 0 || rep.Tasks[0].Name != "GET /orders/{id}" || rep.Tasks[0].Seconds < 0.4 {
		t.Errorf("tasks: %+v", rep.Tasks)
	}
	found := false
	for _, g := range rep.Blocked {
		if g.Seconds >= 0.4 && strings.Contains(g.Where, "integration.TestFlightRecorderTrace") {
			found = true
		}
	}
	if !found {
		t.Errorf("blocked longest does not show the handler waiting on the lock: %+v", rep.Blocked)
	}

	// The trace itself, parsed independently.
	data, err := os.ReadFile(rep.TraceFile)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := xtrace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var first, taskEnd, marker xtrace.Time
	var taskID xtrace.TaskID
	n := 0
	for {
		ev, err := rd.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if n == 0 {
			first = ev.Time()
		}
		n++
		switch ev.Kind() {
		case xtrace.EventTaskBegin:
			if ev.Task().Type == "GET /orders/{id}" {
				taskID = ev.Task().ID
			}
		case xtrace.EventTaskEnd:
			if taskID != 0 && ev.Task().ID == taskID {
				taskEnd = ev.Time()
			}
		case xtrace.EventStateTransition:
			if marker == 0 && strings.Contains(stackString(ev.StateTransition().Stack), "integration.markerBefore") {
				marker = ev.Time()
			}
		}
	}
	if taskID == 0 || taskEnd == 0 {
		t.Fatalf("the trace (%d events) lacks the request's task", n)
	}
	if marker == 0 || time.Duration(taskEnd-marker) < time.Second || time.Duration(taskEnd-first) < 1500*time.Millisecond {
		t.Fatalf("the window does not cover the seconds before the trigger: starts %v and marker %v before the request's end",
			time.Duration(taskEnd-first), time.Duration(taskEnd-marker))
	}
}

func stackString(s xtrace.Stack) string {
	var b strings.Builder
	for f := range s.Frames() {
		b.WriteString(f.Func)
		b.WriteByte('\n')
	}
	return b.String()
}

// The flight recorder's cost, measured side by side. Slow (about two
// minutes at the defaults) and needs a quiet machine, so it runs only when
// asked:
//
//	cd integration && PERFAGENT_TRACE_OVERHEAD=1 go test -run TestFlightRecorderOverhead -v -timeout 30m .
//
// PERFAGENT_TRACE_OVERHEAD_PAIRS (default 10) sets the rounds; each runs an
// HTTP service (JSON and hashing per request, 4 closed-loop clients in the
// same process) for 3s with the agent's flight recorder off, on (every
// request in a task through TraceHTTP), and on with three on-demand
// snapshots in the run, in rotated order. PERFAGENT_TRACE_OVERHEAD_RATE=N
// paces the clients to N requests/s in all (open loop) instead, so CPU per
// request and latency are compared at the same load.
func TestFlightRecorderOverhead(t *testing.T) {
	if os.Getenv("PERFAGENT_TRACE_OVERHEAD") == "" {
		t.Skip("set PERFAGENT_TRACE_OVERHEAD=1 to measure the flight recorder's cost")
	}
	pairs := envInt("PERFAGENT_TRACE_OVERHEAD_PAIRS", 10)
	rate := float64(envInt("PERFAGENT_TRACE_OVERHEAD_RATE", 0))
	const runLen, clients = 3 * time.Second, 4
	type result struct {
		p50, p99, cpuPerReq float64
		reqs                int
		snaps               []agent.TraceReport
	}
	run := func(on, snaps bool) result {
		dir := t.TempDir()
		opts := []agent.Option{agent.WithoutHTTPServer(), agent.WithoutExporters(), agent.WithLogger(quietLogger()),
			agent.WithOutputDir(dir), agent.WithoutLeakDetection(), agent.WithoutCaptureTriggers()}
		if on {
			opts = append(opts, agent.WithFlightRecorder(agent.FlightRecorderConfig{SlowRequest: -1, SlowP99Multiple: -1, SchedLatencyP99: -1, GCCPUFraction: -1}))
		}
		a, err := agent.Start(context.Background(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
			h := overheadWork(20)
			fmt.Fprintf(w, "%x", h[:4])
		})
		srv := httptest.NewServer(a.TraceHTTP(mux))
		runtime.GC()
		lat := make([][]float64, clients)
		var wg sync.WaitGroup
		c0, end := cpuTime(), time.Now().Add(runLen)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := &http.Client{Transport: &http.Transport{}}
				defer cl.CloseIdleConnections()
				next := time.Now()
				for time.Now().Before(end) {
					if rate > 0 { // open loop: requests at a fixed pace
						next = next.Add(time.Duration(float64(clients) * float64(time.Second) / rate))
						time.Sleep(time.Until(next))
					}
					t0 := time.Now()
					resp, err := cl.Get(srv.URL + "/orders/7")
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					lat[c] = append(lat[c], time.Since(t0).Seconds())
				}
			}()
		}
		var res result
		if snaps {
			for range 3 {
				time.Sleep(runLen / 4)
				req := httptest.NewRequest("POST", "/debug/perfagent/capture?type=trace", nil)
				req.RemoteAddr = "127.0.0.1:1"
				rec := httptest.NewRecorder()
				a.Handler().ServeHTTP(rec, req)
				var rep agent.TraceReport
				if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &rep) != nil {
					t.Fatalf("snapshot: %d %s", rec.Code, rec.Body)
				}
				res.snaps = append(res.snaps, rep)
			}
		}
		wg.Wait()
		cpu := cpuTime() - c0
		srv.Close()
		if err := a.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		all := slices.Concat(lat...)
		slices.Sort(all)
		res.reqs = len(all)
		res.p50, res.p99 = all[len(all)/2], all[len(all)*99/100]
		res.cpuPerReq = cpu.Seconds() / float64(len(all))
		return res
	}
	names := []string{"off", "on", "on+3 snapshots"}
	p50s, p99s := make([][]float64, 3), make([][]float64, 3)
	cpuRatio := make([][]float64, 3)
	var snapSec, snapBytes []float64
	for r := range pairs {
		res := make([]result, 3)
		for i := range 3 {
			k := (i + r) % 3
			res[k] = run(k > 0, k == 2)
		}
		for k := range 3 {
			p50s[k] = append(p50s[k], res[k].p50)
			p99s[k] = append(p99s[k], res[k].p99)
			cpuRatio[k] = append(cpuRatio[k], res[k].cpuPerReq/res[0].cpuPerReq)
		}
		for _, s := range res[2].snaps {
			snapSec = append(snapSec, s.SnapshotSeconds)
			snapBytes = append(snapBytes, float64(s.TraceBytes))
		}
		t.Logf("round %2d: reqs %d/%d/%d p99 %.2fms/%.2fms/%.2fms cpu/req ratio on %.4f snap %.4f", r+1,
			res[0].reqs, res[1].reqs, res[2].reqs, 1e3*res[0].p99, 1e3*res[1].p99, 1e3*res[2].p99, cpuRatio[1][r], cpuRatio[2][r])
	}
	for k, n := range names {
		_, p50, _ := medianQuartiles(p50s[k])
		_, p99, _ := medianQuartiles(p99s[k])
		c25, c50, c75 := medianQuartiles(cpuRatio[k])
		t.Logf("RESULT %-15s median p50 %.3fms p99 %.3fms; CPU per request vs off: median ratio %.4f (IQR %.4f–%.4f), %d pairs",
			n, 1e3*p50, 1e3*p99, c50, c25, c75, pairs)
	}
	s25, s50, s75 := medianQuartiles(snapSec)
	b25, b50, b75 := medianQuartiles(snapBytes)
	t.Logf("RESULT snapshot: median %.2fms (IQR %.2f–%.2f, max %.2fms), %.1f MiB (IQR %.1f–%.1f), %d snapshots",
		1e3*s50, 1e3*s25, 1e3*s75, 1e3*slices.Max(snapSec), b50/(1<<20), b25/(1<<20), b75/(1<<20), len(snapSec))
}
