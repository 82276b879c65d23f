package agent

// The snapshot and leak component: a sampler of runtime and process state
// at an interval, the bounded history it fills (served and flushed to
// files), triggered and on-demand profile captures, and the leak monitor.
// Everything of this component lives in this file; the other agent files
// call startLeak, stopLeak, resolveLeak and registerLeakRoutes once each.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	cfgpkg "github.com/perfagent/perfagent/internal/config"
	"github.com/perfagent/perfagent/internal/cpuprof"
	"github.com/perfagent/perfagent/leak"
	"github.com/perfagent/perfagent/snapshot"
)

// Environment variables of the snapshot and leak component. Options
// override them.
const (
	EnvOutputDir        = "PERFAGENT_OUTPUT_DIR"          // output root, or "off" (default "perf")
	EnvOutputMaxBytes   = "PERFAGENT_OUTPUT_MAX_BYTES"    // byte quota of each output directory, e.g. "256MiB"
	EnvOutputMaxFiles   = "PERFAGENT_OUTPUT_MAX_FILES"    // file-count quota of each output directory
	EnvSnapshotInterval = "PERFAGENT_SNAPSHOT_INTERVAL"   // sampling interval, a Go duration (default 5s)
	EnvHistorySize      = "PERFAGENT_HISTORY_SIZE"        // snapshots kept in memory (default 1440)
	EnvHistoryFlush     = "PERFAGENT_HISTORY_FLUSH"       // history file interval, a Go duration or "off" (default 10m)
	EnvCaptureTriggers  = "PERFAGENT_CAPTURE_TRIGGERS"    // "false" turns triggered profile captures off
	EnvLeak             = "PERFAGENT_LEAK"                // "false" turns leak detection off
	EnvLeakWarmUp       = "PERFAGENT_LEAK_WARMUP"         // leak.Config.WarmUp
	EnvLeakWindow       = "PERFAGENT_LEAK_WINDOW"         // leak.Config.Window
	EnvLeakPersist      = "PERFAGENT_LEAK_PERSIST"        // leak.Config.Persist
	EnvLeakRealert      = "PERFAGENT_LEAK_REALERT"        // leak.Config.Realert
	EnvLeakMinGrowth    = "PERFAGENT_LEAK_MIN_GROWTH"     // leak.Config.MinGrowth, bytes, e.g. "1MiB"
	EnvLeakMinRatio     = "PERFAGENT_LEAK_MIN_RATIO"      // leak.Config.MinGrowthRatio, e.g. "0.01" or "1%"
	EnvLeakMinGoroutine = "PERFAGENT_LEAK_MIN_GOROUTINES" // leak.Config.MinGoroutineGrowth
)

// Defaults of the snapshot and leak component.
const (
	DefaultOutputDir        = "perf"
	DefaultSnapshotInterval = 5 * time.Second
	DefaultHistoryFlush     = 10 * time.Minute
	// On-demand captures (POST /debug/perfagent/capture) are limited to a
	// burst of DefaultCaptureBurst, then one every DefaultCaptureEvery;
	// over the limit the endpoint answers 429 with Retry-After. They are
	// written to <output>/profiles/on-demand with a quota of their own, so
	// they never evict triggered captures from <output>/profiles.
	DefaultCaptureBurst = 3
	DefaultCaptureEvery = 10 * time.Second
)

// Output subdirectories of the output root.
const (
	memoryDir     = "memory"
	monitoringDir = "monitoring"
	profilesDir   = "profiles"
)

// leakConfig is the component's part of config. Fields with a *Set
// companion were set by an option.
type leakConfig struct {
	outputDir    string // "" is off
	outputDirSet bool
	quota        snapshot.StoreOptions
	quotaSet     bool

	interval    time.Duration
	intervalSet bool
	historySize int
	historySet  bool
	flush       time.Duration // 0 is off
	flushSet    bool
	triggers    snapshot.Triggers
	triggersSet bool
	leak        leak.Config
	leakOff     bool
	leakOffSet  bool
}

