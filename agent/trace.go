package agent

// Flight recording: the Go execution tracer's moving window, written to
// <output>/profiles/traces when a request is slow, the scheduler or the
// GC spikes, or on demand. The other agent files call resolveTrace,
// startTrace, stopTrace, traceRoutes and observeTrace once each.

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cfgpkg "github.com/perfagent/perfagent/internal/config"
	"github.com/perfagent/perfagent/internal/flightrec"
	"github.com/perfagent/perfagent/snapshot"
)

// Environment variables of flight recording. Options override them.
const (
	EnvTrace          = "PERFAGENT_TRACE"           // "true" turns the flight recorder on (default off)
	EnvTraceWindow    = "PERFAGENT_TRACE_WINDOW"    // window length, 1s to 1m (default 10s)
	EnvTraceMaxBytes  = "PERFAGENT_TRACE_MAX_BYTES" // window byte bound, 1MiB to 256MiB (default 16MiB)
	EnvTraceSlow      = "PERFAGENT_TRACE_SLOW"      // slow-request threshold, 1ms to 1h, or "off" (default 1s)
	EnvTraceSlowP99   = "PERFAGENT_TRACE_SLOW_P99X" // slow = this multiple of the route's recent p99, 1.5 to 100, or "off" (default 4)
	EnvTraceSchedP99  = "PERFAGENT_TRACE_SCHED_P99" // scheduling-latency p99 threshold, 1ms to 10s, or "off" (default 50ms)
	EnvTraceGCCPU     = "PERFAGENT_TRACE_GC_CPU"    // GC CPU fraction threshold, 0.01 to 1, or "off" (default 0.25)
	EnvTraceCooldown  = "PERFAGENT_TRACE_COOLDOWN"  // least time between captures of one trigger, 1s to 24h (default 1m)
	EnvTraceQuota     = "PERFAGENT_TRACE_QUOTA"     // triggered captures: "N/interval", e.g. "5/10m" (default)
	tracesDir         = "traces"                    // under <output>/profiles
	traceSlowFloor    = 50 * time.Millisecond       // a p99 multiple never fires below this
	traceP99MinSample = 100                         // requests a route needs before its p99 counts
)

// Defaults of flight recording.
const (
	DefaultTraceSlow        = time.Second
	DefaultTraceSlowP99X    = 4.0
	DefaultTraceSchedP99    = snapshot.DefaultSchedLatencyP99
	DefaultTraceGCCPU       = snapshot.DefaultGCCPUFraction
	DefaultTraceWindow      = flightrec.DefaultWindow
	DefaultTraceMaxBytes    = flightrec.DefaultMaxBytes
	DefaultTraceCooldown    = flightrec.DefaultCooldown
	DefaultTraceQuotaBurst  = flightrec.DefaultQuotaBurst
	DefaultTraceQuotaPeriod = flightrec.DefaultQuotaEvery
)

// Trace capture documents, as written to trace-<ts>.json and served.
type (
	// TraceReport is one capture: trigger, figures, window, summary.
	TraceReport = flightrec.Report
	// TraceSummary is the goroutine and task summary of a window.
	TraceSummary = flightrec.Summary
	// TraceGoroutine is one goroutine's time in a state.
	TraceGoroutine = flightrec.GoroutineTime
	// TraceTask is one runtime/trace task of a window.
	TraceTask = flightrec.TaskTime
	// TraceStats counts the flight recorder's captures and skips.
	TraceStats = flightrec.Stats
)

// FlightRecorderConfig configures [WithFlightRecorder]. Zero fields take
// the PERFAGENT_TRACE_* variables, then the defaults; a negative
// threshold turns its trigger off.
type FlightRecorderConfig struct {
	// Window is how much execution history is kept (default 10s, 1s to
	// 1m); MaxBytes bounds it in memory and wins over Window (default
	// 16 MiB, 1 MiB to 256 MiB).
	Window   time.Duration
	MaxBytes uint64
	// SlowRequest: a request through [Agent.TraceHTTP] that takes at
	// least this long is captured (default 1s, 1ms to 1h).
	SlowRequest time.Duration
	// SlowP99Multiple: a request that takes this multiple of its route's
	// recent p99 (last 256 requests, once 100 were seen) and at least
	// 50ms is captured (default 4, 1.5 to 100).
	SlowP99Multiple float64
	// SchedLatencyP99 and GCCPUFraction: a snapshot whose scheduling
	// latency p99 or GC CPU share exceeds them is captured (defaults
	// those of the profile captures: 50ms and 0.25).
	SchedLatencyP99 time.Duration
	GCCPUFraction   float64
	// Cooldown is the least time between two captures of one trigger
	// (default 1m, 1s to 24h). QuotaBurst and QuotaEvery bound all
	// triggered captures: QuotaBurst (default 5) then one every
	// QuotaEvery (default 10m).
	Cooldown   time.Duration
	QuotaBurst int
	QuotaEvery time.Duration
	// Summarize computes each report's goroutine and task summary from the
	// trace, in process on the recorder's goroutine. Default: a parser on
	// golang.org/x/exp/trace that names the goroutines runnable and blocked
	// longest and the longest tasks.
	Summarize func(trace []byte, end time.Time) (TraceSummary, error)
}

