package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	cfgpkg "github.com/perfagent/perfagent/internal/config"
	"github.com/perfagent/perfagent/internal/rtmetrics"
)

// Option configures [Start]. Options override environment variables, which
// override defaults. Options are created by the With* functions of this
// package only.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// MetricGroup selects a set of metrics for [WithMetrics] and
// [WithoutMetrics].
type MetricGroup = rtmetrics.Groups

// Metric groups. All are on by default.
const (
	// RuntimeRecommended: the nine recommended go.* metrics of the OTel
	// semantic conventions.
	RuntimeRecommended = rtmetrics.Recommended
	// RuntimeOptIn: go.memory.gc.cycles, go.memory.gc.pause.duration,
	// go.cpu.time.
	RuntimeOptIn = rtmetrics.OptIn
	// RuntimeExtras: perfagent.go.* (live heap, GC CPU fraction, goroutines
	// by state, threads, mutex wait, finalizer and cleanup backlogs, GC CPU
	// limiter).
	RuntimeExtras = rtmetrics.Extras
	// ProcessMetrics: process.* (CPU time, memory, threads, file
	// descriptors, uptime).
	ProcessMetrics = rtmetrics.Process
)

// config is the resolved configuration. Fields with a *Set companion record
// that an option set them, so the environment does not override them.
type config struct {
	serviceName string
	resAttrs    []attribute.KeyValue

	httpAddr    string // "" disables the built-in listener
	httpAddrSet bool

	pprof, pprofSet                 bool
	debugToken                      string
	debugTokenSet                   bool
	remoteDebug, remoteDebugSet     bool
	allowMultiple, allowMultipleSet bool

	groups     rtmetrics.Groups
	groupsSet  bool
	histograms rtmetrics.HistogramMode
	histSet    bool
	boundaries []float64

	exporters    []string                  // resolved: "prometheus", "otlp", "console"
	exporterOps  []func([]string) []string // option edits applied over the env/default list
	otlpProtocol string
	otlpEndpoint string
	otlpHeaders  map[string]string
	interval     time.Duration
	intervalSet  bool
	timeout      time.Duration
	timeoutSet   bool
	console      io.Writer

	promScopeLabels bool
	readers         []func(sdkmetric.Producer) sdkmetric.Reader
	logger          *slog.Logger
	maxFDs          int
	now             func() time.Time

	server serverConfig // the built-in listener's bounds (http.go)

	profiling profilingConfig // continuous profiling (profiling.go)
	leak      leakConfig      // snapshots, captures, leak detection: leak.go
	trace     traceConfig     // flight recording: trace.go
}

// WithServiceName sets the service.name resource attribute (default:
// OTEL_SERVICE_NAME, else the executable's name).
func WithServiceName(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" {
			return errors.New("WithServiceName: empty name")
		}
		c.serviceName = name
		return nil
	})
}

// WithResourceAttributes adds attributes to the resource describing the
// service (merged over OTEL_RESOURCE_ATTRIBUTES).
func WithResourceAttributes(attrs ...attribute.KeyValue) Option {
	return optionFunc(func(c *config) error {
		c.resAttrs = append(c.resAttrs, attrs...)
		return nil
	})
}

// WithHTTPAddr sets the built-in listener's address (default
// "127.0.0.1:9464", or PERFAGENT_HTTP_ADDR). Port 0 picks a free port;
// [Agent.Addr] reports it. "off" (or "") disables the listener; the host can
// still mount [Agent.Handler] on its own server.
func WithHTTPAddr(addr string) Option {
	return optionFunc(func(c *config) error {
		if addr == "off" {
			addr = ""
		}
		c.httpAddr, c.httpAddrSet = addr, true
		return nil
	})
}

// WithoutHTTPServer disables the built-in listener (same as
// WithHTTPAddr("off")).
func WithoutHTTPServer() Option { return WithHTTPAddr("off") }

// WithPprof serves net/http/pprof under /debug/pprof/ on the agent's
// handler (default off, or PERFAGENT_PPROF). It is subject to the same
// access rule as the debug endpoints.
func WithPprof(enabled bool) Option {
	return optionFunc(func(c *config) error {
		c.pprof, c.pprofSet = enabled, true
		return nil
	})
}

