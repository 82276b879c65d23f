package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/monitor"
	"github.com/perfagent/perfagent/results"
)

// Environment variables of `perfagent monitor`, in seconds as the seed's
// continuous monitor reads them (MONITOR_DURATION=300 MONITOR_INTERVAL=5).
const (
	envMonitorDuration = "MONITOR_DURATION"
	envMonitorInterval = "MONITOR_INTERVAL"
	envDebugToken      = "PERFAGENT_DEBUG_TOKEN"
)

// Run-length presets of `perfagent monitor` (the seed's perf:monitor:quick
// and perf:monitor:extended).
const (
	monitorQuick    = 60 * time.Second
	monitorExtended = 5 * time.Minute
)

// thresholdFlag is one --max-* flag.
type thresholdFlag struct {
	name   string
	series monitor.Series
	usage  string
}

func thresholdFlags() []thresholdFlag {
	return []thresholdFlag{
		{"max-rss", monitor.RSS, "threshold: resident set size, e.g. 512MiB"},
		{"max-heap", monitor.Heap, "threshold: heap bytes, e.g. 256MiB"},
		{"max-cpu", monitor.CPU, "threshold: CPU use in cores over an interval, e.g. 0.8"},
		{"max-goroutines", monitor.Goroutines, "threshold: live goroutines"},
		{"max-threads", monitor.Threads, "threshold: OS threads"},
		{"max-fds", monitor.FDs, "threshold: open file descriptors"},
		{"max-sched-lag", monitor.SchedLagP99, "threshold: scheduler-latency p99 over an interval, e.g. 50ms"},
		{"max-gc-cpu", monitor.GCCPU, "threshold: fraction of CPU in GC, e.g. 0.25 or 25%"},
	}
}

