package agent

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

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

// envError names the variable and the value that is wrong.
func envError(name, value, problem string) error {
	return fmt.Errorf("%s=%q: %s", name, value, problem)
}

// resolve fills every field no option set from the environment, then from
// defaults, and validates the result. Every problem is reported, joined.
func (c *config) resolve(lookup func(string) (string, bool)) error {
	var errs []error
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	boolVar := func(name string, dst *bool, set bool) {
		if set {
			return
		}
		if v, ok := get(name); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, envError(name, v, "not a boolean (want true or false)"))
				return
			}
			*dst = b
		}
	}

	if !c.httpAddrSet {
		c.httpAddr = DefaultHTTPAddr
		if v, ok := get(EnvHTTPAddr); ok {
			if v == "off" {
				c.httpAddr = ""
			} else if err := checkAddr(v); err != nil {
				errs = append(errs, envError(EnvHTTPAddr, v, err.Error()))
			} else {
				c.httpAddr = v
			}
		}
	} else if c.httpAddr != "" {
		if err := checkAddr(c.httpAddr); err != nil {
			errs = append(errs, fmt.Errorf("WithHTTPAddr(%q): %v", c.httpAddr, err))
		}
	}
	boolVar(EnvPprof, &c.pprof, c.pprofSet)
	boolVar(EnvDebugRemote, &c.remoteDebug, c.remoteDebugSet)
	boolVar(EnvAllowMultiple, &c.allowMultiple, c.allowMultipleSet)
	if !c.debugTokenSet {
		if v, ok := get(EnvDebugToken); ok {
			c.debugToken = v
		}
	}
	if !c.groupsSet {
		c.groups = rtmetrics.AllGroups
		if v, ok := get(EnvMetrics); ok {
			g, err := parseGroups(v)
			if err != nil {
				errs = append(errs, envError(EnvMetrics, v, err.Error()))
			} else {
				c.groups = g
			}
		}
	}
	if !c.histSet {
		if v, ok := get(EnvHistograms); ok {
			switch v {
			case "explicit":
				c.histograms = rtmetrics.HistogramExplicit
			case "exponential":
				c.histograms = rtmetrics.HistogramExponential
			default:
				errs = append(errs, envError(EnvHistograms, v, `want "explicit" or "exponential"`))
			}
		}
	}
	if v, ok := get(EnvMaxFDs); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, envError(EnvMaxFDs, v, "not an integer"))
		} else {
			c.maxFDs = n
		}
	}

	c.exporters = []string{"prometheus"}
	_, ep1 := get(envOTLPEndpoint)
	_, ep2 := get(envOTLPMEndpoint)
	if ep1 || ep2 {
		c.exporters = append(c.exporters, "otlp")
	}
	if v, ok := get(envMetricsExporter); ok {
		list, err := parseExporters(v)
		if err != nil {
			errs = append(errs, envError(envMetricsExporter, v, err.Error()))
		} else {
			c.exporters = list
		}
	}
	for _, op := range c.exporterOps {
		c.exporters = op(c.exporters)
	}
	if c.otlpProtocol == "" {
		c.otlpProtocol = "http/protobuf"                                   // the OTLP specification's default
		for _, name := range []string{envOTLPProtocol, envOTLPMProtocol} { // the metrics-specific one wins
			if v, ok := get(name); ok {
				switch v {
				case "grpc", "http/protobuf":
					c.otlpProtocol = v
				case "http/json":
					errs = append(errs, envError(name, v, `not supported by the Go OTLP exporters; use "grpc" or "http/protobuf"`))
				default:
					errs = append(errs, envError(name, v, `want "grpc" or "http/protobuf"`))
				}
			}
		}
	}
	if c.otlpEndpoint == "" {
		for _, name := range []string{envOTLPEndpoint, envOTLPMEndpoint} {
			if v, ok := get(name); ok {
				if err := checkURL(v); err != nil {
					errs = append(errs, envError(name, v, err.Error()))
				}
			}
		}
	} else if err := checkURL(c.otlpEndpoint); err != nil {
		errs = append(errs, fmt.Errorf("WithOTLP endpoint %q: %v", c.otlpEndpoint, err))
	}
	durVar := func(name string, dst *time.Duration, set bool) {
		if set {
			return
		}
		if v, ok := get(name); ok {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms <= 0 {
				errs = append(errs, envError(name, v, "want a positive integer number of milliseconds"))
				return
			}
			*dst = time.Duration(ms) * time.Millisecond
		}
	}
	durVar(envExportInterval, &c.interval, c.intervalSet)
	durVar(envExportTimeout, &c.timeout, c.timeoutSet)
	errs = append(errs, c.resolveServer(get)...)    // listener.go
	errs = append(errs, c.resolveProfiling(get)...) // profiling.go
	errs = append(errs, c.resolveLeak(lookup)...)   // snapshots, captures, leak detection (leak.go)
	errs = append(errs, c.resolveTrace(get)...)     // flight recording (trace.go)
	return errors.Join(errs...)
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %v", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL with a host, e.g. http://localhost:4318")
	}
	return nil
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
