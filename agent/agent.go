package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/perfagent/perfagent/exporters"
	"github.com/perfagent/perfagent/internal/cpuprof"
	"github.com/perfagent/perfagent/internal/ratelog"
	"github.com/perfagent/perfagent/internal/rtmetrics"
	"github.com/perfagent/perfagent/internal/rtsample"
	"github.com/perfagent/perfagent/snapshot"
)

// ErrShutdown is returned by [Agent.Shutdown] after the first call.
var ErrShutdown = errors.New("perfagent: agent already shut down")

// ErrAlreadyRunning is returned (wrapped) by [Start] when another Agent runs
// in the process and [WithAllowMultiple] was not given.
var ErrAlreadyRunning = errors.New("perfagent: an agent is already running in this process")

// running counts started agents that have not shut down.
//
// Note: this is the one piece of package state, and it is what the contract
// requires: a second agent in a process doubles the runtime reads and the
// series, which is almost always a wiring mistake.
var running atomic.Int32

// Agent is a running perfagent. Create it with [Start]; stop it with
// [Agent.Shutdown]. Its methods are safe for concurrent use.
type Agent struct {
	cfg      config
	started  time.Time
	version  string
	reader   *rtsample.Reader
	mp       *sdkmetric.MeterProvider
	readers  []*exporters.Reader
	mux      *http.ServeMux
	handler  http.Handler
	server   *http.Server
	listener net.Listener
	log      *slog.Logger
	errlog   *ratelog.Limiter
	self     selfStats
	// cpu hands out the process's CPU profiler to every component that
	// wants it (pprof endpoint, captures, continuous profiling).
	cpu cpuprof.Profiler

	profiling *profilingState // continuous profiling (profiling.go); nil when off
	// Snapshots, captures and leak detection (leak.go). store is the one
	// writer of profile files (<output>/profiles); nil when files are off.
	store *snapshot.Store
	lk    *leakAgent
	tr    *traceAgent // flight recording (trace.go); nil when off
	// leakMetrics is set once leak detection runs; collections read it.
	leakMetrics atomic.Pointer[leakAgent]
	// profMetrics is set once profiling runs; collections read it.
	profMetrics atomic.Pointer[profilingState]
	sets        attrCache // attribute sets of the agent's own metrics

	serveDone    chan struct{}
	shutdownOnce sync.Once
	shut         atomic.Bool
	aborted      bool // set before release when Start failed
}

// Start starts an agent: it reads the configuration (options over
// environment variables over defaults), binds the built-in HTTP listener
// unless disabled, builds the metric pipeline, and starts serving. It
// returns an error, naming the option or variable, for invalid
// configuration, when the listener's address is in use, or when another
// agent is running (see [WithAllowMultiple]). It never blocks on the
// network: an unreachable OTLP collector makes exports fail later, counted
// and logged, not Start.
//
// ctx bounds Start itself; the agent runs until Shutdown. A Start that
// fails undoes what it built within ctx (and at most 1s): it sends
// nothing, neither a final metric export nor a profile upload, since it
// exported nothing before.
func Start(ctx context.Context, opts ...Option) (*Agent, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if n := running.Add(1); n > 1 && !cfg.allowMultiple {
		running.Add(-1)
		return nil, fmt.Errorf("%w; call Shutdown on it first, or start with agent.WithAllowMultiple() (%s=true)", ErrAlreadyRunning, EnvAllowMultiple)
	}
	a := &Agent{cfg: cfg, started: time.Now(), version: moduleVersion(), log: cfg.logger}
	a.errlog = ratelog.New(cfg.logger, time.Minute, nil)
	if err := a.start(ctx); err != nil {
		cctx, cancel := context.WithTimeout(ctx, startAbortTimeout)
		defer cancel()
		a.aborted = true
		_ = a.release(cctx) // undo what was built; also frees the running slot
		return nil, err
	}
	return a, nil
}

// startAbortTimeout bounds the cleanup after a failed Start.
const startAbortTimeout = time.Second

// newConfig applies opts over the environment and defaults.
func newConfig(opts []Option) (config, error) {
	cfg := config{}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cfg.resolve(os.LookupEnv); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("perfagent: invalid configuration: %w", err)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	return cfg, nil
}

