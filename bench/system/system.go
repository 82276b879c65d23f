package system

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// Category is the [results.Benchmark.Category] of every system benchmark.
const Category = "system"

// Units and metric units of the suite beyond those of package bench.
const (
	// UnitWakeup is the primary unit of the scheduler benchmarks: delay of
	// one wake-up in nanoseconds.
	UnitWakeup = "ns/wakeup"
	// UnitRuntimeSchedP99 is the p99 of /sched/latencies:seconds over the
	// benchmark, in nanoseconds.
	UnitRuntimeSchedP99 = "runtime-sched-latency-p99-ns"
	// UnitMBPerSec is throughput in megabytes (1e6 B) per second, the
	// testing package's spelling.
	UnitMBPerSec = "MB/s"
	// GC pause metrics: percentiles and maximum of the stop-the-world pauses
	// during measurement, in nanoseconds, and pauses per cycle.
	UnitPauseP50   = "gc-pause-p50-ns"
	UnitPauseP99   = "gc-pause-p99-ns"
	UnitPauseMax   = "gc-pause-max-ns"
	UnitPausesOp   = "gc-pauses/op"
	UnitGCCPUPerOp = "gc-cpu-ns/op" // estimated GC CPU time per cycle (all threads)
)

// Options configure [Run]. The zero value runs the full suite with default
// durations (about 40 s).
type Options struct {
	// Quick shortens every benchmark (300ms of measurement in 10 rounds)
	// and uses small heaps (1 and 4 MiB), so the suite takes a few seconds. The
	// results record quick mode, and comparisons refuse to compare a quick
	// run with a full one.
	Quick bool
	// Rounds is the number of rounds of every benchmark (its sample count).
	// Default 10; below 6 no change could ever be significant once the gate
	// adjusts for the suite's nine rows.
	Rounds int
	// Duration is the measurement time of each benchmark over all its
	// rounds (its MinDuration). Default 2s, or 300ms when Quick.
	Duration time.Duration
	// HeapSizes are the live-heap sizes of the GC benchmarks in bytes.
	// Default 16, 64 and 256 MiB, or 1 and 4 MiB when Quick. Sizes under
	// 64 KiB are raised to 64 KiB; repeated sizes run once.
	HeapSizes []int64
	// LoadGoroutines is the number of CPU-burning goroutines of
	// sched/latency/loaded. Default GOMAXPROCS.
	LoadGoroutines int
	// Filter, when set, selects benchmarks by name.
	Filter func(name string) bool
}

func (o Options) withDefaults() Options {
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
		if o.Quick {
			o.Duration = 300 * time.Millisecond
		}
	}
	if o.Rounds <= 0 {
		o.Rounds = bench.DefaultRounds
	}
	if len(o.HeapSizes) == 0 {
		o.HeapSizes = []int64{16 << 20, 64 << 20, 256 << 20}
		if o.Quick {
			o.HeapSizes = []int64{1 << 20, 4 << 20}
		}
	}
	if o.LoadGoroutines <= 0 {
		o.LoadGoroutines = runtime.GOMAXPROCS(0)
	}
	return o
}

// Parameters returns the settings that shape the suite's workloads and
// measurement, for [results.Run.Parameters]: comparisons warn when they
// differ between two runs.
func (o Options) Parameters() map[string]string {
	o = o.withDefaults()
	var sizes []string
	for _, s := range o.HeapSizes {
		sizes = append(sizes, sizeName(max(s, 64<<10)))
	}
	return map[string]string{
		"system.rounds":          strconv.Itoa(o.Rounds),
		"system.duration":        o.Duration.String(),
		"system.heap_sizes":      strings.Join(sizes, ","),
		"system.load_goroutines": strconv.Itoa(o.LoadGoroutines),
	}
}

// runOptions are the runner options of a benchmark with the given warm-up
// and minimum operation counts (cut down when Quick).
func (o Options) runOptions(warmup, runs int) bench.Options {
	if o.Quick {
		warmup, runs = min(warmup, 2), min(runs, 20)
	}
	return bench.Options{WarmupRuns: warmup, Rounds: o.Rounds, MeasurementRuns: runs, MinDuration: o.Duration, MaxDuration: 5*o.Duration + 60*time.Second}
}