// WithOutputDir sets the output root (default "perf" in the working
// directory, or PERFAGENT_OUTPUT_DIR): leak reports, charts and heap
// profiles go to <dir>/memory, history files to <dir>/monitoring, captured
// profiles to <dir>/profiles. Directories are created on the first write.
// "off" (or "") writes no files; detection, the history and the debug
// endpoints work in memory. A directory that cannot be written is logged
// (at most once a minute) and counted (perfagent.agent.dropped, kind
// "file"), never fatal.
func WithOutputDir(dir string) Option {
	return optionFunc(func(c *config) error {
		if dir == "off" {
			dir = ""
		}
		c.leak.outputDir, c.leak.outputDirSet = dir, true
		return nil
	})
}

// WithOutputQuota bounds each output directory to maxBytes and maxFiles of
// the agent's own files, deleting the oldest first (defaults 256 MiB and
// 500 files, or PERFAGENT_OUTPUT_MAX_BYTES and PERFAGENT_OUTPUT_MAX_FILES).
// maxBytes must be from 1 to 1 TiB, maxFiles from 1 to
// 1000000.
func WithOutputQuota(maxBytes int64, maxFiles int) Option {
	return optionFunc(func(c *config) error {
		if maxBytes <= 0 || maxBytes > maxOutputBytes || maxFiles <= 0 || maxFiles > maxOutputFiles {
			return fmt.Errorf("WithOutputQuota(%d, %d): want bytes from 1 to %d and files from 1 to %d",
				maxBytes, maxFiles, int64(maxOutputBytes), maxOutputFiles)
		}
		c.leak.quota, c.leak.quotaSet = snapshot.StoreOptions{MaxBytes: maxBytes, MaxFiles: maxFiles}, true
		return nil
	})
}

// WithSnapshotInterval sets how often the agent samples the runtime and
// the process into its history, triggers and leak detector (default 5s, or
// PERFAGENT_SNAPSHOT_INTERVAL). It must be from 10ms to
// 1h.
func WithSnapshotInterval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if err := cfgpkg.CheckDuration("WithSnapshotInterval", d, minSnapshotInterval, maxSnapshotInterval); err != nil {
			return err
		}
		c.leak.interval, c.leak.intervalSet = d, true
		return nil
	})
}

// WithHistory sets how many snapshots the history keeps in memory (default
// 1440, two hours at 5s; or PERFAGENT_HISTORY_SIZE) and how often the
// snapshots taken since the previous file are written to
// monitoring/metrics-history-<ts>.json (default 10m, or
// PERFAGENT_HISTORY_FLUSH; 0 writes only at Shutdown). size must be from 1
// to 1000000 and flush 0 or from 1s to
// 24h.
func WithHistory(size int, flush time.Duration) Option {
	return optionFunc(func(c *config) error {
		if size <= 0 || size > maxHistorySize || (flush != 0 && (flush < minHistoryFlush || flush > maxHistoryFlush)) {
			return fmt.Errorf("WithHistory(%d, %v): size must be from 1 to %d and flush 0 or from %v to %v",
				size, flush, maxHistorySize, minHistoryFlush, maxHistoryFlush)
		}
		c.leak.historySize, c.leak.flush, c.leak.historySet, c.leak.flushSet = size, flush, true, true
		return nil
	})
}

// WithCaptureTriggers sets when profiles are captured on their own (heap
// growth, goroutine spike, scheduling latency, GC CPU; zero fields take
// snapshot's defaults). Triggered captures are on by default
// (PERFAGENT_CAPTURE_TRIGGERS=false turns them off).
func WithCaptureTriggers(t snapshot.Triggers) Option {
	return optionFunc(func(c *config) error {
		c.leak.triggers, c.leak.triggersSet = t, true
		return nil
	})
}

// WithoutCaptureTriggers turns triggered captures off; on-demand captures
// (POST /debug/perfagent/capture) still work.
func WithoutCaptureTriggers() Option {
	return optionFunc(func(c *config) error {
		c.leak.triggers, c.leak.triggersSet = snapshot.Off(), true
		return nil
	})
}