type traceConfig struct {
	on, onSet bool
	c         FlightRecorderConfig
}

// WithFlightRecorder turns flight recording on (it is off by default;
// PERFAGENT_TRACE=true also turns it on) with cfg's settings. Captures go
// to <output>/profiles/traces with the output quota; an out-of-bounds
// field fails Start, naming it.
func WithFlightRecorder(cfg FlightRecorderConfig) Option {
	return optionFunc(func(c *config) error {
		c.trace.on, c.trace.onSet, c.trace.c = true, true, cfg
		if err := checkTrace(cfg, "WithFlightRecorder: "); err != nil {
			return err
		}
		return nil
	})
}

// WithoutFlightRecorder turns flight recording off whatever
// PERFAGENT_TRACE says.
func WithoutFlightRecorder() Option {
	return optionFunc(func(c *config) error {
		c.trace.on, c.trace.onSet = false, true
		return nil
	})
}

// checkTrace validates the fields an option set (zero is "not set").
func checkTrace(f FlightRecorderConfig, prefix string) error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("%s%s %v: want %s", prefix, field, v, want))
	}
	if f.Window != 0 && (f.Window < flightrec.MinWindow || f.Window > flightrec.MaxWindow) {
		bad("Window", f.Window, "1s to 1m")
	}
	if f.MaxBytes != 0 && (f.MaxBytes < flightrec.MinMaxBytes || f.MaxBytes > flightrec.MaxMaxBytes) {
		bad("MaxBytes", f.MaxBytes, "1MiB to 256MiB")
	}
	if f.SlowRequest > 0 && (f.SlowRequest < time.Millisecond || f.SlowRequest > time.Hour) {
		bad("SlowRequest", f.SlowRequest, "1ms to 1h, or negative for off")
	}
	if f.SlowP99Multiple > 0 && (f.SlowP99Multiple < 1.5 || f.SlowP99Multiple > 100) || math.IsNaN(f.SlowP99Multiple) {
		bad("SlowP99Multiple", f.SlowP99Multiple, "1.5 to 100, or negative for off")
	}
	if f.SchedLatencyP99 > 0 && (f.SchedLatencyP99 < time.Millisecond || f.SchedLatencyP99 > 10*time.Second) {
		bad("SchedLatencyP99", f.SchedLatencyP99, "1ms to 10s, or negative for off")
	}
	if f.GCCPUFraction > 1 || f.GCCPUFraction > 0 && f.GCCPUFraction < 0.01 || math.IsNaN(f.GCCPUFraction) {
		bad("GCCPUFraction", f.GCCPUFraction, "0.01 to 1, or negative for off")
	}
	if f.Cooldown != 0 && (f.Cooldown < flightrec.MinCooldown || f.Cooldown > flightrec.MaxCooldown) {
		bad("Cooldown", f.Cooldown, "1s to 24h")
	}
	if f.QuotaBurst < 0 || f.QuotaBurst > flightrec.MaxQuotaBurst {
		bad("QuotaBurst", f.QuotaBurst, "1 to 100")
	}
	if f.QuotaEvery < 0 || f.QuotaEvery > flightrec.MaxCooldown {
		bad("QuotaEvery", f.QuotaEvery, "up to 24h")
	}
	return errors.Join(errs...)
}