// suite lists the benchmarks for o in run order.
func suite(o Options) []bench.Spec {
	bs := []bench.Spec{
		schedLatency("sched/latency/idle", o, 0),
		schedLatency("sched/latency/loaded", o, o.LoadGoroutines),
		allocSmall(o), allocLarge(o), hashing(o),
	}
	seen := map[int64]bool{}
	for _, size := range o.HeapSizes {
		size := max(size, 64<<10)
		if seen[size] {
			continue
		}
		seen[size] = true
		bs = append(bs, gcCycle(o, size))
	}
	bs = append(bs, jsonEncode(o), jsonDecode(o))
	scale := extraWork()
	for i := range bs {
		bs[i].Category = Category
		// Every round starts from a collected heap, so the GC work
		// inside it depends on the round, not on the garbage that the
		// benchmark before it (or another process's history) left.
		setup := bs[i].Setup
		bs[i].Setup = func(ctx context.Context) (func(), error) {
			runtime.GC()
			if setup != nil {
				return setup(ctx)
			}
			return func() {}, nil
		}
		if fn := bs[i].N; fn != nil && scale > 0 {
			bs[i].N = func(ctx context.Context, n int) error {
				// One call with the extra operations, so per-call
				// setup (a live heap, a buffer) is not paid twice; the
				// fraction of an operation is rounded at random, so the
				// extra work is scale*n on average even for small n.
				extra := float64(n) * scale
				whole := int(extra)
				if rand.Float64() < extra-float64(whole) {
					whole++
				}
				return fn(ctx, n+whole)
			}
		}
	}
	return bs
}

// calibrationWork, when set at link time (go build -ldflags
// '-X github.com/perfagent/perfagent/bench/system.calibrationWork=0.10'),
// makes every batched benchmark do that fraction more work per operation
// (0.10: n operations become n + 10% n in the same call, still counted as n). It exists for one
// purpose: the gate's calibration builds a known-slower perfagent with it
// and measures how often the gate catches the slowdown. It is empty in every
// other build.
var calibrationWork string

// extraWork parses calibrationWork: 0 unless it is a fraction in (0, 10].
func extraWork() float64 {
	v, err := strconv.ParseFloat(calibrationWork, 64)
	if err != nil || !(v > 0 && v <= 10) {
		return 0
	}
	return v
}

// Names returns the names of the benchmarks Run would run with o, in order.
func Names(o Options) []string {
	o = o.withDefaults()
	var names []string
	for _, b := range suite(o) {
		if o.Filter == nil || o.Filter(b.Name) {
			names = append(names, b.Name)
		}
	}
	return names
}

// Run runs the suite with r, its benchmarks' rounds interleaved
// ([bench.Runner.RunSuite]), and records quick mode and the suite's
// [Options.Parameters] in r's results. A benchmark that fails is recorded in
// r's results and the others still run; Run returns the failures joined.
// When ctx is done every benchmark stops and records the interruption.
//
// sched/latency/idle also gets the metric [results.UnitSchedLagP99], the p99
// of its wake-up delays, which the "scheduler-lag" budget reads; the loaded
// case saturates the CPU on purpose and does not carry it, so that budget
// judges the machine's scheduling, not a deliberate overload.
func Run(ctx context.Context, r *bench.Runner, o Options) error {
	if r == nil {
		return errors.New("system: nil runner")
	}
	o = o.withDefaults()
	r.SetQuick(o.Quick)
	params := o.Parameters()
	params[ParamIsolation] = "none"
	r.SetParameters(params)
	var specs []bench.Spec
	for _, b := range suite(o) {
		if o.Filter == nil || o.Filter(b.Name) {
			specs = append(specs, b)
		}
	}
	res, err := r.RunSuite(ctx, specs)
	err = errors.Join(err, addSchedLag(r, res))
	if err != nil {
		return fmt.Errorf("system: %w", err)
	}
	return nil
}

// sizeName renders a byte count as "4MiB", "64KiB" or "123B".
func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// --- scheduler latency ---

// wakeInterval is the sleep of one scheduler-latency sample.
const wakeInterval = time.Millisecond

// schedLatency measures how late a goroutine waiting for a 1ms timer runs
// after the timer expires, while load goroutines (started for each round)
// burn CPU.
func schedLatency(name string, o Options, load int) bench.Spec {
	opts := o.runOptions(10, 100)
	opts.Observers = []bench.Observer{&schedObserver{lat: newHistReader("/sched/latencies:seconds")}}
	sp := bench.Spec{Name: name, Unit: UnitWakeup, Options: opts, Sampled: func(ctx context.Context) (float64, error) {
		t0 := time.Now()
		timer := time.NewTimer(wakeInterval)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return 0, ctx.Err()
		}
		return float64(time.Since(t0) - wakeInterval), nil
	}}
	if load > 0 {
		sp.Setup = func(context.Context) (func(), error) { return startLoad(load), nil }
	}
	return sp
}