// WithLeakDetection turns heap and goroutine leak detection on (it is on by
// default) with cfg's thresholds. Fields left zero take the
// PERFAGENT_LEAK_* variables, then leak's defaults; an invalid field fails
// Start, naming it.
func WithLeakDetection(cfg leak.Config) Option {
	return optionFunc(func(c *config) error {
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("WithLeakDetection: %w", err)
		}
		c.leak.leak, c.leak.leakOff, c.leak.leakOffSet = cfg, false, true
		return nil
	})
}

// WithoutLeakDetection turns leak detection off (the history and captures
// keep working).
func WithoutLeakDetection() Option {
	return optionFunc(func(c *config) error {
		c.leak.leakOff, c.leak.leakOffSet = true, true
		return nil
	})
}

// Bounds of the snapshot and leak component's settings; options and
// variables outside them fail Start.
const (
	minSnapshotInterval = 10 * time.Millisecond // WithSnapshotInterval, PERFAGENT_SNAPSHOT_INTERVAL
	maxSnapshotInterval = time.Hour
	maxHistorySize      = 1_000_000 // WithHistory, PERFAGENT_HISTORY_SIZE (from 1)
	minHistoryFlush     = time.Second
	maxHistoryFlush     = 24 * time.Hour // WithHistory, PERFAGENT_HISTORY_FLUSH (or off)
	maxOutputBytes      = 1 << 40        // WithOutputQuota, PERFAGENT_OUTPUT_MAX_BYTES (from 1)
	maxOutputFiles      = 1_000_000      // WithOutputQuota, PERFAGENT_OUTPUT_MAX_FILES (from 1)
	// maxLeakDuration bounds PERFAGENT_LEAK_WARMUP, _WINDOW, _PERSIST and
	// _REALERT (window and realert from 1s, the others from 0).
	maxLeakDuration = 7 * 24 * time.Hour
	// maxLeakMinGrowth bounds the size of PERFAGENT_LEAK_MIN_GROWTH and the
	// count of PERFAGENT_LEAK_MIN_GOROUTINES (either sign: negative turns
	// that detection off; zero is refused).
	maxLeakMinGrowth     = 1 << 40
	maxLeakMinGoroutines = 10_000_000
	// maxLeakMinRatio bounds PERFAGENT_LEAK_MIN_RATIO (from 0).
	maxLeakMinRatio = 100.0
)

// resolveLeak fills what no option set from the environment, then from
// defaults, and records every problem in r.
func (c *config) resolveLeak(r *cfgpkg.Reader) {
	lc := &c.leak
	if !lc.outputDirSet {
		lc.outputDir = DefaultOutputDir
		if r.String(EnvOutputDir, &lc.outputDir) && lc.outputDir == "off" {
			lc.outputDir = ""
		}
	}
	if !lc.quotaSet {
		r.Bytes(EnvOutputMaxBytes, &lc.quota.MaxBytes, 1, maxOutputBytes)
		r.Int(EnvOutputMaxFiles, &lc.quota.MaxFiles, 1, maxOutputFiles)
	}
	if !lc.intervalSet {
		lc.interval = DefaultSnapshotInterval
		r.Duration(EnvSnapshotInterval, &lc.interval, minSnapshotInterval, maxSnapshotInterval)
	}
	if !lc.historySet {
		lc.historySize = snapshot.DefaultHistorySize
		r.Int(EnvHistorySize, &lc.historySize, 1, maxHistorySize)
	}
	if !lc.flushSet {
		lc.flush = DefaultHistoryFlush
		r.DurationOrOff(EnvHistoryFlush, &lc.flush, minHistoryFlush, maxHistoryFlush)
	}
	if on := true; !lc.triggersSet && r.Bool(EnvCaptureTriggers, &on) && !on {
		lc.triggers = snapshot.Off()
	}
	if on := true; !lc.leakOffSet && r.Bool(EnvLeak, &on) {
		lc.leakOff = !on
	}
	resolveLeakConfig(r, &lc.leak)
}

