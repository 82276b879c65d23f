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
	// leakMetrics is set once leak detection runs; collections read it.
	leakMetrics atomic.Pointer[leakAgent]

	serveDone    chan struct{}
	shutdownOnce sync.Once
	shut         atomic.Bool
}

// Start starts an agent: it reads the configuration (options over
// environment variables over defaults), builds the metric pipeline, and
// starts the built-in HTTP listener unless disabled. It returns an error,
// naming the option or variable, for invalid configuration, when the
// listener's address is in use, or when another agent is running (see
// [WithAllowMultiple]). It never blocks on the network: an unreachable OTLP
// collector makes exports fail later, counted and logged, not Start.
//
// ctx bounds Start itself; the agent runs until Shutdown.
func Start(ctx context.Context, opts ...Option) (a *Agent, err error) {
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
		return nil, fmt.Errorf("perfagent: invalid configuration: %w", err)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if n := running.Add(1); n > 1 && !cfg.allowMultiple {
		running.Add(-1)
		return nil, fmt.Errorf("%w; call Shutdown on it first, or start with agent.WithAllowMultiple() (%s=true)", ErrAlreadyRunning, EnvAllowMultiple)
	}
	a = &Agent{cfg: cfg, started: time.Now(), version: moduleVersion(), log: cfg.logger}
	a.errlog = ratelog.New(cfg.logger, time.Minute, nil)
	partial := a
	defer func() {
		if err != nil {
			// Undo what was built; the named result is nil by now.
			_ = partial.release(context.Background())
		}
	}()

	res, err := a.resource(ctx)
	if err != nil {
		return nil, err
	}
	a.reader = rtsample.New(rtsample.Options{Process: cfg.groups&rtmetrics.Process != 0, MaxFDs: cfg.maxFDs})
	// Validate the producer configuration once, so a bad setting fails here.
	if _, err := a.newProducer(nil); err != nil {
		return nil, fmt.Errorf("perfagent: %w", err)
	}

	ecfg := exporters.Config{
		Producer: a.newProducer, Logger: cfg.logger,
		Interval: cfg.interval, Timeout: cfg.timeout,
		OnPanic: func(c string) { a.self.recoverPanic(c) },
	}
	var promHandler http.Handler
	for _, name := range cfg.exporters {
		var r *exporters.Reader
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
	if err := a.startLeak(); err != nil { // snapshots, captures, leak detection (leak.go)
		return nil, err
	}
	// Continuous profiling (profiling.go), with its own store for local
	// rolling profiles so they never push captured profiles out of quota.
	var rolling exporters.ProfileWriter
	if a.cfg.profiling.enabled && a.cfg.profiling.server == "" && a.cfg.leak.outputDir != "" {
		st, err := snapshot.OpenStore(filepath.Join(a.cfg.leak.outputDir, profilesDir, "continuous"), a.cfg.leak.quota)
		if err != nil {
			return nil, fmt.Errorf("perfagent: output directory: %w", err)
		}
		rolling = st // only a non-nil store: a nil *Store in the interface is not nil
	}
	if err := a.startProfiling(res, rolling); err != nil {
		return nil, err
	}

	a.buildHandler(promHandler)
	if cfg.httpAddr != "" {
		if err := a.listen(); err != nil {
			return nil, err
		}
	}
	return a, nil
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

func (a *Agent) listen() error {
	ln, err := net.Listen("tcp", a.cfg.httpAddr)
	if err != nil {
		src := "WithHTTPAddr"
		if !a.cfg.httpAddrSet {
			src = EnvHTTPAddr + " (default " + DefaultHTTPAddr + ")"
		}
		return fmt.Errorf("perfagent: listen on %s (%s): %w", a.cfg.httpAddr, src, err)
	}
	a.listener = ln
	a.server = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.serveDone = make(chan struct{})
	go func() {
		defer close(a.serveDone)
		defer func() {
			if r := recover(); r != nil {
				a.self.recoverPanic("http")
				a.errlog.Log("serve", slog.LevelError, "perfagent: recovered panic in HTTP server", slog.Any("panic", r))
			}
		}()
		if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.errlog.Log("serve", slog.LevelError, "perfagent: HTTP server stopped", slog.String("error", err.Error()))
		}
	}()
	a.log.Info("perfagent: serving metrics", slog.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return nil
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

// Shutdown stops the agent: it stops the listener, flushes every exporter
// (a final OTLP export of the latest values), and waits for every goroutine
// the agent started. It honours ctx's deadline: when ctx ends first it
// returns ctx.Err() (exporters are abandoned, not waited for). A second call
// returns ErrShutdown.
func (a *Agent) Shutdown(ctx context.Context) error {
	err := ErrShutdown
	a.shutdownOnce.Do(func() {
		err = a.release(ctx)
	})
	return err
}

func (a *Agent) release(ctx context.Context) error {
	if !a.shut.CompareAndSwap(false, true) {
		return ErrShutdown
	}
	defer running.Add(-1)
	var errs []error
	if a.server != nil {
		if err := a.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http server: %w", err))
			_ = a.server.Close()
		}
		<-a.serveDone
	}
	// Before the meter provider, so the final metrics include profiling.
	if err := a.stopProfiling(ctx); err != nil && ctx.Err() == nil {
		errs = append(errs, err)
	}
	if err := a.stopLeak(ctx); err != nil { // before the final export, so it includes the leak state
		errs = append(errs, fmt.Errorf("leak detection: %w", err))
	}
	if a.mp != nil {
		if err := a.mp.Shutdown(ctx); err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("metrics: %w", err))
		}
	}
	for _, r := range a.readers {
		if r.Health == nil {
			continue
		}
		if failed, msg := r.Health.LastFailed(); failed {
			errs = append(errs, fmt.Errorf("%w: final export to %s: %s", exporters.ErrExportFailed, r.Name, msg))
		}
	}
	if a.reader != nil {
		_ = a.reader.Close()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("perfagent: shutdown: %w", errors.Join(errs...))
	}
	return nil
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
