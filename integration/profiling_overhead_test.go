package integration

// The profiling overhead benchmark. It is slow (about 10 minutes) and
// needs a quiet machine, so it runs only when asked:
//
//	cd integration && PERFAGENT_OVERHEAD=1 go test -run TestProfilingOverhead -v -timeout 60m .
//
// PERFAGENT_OVERHEAD_PAIRS (default 30) sets the number of pairs (rounds),
// PERFAGENT_OVERHEAD_RUN (default 2s) the length of the runs at the 1s
// interval, timed in the profilers' steady state. Runs at the default
// interval last 16s in the steady state, so each holds one full
// collection and upload. With PERFAGENT_OVERHEAD_WHOLE=1 they last 5s
// instead and are timed from the agent's Start to the end of its Shutdown
// (one collection and upload each, plus starting and stopping the agent):
// an upper bound that counts per-period costs three times as often as at
// the default 15s. PERFAGENT_OVERHEAD_HEAP=flat (default) or objects sets
// the kind of live heap the workload runs beside (see below), and
// PERFAGENT_OVERHEAD_ONLY_1S=1 runs only the comparison at 1s.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/pyroscope-go"

	"github.com/perfagent/perfagent/agent"
)

type overheadItem struct {
	SKU   string  `json:"sku"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
}

type overheadOrder struct {
	ID       int               `json:"id"`
	Customer string            `json:"customer"`
	Items    []overheadItem    `json:"items"`
	Tags     map[string]string `json:"tags"`
	Digest   string            `json:"digest"`
}

// overheadWork is the fixed CPU and allocation workload: JSON encode and
// decode of an order, and hashing, iter times.
func overheadWork(iter int) [32]byte {
	o := overheadOrder{ID: 1, Customer: "ACME Corporation", Tags: map[string]string{"channel": "web", "tier": "gold"}}
	for i := range 24 {
		o.Items = append(o.Items, overheadItem{SKU: "SKU-" + strconv.Itoa(i), Qty: i%5 + 1, Price: float64(i) * 1.25})
	}
	var h [32]byte
	for i := 0; i < iter; i++ {
		b, _ := json.Marshal(&o)
		var back overheadOrder
		_ = json.Unmarshal(b, &back)
		for range 4 {
			h = sha256.Sum256(append(b, h[:]...))
		}
		back.ID, back.Digest = i, fmt.Sprintf("%x", h[:8])
		o = back
	}
	return h
}

// cacheEntry is one object of the live heap: a session or cache entry with
// a few pointers, as services keep them.
type cacheEntry struct {
	key   string
	value []byte
	next  *cacheEntry
	tags  map[string]string
}

// liveObjects builds about size bytes of pointer-rich live heap: a map of
// linked entries with small values.
func liveObjects(size int) map[int]*cacheEntry {
	const per = 200 // approximate bytes per entry with its map slot
	m := make(map[int]*cacheEntry, size/per)
	var prev *cacheEntry
	for i := range size / per {
		e := &cacheEntry{key: "session-" + strconv.Itoa(i), value: make([]byte, 64), next: prev}
		if i%16 == 0 {
			e.tags = map[string]string{"tier": "gold"}
		}
		m[i] = e
		prev = e
	}
	return m
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type overheadCond struct {
	name  string
	start func(t *testing.T) (stop func())
}

type overheadRun struct{ wall, cpu time.Duration }

// runOnce times the workload, in the profiler's steady state (started
// before the timer, stopped after it) or, with whole, from the profiler's
// start to the end of its stop.
//
// Note: timing Start and Stop in the comparison with pyroscope-go would
// favour it: its Stop drops the queued uploads and the heap tail that
// perfagent delivers.
func runOnce(t *testing.T, c overheadCond, iter int, whole bool) overheadRun {
	runtime.GC()
	var stop func()
	if !whole {
		stop = c.start(t)
	}
	c0, w0 := cpuTime(), time.Now()
	if whole {
		stop = c.start(t)
	}
	overheadWork(iter)
	if whole {
		stop()
	}
	r := overheadRun{wall: time.Since(w0), cpu: cpuTime() - c0}
	if !whole {
		stop()
	}
	return r
}

func medianQuartiles(x []float64) (p25, med, p75 float64) {
	s := slices.Clone(x)
	slices.Sort(s)
	q := func(p float64) float64 { return s[int(p*float64(len(s)-1)+0.5)] }
	return q(0.25), q(0.5), q(0.75)
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func TestProfilingOverhead(t *testing.T) {
	if os.Getenv("PERFAGENT_OVERHEAD") == "" {
		t.Skip("set PERFAGENT_OVERHEAD=1 to run the profiling overhead benchmark (about 10 minutes)")
	}
	pairs := envInt("PERFAGENT_OVERHEAD_PAIRS", 30)
	run1s := 2 * time.Second
	if d, err := time.ParseDuration(os.Getenv("PERFAGENT_OVERHEAD_RUN")); err == nil && d > 0 {
		run1s = d
	}
	// The ingest server accepts and discards, so only the client side is
	// measured (it still runs in this process, for every profiled run).
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer ingest.Close()

	off := overheadCond{"off", func(*testing.T) func() { return func() {} }}
	perfagentAt := func(name string, interval time.Duration) overheadCond {
		return overheadCond{name, func(t *testing.T) func() {
			a, err := agent.Start(context.Background(), agent.WithoutHTTPServer(), agent.WithoutExporters(), agent.WithAllowMultiple(),
				agent.WithLogger(quietLogger()),
				agent.WithProfiling(agent.Profiling{ServerAddress: ingest.URL, ApplicationName: "overhead", Interval: interval}))
			if err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := a.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}}
	}
	pyroscopeGo1s := overheadCond{"pyroscope-go@1s", func(t *testing.T) func() {
		p, err := pyroscope.Start(pyroscope.Config{ApplicationName: "overhead", ServerAddress: ingest.URL, UploadRate: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return func() { _ = p.Stop() }
	}}

	// A service's live heap. Without it the workload's heap is a few MiB,
	// and the profiler's own buffers raise the GC goal enough to make
	// profiled runs collect less often, and look cheaper than unprofiled
	// ones. By default it is one pointer-free 64 MiB slice, which the GC
	// never scans; with PERFAGENT_OVERHEAD_HEAP=objects it is made of
	// objects with pointers, as a service's caches and sessions are, so
	// every GC (pyroscope-go's forced one before each heap upload too) has
	// real marking to do.
	heap := os.Getenv("PERFAGENT_OVERHEAD_HEAP")
	var ballast any
	switch heap {
	case "", "flat":
		heap = "flat"
		ballast = make([]byte, 64<<20)
	case "objects":
		ballast = liveObjects(64 << 20)
	default:
		t.Fatalf("PERFAGENT_OVERHEAD_HEAP=%q: want objects or flat", heap)
	}
	defer runtime.KeepAlive(ballast)
	runtime.GC()
	t.Logf("live heap: 64 MiB of %s", heap)

	// Calibrate: iterations per second of the unprofiled workload, the
	// best of three (a noise burst only slows a trial down).
	overheadWork(200)
	var perSec float64
	for range 3 {
		t0 := time.Now()
		overheadWork(2000)
		perSec = max(perSec, 2000/time.Since(t0).Seconds())
	}
	t.Logf("workload: %.0f iterations/s; %d pairs; GOMAXPROCS %d", perSec, pairs, runtime.GOMAXPROCS(0))

	experiment := func(runLen time.Duration, whole bool, conds []overheadCond) {
		iter := int(perSec * runLen.Seconds())
		ratios := map[string][2][]float64{} // name → wall, cpu ratios against conds[0]
		for r := 0; r < pairs; r++ {
			res := make([]overheadRun, len(conds))
			// Rotate the order each round (A B, B A, ...), so drifts and
			// noise bursts hit every condition alike.
			for i := range conds {
				k := (i + r) % len(conds)
				if r%2 == 1 {
					k = (len(conds) - 1 - i + r) % len(conds)
				}
				res[k] = runOnce(t, conds[k], iter, whole)
			}
			var line strings.Builder
			for k := 1; k < len(conds); k++ {
				rr := ratios[conds[k].name]
				rr[0] = append(rr[0], res[k].wall.Seconds()/res[0].wall.Seconds())
				rr[1] = append(rr[1], res[k].cpu.Seconds()/res[0].cpu.Seconds())
				ratios[conds[k].name] = rr
				fmt.Fprintf(&line, " %s wall %.4f cpu %.4f;", conds[k].name, rr[0][r], rr[1][r])
			}
			if len(conds) == 3 {
				rr := ratios["perfagent/pyroscope-go"]
				rr[0] = append(rr[0], res[1].wall.Seconds()/res[2].wall.Seconds())
				rr[1] = append(rr[1], res[1].cpu.Seconds()/res[2].cpu.Seconds())
				ratios["perfagent/pyroscope-go"] = rr
			}
			t.Logf("round %2d: off wall %v cpu %v;%s", r+1, res[0].wall.Round(time.Millisecond), res[0].cpu.Round(time.Millisecond), line.String())
		}
		names := make([]string, 0, len(ratios))
		for n := range ratios {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			w25, w50, w75 := medianQuartiles(ratios[n][0])
			c25, c50, c75 := medianQuartiles(ratios[n][1])
			t.Logf("RESULT %-24s runs of %v (whole %v): median per-pair wall ratio %.4f (IQR %.4f–%.4f), CPU ratio %.4f (IQR %.4f–%.4f), %d pairs",
				n, runLen, whole, w50, w25, w75, c50, c25, c75, len(ratios[n][0]))
		}
	}
	experiment(run1s, false, []overheadCond{off, perfagentAt("perfagent@1s", time.Second), pyroscopeGo1s})
	if os.Getenv("PERFAGENT_OVERHEAD_ONLY_1S") != "" {
		return
	}
	if os.Getenv("PERFAGENT_OVERHEAD_WHOLE") != "" {
		experiment(5*time.Second, true, []overheadCond{off, perfagentAt("perfagent@default", 0)})
	} else {
		experiment(agent.DefaultProfilingInterval+time.Second, false, []overheadCond{off, perfagentAt("perfagent@default", 0)})
	}
}

// TestProfilerIdleCost measures what each profiler costs by itself: the
// process CPU time per second of an otherwise idle process holding a
// 64 MiB live heap, profiled at a 1s interval, against the same process
// unprofiled. Without a workload there is no noise to see through and no
// natural GC for pyroscope-go's forced GC (before each heap upload) to
// replace, which is the situation of a service that allocates little.
// Runs only when asked, about 6 minutes:
//
//	cd integration && PERFAGENT_OVERHEAD=1 go test -run TestProfilerIdleCost -v -timeout 30m .
//
// PERFAGENT_OVERHEAD_ROUNDS (default 5) sets the rounds; each measures
// every condition for 10s, in rotated order, with both kinds of live heap.
func TestProfilerIdleCost(t *testing.T) {
	if os.Getenv("PERFAGENT_OVERHEAD") == "" {
		t.Skip("set PERFAGENT_OVERHEAD=1 to measure the profilers' idle cost (about 6 minutes)")
	}
	rounds := envInt("PERFAGENT_OVERHEAD_ROUNDS", 5)
	const settle, window = 2 * time.Second, 10 * time.Second
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer ingest.Close()
	conds := []overheadCond{
		{"off", func(*testing.T) func() { return func() {} }},
		{"perfagent@1s", func(t *testing.T) func() {
			// Profiling only: leak detection off, so both sides do the same job.
			a, err := agent.Start(context.Background(), agent.WithoutHTTPServer(), agent.WithoutExporters(), agent.WithAllowMultiple(),
				agent.WithLogger(quietLogger()), agent.WithoutLeakDetection(),
				agent.WithProfiling(agent.Profiling{ServerAddress: ingest.URL, ApplicationName: "idle", Interval: time.Second}))
			if err != nil {
				t.Fatal(err)
			}
			return func() { _ = a.Shutdown(context.Background()) }
		}},
		{"pyroscope-go@1s", func(t *testing.T) func() {
			p, err := pyroscope.Start(pyroscope.Config{ApplicationName: "idle", ServerAddress: ingest.URL, UploadRate: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return func() { _ = p.Stop() }
		}},
	}
	for _, heap := range []string{"flat", "objects"} {
		var ballast any = make([]byte, 64<<20)
		if heap == "objects" {
			ballast = liveObjects(64 << 20)
		}
		runtime.GC()
		perSec := map[string][]float64{} // condition → CPU ms per second, by round
		for r := 0; r < rounds; r++ {
			for i := range conds {
				c := conds[(i+r)%len(conds)]
				stop := c.start(t)
				time.Sleep(settle)
				c0 := cpuTime()
				time.Sleep(window)
				used := cpuTime() - c0
				stop()
				perSec[c.name] = append(perSec[c.name], float64(used.Microseconds())/1e3/window.Seconds())
			}
		}
		for _, c := range conds {
			p25, med, p75 := medianQuartiles(perSec[c.name])
			t.Logf("RESULT idle, 64 MiB %-7s live heap, %-16s CPU %6.2f ms/s (IQR %.2f–%.2f), %d rounds", heap, c.name, med, p25, p75, rounds)
		}
		runtime.KeepAlive(ballast)
	}
}