// resolveLeakConfig fills the leak thresholds the option left zero.
func resolveLeakConfig(r *cfgpkg.Reader, lcfg *leak.Config) {
	durs := []struct {
		name string
		dst  *time.Duration
		min  time.Duration
	}{{EnvLeakWarmUp, &lcfg.WarmUp, 0}, {EnvLeakWindow, &lcfg.Window, time.Second},
		{EnvLeakPersist, &lcfg.Persist, 0}, {EnvLeakRealert, &lcfg.Realert, time.Second}}
	for _, d := range durs {
		if *d.dst == 0 {
			r.Duration(d.name, d.dst, d.min, maxLeakDuration)
		}
	}
	if lcfg.MinGrowth == 0 {
		r.Func(EnvLeakMinGrowth, func(v string) error {
			n, err := cfgpkg.ParseBytes(v)
			if err != nil || n == 0 || n < -maxLeakMinGrowth || n > maxLeakMinGrowth {
				return fmt.Errorf("want a non-zero size up to %d bytes, e.g. 1MiB or 524288 (negative turns heap detection off)", int64(maxLeakMinGrowth))
			}
			lcfg.MinGrowth = n
			return nil
		})
	}
	if lcfg.MinGrowthRatio == 0 {
		r.Ratio(EnvLeakMinRatio, &lcfg.MinGrowthRatio, 0, maxLeakMinRatio)
	}
	if lcfg.MinGoroutineGrowth == 0 {
		r.Func(EnvLeakMinGoroutine, func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n == 0 || n < -maxLeakMinGoroutines || n > maxLeakMinGoroutines {
				return fmt.Errorf("want a non-zero integer from -%d to %d (negative turns goroutine detection off)", maxLeakMinGoroutines, maxLeakMinGoroutines)
			}
			lcfg.MinGoroutineGrowth = n
			return nil
		})
	}
	if err := lcfg.Validate(); err != nil {
		r.Add(fmt.Errorf("leak detection: %w", err))
	}
}

// leakAgent is the running component: the sampling pipeline and its
// observers.
type leakAgent struct {
	cfg      leakConfig
	pipeline *snapshot.Pipeline
	history  *snapshot.History
	monitor  *leak.Monitor // nil when leak detection is off
	capturer *snapshot.Capturer
	memory   *snapshot.Store // nil when files are off
	monitorS *snapshot.Store

	once    sync.Once
	reports sync.Map // "kind/status" → *atomic.Int64
}

// startLeak builds and starts the component. The agent's store field holds
// the profiles store (nil when files are off).
func (a *Agent) startLeak() error {
	lc := a.cfg.leak
	l := &leakAgent{cfg: lc}
	if err := a.openStores(l); err != nil {
		return err
	}
	l.history = snapshot.NewHistory(lc.historySize)
	l.capturer = snapshot.NewCapturer(a.store, snapshot.CaptureConfig{Triggers: lc.triggers, CPU: &a.cpu,
		OnDemandEvery: DefaultCaptureEvery, OnDemandBurst: DefaultCaptureBurst})
	l.capturer.OnPanic(func() { a.self.recoverPanic("capture") })
	observers := []snapshot.Observer{l.history}
	if lc.flush > 0 && l.monitorS != nil {
		observers = append(observers, l.history.FlushEvery(l.monitorS, lc.flush, func(err error) { a.fileError("history", err) }))
	}
	observers = append(observers, l.capturer, snapshot.ObserverFunc(a.observeTrace)) // flight recorder triggers (trace.go)
	if !lc.leakOff {
		m, err := leak.NewMonitor(leak.MonitorOptions{
			Config: lc.leak, Store: l.memory, History: l.history, Logger: a.log,
			OnWriteError: func(err error) { a.fileError("leak report", err) },
			OnReport:     l.countReport,
		})
		if err != nil {
			return fmt.Errorf("perfagent: %w", err)
		}
		l.monitor = m
		observers = append(observers, m)
	}
	var err error
	l.pipeline, err = snapshot.NewPipeline(snapshot.NewSampler(a.reader), snapshot.PipelineOptions{
		Interval: lc.interval, Observers: observers, OnPanic: func(p any) {
			a.self.recoverPanic("snapshot")
			a.errlog.Log("snapshot-panic", slog.LevelError, "perfagent: recovered panic in the snapshot pipeline", slog.Any("panic", p))
		},
	})
	if err != nil {
		return fmt.Errorf("perfagent: %w", err)
	}
	a.leakMetrics.Store(l) // the leak and capture metrics ride along in each collection (selfMetrics)
	l.capturer.Start()
	_ = l.pipeline.Start() // the first snapshot now: the history and rates start at Start
	a.lk = l               // only a started component is stopped by release
	return nil
}

