package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grafana/pyroscope-go/godeltaprof"

	"github.com/perfagent/perfagent/internal/ratelog"
)

// ProfileType names one profile type as Pyroscope and pyroscope-go name it.
type ProfileType string

// Profile types. The four heap types come from one heap profile, the two
// mutex types from one mutex profile and the two block types from one
// block profile: selecting any of them collects that profile.
const (
	ProfileCPU           ProfileType = "cpu"
	ProfileInuseObjects  ProfileType = "inuse_objects"
	ProfileAllocObjects  ProfileType = "alloc_objects"
	ProfileInuseSpace    ProfileType = "inuse_space"
	ProfileAllocSpace    ProfileType = "alloc_space"
	ProfileGoroutines    ProfileType = "goroutine"
	ProfileMutexCount    ProfileType = "mutex_count"
	ProfileMutexDuration ProfileType = "mutex_duration"
	ProfileBlockCount    ProfileType = "block_count"
	ProfileBlockDuration ProfileType = "block_duration"
)

// Profile kinds: what a [Profile] holds and the kind name a [ProfileWriter]
// receives.
const (
	KindCPU       = "cpu"
	KindHeap      = "heap"
	KindGoroutine = "goroutine"
	KindMutex     = "mutex"
	KindBlock     = "block"
)

// Defaults of [ProfilerConfig].
const (
	// DefaultProfileInterval is the period between profiles (Pyroscope's
	// usual upload rate).
	DefaultProfileInterval = 15 * time.Second
	// DefaultMutexProfileFraction samples one mutex contention event in 10.
	DefaultMutexProfileFraction = 10
	// DefaultBlockProfileRate samples on average one blocking event per
	// 10µs spent blocked.
	DefaultBlockProfileRate = 10_000
)

// DefaultProfileTypes returns the types collected when none are chosen: CPU
// and the four heap types, as pyroscope-go does.
func DefaultProfileTypes() []ProfileType {
	return []ProfileType{ProfileCPU, ProfileAllocObjects, ProfileAllocSpace, ProfileInuseObjects, ProfileInuseSpace}
}

// typeGroups are the names ParseProfileTypes accepts besides the types.
var typeGroups = map[string][]ProfileType{
	"heap":  {ProfileAllocObjects, ProfileAllocSpace, ProfileInuseObjects, ProfileInuseSpace},
	"mutex": {ProfileMutexCount, ProfileMutexDuration},
	"block": {ProfileBlockCount, ProfileBlockDuration},
}

// ParseProfileTypes reads a comma-separated list of profile types (cpu,
// inuse_objects, alloc_objects, inuse_space, alloc_space, goroutine,
// mutex_count, mutex_duration, block_count, block_duration) and the groups
// heap, mutex, block (their types) and default (DefaultProfileTypes). The
// result has no duplicates, in the order first named.
func ParseProfileTypes(s string) ([]ProfileType, error) {
	var out []ProfileType
	add := func(t ProfileType) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case item == "default":
			for _, t := range DefaultProfileTypes() {
				add(t)
			}
		case typeGroups[item] != nil:
			for _, t := range typeGroups[item] {
				add(t)
			}
		case kindOf(ProfileType(item)) != "":
			add(ProfileType(item))
		default:
			return nil, fmt.Errorf("unknown profile type %q (want cpu, heap, goroutine, mutex, block, default, or a single type such as inuse_space)", item)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no profile type given")
	}
	return out, nil
}

// kindOf returns the profile kind that carries t, or "" for an unknown type.
func kindOf(t ProfileType) string {
	switch t {
	case ProfileCPU:
		return KindCPU
	case ProfileInuseObjects, ProfileAllocObjects, ProfileInuseSpace, ProfileAllocSpace:
		return KindHeap
	case ProfileGoroutines:
		return KindGoroutine
	case ProfileMutexCount, ProfileMutexDuration:
		return KindMutex
	case ProfileBlockCount, ProfileBlockDuration:
		return KindBlock
	}
	return ""
}