// start builds and starts the parts, in the order they depend on each
// other. On error, release undoes what was built.
func (a *Agent) start(ctx context.Context) error {
	if a.cfg.httpAddr != "" {
		if err := a.bind(); err != nil { // first: a taken port fails before anything exists
			return err
		}
	}
	res, err := a.resource(ctx)
	if err != nil {
		return err
	}
	a.reader = rtsample.New(rtsample.Options{Process: a.cfg.groups&rtmetrics.Process != 0, MaxFDs: a.cfg.maxFDs})
	// Validate the producer configuration once, so a bad setting fails here.
	if _, err := a.newProducer(nil); err != nil {
		return fmt.Errorf("perfagent: %w", err)
	}
	promHandler, err := a.startMetrics(ctx, res)
	if err != nil {
		return err
	}
	if err := a.startTrace(); err != nil { // flight recording (trace.go), before the snapshots that feed it
		return err
	}
	if err := a.startLeak(); err != nil { // snapshots, captures, leak detection (leak.go)
		return err
	}
	// Continuous profiling (profiling.go), with its own store for local
	// rolling profiles so they never push captured profiles out of quota.
	var rolling exporters.ProfileWriter
	if a.cfg.profiling.enabled && a.cfg.profiling.server == "" && a.cfg.leak.outputDir != "" {
		st, err := snapshot.OpenStore(filepath.Join(a.cfg.leak.outputDir, profilesDir, "continuous"), a.cfg.leak.quota)
		if err != nil {
			return fmt.Errorf("perfagent: output directory: %w", err)
		}
		rolling = st // only a non-nil store: a nil *Store in the interface is not nil
	}
	if err := a.startProfiling(res, rolling); err != nil {
		return err
	}
	a.buildHandler(promHandler)
	if a.listener != nil {
		a.serve()
	}
	return nil
}

// startMetrics builds the readers and the meter provider; it returns the
// Prometheus handler (nil when that exporter is off).
func (a *Agent) startMetrics(ctx context.Context, res *resource.Resource) (http.Handler, error) {
	cfg := a.cfg
	ecfg := exporters.Config{
		Producer: a.newProducer, Logger: cfg.logger,
		Interval: cfg.interval, Timeout: cfg.timeout,
		OnPanic: func(c string) { a.self.recoverPanic(c) },
	}
	var promHandler http.Handler
	for _, name := range cfg.exporters {
		var (
			r   *exporters.Reader
			err error
		)
		switch name {
		case "prometheus":
			r, err = exporters.Prometheus(ecfg, exporters.PrometheusOptions{ScopeLabels: cfg.promScopeLabels})
			if r != nil {
				promHandler = r.Handler
			}
		case "otlp":
			r, err = exporters.OTLP(ctx, ecfg, exporters.OTLPOptions{Protocol: cfg.otlpProtocol, Endpoint: cfg.otlpEndpoint, Headers: cfg.otlpHeaders})
		case "console":
			w := cfg.console
			if w == nil {
				w = os.Stdout
			}
			r, err = exporters.Console(ecfg, w)
		}
		if err != nil {
			return nil, fmt.Errorf("perfagent: %w", err)
		}
		a.readers = append(a.readers, r)
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	for _, r := range a.readers {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r.Reader))
	}
	for _, newReader := range cfg.readers {
		p, err := a.newProducer(nil)
		if err != nil {
			return nil, fmt.Errorf("perfagent: %w", err)
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(newReader(p)))
	}
	a.mp = sdkmetric.NewMeterProvider(mpOpts...)
	return promHandler, nil
}

func (a *Agent) newProducer(sel sdkmetric.TemporalitySelector) (sdkmetric.Producer, error) {
	return rtmetrics.New(a.reader, rtmetrics.Config{
		Groups:      a.cfg.groups,
		Histograms:  a.cfg.histograms,
		Boundaries:  a.cfg.boundaries,
		Temporality: sel,
		Scope:       instrumentation.Scope{Name: "github.com/perfagent/perfagent/runtime", Version: a.version},
		Observe:     a.self.observeCollection,
		Extra:       a.selfMetrics,
	})
}