// openStores opens the output directories (none when files are off).
func (a *Agent) openStores(l *leakAgent) error {
	if l.cfg.outputDir == "" {
		return nil
	}
	var err error
	open := func(sub string) *snapshot.Store {
		if err != nil {
			return nil
		}
		var s *snapshot.Store
		s, err = snapshot.OpenStore(filepath.Join(l.cfg.outputDir, sub), l.cfg.quota)
		return s
	}
	l.memory, l.monitorS, a.store = open(memoryDir), open(monitoringDir), open(profilesDir)
	if err != nil {
		return fmt.Errorf("perfagent: output directory: %w", err)
	}
	return nil
}

func (l *leakAgent) countReport(r *leak.Report) {
	c, _ := l.reports.LoadOrStore(r.Kind+"/"+r.Status, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

// fileError logs a file that could not be written (at most once a minute
// per kind) and counts it.
func (a *Agent) fileError(what string, err error) {
	a.self.drop("file", 1)
	a.errlog.Log("file:"+what, slog.LevelWarn, "perfagent: cannot write "+what+"; detection continues in memory", slog.String("error", err.Error()))
}

// stopGrace is how long goroutines that were told to stop may take past
// Shutdown's deadline: the pipeline and capture loops stop at once when
// signalled (a running capture is cancelled), so they are always waited
// for, and no agent goroutine outlives Shutdown.
const stopGrace = time.Second

// stopLeak stops the component: the pipeline and capture goroutines exit,
// and the snapshots not yet in a file, with the final one release takes,
// are written (when there are at least two, ctx has not ended, and Start
// did not fail).
func (a *Agent) stopLeak(ctx context.Context) error {
	l := a.lk
	if l == nil {
		return nil
	}
	var err error
	l.once.Do(func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
		defer cancel()
		// The pipeline first: it feeds the capturer.
		perr := l.pipeline.Close(wctx)
		err = l.capturer.Close(wctx) // cuts a running capture short
		if perr != nil {
			err = errors.Join(err, fmt.Errorf("the snapshot pipeline did not stop: %w", perr))
		}
		if err == nil && ctx.Err() == nil && !a.aborted && l.monitorS != nil && l.history.Pending() >= 2 {
			if _, ferr := l.history.Flush(l.monitorS); ferr != nil {
				a.fileError("history", ferr)
			}
		}
	})
	return err
}

// registerLeakRoutes serves the component's debug endpoints.
func (a *Agent) registerLeakRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/perfagent/history", a.serveHistory)
	mux.HandleFunc("GET /debug/perfagent/leak", a.serveLeak)
	mux.HandleFunc("POST /debug/perfagent/capture", a.serveCapture)
}

// History returns the snapshots the agent holds, oldest first (nil before
// Start returns).
func (a *Agent) History() []snapshot.Snapshot {
	if a.lk == nil {
		return nil
	}
	return a.lk.history.Snapshots(nil)
}

// LeakStatus is the document served at /debug/perfagent/leak.
type LeakStatus struct {
	// Enabled reports whether leak detection runs.
	Enabled bool `json:"enabled"`
	// OutputDir is the output root ("" when files are off).
	OutputDir string `json:"output_dir"`
	// Detector is the leak monitor's state (nil when detection is off).
	Detector *leak.MonitorStatus `json:"detector,omitempty"`
	// Captures counts profile captures and skips.
	Captures snapshot.CaptureStats `json:"captures"`
	// Files counts each output directory's writes.
	Files map[string]snapshot.StoreStats `json:"files,omitempty"`
}

// LeakStatus returns the leak detector's and the captures' state.
func (a *Agent) LeakStatus() LeakStatus {
	l := a.lk
	if l == nil {
		return LeakStatus{}
	}
	st := LeakStatus{Enabled: l.monitor != nil, OutputDir: l.cfg.outputDir, Captures: l.capturer.Stats()}
	if l.monitor != nil {
		ms := l.monitor.Status()
		st.Detector = &ms
	}
	if l.memory != nil {
		st.Files = map[string]snapshot.StoreStats{memoryDir: l.memory.Stats(), monitoringDir: l.monitorS.Stats(), profilesDir: a.store.Stats()}
	}
	return st
}