// Profile is one finished profile handed from a [Profiler] to a
// [ProfileSink].
type Profile struct {
	// Kind is KindCPU, KindHeap, KindGoroutine, KindMutex or KindBlock.
	Kind string
	// Start and End bound what the profile covers. CPU profiles cover
	// exactly the time the CPU profiler ran; heap, mutex and block profiles
	// hold what changed since the previous profile of their kind (godeltaprof
	// deltas; the heap's inuse_* values are the live heap at End); goroutine
	// profiles are taken at End.
	Start, End time.Time
	// Data is the gzipped pprof profile. The sink owns it once handed over.
	Data []byte
}

// A ProfileSink delivers finished profiles (to Pyroscope, to files).
// [Sink] is the implementation this package ships.
type ProfileSink interface {
	// Send hands p over. It must not block: a sink that cannot keep up
	// drops profiles and counts them.
	Send(p Profile)
	// Close delivers what was handed over within ctx, then releases every
	// resource; when ctx ends first it abandons the rest and returns
	// ctx.Err(). Send after Close drops.
	Close(ctx context.Context) error
}

// ProfilerConfig configures [StartProfiler]. The zero value profiles CPU and
// heap continuously with 15-second profiles.
type ProfilerConfig struct {
	// Types are the profile types to collect; nil means
	// DefaultProfileTypes().
	Types []ProfileType
	// Interval is the period between profiles; zero means
	// DefaultProfileInterval. It must not be negative. Each period ends with
	// a CPU profile (continuous mode), a heap profile when a GC ran in it,
	// and the goroutine, mutex and block profiles selected.
	Interval time.Duration
	// CPUSlice, when positive and shorter than Interval, profiles the CPU
	// only for the first CPUSlice of each period (local rolling profiles);
	// zero means the whole period (continuous, as Pyroscope expects).
	CPUSlice time.Duration
	// MutexProfileFraction is set with runtime.SetMutexProfileFraction while
	// a mutex type is selected, and the previous fraction is restored at
	// Stop. Zero keeps a fraction the host already set, else uses
	// DefaultMutexProfileFraction.
	MutexProfileFraction int
	// BlockProfileRate (nanoseconds) is set with runtime.SetBlockProfileRate
	// while a block type is selected; zero means DefaultBlockProfileRate. At
	// Stop the rate is set back to 0 (off), the runtime's default: the
	// runtime offers no way to read the previous rate.
	BlockProfileRate int
	// GCCycles, when set, returns the number of completed GC cycles; the
	// profiler then skips heap profiles when no GC ran since the previous
	// one (the heap profile only changes at a GC). The profiler never forces
	// a GC and never calls runtime.ReadMemStats.
	GCCycles func() uint64
	// Logger receives rate-limited records of failures; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnPanic, when set, is called after a panic in the profiler's
	// goroutine was recovered.
	OnPanic func(component string)
}

// ErrProfilerStopped is returned by [Profiler.Stop] after the first call.
var ErrProfilerStopped = errors.New("exporters: profiler already stopped")

// Profiler collects profiles periodically and hands them to a
// [ProfileSink]. It owns the process's CPU profiler while running and gives
// it up on request ([Profiler.PauseCPU], [Profiler.ResumeCPU]: the
// cpuprof.Owner contract), so one-off CPU profiles keep working. Its methods
// are safe for concurrent use.
//
// Unlike pyroscope-go's session, it never forces a GC or stops the world
// before a heap profile (godeltaprof heap deltas do not need it), cuts and
// hands over the partial profiles of every kind at Stop, and can be paused.
type Profiler struct {
	cfg    ProfilerConfig
	kinds  map[string]bool
	sink   ProfileSink
	log    *ratelog.Limiter
	sliced bool // CPU profiled for CPUSlice of each period

	heap              *godeltaprof.HeapProfiler
	mutexP, blockP    *godeltaprof.BlockProfiler
	prevMutexFraction int
	lastGC            uint64
	heapStart         time.Time
	periodStart       time.Time

	cpuMu      sync.Mutex
	cpuBuf     *bytes.Buffer
	cpuStart   time.Time
	cpuHint    int
	cpuRunning bool
	cpuWant    bool
	cpuPaused  int
	stopped    bool

	stopCh   chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	stats profilerStats
}