// resolveTrace fills what no option set from the environment, then from
// defaults.
func (c *config) resolveTrace(get func(string) (string, bool)) []error {
	tc := &c.trace
	var errs []error
	if !tc.onSet {
		if v, ok := get(EnvTrace); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, envError(EnvTrace, v, "not a boolean (want true or false)"))
			}
			tc.on = b
		}
	}
	f := &tc.c
	dur := func(name string, dst *time.Duration, lo, hi time.Duration, off bool) {
		v, ok := get(name)
		if !ok || *dst != 0 {
			return
		}
		if off && v == "off" {
			*dst = -1
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			want := fmt.Sprintf("want a Go duration from %v to %v", lo, hi)
			if off {
				want += `, or "off"`
			}
			errs = append(errs, envError(name, v, want))
			return
		}
		*dst = d
	}
	num := func(name string, dst *float64, lo, hi float64) {
		v, ok := get(name)
		if !ok || *dst != 0 {
			return
		}
		if v == "off" {
			*dst = -1
			return
		}
		x, err := cfgpkg.ParseRatio(v)
		if err != nil || x < lo || x > hi {
			errs = append(errs, envError(name, v, fmt.Sprintf(`want a number from %g to %g, or "off"`, lo, hi)))
			return
		}
		*dst = x
	}
	dur(EnvTraceWindow, &f.Window, flightrec.MinWindow, flightrec.MaxWindow, false)
	if v, ok := get(EnvTraceMaxBytes); ok && f.MaxBytes == 0 {
		n, err := cfgpkg.ParseBytes(v)
		if err != nil || n < flightrec.MinMaxBytes || n > flightrec.MaxMaxBytes {
			errs = append(errs, envError(EnvTraceMaxBytes, v, "want a size from 1MiB to 256MiB"))
		} else {
			f.MaxBytes = uint64(n)
		}
	}
	dur(EnvTraceSlow, &f.SlowRequest, time.Millisecond, time.Hour, true)
	num(EnvTraceSlowP99, &f.SlowP99Multiple, 1.5, 100)
	dur(EnvTraceSchedP99, &f.SchedLatencyP99, time.Millisecond, 10*time.Second, true)
	num(EnvTraceGCCPU, &f.GCCPUFraction, 0.01, 1)
	dur(EnvTraceCooldown, &f.Cooldown, flightrec.MinCooldown, flightrec.MaxCooldown, false)
	if v, ok := get(EnvTraceQuota); ok && f.QuotaBurst == 0 && f.QuotaEvery == 0 {
		ns, ds, _ := strings.Cut(v, "/")
		n, nerr := strconv.Atoi(ns)
		d, derr := time.ParseDuration(ds)
		if nerr != nil || derr != nil || n < 1 || n > flightrec.MaxQuotaBurst || d < flightrec.MinCooldown || d > flightrec.MaxCooldown {
			errs = append(errs, envError(EnvTraceQuota, v, `want "N/interval", N from 1 to 100 and interval from 1s to 24h, e.g. "5/10m"`))
		} else {
			f.QuotaBurst, f.QuotaEvery = n, d
		}
	}
	defaultF := func(dst *float64, def float64) {
		if *dst == 0 {
			*dst = def
		}
	}
	defaultD := func(dst *time.Duration, def time.Duration) {
		if *dst == 0 {
			*dst = def
		}
	}
	defaultD(&f.SlowRequest, DefaultTraceSlow)
	defaultF(&f.SlowP99Multiple, DefaultTraceSlowP99X)
	defaultD(&f.SchedLatencyP99, DefaultTraceSchedP99)
	defaultF(&f.GCCPUFraction, DefaultTraceGCCPU)
	defaultD(&f.Cooldown, DefaultTraceCooldown)
	if f.QuotaEvery != 0 && f.QuotaEvery < f.Cooldown {
		errs = append(errs, fmt.Errorf("flight recorder: quota interval %v is shorter than the cooldown %v", f.QuotaEvery, f.Cooldown))
	}
	return errs
}

// traceAgent is the running component.
type traceAgent struct {
	cfg FlightRecorderConfig
	rec *flightrec.Recorder // nil when the recorder is not available
	err error               // why rec is nil

	routes  sync.Map // pattern → *routeTimes
	nroutes atomic.Int64
	slow    atomic.Int64 // requests over their threshold
}