func (a *Agent) serveLeak(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, a.LeakStatus())
}

// serveHistory serves the history as a history file document; ?last=N
// keeps the newest N snapshots, ?since=<RFC 3339 time> those taken since.
func (a *Agent) serveHistory(w http.ResponseWriter, r *http.Request) {
	l := a.lk
	var snaps []snapshot.Snapshot
	switch last, since := r.FormValue("last"), r.FormValue("since"); {
	case last != "":
		n, err := strconv.Atoi(last)
		if err != nil || n <= 0 {
			http.Error(w, "perfagent: last must be a positive integer", http.StatusBadRequest)
			return
		}
		snaps = l.history.Last(nil, n)
	case since != "":
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			http.Error(w, "perfagent: since must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", http.StatusBadRequest)
			return
		}
		snaps = l.history.Since(nil, t)
	default:
		snaps = l.history.Snapshots(nil)
	}
	_, lost := l.history.Stats()
	var buf bytes.Buffer
	if err := snapshot.NewHistoryFile(snaps, lost).Write(&buf); err != nil {
		http.Error(w, "perfagent: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// serveCapture takes a profile now: POST
// /debug/perfagent/capture?type=heap|goroutine|cpu|allocs|mutex|block[&seconds=N]
// (seconds: CPU only, default 10, at most 300). It answers with the
// capture as JSON: 200 when written, 409 when the same capture is
// running or the CPU profiler is busy, 429 with Retry-After over the rate
// limit (DefaultCaptureBurst, then one every DefaultCaptureEvery), 503
// when files are off, 400 for a bad request.
func (a *Agent) serveCapture(w http.ResponseWriter, r *http.Request) {
	typ := r.FormValue("type")
	if typ == "trace" {
		a.serveTraceCapture(w, r) // trace.go
		return
	}
	var d time.Duration
	if v := r.FormValue("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > int(snapshot.MaxCPUDuration/time.Second) {
			http.Error(w, "perfagent: seconds must be an integer from 1 to 300", http.StatusBadRequest)
			return
		}
		d = time.Duration(n) * time.Second
	}
	if typ == snapshot.CPU {
		a.extendDeadlines(w, r, max(d, snapshot.DefaultCPUDuration))
	}
	res, err := a.lk.capturer.Capture(r.Context(), typ, d)
	if err != nil {
		code := http.StatusInternalServerError
		var rl *snapshot.RateLimitError
		switch {
		case typ == "" || !validCaptureType(typ):
			code = http.StatusBadRequest
		case errors.As(err, &rl):
			code = http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		case errors.Is(err, snapshot.ErrBusy) || errors.Is(err, cpuprof.ErrBusy):
			code = http.StatusConflict
		case errors.Is(err, snapshot.ErrDisabled):
			code = http.StatusServiceUnavailable
		default:
			a.fileError("capture", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		writeJSONBody(w, res)
		return
	}
	writeJSON(w, res)
}

func validCaptureType(t string) bool {
	for _, x := range snapshot.Types {
		if x == t {
			return true
		}
	}
	return false
}

func writeJSONBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// metricsData returns the perfagent.leak.* and perfagent.capture.* metrics
// as metric data (counters cumulative since start). Metrics with no point
// (no capture taken yet) are left out.
func (l *leakAgent) metricsData(b *metricsBuilder) metricdata.ScopeMetrics {
	now := b.now
	if l.monitor != nil {
		status := l.monitor.Detector().Status()
		suspected := make([]metricdata.DataPoint[float64], 0, len(status))
		var heapRate, gRate []metricdata.DataPoint[float64]
		for _, s := range status {
			if s.State == leak.StateOff {
				continue
			}
			v := 0.0
			if s.State == leak.StateSuspected || s.State == leak.StateLeaking {
				v = 1
			}
			suspected = append(suspected, metricdata.DataPoint[float64]{Attributes: kindSet(s.Kind), Time: now, Value: v})
			if s.Last != nil {
				pt := metricdata.DataPoint[float64]{Time: now, Value: s.Last.Slope}
				if s.Kind == leak.KindGoroutine {
					gRate = append(gRate, pt)
				} else {
					heapRate = append(heapRate, pt)
				}
			}
		}
		b.gauge("perfagent.leak.suspected", "1 while a leak of the kind is suspected or reported, else 0.", "{leak}", suspected)
		b.gauge("perfagent.leak.heap.growth_rate", "Growth rate of the live heap after GC (Theil–Sen slope over the detector's look-back).", "By/s", heapRate)
		b.gauge("perfagent.leak.goroutine.growth_rate", "Growth rate of the goroutine count (Theil–Sen slope over the detector's look-back).", "{goroutine}/s", gRate)
		var reports []metricdata.DataPoint[int64]
		l.reports.Range(func(k, v any) bool {
			kind, status, _ := strings.Cut(k.(string), "/")
			reports = append(reports, b.point(v.(*atomic.Int64).Load(), attribute.String("kind", kind), attribute.String("status", status)))
			return true
		})
		b.counter("perfagent.leak.reports", "Leak reports made, by kind and status (leaking, resolved).", "{report}", reports)
	}
	st := l.capturer.Stats()
	b.counter("perfagent.capture.count", "Profiles captured, by type.", "{profile}", b.byKey(st.Taken, "type"))
	b.counter("perfagent.capture.failures", "Profile captures that failed, by type.", "{profile}", b.byKey(st.Failed, "type"))
	b.counter("perfagent.capture.skipped", "Triggered captures not taken, by reason (cooldown, rate_limit, busy, too_many_goroutines, no_cpu_profiler).", "{profile}", b.byKey(st.Skipped, "reason"))
	return metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: "github.com/perfagent/perfagent/leak"}, Metrics: b.ms}
}

var (
	heapKindSet      = attribute.NewSet(attribute.String("kind", leak.KindHeap))
	goroutineKindSet = attribute.NewSet(attribute.String("kind", leak.KindGoroutine))
)

func kindSet(kind string) attribute.Set {
	if kind == leak.KindGoroutine {
		return goroutineKindSet
	}
	return heapKindSet
}

// metricsBuilder collects metric data for one collection.
type metricsBuilder struct {
	start, now time.Time
	ms         []metricdata.Metrics
	sets       *attrCache
}

func (b *metricsBuilder) point(v int64, attrs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attrs...), StartTime: b.start, Time: b.now, Value: v}
}

