package agent

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	cfgpkg "github.com/perfagent/perfagent/internal/config"
	"github.com/perfagent/perfagent/internal/rtmetrics"
)

// DefaultHTTPAddr is the built-in listener's default address. 9464 is the
// port the OpenTelemetry Prometheus exporter conventionally uses.
const DefaultHTTPAddr = "127.0.0.1:9464"

// Environment variables read by [Start]. Options override them.
const (
	EnvHTTPAddr      = "PERFAGENT_HTTP_ADDR"      // host:port of the built-in listener, or "off"
	EnvPprof         = "PERFAGENT_PPROF"          // "true" serves /debug/pprof/
	EnvDebugToken    = "PERFAGENT_DEBUG_TOKEN"    // bearer token required on /debug/
	EnvDebugRemote   = "PERFAGENT_DEBUG_REMOTE"   // "true" allows /debug/ without a token off loopback
	EnvAllowMultiple = "PERFAGENT_ALLOW_MULTIPLE" // "true" allows several agents in a process
	EnvMetrics       = "PERFAGENT_METRICS"        // metric groups, e.g. "all,-process"
	EnvHistograms    = "PERFAGENT_HISTOGRAMS"     // "explicit" (default) or "exponential"
	EnvMaxFDs        = "PERFAGENT_MAX_FDS"        // bound on counting open file descriptors

	envMetricsExporter = "OTEL_METRICS_EXPORTER"
	envOTLPProtocol    = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envOTLPMProtocol   = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
	envOTLPEndpoint    = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTLPMEndpoint   = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	envExportInterval  = "OTEL_METRIC_EXPORT_INTERVAL"
	envExportTimeout   = "OTEL_METRIC_EXPORT_TIMEOUT"
)

// Bounds of the durations and counts read by [Start]; options and
// variables outside them fail Start, naming the option or variable.
const (
	// minExportInterval and maxExportInterval bound WithExportInterval and
	// OTEL_METRIC_EXPORT_INTERVAL.
	minExportInterval = 100 * time.Millisecond
	maxExportInterval = 24 * time.Hour
	// minExportTimeout and maxExportTimeout bound WithExportTimeout and
	// OTEL_METRIC_EXPORT_TIMEOUT.
	minExportTimeout = 10 * time.Millisecond
	maxExportTimeout = time.Hour
	// maxMaxFDs bounds PERFAGENT_MAX_FDS (from 1).
	maxMaxFDs = 1 << 24
)

// envError names the variable and the value that is wrong.
func envError(name, value, problem string) error {
	return &cfgpkg.VarError{Name: name, Value: value, Problem: problem}
}

// resolve fills every field no option set from the environment, then from
// defaults, and validates the result. Every problem is reported, joined.
func (c *config) resolve(lookup func(string) (string, bool)) error {
	r := cfgpkg.New(lookup)
	c.resolveListener(r)
	c.resolveMetrics(r)
	c.resolveExport(r)
	resolveOTLPEnv(r)
	c.resolveServer(r)    // listener.go
	c.resolveProfiling(r) // profiling.go
	c.resolveLeak(r)      // snapshots, captures, leak detection (leak.go)
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	for _, err := range c.resolveTrace(get) { // flight recording (trace.go)
		r.Add(err)
	}
	return r.Err()
}

// resolveListener reads the listener's address and the debug access rule.
func (c *config) resolveListener(r *cfgpkg.Reader) {
	if !c.httpAddrSet {
		c.httpAddr = DefaultHTTPAddr
		r.HostPort(EnvHTTPAddr, &c.httpAddr)
	} else if c.httpAddr != "" {
		if err := cfgpkg.CheckHostPort(c.httpAddr); err != nil {
			r.Add(fmt.Errorf("WithHTTPAddr(%q): %v", c.httpAddr, err))
		}
	}
	if !c.pprofSet {
		r.Bool(EnvPprof, &c.pprof)
	}
	if !c.remoteDebugSet {
		r.Bool(EnvDebugRemote, &c.remoteDebug)
	}
	if !c.allowMultipleSet {
		r.Bool(EnvAllowMultiple, &c.allowMultiple)
	}
	if !c.debugTokenSet {
		r.String(EnvDebugToken, &c.debugToken)
	}
}

// resolveMetrics reads the metric groups, histogram mode and FD bound.
func (c *config) resolveMetrics(r *cfgpkg.Reader) {
	if !c.groupsSet {
		c.groups = rtmetrics.AllGroups
		r.Func(EnvMetrics, func(v string) (err error) {
			c.groups, err = parseGroups(v)
			return err
		})
	}
	if !c.histSet {
		mode := ""
		r.Enum(EnvHistograms, &mode, "explicit", "exponential")
		if mode == "exponential" {
			c.histograms = rtmetrics.HistogramExponential
		}
	}
	r.Int(EnvMaxFDs, &c.maxFDs, 1, maxMaxFDs)
}