// StartProfiler validates cfg, starts collecting and returns the running
// profiler, which owns sink from then on (Stop closes it). The CPU profiler
// is started at once when CPU is selected; if another CPU profile is
// running, the profiler counts the failure and tries again at the next
// period.
func StartProfiler(cfg ProfilerConfig, sink ProfileSink) (*Profiler, error) {
	if sink == nil {
		return nil, errors.New("exporters: profiler: nil sink")
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("exporters: profiler: interval %v is negative", cfg.Interval)
	}
	if cfg.CPUSlice < 0 {
		return nil, fmt.Errorf("exporters: profiler: CPU slice %v is negative", cfg.CPUSlice)
	}
	if cfg.MutexProfileFraction < 0 || cfg.BlockProfileRate < 0 {
		return nil, errors.New("exporters: profiler: negative mutex fraction or block rate")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultProfileInterval
	}
	if cfg.Types == nil {
		cfg.Types = DefaultProfileTypes()
	}
	p := &Profiler{
		cfg:    cfg,
		kinds:  map[string]bool{},
		sink:   sink,
		log:    ratelog.New(cfg.Logger, time.Minute, nil),
		sliced: cfg.CPUSlice > 0 && cfg.CPUSlice < cfg.Interval,
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
	for _, t := range cfg.Types {
		k := kindOf(t)
		if k == "" {
			return nil, fmt.Errorf("exporters: profiler: unknown profile type %q", t)
		}
		p.kinds[k] = true
	}
	now := time.Now()
	p.periodStart, p.heapStart = now, now
	// Prime the delta profilers so the first profiles hold this period
	// only, not everything since the process started.
	if p.kinds[KindHeap] {
		p.heap = godeltaprof.NewHeapProfiler()
		_ = p.heap.Profile(io.Discard)
		if cfg.GCCycles != nil {
			p.lastGC = cfg.GCCycles()
		}
	}
	if p.kinds[KindMutex] {
		frac := cfg.MutexProfileFraction
		cur := runtime.SetMutexProfileFraction(-1)
		if frac == 0 {
			frac = DefaultMutexProfileFraction
			if cur > 0 {
				frac = cur
			}
		}
		p.prevMutexFraction = runtime.SetMutexProfileFraction(frac)
		p.mutexP = godeltaprof.NewMutexProfiler()
		_ = p.mutexP.Profile(io.Discard)
	}
	if p.kinds[KindBlock] {
		rate := cfg.BlockProfileRate
		if rate == 0 {
			rate = DefaultBlockProfileRate
		}
		runtime.SetBlockProfileRate(rate)
		p.blockP = godeltaprof.NewBlockProfiler()
		_ = p.blockP.Profile(io.Discard)
	}
	if p.kinds[KindCPU] {
		p.cpuMu.Lock()
		p.cpuWant = true
		p.startCPULocked()
		p.cpuMu.Unlock()
	}
	go p.run()
	return p, nil
}

// run is the profiler's one goroutine: a period ticker, the end of the CPU
// slice, and the stop request.
func (p *Profiler) run() {
	defer close(p.done)
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	var sliceC <-chan time.Time
	var slice *time.Timer
	if p.sliced && p.kinds[KindCPU] {
		slice = time.NewTimer(p.cfg.CPUSlice)
		defer slice.Stop()
		sliceC = slice.C
	}
	for {
		select {
		case <-tick.C:
			p.safely(p.endPeriod)
			if slice != nil {
				slice.Reset(p.cfg.CPUSlice)
			}
		case <-sliceC:
			p.safely(func() { p.setCPUWant(false) })
		case <-p.stopCh:
			p.safely(p.final)
			return
		}
	}
}

// safely runs f, recovering and counting a panic so the loop goes on.
func (p *Profiler) safely(f func()) {
	defer func() {
		if r := recover(); r != nil {
			p.stats.add(&p.stats.errors, "panic", 1)
			if p.cfg.OnPanic != nil {
				p.cfg.OnPanic("profiling")
			}
			p.log.Log("profiler-panic", slog.LevelError, "perfagent: recovered panic in the profiler", slog.Any("panic", r))
		}
	}()
	f()
}

// endPeriod hands over the period's profiles and starts the next period.
func (p *Profiler) endPeriod() {
	t0 := time.Now()
	if p.kinds[KindCPU] {
		p.cpuMu.Lock()
		if p.sliced {
			// A new slice starts; a slice still running (paused and
			// resumed late) is cut first.
			p.stopCPULocked()
			p.cpuWant = true
		} else {
			p.stopCPULocked() // rotate
		}
		p.startCPULocked()
		p.cpuMu.Unlock()
	}
	p.collectOthers()
	p.stats.addCollectTime(time.Since(t0))
}

// final cuts and hands over everything at Stop, and restores the runtime's
// profiling rates.
func (p *Profiler) final() {
	t0 := time.Now()
	p.cpuMu.Lock()
	p.stopped = true
	p.cpuWant = false
	p.stopCPULocked()
	p.cpuMu.Unlock()
	p.collectOthers()
	if p.kinds[KindMutex] {
		runtime.SetMutexProfileFraction(p.prevMutexFraction)
	}
	if p.kinds[KindBlock] {
		runtime.SetBlockProfileRate(0)
	}
	p.stats.addCollectTime(time.Since(t0))
}

func (p *Profiler) collectOthers() {
	end := time.Now()
	start := p.periodStart
	p.periodStart = end
	if p.kinds[KindHeap] {
		p.collectHeap(end)
	}
	if p.kinds[KindGoroutine] {
		p.collect(KindGoroutine, start, end, func(w io.Writer) error {
			return pprof.Lookup("goroutine").WriteTo(w, 0)
		})
	}
	if p.kinds[KindMutex] {
		p.collect(KindMutex, start, end, p.mutexP.Profile)
	}
	if p.kinds[KindBlock] {
		p.collect(KindBlock, start, end, p.blockP.Profile)
	}
}

func (p *Profiler) collectHeap(end time.Time) {
	if p.cfg.GCCycles != nil {
		n := p.cfg.GCCycles()
		if n == p.lastGC {
			// No GC: the heap profile has not changed since the last one.
			p.stats.add(&p.stats.skipped, KindHeap, 1)
			return
		}
		p.lastGC = n
	}
	start := p.heapStart
	p.heapStart = end
	p.collect(KindHeap, start, end, p.heap.Profile)
}

func (p *Profiler) collect(kind string, start, end time.Time, write func(io.Writer) error) {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		p.stats.add(&p.stats.errors, kind, 1)
		p.log.Log("profile-"+kind, slog.LevelWarn, "perfagent: taking a profile failed", slog.String("kind", kind), slog.String("error", err.Error()))
		return
	}
	p.emit(kind, start, end, buf.Bytes())
}