func (a *Agent) resource(ctx context.Context) (*resource.Resource, error) {
	opts := []resource.Option{
		resource.WithTelemetrySDK(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithHost(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
	}
	attrs := append([]attribute.KeyValue{}, a.cfg.resAttrs...)
	if a.cfg.serviceName != "" {
		attrs = append(attrs, semconv.ServiceName(a.cfg.serviceName))
	} else if v, _ := os.LookupEnv("OTEL_SERVICE_NAME"); v == "" {
		attrs = append(attrs, semconv.ServiceName(filepath.Base(os.Args[0])))
	}
	attrs = append(attrs, attribute.String("perfagent.version", a.version))
	opts = append(opts, resource.WithAttributes(attrs...))
	res, err := resource.New(ctx, opts...)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("perfagent: resource: %w", err)
	}
	if err != nil {
		// Detectors that cannot read the host (e.g. no hostname) leave their
		// attribute out; a malformed OTEL_RESOURCE_ATTRIBUTES is an error.
		if v, ok := os.LookupEnv("OTEL_RESOURCE_ATTRIBUTES"); ok && v != "" && !validResourceAttrs(v) {
			return nil, fmt.Errorf("perfagent: invalid configuration: %w", envError("OTEL_RESOURCE_ATTRIBUTES", v, "want comma-separated key=value pairs"))
		}
		a.log.Debug("perfagent: some resource attributes could not be detected", slog.String("error", err.Error()))
	}
	return res, nil
}

func validResourceAttrs(s string) bool {
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || strings.TrimSpace(k) == "" {
			return false
		}
	}
	return true
}

// Addr returns the built-in listener's address (with the port chosen when
// port 0 was asked for), or "" when there is no listener.
func (a *Agent) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Handler returns the agent's HTTP handler: /metrics (Prometheus
// exposition), /debug/perfagent/ (JSON status) and, when enabled,
// /debug/pprof/. Mount it on the host's own server to serve these on the
// host's port; /debug/ paths keep their access rule (loopback, a bearer
// token, or WithRemoteDebug).
func (a *Agent) Handler() http.Handler { return a.handler }

// MeterProvider returns the agent's meter provider, so the host can record
// its own metrics through the same exporters.
func (a *Agent) MeterProvider() metric.MeterProvider { return a.mp }

// ForceFlush exports the current values through every push exporter now,
// within ctx. It returns an error naming each exporter whose export failed
// (failures are also counted and logged as usual). Use it before a short
// job exits, or in tests.
func (a *Agent) ForceFlush(ctx context.Context) error {
	if a.shut.Load() {
		return ErrShutdown
	}
	before := make([]int64, len(a.readers))
	for i, r := range a.readers {
		if r.Health != nil {
			before[i] = r.Health.Status().Failures
		}
	}
	if err := a.mp.ForceFlush(ctx); err != nil {
		return fmt.Errorf("perfagent: flush: %w", err)
	}
	var errs []error
	for i, r := range a.readers {
		if r.Health == nil {
			continue
		}
		if st := r.Health.Status(); st.Failures > before[i] {
			errs = append(errs, fmt.Errorf("%w: %s: %s", exporters.ErrExportFailed, r.Name, st.LastError))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("perfagent: flush: %w", errors.Join(errs...))
	}
	return nil
}

// DefaultShutdownTimeout bounds [Agent.Shutdown] when its context has no
// deadline, as with the usual defer a.Shutdown(context.Background()).
const DefaultShutdownTimeout = 5 * time.Second

// Shares of Shutdown's time: the HTTP listener drains for at most a fifth
// of it and profile uploads take at most two fifths, so the final metric
// export always has the rest. With DefaultShutdownTimeout: 1s, 2s, and the
// final export (the longest part) whatever remains of the 5s.
const (
	shutdownHTTPShare      = 0.2
	shutdownProfilingShare = 0.4
)

// Shutdown stops the agent: it stops the listener, delivers the final
// profiles, writes the final files, makes a final export of the latest
// values through every push exporter, and waits for every goroutine the
// agent started. It is bounded by ctx's deadline, or by
// DefaultShutdownTimeout (5s) when ctx has none: the listener drains for
// at most a fifth of that time and profile uploads for at most two fifths;
// the final metric export has the rest. What cannot be delivered in time is
// dropped and counted (perfagent.agent.dropped, kinds "profile" and
// "export"; also in the status document), and the error says so. When ctx
// ends first it returns an error wrapping ctx.Err(). Every agent goroutine
// has exited when it returns, in every case. A second call returns
// ErrShutdown.
func (a *Agent) Shutdown(ctx context.Context) error {
	err := ErrShutdown
	a.shutdownOnce.Do(func() {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultShutdownTimeout)
			defer cancel()
		}
		err = a.release(ctx)
	})
	return err
}