func (b *metricsBuilder) gauge(name, desc, unit string, pts []metricdata.DataPoint[float64]) {
	if len(pts) > 0 {
		b.ms = append(b.ms, metricdata.Metrics{Name: name, Description: desc, Unit: unit, Data: metricdata.Gauge[float64]{DataPoints: pts}})
	}
}

func (b *metricsBuilder) counter(name, desc, unit string, pts []metricdata.DataPoint[int64]) {
	if len(pts) > 0 {
		b.ms = append(b.ms, metricdata.Metrics{Name: name, Description: desc, Unit: unit,
			Data: metricdata.Sum[int64]{DataPoints: pts, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}})
	}
}

// byKey returns one point per key of m, in key order; nil for an empty m.
func (b *metricsBuilder) byKey(m map[string]int64, key string) []metricdata.DataPoint[int64] {
	if len(m) == 0 {
		return nil
	}
	pts := make([]metricdata.DataPoint[int64], 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		pts = append(pts, metricdata.DataPoint[int64]{Attributes: b.sets.one(key, k), StartTime: b.start, Time: b.now, Value: m[k]})
	}
	return pts
}

// byKeyAnd is byKey with a second, fixed attribute on every point.
func (b *metricsBuilder) byKeyAnd(m map[string]int64, key, key2, value2 string) []metricdata.DataPoint[int64] {
	if len(m) == 0 {
		return nil
	}
	pts := make([]metricdata.DataPoint[int64], 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		pts = append(pts, metricdata.DataPoint[int64]{Attributes: b.sets.two(key, k, key2, value2), StartTime: b.start, Time: b.now, Value: m[k]})
	}
	return pts
}