// startTrace starts the flight recorder when configured. A recorder the
// runtime refuses (another one runs in the process) is logged and shown
// in the status as not available; Start goes on.
func (a *Agent) startTrace() error {
	if !a.cfg.trace.on {
		return nil
	}
	f := a.cfg.trace.c
	t := &traceAgent{cfg: f}
	var st *snapshot.Store // nil when files are off: captures are dropped and counted
	if dir := a.cfg.leak.outputDir; dir != "" {
		var err error
		if st, err = snapshot.OpenStore(filepath.Join(dir, profilesDir, tracesDir), a.cfg.leak.quota); err != nil {
			return fmt.Errorf("perfagent: output directory: %w", err)
		}
	}
	if f.QuotaEvery == 0 && f.Cooldown > DefaultTraceQuotaPeriod {
		f.QuotaEvery = f.Cooldown
	}
	fc := flightrec.Config{Window: f.Window, MaxBytes: f.MaxBytes, Cooldown: f.Cooldown, QuotaEvery: f.QuotaEvery,
		QuotaBurst: f.QuotaBurst, OnDemandEvery: DefaultCaptureEvery, OnDemandBurst: DefaultCaptureBurst, Summarize: f.Summarize}
	t.rec, t.err = flightrec.Start(st, fc)
	if t.err != nil {
		a.log.Warn("perfagent: flight recorder not available; traces will not be captured", slog.String("error", t.err.Error()))
	}
	a.tr = t
	return nil
}

// stopTrace stops the recorder after the capture being written.
func (a *Agent) stopTrace() {
	if a.tr != nil && a.tr.rec != nil {
		a.tr.rec.Stop()
	}
}

// observeTrace is the snapshot pipeline's hook: it fires the scheduler
// and GC triggers. The recorder's cooldown spaces repeated firings.
func (a *Agent) observeTrace(s *snapshot.Snapshot) {
	t := a.tr
	if t == nil || t.rec == nil {
		return
	}
	if th := t.cfg.SchedLatencyP99; th > 0 && s.SchedLatency.Count > 0 && s.SchedLatency.P99 > th.Seconds() {
		t.rec.Trigger(flightrec.Evidence{Trigger: flightrec.TriggerSchedLatency, At: s.Time,
			Reason:                 fmt.Sprintf("scheduling latency p99 %s over %.1fs (threshold %s)", time.Duration(s.SchedLatency.P99*1e9), s.IntervalSeconds, th),
			SchedLatencyP99Seconds: s.SchedLatency.P99, ThresholdSeconds: th.Seconds()})
	}
	if th := t.cfg.GCCPUFraction; th > 0 && s.GCCPUFraction > th {
		t.rec.Trigger(flightrec.Evidence{Trigger: flightrec.TriggerGCCPU, At: s.Time,
			Reason:        fmt.Sprintf("GC used %.0f%% of the CPU (threshold %.0f%%)", 100*s.GCCPUFraction, 100*th),
			GCCPUFraction: s.GCCPUFraction, ThresholdFraction: th})
	}
}

// routeTimes keeps a route's recent request durations and their p99.
type routeTimes struct {
	mu   sync.Mutex
	ring [256]time.Duration
	n    int // requests seen
	p99  atomic.Int64
}

// p99Every is how often (in requests) a route's p99 is recomputed.
const p99Every = 32

func (rt *routeTimes) add(d time.Duration) {
	rt.mu.Lock()
	rt.ring[rt.n%len(rt.ring)] = d
	rt.n++
	var cp []time.Duration
	if rt.n >= traceP99MinSample && rt.n%p99Every == 0 {
		cp = slices.Clone(rt.ring[:min(rt.n, len(rt.ring))])
	}
	rt.mu.Unlock()
	if cp != nil {
		slices.Sort(cp)
		rt.p99.Store(int64(cp[(len(cp)*99)/100]))
	}
}

// maxTraceRoutes bounds the routes whose durations are kept.
const maxTraceRoutes = 1024

func (t *traceAgent) route(pattern string) *routeTimes {
	if v, ok := t.routes.Load(pattern); ok {
		return v.(*routeTimes)
	}
	if t.nroutes.Load() >= maxTraceRoutes {
		return nil
	}
	v, loaded := t.routes.LoadOrStore(pattern, new(routeTimes))
	if !loaded {
		t.nroutes.Add(1)
	}
	return v.(*routeTimes)
}

