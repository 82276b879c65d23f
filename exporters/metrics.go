package exporters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/perfagent/perfagent/internal/ratelog"
)

// ProducerFunc returns the producer of runtime metrics for one reader, given
// that reader's temporality selector.
type ProducerFunc func(sdkmetric.TemporalitySelector) (sdkmetric.Producer, error)

// Config is what every reader needs. The zero value is usable: no producer,
// the SDK's intervals, slog.Default for failure logs.
type Config struct {
	// Producer, when set, adds a runtime-metrics producer to each reader.
	Producer ProducerFunc
	// Logger receives rate-limited failure records; nil means
	// slog.Default().
	Logger *slog.Logger
	// Interval and Timeout configure push exporters' periodic readers. Zero
	// leaves them to the SDK, which reads OTEL_METRIC_EXPORT_INTERVAL and
	// OTEL_METRIC_EXPORT_TIMEOUT (defaults 60s and 30s).
	Interval, Timeout time.Duration
	// OnPanic, when set, is called with the exporter's name after a panic in
	// an exporter was recovered.
	OnPanic func(component string)
}

// Reader is one metric reader with what the agent needs to serve and
// observe it.
type Reader struct {
	// Name identifies the exporter: "prometheus", "otlp-grpc", "otlp-http",
	// "console".
	Name string
	// Reader is to be registered with the MeterProvider.
	Reader sdkmetric.Reader
	// Handler serves the Prometheus exposition (Prometheus only).
	Handler http.Handler
	// Health records push exports (nil for Prometheus, which is pulled).
	Health *Health

	guard *guardedExporter // nil for Prometheus
}

// Discard makes every later export of the reader (periodic, forced or the
// final one at Shutdown) a no-op that sends nothing and is not recorded in
// Health. Use it when the pipeline is torn down before it was ever used
// (a Start that failed), so nothing is exported on the way out. It is
// safe for concurrent use; a no-op for pull readers.
func (r *Reader) Discard() {
	if r.guard != nil {
		r.guard.discard.Store(true)
	}
}

// PrometheusOptions configure [Prometheus].
type PrometheusOptions struct {
	// Registry is the registry the exporter registers with; nil means a new
	// private registry. The global registry is never used.
	Registry *prometheus.Registry
	// ScopeLabels adds the otel_scope_name, otel_scope_version and
	// otel_scope_schema_url labels to every series. Off by default: every
	// perfagent metric name already says where it comes from, and the three
	// labels more than double the size of each scrape and of each series in
	// Prometheus' index.
	ScopeLabels bool
	// WithoutTargetInfo drops the target_info series holding the resource.
	WithoutTargetInfo bool
}

// Prometheus returns a reader exported through the OpenTelemetry Prometheus
// exporter on a private registry, and the HTTP handler serving it (text,
// OpenMetrics, or protobuf with native histograms, as the scraper asks).
func Prometheus(cfg Config, o PrometheusOptions) (*Reader, error) {
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	opts := []otelprom.Option{otelprom.WithRegisterer(reg)}
	if !o.ScopeLabels {
		opts = append(opts, otelprom.WithoutScopeInfo())
	}
	if o.WithoutTargetInfo {
		opts = append(opts, otelprom.WithoutTargetInfo())
	}
	if cfg.Producer != nil {
		p, err := cfg.Producer(sdkmetric.DefaultTemporalitySelector)
		if err != nil {
			return nil, fmt.Errorf("exporters: prometheus: %w", err)
		}
		opts = append(opts, otelprom.WithProducer(p))
	}
	exp, err := otelprom.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("exporters: prometheus: %w", err)
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		ErrorLog:            promLogger{ratelog.New(cfg.Logger, time.Minute, nil)},
		EnableOpenMetrics:   true,
		MaxRequestsInFlight: 16, // beyond this, concurrent scrapes get 503 rather than piling up on the host
		// Note: no Timeout: promhttp implements it with http.TimeoutHandler,
		// which runs every scrape on an extra goroutine and buffers the
		// whole body, while a collection takes microseconds.
	})
	return &Reader{Name: "prometheus", Reader: exp, Handler: h}, nil
}

type promLogger struct{ l *ratelog.Limiter }

func (p promLogger) Println(v ...any) {
	p.l.Log("prometheus", slog.LevelWarn, "perfagent: prometheus exposition error", slog.String("error", fmt.Sprint(v...)))
}

// Protocols for [OTLPOptions.Protocol].
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// OTLPOptions configure [OTLP]. Unset fields are left to the OTLP
// exporter, which reads the OTEL_EXPORTER_OTLP_* environment variables.
type OTLPOptions struct {
	// Protocol is ProtocolGRPC or ProtocolHTTP (the default).
	Protocol string
	// Endpoint is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT
	// (e.g. "http://localhost:4317"); "http" means no TLS. For HTTP a URL
	// without a path gets the signal path /v1/metrics; a URL with a path is
	// used as is. Empty leaves it to the OTEL_EXPORTER_OTLP_* variables.
	Endpoint string
	// Headers are sent with every export (e.g. an Authorization header).
	Headers map[string]string
}