// schedObserver reports the p99 of the runtime's scheduling latencies.
type schedObserver struct{ lat *histReader }

func (s *schedObserver) Start() { s.lat.start() }

func (s *schedObserver) Stop() []results.Metric {
	h := s.lat.delta()
	if h.total() == 0 {
		return nil
	}
	return []results.Metric{{Unit: UnitRuntimeSchedP99, Value: h.quantile(0.99) * 1e9}}
}

// startLoad starts n goroutines that hash in a loop until the returned stop
// function is called; stop waits for them to exit.
func startLoad(n int) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = recover() }() // nothing here panics; never take the host down
			var block [1024]byte
			for !done.Load() {
				sum := sha256.Sum256(block[:])
				block[0] ^= sum[0]
			}
		}()
	}
	return func() {
		done.Store(true)
		wg.Wait()
	}
}

// --- allocation ---

func allocSmall(o Options) bench.Spec {
	// A ring of live slots: objects die young, as most allocations do.
	var ring [1024]*[64]byte
	opts := o.runOptions(5, 20)
	opts.Bytes = 64
	return bench.Spec{Name: "alloc/small-64B", Options: opts, N: func(_ context.Context, n int) error {
		for i := range n {
			ring[i&(len(ring)-1)] = new([64]byte)
		}
		runtime.KeepAlive(&ring)
		return nil
	}}
}

func allocLarge(o Options) bench.Spec {
	// The ring keeps the last allocations reachable (so the compiler
	// cannot drop them); it is dropped after each round, so the 4 MiB it
	// holds never sits in the live heap of the GC benchmarks interleaved
	// with this one.
	var ring *[4][]byte
	opts := o.runOptions(5, 20)
	opts.Bytes = 1 << 20
	return bench.Spec{Name: "alloc/large-1MiB", Options: opts,
		Setup: func(context.Context) (func(), error) {
			ring = new([4][]byte)
			return func() { ring = nil }, nil
		},
		N: func(_ context.Context, n int) error {
			for i := range n {
				ring[i&(len(ring)-1)] = make([]byte, 1<<20)
			}
			runtime.KeepAlive(ring)
			return nil
		}}
}

// --- CPU ---

func hashing(o Options) bench.Spec {
	buf := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	var sink [sha256.Size]byte
	opts := o.runOptions(5, 20)
	opts.Bytes = int64(len(buf))
	return bench.Spec{Name: "cpu/sha256-64KiB", Options: opts, N: func(_ context.Context, n int) error {
		for range n {
			sum := sha256.Sum256(buf)
			sink[0] ^= sum[0]
		}
		runtime.KeepAlive(&sink)
		return nil
	}}
}

// --- GC ---

// gcNode is a 64-byte heap object with two pointers, so marking has
// pointers to follow.
type gcNode struct {
	left, right *gcNode
	data        [6]uint64
}

// buildHeap allocates about size bytes of live, linked gcNodes.
func buildHeap(size int64) []*gcNode {
	const per = 64 + 8 // a node and its slot in the slice
	nodes := make([]*gcNode, max(size/per, 1))
	for i := range nodes {
		n := &gcNode{}
		n.data[0] = uint64(i)
		if i > 0 {
			n.left = nodes[i/2]
			n.right = nodes[i-1]
		}
		nodes[i] = n
	}
	return nodes
}

// gcCycle measures one forced, complete GC cycle (runtime.GC) with size
// bytes of live heap, and the pauses of those cycles. The heap is built for
// each round and dropped after it, so the benchmarks interleaved with this
// one never run beside it.
func gcCycle(o Options, size int64) bench.Spec {
	var live []*gcNode
	opts := o.runOptions(2, 10)
	opts.Observers = []bench.Observer{newGCObserver()}
	return bench.Spec{Name: "gc/live-heap-" + sizeName(size), Options: opts,
		Setup: func(context.Context) (func(), error) {
			live = buildHeap(size)
			return func() { live = nil }, nil
		},
		N: func(ctx context.Context, n int) error {
			for range n {
				if err := ctx.Err(); err != nil {
					return err
				}
				runtime.GC()
			}
			runtime.KeepAlive(live)
			return nil
		}}
}