func (p *Profiler) emit(kind string, start, end time.Time, data []byte) {
	p.stats.add(&p.stats.collected, kind, 1)
	p.sink.Send(Profile{Kind: kind, Start: start, End: end, Data: data})
}

// setCPUWant records whether the schedule wants the CPU profiled now and
// starts or stops the CPU profiler accordingly.
func (p *Profiler) setCPUWant(want bool) {
	p.cpuMu.Lock()
	defer p.cpuMu.Unlock()
	p.cpuWant = want
	if want {
		p.startCPULocked()
	} else {
		p.stopCPULocked()
	}
}

func (p *Profiler) startCPULocked() {
	if p.cpuRunning || !p.cpuWant || p.cpuPaused > 0 || p.stopped {
		return
	}
	buf := bytes.NewBuffer(make([]byte, 0, p.cpuHint))
	if err := pprof.StartCPUProfile(buf); err != nil {
		// Someone outside the arbiter holds the CPU profiler (a host's own
		// pprof.StartCPUProfile); try again next period.
		p.stats.add(&p.stats.errors, "cpu_busy", 1)
		p.log.Log("cpu-busy", slog.LevelWarn, "perfagent: the CPU profiler is in use elsewhere; continuous CPU profiling resumes when it is free",
			slog.String("error", err.Error()))
		return
	}
	p.cpuBuf, p.cpuStart, p.cpuRunning = buf, time.Now(), true
}