// WithDebugToken requires "Authorization: Bearer <token>" on /debug/
// endpoints (default PERFAGENT_DEBUG_TOKEN). With a token, the endpoints may
// be served on any address.
func WithDebugToken(token string) Option {
	return optionFunc(func(c *config) error {
		if token == "" {
			return errors.New("WithDebugToken: empty token")
		}
		c.debugToken, c.debugTokenSet = token, true
		return nil
	})
}

// WithRemoteDebug allows /debug/ endpoints without a token on requests that
// arrive on a non-loopback address (default false, or
// PERFAGENT_DEBUG_REMOTE). Without it, such requests get 403 unless a debug
// token is configured.
func WithRemoteDebug(allowed bool) Option {
	return optionFunc(func(c *config) error {
		c.remoteDebug, c.remoteDebugSet = allowed, true
		return nil
	})
}

// WithAllowMultiple lets Start succeed while another Agent runs in the
// process (default false, or PERFAGENT_ALLOW_MULTIPLE). Each agent then
// reads and exports the same runtime metrics separately.
func WithAllowMultiple() Option {
	return optionFunc(func(c *config) error {
		c.allowMultiple, c.allowMultipleSet = true, true
		return nil
	})
}

// WithMetrics exports exactly the given groups (default all, or
// PERFAGENT_METRICS).
func WithMetrics(groups ...MetricGroup) Option {
	return optionFunc(func(c *config) error {
		var g rtmetrics.Groups
		for _, x := range groups {
			g |= x
		}
		if g == 0 {
			return errors.New("WithMetrics: no group given (use WithoutMetrics to turn groups off)")
		}
		c.groups, c.groupsSet = g, true
		return nil
	})
}

// WithoutMetrics turns the given groups off, leaving the others as
// configured.
func WithoutMetrics(groups ...MetricGroup) Option {
	return optionFunc(func(c *config) error {
		if !c.groupsSet {
			c.groups = rtmetrics.AllGroups
		}
		for _, x := range groups {
			c.groups &^= x
		}
		c.groupsSet = true
		return nil
	})
}

// WithExponentialHistograms exports go.schedule.duration and
// go.memory.gc.pause.duration as exponential histograms (Prometheus native
// histograms; lossless over OTLP) instead of the default explicit buckets
// (PERFAGENT_HISTOGRAMS=exponential). Scraped in the Prometheus text format,
// exponential histograms show only _sum, _count and a +Inf bucket.
func WithExponentialHistograms() Option {
	return optionFunc(func(c *config) error {
		c.histograms, c.histSet = rtmetrics.HistogramExponential, true
		return nil
	})
}

// WithHistogramBoundaries sets the explicit histogram boundaries, in
// seconds, strictly increasing (default 16 boundaries from 1µs to 10s).
func WithHistogramBoundaries(bounds ...float64) Option {
	return optionFunc(func(c *config) error {
		if len(bounds) == 0 {
			return errors.New("WithHistogramBoundaries: no boundaries")
		}
		c.boundaries = slices.Clone(bounds)
		return nil
	})
}

// WithPrometheus serves the Prometheus exposition at /metrics. It is on by
// default unless OTEL_METRICS_EXPORTER leaves it out; this option adds it
// back.
func WithPrometheus() Option { return withExporter("prometheus") }

// WithPrometheusScopeLabels adds the otel_scope_name, otel_scope_version and
// otel_scope_schema_url labels to every Prometheus series (default off:
// perfagent's metric names already say where they come from, and the labels
// more than double each scrape; turn them on when the host's own
// instruments need telling apart by scope).
func WithPrometheusScopeLabels() Option {
	return optionFunc(func(c *config) error {
		c.promScopeLabels = true
		return nil
	})
}

// WithoutPrometheus turns the Prometheus exposition off (/metrics answers
// 404).
func WithoutPrometheus() Option {
	return optionFunc(func(c *config) error {
		c.exporterOps = append(c.exporterOps, func(l []string) []string {
			return slices.DeleteFunc(l, func(s string) bool { return s == "prometheus" })
		})
		return nil
	})
}

