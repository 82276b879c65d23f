package leak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/perfagent/perfagent/snapshot"
)

// MemoryProfileSchema is the value of [MemoryProfile.Schema].
const MemoryProfileSchema = "perfagent.memory-profile/v1"

// Memory profiler defaults.
const (
	DefaultProfileInterval = 10 * time.Millisecond
	DefaultMaxSamples      = 10_000
)

// ProfileOptions configure [ProfileFunction] and [StartWith]. The zero
// value means the defaults.
type ProfileOptions struct {
	// Name labels the profile.
	Name string
	// Interval is the sampling interval (default 10ms; at least 1ms).
	Interval time.Duration
	// MaxSamples bounds the samples kept (default 10000). When reached,
	// every other sample is dropped and the interval doubles, so a long
	// run keeps its whole span at a coarser resolution.
	MaxSamples int
	// GC runs a garbage collection before and after the workload, so
	// Retained is exact and the live heap is current at both ends. It
	// perturbs the workload's own GC pacing; off by default.
	GC bool
	// Config holds the leak verdict's thresholds (MinGrowth,
	// MinGrowthRatio, MinSamples; zero fields: the defaults).
	Config Config
}

// MemoryProfile is the memory behaviour of a workload: its samples and a
// summary, written by [SaveProfile] as memory-profile-<ts>.json.
type MemoryProfile struct {
	Schema string    `json:"schema"`
	Name   string    `json:"name,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// DurationSeconds is End - Start.
	DurationSeconds float64 `json:"duration_seconds"`
	// IntervalSeconds is the final sampling interval.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Samples are the snapshots taken, in time order.
	Samples []snapshot.Snapshot `json:"samples"`
	// PeakHeapInUse and PeakRSS are the largest values sampled.
	PeakHeapInUse uint64 `json:"peak_heap_in_use_bytes"`
	PeakRSS       uint64 `json:"peak_rss_bytes"`
	// HeapLiveBefore and HeapLiveAfter are the live heap at the start and
	// the end (after a GC with ProfileOptions.GC; else as of the last GC
	// before each). Retained is their difference.
	HeapLiveBefore uint64 `json:"heap_live_before_bytes"`
	HeapLiveAfter  uint64 `json:"heap_live_after_bytes"`
	Retained       int64  `json:"retained_bytes"`
	// RetainedExact is true when GCs ran at both ends.
	RetainedExact bool `json:"retained_exact"`
	// Allocated is the bytes allocated during the run; GCCycles the GCs
	// that completed.
	Allocated uint64 `json:"allocated_bytes"`
	GCCycles  uint64 `json:"gc_cycles"`
	// GoroutinesBefore and GoroutinesAfter count goroutines at both ends.
	GoroutinesBefore uint64 `json:"goroutines_before"`
	GoroutinesAfter  uint64 `json:"goroutines_after"`
	// GrowthRate is the Theil–Sen slope, in bytes per second, of the live
	// heap at the samples where a GC had completed (GrowthBasis
	// "heap_live"), or of the heap in use when fewer than three GCs ran
	// ("heap_in_use", which includes garbage: an upper bound).
	GrowthRate  float64 `json:"growth_bytes_per_second"`
	GrowthBasis string  `json:"growth_basis"`
	// Leak is the verdict.
	Leak Verdict `json:"leak"`
	// Error is the workload's error or panic, if any.
	Error string `json:"error,omitempty"`
	// Rounds, for a profile taken by [ProfileRounds], holds the rounds and
	// the verdict over them (then Leak is that verdict); nil otherwise.
	Rounds *RoundsSummary `json:"rounds,omitempty"`
}

// Verdict says whether a profile looks like a leak, and why.
type Verdict struct {
	Suspected bool   `json:"suspected"`
	Reason    string `json:"reason"`
	// Evidence is the trend test over the run (nil when there were too
	// few GC cycles to judge the live heap).
	Evidence *Evidence `json:"evidence,omitempty"`
}

// Recorder samples memory between [Start] and [Recorder.Stop].
type Recorder struct {
	opts    ProfileOptions
	sampler *snapshot.Sampler
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	mu      sync.Mutex
	samples []snapshot.Snapshot
	every   time.Duration
	result  *MemoryProfile
}

// Start starts sampling memory every interval (0 means 10ms) on a goroutine
// of its own, until Stop.
func Start(interval time.Duration) *Recorder {
	return StartWith(ProfileOptions{Interval: interval})
}

// StartWith is Start with options. With opts.GC, it runs a garbage
// collection first.
func StartWith(opts ProfileOptions) *Recorder {
	return startRecorder(opts, false)
}

// startRecorder is StartWith; with prealloc, the sample buffer is
// allocated in full up front, so the recorder's own memory does not grow
// while it runs (a measurement of retained memory would count it).
func startRecorder(opts ProfileOptions, prealloc bool) *Recorder {
	if opts.Interval <= 0 {
		opts.Interval = DefaultProfileInterval
	}
	opts.Interval = max(opts.Interval, time.Millisecond)
	if opts.MaxSamples <= 0 {
		opts.MaxSamples = DefaultMaxSamples
	}
	opts.MaxSamples = max(opts.MaxSamples, 4)
	if opts.GC {
		runtime.GC()
	}
	r := &Recorder{opts: opts, sampler: snapshot.NewSampler(nil), stop: make(chan struct{}), done: make(chan struct{}), every: opts.Interval}
	if prealloc {
		r.samples = make([]snapshot.Snapshot, 0, opts.MaxSamples)
	}
	r.sample()
	go r.loop()
	return r
}

func (r *Recorder) sample() {
	var s snapshot.Snapshot
	r.sampler.Sample(&s)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) >= r.opts.MaxSamples {
		// Keep every other sample and halve the rate.
		n := 0
		for i := 0; i < len(r.samples); i += 2 {
			r.samples[n] = r.samples[i]
			n++
		}
		r.samples = r.samples[:n]
		r.every *= 2
	}
	r.samples = append(r.samples, s)
}

func (r *Recorder) loop() {
	defer close(r.done)
	defer func() { _ = recover() }() // a sampling bug must not crash the code under test
	t := time.NewTimer(r.every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.sample()
			r.mu.Lock()
			every := r.every
			r.mu.Unlock()
			t.Reset(every)
		}
	}
}

// Stop stops sampling (after a last sample, and a GC first with
// ProfileOptions.GC) and returns the profile. Later calls return the same
// profile.
func (r *Recorder) Stop() *MemoryProfile {
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		if r.opts.GC {
			runtime.GC()
		}
		r.sample()
		_ = r.sampler.Close()
		r.result = r.summarise()
	})
	return r.result
}

func (r *Recorder) summarise() *MemoryProfile {
	r.mu.Lock()
	samples := r.samples
	r.mu.Unlock()
	first, last := samples[0], samples[len(samples)-1]
	p := &MemoryProfile{
		Schema: MemoryProfileSchema, Name: r.opts.Name,
		Start: first.Time, End: last.Time, DurationSeconds: last.Time.Sub(first.Time).Seconds(),
		IntervalSeconds: r.every.Seconds(), Samples: samples,
		HeapLiveBefore: first.HeapLive, HeapLiveAfter: last.HeapLive,
		Retained:         int64(last.HeapLive) - int64(first.HeapLive),
		RetainedExact:    r.opts.GC,
		Allocated:        last.AllocBytes - min(first.AllocBytes, last.AllocBytes),
		GCCycles:         last.GCCycles - min(first.GCCycles, last.GCCycles),
		GoroutinesBefore: first.Goroutines.Total, GoroutinesAfter: last.Goroutines.Total,
	}
	for _, s := range samples {
		p.PeakHeapInUse = max(p.PeakHeapInUse, s.HeapInUse)
		p.PeakRSS = max(p.PeakRSS, s.RSS)
	}
	p.GrowthRate, p.GrowthBasis, p.Leak = analyse(samples, r.opts.Config, p)
	return p
}

// analyse estimates the growth rate and judges the run.
func analyse(samples []snapshot.Snapshot, cfg Config, p *MemoryProfile) (float64, string, Verdict) {
	cfg = cfg.WithDefaults()
	// The live heap at samples where a GC completed since the previous.
	var xs, ys []float64
	for i, s := range samples {
		if i > 0 && s.GCCycles == samples[i-1].GCCycles {
			continue
		}
		if s.HeapLive > 0 {
			xs = append(xs, s.Time.Sub(samples[0].Time).Seconds())
			ys = append(ys, float64(s.HeapLive))
		}
	}
	basis := "heap_live"
	if len(xs) < 3 {
		basis = "heap_in_use"
		xs, ys = xs[:0], ys[:0]
		for _, s := range samples {
			xs = append(xs, s.Time.Sub(samples[0].Time).Seconds())
			ys = append(ys, float64(s.HeapInUse))
		}
	}
	xs, ys = thin(xs, ys, maxPoints)
	rate := 0.0
	if len(xs) >= 2 {
		buf := make([]float64, 0, len(xs)*(len(xs)-1)/2)
		if r := theilSen(xs, ys, buf); !math.IsNaN(r) {
			rate = r
		}
	}
	v := Verdict{Reason: "no sustained growth"}
	if basis == "heap_live" && len(xs) >= 2*cfg.MinSamples {
		ev := judgeSeries(xs, ys, samples[0].Time, cfg)
		v.Evidence = &ev
		if ev.Growing {
			v.Suspected = true
			v.Reason = fmt.Sprintf("live heap grew %s/s over the run (Theil–Sen), a sustained trend", FormatBytes(ev.Slope))
		} else {
			v.Reason = "no sustained growth: " + ev.Why
		}
	} else {
		v.Reason = fmt.Sprintf("too few GC cycles (%d live-heap points, want %d) to judge the trend", len(xs), 2*cfg.MinSamples)
	}
	if p.RetainedExact && p.Retained >= cfg.MinGrowth && float64(p.Retained) >= cfg.MinGrowthRatio*float64(p.HeapLiveBefore) {
		v.Suspected = true
		v.Reason = fmt.Sprintf("retained %s after GC (%.1f%% of the live heap before)", FormatBytes(float64(p.Retained)),
			100*float64(p.Retained)/math.Max(1, float64(p.HeapLiveBefore)))
	}
	return rate, basis, v
}

// thin keeps at most n points, evenly spread.
func thin(xs, ys []float64, n int) ([]float64, []float64) {
	if len(xs) <= n {
		return xs, ys
	}
	ox, oy := make([]float64, 0, n), make([]float64, 0, n)
	for i := 0; i < n; i++ {
		j := i * (len(xs) - 1) / (n - 1)
		ox, oy = append(ox, xs[j]), append(oy, ys[j])
	}
	return ox, oy
}

// judgeSeries runs the detector's test on a whole series at once: the
// later window is the last half of the run.
func judgeSeries(xs, ys []float64, base time.Time, cfg Config) Evidence {
	span := xs[len(xs)-1] - xs[0]
	cfg.Window = time.Duration(span / 2 * 1e9)
	cfg.WarmUp, cfg.Persist = 0, 0
	d, err := NewDetector(cfg)
	if err != nil || cfg.Window <= 0 {
		return Evidence{Why: "the run is too short"}
	}
	sr := &d.heap
	for i := range xs {
		sr.push(base.Add(time.Duration(xs[i]*1e9)), ys[i])
	}
	return d.judge(sr, base.Add(time.Duration(xs[len(xs)-1]*1e9)), false)
}

// ProfileFunction runs fn while sampling memory and returns its result and
// the profile. A panic in fn is recovered and returned as an error (the
// profile still covers the run). ctx is passed to fn.
func ProfileFunction[T any](ctx context.Context, fn func(context.Context) (T, error), opts ProfileOptions) (result T, p *MemoryProfile, err error) {
	rec := StartWith(opts)
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("leak: %s panicked: %v", nameOr(opts.Name, "profiled function"), r)
			}
		}()
		result, err = fn(ctx)
	}()
	p = rec.Stop()
	if err != nil {
		p.Error = err.Error()
	}
	return result, p, err
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// WriteJSON writes p as indented JSON.
func (p *MemoryProfile) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("leak: encode memory profile: %w", err)
	}
	return nil
}

// ReadMemoryProfile parses a profile written by WriteJSON or SaveProfile;
// name prefixes errors.
func ReadMemoryProfile(r io.Reader, name string) (*MemoryProfile, error) {
	var p MemoryProfile
	if err := json.NewDecoder(io.LimitReader(r, 256<<20)).Decode(&p); err != nil {
		return nil, fmt.Errorf("leak: memory profile %s: %w", name, err)
	}
	if p.Schema != MemoryProfileSchema {
		return nil, fmt.Errorf("leak: memory profile %s: schema %q, want %q", name, p.Schema, MemoryProfileSchema)
	}
	return &p, nil
}

func openStore(dir string) (*snapshot.Store, error) {
	return snapshot.OpenStore(dir, snapshot.StoreOptions{})
}

// SaveProfile writes p to dir as memory-profile-<ts>.json (ts is p.End)
// atomically, under the directory's default quotas, and returns the path.
func SaveProfile(dir string, p *MemoryProfile) (string, error) {
	var buf bytes.Buffer
	if err := p.WriteJSON(&buf); err != nil {
		return "", err
	}
	s, err := openStore(dir)
	if err != nil {
		return "", err
	}
	return s.WriteFile("memory-profile", ".json", p.End, buf.Bytes())
}

// WriteChart writes p's samples to dir as memory-chart-<ts>.csv (see
// [WriteCSV]) and a small SVG chart beside it, and returns both paths.
func WriteChart(dir string, p *MemoryProfile) (csvPath, svgPath string, err error) {
	rows := ChartRows(p.Samples)
	var c, v bytes.Buffer
	if err := WriteCSV(&c, rows); err != nil {
		return "", "", err
	}
	title := "Memory profile"
	if p.Name != "" {
		title += ": " + p.Name
	}
	if err := WriteSVG(&v, rows, title); err != nil {
		return "", "", err
	}
	s, err := openStore(dir)
	if err != nil {
		return "", "", err
	}
	at := s.FreeTime("memory-chart", p.End, ".csv", ".svg")
	if csvPath, err = s.WriteFile("memory-chart", ".csv", at, c.Bytes()); err != nil {
		return "", "", err
	}
	if svgPath, err = s.WriteFile("memory-chart", ".svg", at, v.Bytes()); err != nil {
		return csvPath, "", err
	}
	return csvPath, svgPath, nil
}

// TakeHeapSnapshot runs a garbage collection (so the profile is current)
// and writes the in-use heap profile to dir as heap-<ts>.pb.gz, which
// `go tool pprof` opens. It returns the path. The GC makes it unsuitable
// for periodic use.
func TakeHeapSnapshot(dir string) (string, error) {
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		return "", fmt.Errorf("leak: heap profile: %w", err)
	}
	s, err := openStore(dir)
	if err != nil {
		return "", err
	}
	return s.Write("heap", time.Now(), buf.Bytes())
}