// OTLP returns a periodic reader pushing to an OpenTelemetry collector. It
// does not connect: an unreachable collector fails exports, counted in the
// reader's Health, never Start.
func OTLP(ctx context.Context, cfg Config, o OTLPOptions) (*Reader, error) {
	var (
		exp  sdkmetric.Exporter
		err  error
		name string
	)
	if o.Endpoint != "" {
		if err := validateEndpoint(o.Endpoint); err != nil {
			return nil, err
		}
	}
	switch o.Protocol {
	case ProtocolGRPC:
		name = "otlp-grpc"
		var opts []otlpmetricgrpc.Option
		if o.Endpoint != "" {
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(o.Endpoint))
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlpmetricgrpc.WithHeaders(o.Headers))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	case ProtocolHTTP, "":
		name = "otlp-http"
		var opts []otlpmetrichttp.Option
		if o.Endpoint != "" {
			opts = append(opts, otlpmetrichttp.WithEndpointURL(withSignalPath(o.Endpoint)))
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlpmetrichttp.WithHeaders(o.Headers))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("exporters: unsupported OTLP protocol %q (want %q or %q)", o.Protocol, ProtocolGRPC, ProtocolHTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("exporters: %s: %w", name, err)
	}
	return periodic(cfg, name, exp)
}

// Console returns a periodic reader printing metrics as JSON to w, for
// debugging.
func Console(cfg Config, w io.Writer) (*Reader, error) {
	exp, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
	if err != nil {
		return nil, fmt.Errorf("exporters: console: %w", err)
	}
	return periodic(cfg, "console", exp)
}

// Push wraps any exporter the caller built into a periodic reader with the
// same failure accounting as the built-in ones.
func Push(cfg Config, name string, exp sdkmetric.Exporter) (*Reader, error) {
	return periodic(cfg, name, exp)
}

func periodic(cfg Config, name string, exp sdkmetric.Exporter) (*Reader, error) {
	h := &Health{}
	w := &guardedExporter{
		Exporter: exp, name: name, health: h,
		log: ratelog.New(cfg.Logger, time.Minute, nil), onPanic: cfg.OnPanic,
	}
	var opts []sdkmetric.PeriodicReaderOption
	if cfg.Interval > 0 {
		opts = append(opts, sdkmetric.WithInterval(cfg.Interval))
	}
	if cfg.Timeout > 0 {
		opts = append(opts, sdkmetric.WithTimeout(cfg.Timeout))
	}
	if cfg.Producer != nil {
		p, err := cfg.Producer(exp.Temporality)
		if err != nil {
			_ = exp.Shutdown(context.Background())
			return nil, fmt.Errorf("exporters: %s: %w", name, err)
		}
		opts = append(opts, sdkmetric.WithProducer(p))
	}
	return &Reader{Name: name, Reader: sdkmetric.NewPeriodicReader(w, opts...), Health: h, guard: w}, nil
}

// withSignalPath appends /v1/metrics to a base URL without a path, as the
// OTLP specification does for OTEL_EXPORTER_OTLP_ENDPOINT.
func withSignalPath(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return s
	}
	u.Path = "/v1/metrics"
	return u.String()
}

func validateEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("exporters: OTLP endpoint %q is not a URL: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("exporters: OTLP endpoint %q must be an http:// or https:// URL with a host", s)
	}
	return nil
}

// guardedExporter counts, rate-limit-logs and recovers an exporter's
// failures. Export reports success to the periodic reader so failures do
// not go to the global OTel error handler; Health has the truth.
type guardedExporter struct {
	sdkmetric.Exporter
	name    string
	health  *Health
	log     *ratelog.Limiter
	onPanic func(string)
	discard atomic.Bool
}

func (g *guardedExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) (err error) {
	if g.discard.Load() {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			g.health.panics.Add(1)
			if g.onPanic != nil {
				g.onPanic(g.name)
			}
			err = fmt.Errorf("recovered panic: %v", r)
		}
		g.health.Record(err, time.Now())
		if err != nil {
			g.log.Log(g.name, slog.LevelWarn, "perfagent: metric export failed; will retry at the next interval",
				slog.String("exporter", g.name), slog.String("error", err.Error()))
		}
		err = nil
	}()
	return g.Exporter.Export(ctx, rm)
}

func (g *guardedExporter) ForceFlush(ctx context.Context) error {
	if g.discard.Load() {
		return nil
	}
	return ignorePanic(func() error { return g.Exporter.ForceFlush(ctx) })
}

func (g *guardedExporter) Shutdown(ctx context.Context) error {
	return ignorePanic(func() error { return g.Exporter.Shutdown(ctx) })
}

func ignorePanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("recovered panic: %v", r)
		}
	}()
	return f()
}

// ErrExportFailed is returned (wrapped) by callers that need to tell a
// failed final export apart.
var ErrExportFailed = errors.New("metric export failed")