// WithOTLP pushes metrics to an OpenTelemetry collector over protocol
// ("grpc" or "http/protobuf") at endpoint (a URL such as
// "http://localhost:4317"; empty leaves it to OTEL_EXPORTER_OTLP_ENDPOINT
// and its defaults). The OTLP exporter reads the other OTEL_EXPORTER_OTLP_*
// variables (headers, TLS, compression, temporality preference) itself.
// Exporter options add to (or remove from) the list OTEL_METRICS_EXPORTER
// gives, whose default is prometheus, plus otlp when
// OTEL_EXPORTER_OTLP_ENDPOINT is set. For HTTP, an endpoint without a path
// gets /v1/metrics, as the OTLP specification does for base URLs.
func WithOTLP(protocol, endpoint string) Option {
	return optionFunc(func(c *config) error {
		switch protocol {
		case "grpc", "http/protobuf":
		default:
			return fmt.Errorf("WithOTLP: protocol %q, want \"grpc\" or \"http/protobuf\"", protocol)
		}
		c.otlpProtocol, c.otlpEndpoint = protocol, endpoint
		return withExporter("otlp").apply(c)
	})
}

// WithOTLPHeaders adds headers to every OTLP export (e.g. authorization).
func WithOTLPHeaders(h map[string]string) Option {
	return optionFunc(func(c *config) error {
		if c.otlpHeaders == nil {
			c.otlpHeaders = map[string]string{}
		}
		for k, v := range h {
			c.otlpHeaders[k] = v
		}
		return nil
	})
}

// WithConsole prints metrics as JSON to w at each export interval, for
// debugging.
func WithConsole(w io.Writer) Option {
	return optionFunc(func(c *config) error {
		if w == nil {
			return errors.New("WithConsole: nil writer")
		}
		c.console = w
		return withExporter("console").apply(c)
	})
}

// WithoutExporters exports nothing by itself (no /metrics content, no push),
// whatever OTEL_METRICS_EXPORTER says; readers given with WithReader, and
// exporter options given after this one, still work.
func WithoutExporters() Option {
	return optionFunc(func(c *config) error {
		c.exporterOps = append(c.exporterOps, func([]string) []string { return nil })
		return nil
	})
}

func withExporter(name string) Option {
	return optionFunc(func(c *config) error {
		c.exporterOps = append(c.exporterOps, func(l []string) []string {
			if !slices.Contains(l, name) {
				l = append(l, name)
			}
			return l
		})
		return nil
	})
}

// WithExportInterval sets how often push exporters export (default
// OTEL_METRIC_EXPORT_INTERVAL, in milliseconds, else 60s). It must be from
// 100ms to 24h.
func WithExportInterval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if err := cfgpkg.CheckDuration("WithExportInterval", d, minExportInterval, maxExportInterval); err != nil {
			return err
		}
		c.interval, c.intervalSet = d, true
		return nil
	})
}

// WithExportTimeout bounds each push export (default
// OTEL_METRIC_EXPORT_TIMEOUT, in milliseconds, else 30s). It must be from
// 10ms to 1h.
func WithExportTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if err := cfgpkg.CheckDuration("WithExportTimeout", d, minExportTimeout, maxExportTimeout); err != nil {
			return err
		}
		c.timeout, c.timeoutSet = d, true
		return nil
	})
}

// WithReader adds a reader built by newReader, which receives the producer
// of runtime and process metrics to pass to sdkmetric.WithProducer (its data
// is cumulative). Use it for exporters perfagent does not ship, or a
// ManualReader in tests:
//
//	var mr *sdkmetric.ManualReader
//	agent.WithReader(func(p sdkmetric.Producer) sdkmetric.Reader {
//		mr = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
//		return mr
//	})
func WithReader(newReader func(runtime sdkmetric.Producer) sdkmetric.Reader) Option {
	return optionFunc(func(c *config) error {
		if newReader == nil {
			return errors.New("WithReader: nil function")
		}
		c.readers = append(c.readers, newReader)
		return nil
	})
}

// WithLogger sets where the agent logs (default slog.Default()). Failures
// are logged at most once a minute per kind.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.logger = l
		return nil
	})
}