// resolveExport reads the exporters, the OTLP protocol and endpoint, and
// the export interval and timeout.
func (c *config) resolveExport(r *cfgpkg.Reader) {
	c.exporters = []string{"prometheus"}
	if r.Has(envOTLPEndpoint) || r.Has(envOTLPMEndpoint) {
		c.exporters = append(c.exporters, "otlp")
	}
	r.Func(envMetricsExporter, func(v string) (err error) {
		c.exporters, err = parseExporters(v)
		return err
	})
	for _, op := range c.exporterOps {
		c.exporters = op(c.exporters)
	}
	if c.otlpProtocol == "" {
		c.otlpProtocol = "http/protobuf"                                   // the OTLP specification's default
		for _, name := range []string{envOTLPProtocol, envOTLPMProtocol} { // the metrics-specific one wins
			r.Func(name, func(v string) error {
				if v == "http/json" {
					return errors.New(`not supported by the Go OTLP exporters; use "grpc" or "http/protobuf"`)
				}
				if v != "grpc" && v != "http/protobuf" {
					return errors.New(`want "grpc" or "http/protobuf"`)
				}
				c.otlpProtocol = v
				return nil
			})
		}
	}
	if c.otlpEndpoint == "" {
		var ignored string // the OTLP exporter reads the endpoint itself
		r.URL(envOTLPEndpoint, &ignored)
		r.URL(envOTLPMEndpoint, &ignored)
	} else if err := cfgpkg.CheckURL(c.otlpEndpoint); err != nil {
		r.Add(fmt.Errorf("WithOTLP endpoint %q: %v", c.otlpEndpoint, err))
	}
	if !c.intervalSet {
		r.Millis(envExportInterval, &c.interval, minExportInterval, maxExportInterval)
	}
	if !c.timeoutSet {
		r.Millis(envExportTimeout, &c.timeout, minExportTimeout, maxExportTimeout)
	}
}

// resolveOTLPEnv checks the OTEL_EXPORTER_OTLP_* variables the OTLP
// exporter reads itself (headers, timeout, compression, TLS files,
// temporality), so garbage fails Start naming the variable instead of
// being ignored or logged later. They are checked whether or not OTLP is
// on, like the profiling variables.
func resolveOTLPEnv(r *cfgpkg.Reader) {
	for _, pre := range []string{"OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_METRICS_"} {
		r.KeyValues(pre+"HEADERS", true)
		var d time.Duration
		r.Millis(pre+"TIMEOUT", &d, minExportTimeout, maxExportTimeout)
		var s string
		r.Enum(pre+"COMPRESSION", &s, "gzip", "none")
		var b bool
		r.Bool(pre+"INSECURE", &b)
		for _, f := range []string{"CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
			r.Func(pre+f, func(v string) error {
				if _, err := os.Stat(v); err != nil {
					return fmt.Errorf("cannot read the file: %v", err)
				}
				return nil
			})
		}
	}
	r.Func("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", func(v string) error {
		switch strings.ToLower(v) {
		case "cumulative", "delta", "lowmemory":
			return nil
		}
		return errors.New(`want "cumulative", "delta" or "lowmemory"`)
	})
}

// parseGroups reads a comma-separated list of groups: "all", "recommended",
// "optin", "extras", "process", each optionally prefixed with "-" to remove
// it. A list starting with a removal starts from all groups.
func parseGroups(s string) (rtmetrics.Groups, error) {
	names := map[string]rtmetrics.Groups{
		"all": rtmetrics.AllGroups, "recommended": rtmetrics.Recommended, "optin": rtmetrics.OptIn,
		"extras": rtmetrics.Extras, "process": rtmetrics.Process,
	}
	var g rtmetrics.Groups
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		remove := strings.HasPrefix(item, "-")
		item = strings.TrimPrefix(item, "-")
		x, ok := names[item]
		if !ok {
			return 0, fmt.Errorf("unknown metric group %q (want all, recommended, optin, extras, process; prefix - to remove)", item)
		}
		if remove {
			if i == 0 {
				g = rtmetrics.AllGroups
			}
			g &^= x
		} else {
			g |= x
		}
	}
	if g == 0 {
		return 0, errors.New("no metric group left")
	}
	return g, nil
}

func parseExporters(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch item {
		case "none":
			if len(strings.Split(s, ",")) > 1 {
				return nil, errors.New(`"none" cannot be combined with other exporters`)
			}
			return nil, nil
		case "otlp", "prometheus", "console":
			out = append(out, item)
		default:
			return nil, fmt.Errorf("unknown exporter %q (want otlp, prometheus, console or none)", item)
		}
	}
	return out, nil
}