// gcObserver reads GC pauses, cycles and GC CPU time over the measurement.
type gcObserver struct {
	pauses  *histReader
	scalars [3]metrics.Sample // cycles, GC CPU seconds, live heap bytes
	cycles0 uint64
	cpu0    float64
}

func newGCObserver() *gcObserver {
	g := &gcObserver{pauses: newHistReader("/sched/pauses/total/gc:seconds")}
	g.scalars[0].Name = "/gc/cycles/total:gc-cycles"
	g.scalars[1].Name = "/cpu/classes/gc/total:cpu-seconds"
	g.scalars[2].Name = "/gc/heap/live:bytes"
	return g
}

func (g *gcObserver) Start() {
	g.pauses.start()
	metrics.Read(g.scalars[:])
	g.cycles0, g.cpu0 = uint64Of(g.scalars[0]), float64Of(g.scalars[1])
}

func (g *gcObserver) Stop() []results.Metric {
	h := g.pauses.delta()
	metrics.Read(g.scalars[:])
	cycles := uint64Of(g.scalars[0]) - g.cycles0
	cpu := float64Of(g.scalars[1]) - g.cpu0
	var out []results.Metric
	if h.total() > 0 {
		out = append(out,
			results.Metric{Unit: UnitPauseP50, Value: h.quantile(0.50) * 1e9},
			results.Metric{Unit: UnitPauseP99, Value: h.quantile(0.99) * 1e9},
			results.Metric{Unit: UnitPauseMax, Value: h.max() * 1e9})
	}
	if cycles > 0 {
		out = append(out,
			results.Metric{Unit: UnitPausesOp, Value: float64(h.total()) / float64(cycles)},
			results.Metric{Unit: UnitGCCPUPerOp, Value: cpu * 1e9 / float64(cycles)})
	}
	if live := uint64Of(g.scalars[2]); live > 0 {
		out = append(out, results.Metric{Unit: "live-heap-bytes", Value: float64(live)})
	}
	return out
}

// --- JSON ---

// order is a typical API document: nested objects, arrays, strings, numbers,
// a time and a map.
type order struct {
	ID        int64             `json:"id"`
	Customer  customer          `json:"customer"`
	Items     []item            `json:"items"`
	Tags      []string          `json:"tags"`
	Total     float64           `json:"total"`
	Paid      bool              `json:"paid"`
	CreatedAt time.Time         `json:"created_at"`
	Meta      map[string]string `json:"meta"`
}

type customer struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type item struct {
	SKU      string  `json:"sku"`
	Name     string  `json:"name"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"`
}

// newOrder builds a deterministic 20-item order.
func newOrder() *order {
	rng := rand.New(rand.NewPCG(3, 4))
	o := &order{
		ID:        1234567,
		Customer:  customer{ID: 42, Name: "Ada Lovelace", Email: "ada@example.com"},
		Tags:      []string{"priority", "gift", "eu"},
		Paid:      true,
		CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Meta:      map[string]string{"source": "web", "campaign": "spring", "locale": "en-GB"},
	}
	for i := range 20 {
		it := item{SKU: fmt.Sprintf("SKU-%06d", rng.IntN(1e6)), Name: fmt.Sprintf("Item number %d", i), Quantity: 1 + rng.IntN(5), Price: float64(rng.IntN(10000)) / 100}
		o.Items = append(o.Items, it)
		o.Total += float64(it.Quantity) * it.Price
	}
	return o
}

func jsonEncode(o Options) bench.Spec {
	doc := newOrder()
	enc, _ := json.Marshal(doc) // a fixed document of plain types: cannot fail
	opts := o.runOptions(5, 20)
	opts.Bytes = int64(len(enc))
	return bench.Spec{Name: "json/encode", Options: opts, N: func(_ context.Context, n int) error {
		for range n {
			if _, err := json.Marshal(doc); err != nil {
				return err
			}
		}
		return nil
	}}
}

func jsonDecode(o Options) bench.Spec {
	enc, _ := json.Marshal(newOrder()) // as in jsonEncode
	opts := o.runOptions(5, 20)
	opts.Bytes = int64(len(enc))
	return bench.Spec{Name: "json/decode", Options: opts, N: func(_ context.Context, n int) error {
		for range n {
			var out order
			if err := json.Unmarshal(enc, &out); err != nil {
				return err
			}
		}
		return nil
	}}
}