// TraceHTTP wraps next so each request runs in a runtime/trace task named
// by its route pattern (as [TagHTTP] finds it; "unrouted" without one)
// and is timed: a request slower than the flight recorder's SlowRequest,
// or than SlowP99Multiple times its route's recent p99, captures the
// window (trace-<ts>.out and .json under <output>/profiles/traces). The
// capture is written on the recorder's goroutine; the request never
// waits for it. With the flight recorder off (or a nil Agent), next is
// returned as is.
//
//	http.ListenAndServe(addr, a.TraceHTTP(agent.TagHTTP(mux)))
func (a *Agent) TraceHTTP(next http.Handler) http.Handler {
	if a == nil || a.tr == nil || a.tr.rec == nil {
		return next
	}
	t := a.tr
	router, _ := next.(interface {
		Handler(*http.Request) (http.Handler, string)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pattern := r.Pattern
		if router != nil {
			_, pattern = router.Handler(r)
		}
		if pattern == "" {
			pattern = "unrouted"
		}
		ctx, task := trace.NewTask(r.Context(), pattern)
		start := time.Now()
		defer func() {
			d := time.Since(start)
			task.End()
			t.observeRequest(pattern, d, start)
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (t *traceAgent) observeRequest(pattern string, d time.Duration, start time.Time) {
	rt := t.route(pattern)
	var p99 time.Duration
	if rt != nil {
		p99 = time.Duration(rt.p99.Load())
		rt.add(d)
	}
	ev := flightrec.Evidence{Trigger: flightrec.TriggerSlowRequest, Route: pattern, DurationSeconds: d.Seconds()}
	switch {
	case t.cfg.SlowRequest > 0 && d >= t.cfg.SlowRequest:
		ev.ThresholdSeconds = t.cfg.SlowRequest.Seconds()
		ev.Reason = fmt.Sprintf("%s took %s (threshold %s)", pattern, d, t.cfg.SlowRequest)
	case t.cfg.SlowP99Multiple > 0 && p99 > 0 && d >= traceSlowFloor && float64(d) >= t.cfg.SlowP99Multiple*float64(p99):
		th := time.Duration(t.cfg.SlowP99Multiple * float64(p99))
		ev.ThresholdSeconds, ev.RouteP99Seconds = th.Seconds(), p99.Seconds()
		ev.Reason = fmt.Sprintf("%s took %s, %.1f× its recent p99 of %s (threshold %s)", pattern, d, float64(d)/float64(p99), p99, th)
	default:
		return
	}
	t.slow.Add(1)
	ev.At = start.Add(d)
	t.rec.Trigger(ev)
}

// TraceStatus is the document served at /debug/perfagent/trace.
type TraceStatus struct {
	// Enabled reports whether flight recording was asked for; Available
	// whether the recorder runs (Error says why not).
	Enabled      bool       `json:"enabled"`
	Available    bool       `json:"available"`
	Error        string     `json:"error,omitempty"`
	SlowRequests int64      `json:"slow_requests"`
	Routes       int64      `json:"routes"`
	Captures     TraceStats `json:"captures"`
}

// TraceStatus returns the flight recorder's state.
func (a *Agent) TraceStatus() TraceStatus {
	t := a.tr
	if t == nil {
		return TraceStatus{}
	}
	st := TraceStatus{Enabled: true, Available: t.rec != nil, SlowRequests: t.slow.Load(), Routes: t.nroutes.Load()}
	if t.err != nil {
		st.Error = t.err.Error()
	}
	if t.rec != nil {
		st.Captures = t.rec.Stats()
	}
	return st
}

// traceRoutes serves the component's status.
func (a *Agent) traceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/perfagent/trace", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, a.TraceStatus()) })
}

// serveTraceCapture is POST /debug/perfagent/capture?type=trace: the
// window now, as a TraceReport; 503 when the recorder is off or files are
// off, 429 with Retry-After over the on-demand limit, 409 while another
// capture is written.
func (a *Agent) serveTraceCapture(w http.ResponseWriter, r *http.Request) {
	t := a.tr
	if t == nil || t.rec == nil {
		msg := "perfagent: the flight recorder is off (agent.WithFlightRecorder or " + EnvTrace + "=true)"
		if t != nil && t.err != nil {
			msg = "perfagent: the flight recorder is not available: " + t.err.Error()
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	rep, err := t.rec.Capture("requested by " + r.RemoteAddr)
	if err != nil {
		code := http.StatusInternalServerError
		var rl *flightrec.RateLimitError
		switch {
		case errors.As(err, &rl):
			code = http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		case errors.Is(err, flightrec.ErrBusy):
			code = http.StatusConflict
		case errors.Is(err, snapshot.ErrDisabled):
			code = http.StatusServiceUnavailable
		default:
			a.fileError("trace", err)
		}
		if rep.Error == "" {
			rep.Error = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		writeJSONBody(w, rep)
		return
	}
	writeJSON(w, rep)
}