// release stops every part that was started, within ctx. After a failed
// Start (a.aborted) nothing is sent: readers and the profile sink are
// discarded first, and no history file is written.
func (a *Agent) release(ctx context.Context) error {
	if !a.shut.CompareAndSwap(false, true) {
		return ErrShutdown
	}
	defer running.Add(-1)
	if a.aborted {
		a.discard()
	}
	hctx, cancel := share(ctx, shutdownHTTPShare)
	errs := []error{a.stopHTTP(hctx)}
	cancel()
	if a.lk != nil && !a.aborted {
		a.lk.pipeline.Tick() // a final snapshot for the final profiles and history file
	}
	// Before the meter provider, so the final metrics include profiling.
	pctx, cancel := share(ctx, shutdownProfilingShare)
	errs = append(errs, a.stopProfiling(pctx))
	cancel()
	a.stopTrace()                           // after the listener: no request triggers a capture any more
	if err := a.stopLeak(ctx); err != nil { // before the final export, so it includes the leak state
		errs = append(errs, fmt.Errorf("leak detection: %w", err))
	}
	errs = append(errs, a.stopMetrics(ctx))
	if a.reader != nil {
		_ = a.reader.Close()
	}
	if err := ctx.Err(); err != nil {
		errs = append([]error{err}, errs...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("perfagent: shutdown: %w", err)
	}
	return nil
}

// discard makes sure nothing leaves the process while a failed Start is
// undone.
func (a *Agent) discard() {
	for _, r := range a.readers {
		r.Discard()
	}
	if a.profiling != nil {
		a.profiling.sink.Discard()
	}
}

// share returns ctx with its deadline brought forward to frac of the time
// left.
func share(ctx context.Context, frac float64) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, time.Now().Add(time.Duration(frac*float64(time.Until(dl)))))
}

// stopHTTP stops the built-in listener: in-flight requests get until ctx
// ends, then their connections are closed; it returns once the server's
// connection goroutines are gone (or 1s after ctx ended).
func (a *Agent) stopHTTP(ctx context.Context) error {
	if a.listener == nil {
		return nil
	}
	if a.server == nil { // bound, never served (a failed Start)
		return a.listener.Close()
	}
	var err error
	if serr := a.server.Shutdown(ctx); serr != nil {
		err = fmt.Errorf("http server: %w", serr)
		_ = a.server.Close()
	}
	<-a.serveDone
	if l, ok := a.listener.(*limitListener); ok {
		// Handlers of closed connections see their contexts cancelled and
		// return promptly; wait for their goroutines, boundedly.
		for end := time.Now().Add(time.Second); l.active.Load() > 0 && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return err
}

// stopMetrics shuts the meter provider down (the final export) and reports
// each push exporter whose final export failed, counting it as dropped.
func (a *Agent) stopMetrics(ctx context.Context) error {
	if a.mp == nil {
		return nil
	}
	var errs []error
	if err := a.mp.Shutdown(ctx); err != nil && ctx.Err() == nil {
		errs = append(errs, fmt.Errorf("metrics: %w", err))
	}
	for _, r := range a.readers {
		if r.Health == nil || a.aborted {
			continue
		}
		if failed, msg := r.Health.LastFailed(); failed {
			a.self.drop("export", 1)
			errs = append(errs, fmt.Errorf("%w: final export to %s: %s", exporters.ErrExportFailed, r.Name, msg))
		}
	}
	return errors.Join(errs...)
}

// moduleVersion returns perfagent's version from the binary's build info.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	const path = "github.com/perfagent/perfagent"
	if bi.Main.Path == path {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "(devel)"
}

// goVersion is runtime.Version, named for the status document.
func goVersion() string { return runtime.Version() }