func (p *Profiler) stopCPULocked() {
	if !p.cpuRunning {
		return
	}
	pprof.StopCPUProfile()
	p.cpuRunning = false
	data := p.cpuBuf.Bytes()
	p.cpuBuf = nil
	p.cpuHint = len(data) + len(data)/4
	p.emit(KindCPU, p.cpuStart, time.Now(), data)
}

// PauseCPU stops continuous CPU profiling, handing over the partial CPU
// profile, and returns with the CPU profiler free. It never blocks on the
// network; ctx is not needed and ignored. Each PauseCPU must be followed by
// one ResumeCPU.
func (p *Profiler) PauseCPU(context.Context) error {
	p.cpuMu.Lock()
	defer p.cpuMu.Unlock()
	p.cpuPaused++
	p.stats.addPause()
	p.stopCPULocked()
	return nil
}

// ResumeCPU undoes one PauseCPU: CPU profiling starts again when the
// schedule wants it and no other pause is in force. After Stop it does
// nothing.
func (p *Profiler) ResumeCPU() {
	p.cpuMu.Lock()
	defer p.cpuMu.Unlock()
	if p.cpuPaused > 0 {
		p.cpuPaused--
	}
	p.startCPULocked()
}

// Stop ends collection: it cuts the running CPU profile, takes the final
// heap, goroutine, mutex and block profiles, restores the runtime's mutex
// and block rates, then closes the sink, which delivers within ctx. It
// returns ctx.Err() when ctx ended before delivery finished, the sink's
// error otherwise. The profiler's goroutine has exited when Stop returns.
// A second call returns ErrProfilerStopped.
func (p *Profiler) Stop(ctx context.Context) error {
	err := ErrProfilerStopped
	p.stopOnce.Do(func() {
		close(p.stopCh)
		// The final collection does not touch the network and takes
		// milliseconds; waiting for it keeps the no-leak contract.
		<-p.done
		err = p.sink.Close(ctx)
	})
	return err
}

// ProfilerStats is a point-in-time account of a [Profiler]'s work, shaped
// for JSON.
type ProfilerStats struct {
	// Collected counts profiles taken and handed to the sink, by kind.
	Collected map[string]int64 `json:"collected"`
	// Skipped counts heap profiles not taken because no GC ran.
	Skipped map[string]int64 `json:"skipped,omitempty"`
	// Errors counts failures by kind, "cpu_busy" (the CPU profiler was held
	// outside the arbiter) and "panic" (recovered).
	Errors map[string]int64 `json:"errors,omitempty"`
	// CPUPauses counts pauses for one-off CPU profiles.
	CPUPauses int64 `json:"cpu_pauses"`
	// CollectSeconds is the time spent taking profiles (the profiler's own
	// cost, besides the CPU profiler's sampling).
	CollectSeconds float64 `json:"collect_seconds"`
}

// Stats returns the profiler's counters.
func (p *Profiler) Stats() ProfilerStats {
	return p.stats.snapshot()
}

type profilerStats struct {
	mu        sync.Mutex
	collected map[string]int64
	skipped   map[string]int64
	errors    map[string]int64
	pauses    int64
	collect   time.Duration
}

func (s *profilerStats) add(m *map[string]int64, key string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[key] += n
}

func (s *profilerStats) addPause() {
	s.mu.Lock()
	s.pauses++
	s.mu.Unlock()
}

func (s *profilerStats) addCollectTime(d time.Duration) {
	s.mu.Lock()
	s.collect += d
	s.mu.Unlock()
}

func (s *profilerStats) snapshot() ProfilerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ProfilerStats{
		Collected:      cloneCounts(s.collected),
		Skipped:        cloneCounts(s.skipped),
		Errors:         cloneCounts(s.errors),
		CPUPauses:      s.pauses,
		CollectSeconds: s.collect.Seconds(),
	}
}

func cloneCounts(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