func monitorCommand() command {
	c := command{
		name: "monitor",
		summary: "Sample a running service (--url, with the agent), any process (--pid) or any Prometheus endpoint (--metrics-url) " +
			"every --interval until stopped or for --duration; write monitoring/metrics-history-<ts>.json (also during the run) and " +
			"report-<ts>.md with charts. Thresholds (--max-*) are recorded and trigger heap captures on agents; exit 1 when one " +
			"was breached or a --budgets check failed.",
		examples: []string{
			"perfagent monitor --url http://127.0.0.1:9464                # until Ctrl-C, every 5s",
			"perfagent monitor --url http://127.0.0.1:9464 --quick --max-rss 512MiB --max-sched-lag 50ms",
			"perfagent monitor --pid 4242 --extended --budgets default     # check the seed's system targets",
			"perfagent monitor --metrics-url http://127.0.0.1:9090/metrics --duration 10m --interval 15s",
			"MONITOR_DURATION=300 MONITOR_INTERVAL=5 perfagent monitor --url http://10.0.0.5:9464 --token \"$PERFAGENT_DEBUG_TOKEN\"",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		f := addMonitorFlags(fs)
		root := outputRoot(e, fs)
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		if len(args) > 0 {
			return usageErr(e, c.name, "unexpected argument %q (targets are given by --url, --pid or --metrics-url)", args[0])
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		so, err := f.session(e, set)
		if err != nil {
			return usageErr(e, c.name, "%v", err)
		}
		if *f.budgets != "" {
			if so.Budgets, err = loadBudgets(*f.budgets); err != nil {
				return inputErr(e, c.name, err)
			}
		}
		src, err := f.source(e, set)
		if err != nil {
			return usageErr(e, c.name, "%v", strings.TrimPrefix(err.Error(), "monitor: "))
		}
		defer src.Close()
		so.Dir, so.ResultsDir = monitoringDir(*root), benchDir(*root)
		if err := os.MkdirAll(so.Dir, 0o755); err != nil {
			return inputErr(e, c.name, fmt.Errorf("--out: %w", err))
		}
		if *f.otlp != "" {
			so.Push = func(ctx context.Context, res *results.Run) error {
				if err := pushResults(ctx, *f.otlp, res); err != nil {
					return fmt.Errorf("--otlp: %w", err)
				}
				return nil
			}
		}
		sp := newSpinner(e, "monitoring")
		so.Warn = func(msg string) { fmt.Fprintf(e.stderr, "perfagent monitor: warning: %s\n", msg) }
		so.Progress = func(p monitor.Progress) { sp.describe(monitorProgress(src.Target(), p)) }
		s, runErr := monitor.RunSession(e.ctx, src, so)
		sp.done()
		if s == nil {
			return runErrLine(e, c.name, runErr)
		}
		printSession(e, s, *f.asJSON)
		for _, err := range s.Errors {
			fmt.Fprintf(e.stderr, "perfagent monitor: %v\n", err)
		}
		outcome, why := s.Outcome()
		switch outcome {
		case monitor.OutcomeOK:
			return exitOK
		case monitor.OutcomeBreached:
			fmt.Fprintf(e.stderr, "perfagent monitor: %s\n", why)
			return exitFailed
		case monitor.OutcomeWriteFailed: // already printed, one line each
			return exitRunError
		}
		fmt.Fprintf(e.stderr, "perfagent monitor: %s\n", why)
		return exitRunError
	}
	return c
}

// monitorFlags are the flags of `perfagent monitor`.
type monitorFlags struct {
	agentURL, metricsURL, token, budgets, otlp *string
	pid, maxSamples                            *int
	interval, duration, timeout                *time.Duration
	cooldown, window                           *time.Duration
	quick, extended, noCapture, saveRes        *bool
	asJSON                                     *bool
	limits                                     map[string]*string
}

func addMonitorFlags(fs *flag.FlagSet) *monitorFlags {
	f := &monitorFlags{limits: map[string]*string{}}
	f.agentURL = fs.String("url", "", "target: base URL of a service running the perfagent agent (its /metrics and /debug/perfagent/)")
	f.pid = fs.Int("pid", 0, "target: a local process ID, read from /proc")
	f.metricsURL = fs.String("metrics-url", "", "target: any Prometheus exposition URL")
	f.interval = fs.Duration("interval", monitor.DefaultInterval, "time between readings (env "+envMonitorInterval+", in seconds)")
	f.duration = fs.Duration("duration", 0, "run length; 0 runs until interrupted (env "+envMonitorDuration+", in seconds)")
	f.quick = fs.Bool("quick", false, "run for 60s")
	f.extended = fs.Bool("extended", false, "run for 5m")
	f.token = fs.String("token", "", "bearer token for the agent's /debug/ endpoints (env "+envDebugToken+")")
	f.timeout = fs.Duration("timeout", monitor.DefaultHTTPTimeout, "timeout of each HTTP request to the target")
	for _, t := range thresholdFlags() {
		f.limits[t.name] = fs.String(t.name, "", t.usage)
	}
	f.noCapture = fs.Bool("no-capture", false, "do not ask the agent for heap profiles when a threshold is breached")
	f.cooldown = fs.Duration("capture-cooldown", monitor.DefaultCaptureCooldown, "least time between two heap captures")
	f.window = fs.Duration("baseline-window", monitor.DefaultBaselineWindow,
		"start of the run giving the memory baseline (median RSS) and idle CPU (mean)")
	f.maxSamples = fs.Int("max-samples", monitor.DefaultMaxSamples, "history points kept; longer runs are downsampled")
	f.budgets = fs.String("budgets", "", "check the run against the system budgets of this file ('default': the seed's targets), "+
		"writing benchmarks/benchmark-<ts>.json; exit 1 on a violation")
	f.saveRes = fs.Bool("results", false, "write the system figures as benchmarks/benchmark-<ts>.json (for 'perfagent check')")
	f.asJSON = fs.Bool("json", false, "print the history, files and budget verdict as JSON")
	f.otlp = fs.String("otlp", "", "push the run's summary (system figures) as OpenTelemetry metrics to this OTLP endpoint URL ('env': the OTEL_EXPORTER_OTLP_* variables)")
	return f
}

// session validates the flags (set names those given) and the MONITOR_*
// variables into the session's options, without its files and budgets.
func (f *monitorFlags) session(e *env, set map[string]bool) (monitor.SessionOptions, error) {
	var so monitor.SessionOptions
	targets := 0
	for _, n := range []string{"url", "pid", "metrics-url"} {
		if set[n] {
			targets++
		}
	}
	if targets != 1 {
		return so, errors.New("give exactly one target: --url (an agent), --pid (a process) or --metrics-url (a Prometheus endpoint)")
	}
	interval, duration, err := f.runLength(e, set)
	if err != nil {
		return so, err
	}
	switch {
	case *f.timeout <= 0:
		return so, fmt.Errorf("--timeout %s must be positive", *f.timeout)
	case *f.cooldown < 0 || *f.window <= 0:
		return so, errors.New("--capture-cooldown must not be negative and --baseline-window must be positive")
	case *f.maxSamples < 16:
		return so, fmt.Errorf("--max-samples %d must be at least 16", *f.maxSamples)
	}
	for _, t := range thresholdFlags() {
		if v := *f.limits[t.name]; v != "" {
			lim, err := t.series.ParseLimit(v)
			if err != nil {
				return so, fmt.Errorf("--%s: %v", t.name, err)
			}
			so.Thresholds = append(so.Thresholds, monitor.Threshold{Series: t.series, Max: lim})
		}
	}
	so.Interval, so.Duration, so.MaxSamples = interval, duration, *f.maxSamples
	so.BaselineWindow, so.NoCapture, so.CaptureCooldown = *f.window, *f.noCapture, *f.cooldown
	if *f.cooldown == 0 {
		so.CaptureCooldown = time.Nanosecond // 0 means the default in Options
	}
	so.SaveResults = *f.saveRes
	if !set["token"] {
		*f.token = e.getenv(envDebugToken)
	}
	return so, nil
}

// runLength resolves --interval, --duration, --quick and --extended with
// the MONITOR_* variables (flags win).
func (f *monitorFlags) runLength(e *env, set map[string]bool) (interval, duration time.Duration, err error) {
	interval, duration = *f.interval, *f.duration
	if v := e.getenv(envMonitorInterval); v != "" && !set["interval"] {
		if interval, err = envSeconds(envMonitorInterval, v); err != nil {
			return 0, 0, err
		}
	}
	switch {
	case *f.quick && *f.extended:
		return 0, 0, errors.New("--quick and --extended exclude each other")
	case (*f.quick || *f.extended) && set["duration"]:
		return 0, 0, errors.New("--duration and --quick/--extended exclude each other")
	case *f.quick:
		duration = monitorQuick
	case *f.extended:
		duration = monitorExtended
	case !set["duration"]:
		if v := e.getenv(envMonitorDuration); v != "" {
			if duration, err = envSeconds(envMonitorDuration, v); err != nil {
				return 0, 0, err
			}
		}
	}
	switch {
	case interval <= 0:
		return 0, 0, fmt.Errorf("--interval %s must be positive", interval)
	case duration < 0:
		return 0, 0, fmt.Errorf("--duration %s must not be negative", duration)
	case duration > 0 && duration < interval:
		return 0, 0, fmt.Errorf("--duration %s is shorter than --interval %s", duration, interval)
	}
	return interval, duration, nil
}

// source opens the one target the flags name.
func (f *monitorFlags) source(e *env, set map[string]bool) (monitor.Source, error) {
	hopts := monitor.HTTPOptions{Timeout: *f.timeout, Token: *f.token}
	switch {
	case set["url"]:
		src, err := monitor.NewAgentSource(*f.agentURL, hopts)
		if err == nil && *f.token != "" && cleartextRemote(*f.agentURL) {
			fmt.Fprintf(e.stderr, "perfagent monitor: warning: the token goes in clear text to %s (use https)\n", *f.agentURL)
		}
		return src, err
	case set["metrics-url"]:
		return monitor.NewPrometheusSource(*f.metricsURL, hopts)
	}
	return monitor.NewProcessSource(*f.pid, monitor.ProcessOptions{})
}

// loadBudgets reads --budgets: a file, or "default" for the seed's targets.
func loadBudgets(name string) (*budget.Budgets, error) {
	if name == "default" {
		return budget.Default(), nil
	}
	return budget.Load(name)
}

// printSession prints the session: its history, budgets and files as text
// on stdout, or as one JSON document.
func printSession(e *env, s *monitor.Session, asJSON bool) {
	if asJSON {
		_ = printJSON(e.stdout, s)
		return
	}
	_ = s.History.WriteText(e.stdout)
	if s.Budgets != nil {
		fmt.Fprintln(e.stdout)
		_ = s.Budgets.WriteText(e.stdout)
	}
	fmt.Fprintf(e.stdout, "\nhistory: %s\nreport:  %s\n", orNone(s.Files.History), orNone(s.Files.Report))
	if s.Files.Results != "" {
		fmt.Fprintf(e.stdout, "results: %s\n", s.Files.Results)
	}
}

// envSeconds reads a MONITOR_* variable: seconds (the seed's form, "300",
// "0.5") or a Go duration ("5m").
func envSeconds(name, v string) (time.Duration, error) {
	if s, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
		if s < 0 || math.IsNaN(s) || s > 1e9 {
			return 0, fmt.Errorf("%s=%s: want a non-negative number of seconds", name, v)
		}
		return time.Duration(s * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%s: want seconds (e.g. 300) or a duration (e.g. 5m)", name, v)
	}
	return d, nil
}

// cleartextRemote reports whether raw is a plain-http URL to a host other
// than loopback.
func cleartextRemote(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// runErrLine prints why a run could not start (the target is down, not an
// agent, refuses the credentials) on one line and returns 3.
func runErrLine(e *env, cmd string, err error) int {
	if err == nil {
		err = errors.New("no reading")
	}
	msg := strings.TrimPrefix(err.Error(), "monitor: ")
	fmt.Fprintf(e.stderr, "perfagent %s: target unavailable: %s\n", cmd, msg)
	return exitRunError
}

func monitorProgress(t monitor.Target, p monitor.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "monitor %s: %d readings, %s", t.Name, p.Readings, p.Elapsed.Round(time.Second))
	if p.Duration > 0 {
		fmt.Fprintf(&b, "/%s", p.Duration)
	}
	for _, s := range []monitor.Series{monitor.RSS, monitor.CPU, monitor.Goroutines} {
		if v, ok := p.Last.Get(s); ok {
			fmt.Fprintf(&b, ", %s %s", s, s.Format(v))
		}
	}
	if p.Failures > 0 {
		fmt.Fprintf(&b, ", %d failed", p.Failures)
	}
	if len(p.Breaches) > 0 {
		b.WriteString(", OVER: " + strings.Join(p.Breaches, "; "))
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(not written)"
	}
	return s
}
