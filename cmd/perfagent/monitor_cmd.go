package main

import (
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
		root := outputRoot(e, fs)
		agentURL := fs.String("url", "", "target: base URL of a service running the perfagent agent (its /metrics and /debug/perfagent/)")
		pid := fs.Int("pid", 0, "target: a local process ID, read from /proc")
		metricsURL := fs.String("metrics-url", "", "target: any Prometheus exposition URL")
		interval := fs.Duration("interval", monitor.DefaultInterval, "time between readings (env "+envMonitorInterval+", in seconds)")
		duration := fs.Duration("duration", 0, "run length; 0 runs until interrupted (env "+envMonitorDuration+", in seconds)")
		quick := fs.Bool("quick", false, "run for 60s")
		extended := fs.Bool("extended", false, "run for 5m")
		token := fs.String("token", "", "bearer token for the agent's /debug/ endpoints (env "+envDebugToken+")")
		timeout := fs.Duration("timeout", monitor.DefaultHTTPTimeout, "timeout of each HTTP request to the target")
		limits := map[string]*string{}
		for _, t := range thresholdFlags() {
			limits[t.name] = fs.String(t.name, "", t.usage)
		}
		noCapture := fs.Bool("no-capture", false, "do not ask the agent for heap profiles when a threshold is breached")
		cooldown := fs.Duration("capture-cooldown", monitor.DefaultCaptureCooldown, "least time between two heap captures")
		window := fs.Duration("baseline-window", monitor.DefaultBaselineWindow,
			"start of the run giving the memory baseline (median RSS) and idle CPU (mean)")
		maxSamples := fs.Int("max-samples", monitor.DefaultMaxSamples, "history points kept; longer runs are downsampled")
		budgetsFile := fs.String("budgets", "", "check the run against the system budgets of this file ('default': the seed's targets), "+
			"writing benchmarks/benchmark-<ts>.json; exit 1 on a violation")
		saveRes := fs.Bool("results", false, "write the system figures as benchmarks/benchmark-<ts>.json (for 'perfagent check')")
		asJSON := fs.Bool("json", false, "print the history, files and budget verdict as JSON")
		otlp := fs.String("otlp", "", "push the run's summary (system figures) as OpenTelemetry metrics to this OTLP endpoint URL ('env': the OTEL_EXPORTER_OTLP_* variables)")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		if len(args) > 0 {
			return usageErr(e, c.name, "unexpected argument %q (targets are given by --url, --pid or --metrics-url)", args[0])
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

		targets := 0
		for _, n := range []string{"url", "pid", "metrics-url"} {
			if set[n] {
				targets++
			}
		}
		if targets != 1 {
			return usageErr(e, c.name, "give exactly one target: --url (an agent), --pid (a process) or --metrics-url (a Prometheus endpoint)")
		}
		if !set["interval"] {
			if v := e.getenv(envMonitorInterval); v != "" {
				d, err := envSeconds(envMonitorInterval, v)
				if err != nil {
					return usageErr(e, c.name, "%v", err)
				}
				*interval = d
			}
		}
		switch {
		case *quick && *extended:
			return usageErr(e, c.name, "--quick and --extended exclude each other")
		case (*quick || *extended) && set["duration"]:
			return usageErr(e, c.name, "--duration and --quick/--extended exclude each other")
		case *quick:
			*duration = monitorQuick
		case *extended:
			*duration = monitorExtended
		case !set["duration"]:
			if v := e.getenv(envMonitorDuration); v != "" {
				d, err := envSeconds(envMonitorDuration, v)
				if err != nil {
					return usageErr(e, c.name, "%v", err)
				}
				*duration = d
			}
		}
		switch {
		case *interval <= 0:
			return usageErr(e, c.name, "--interval %s must be positive", *interval)
		case *duration < 0:
			return usageErr(e, c.name, "--duration %s must not be negative", *duration)
		case *duration > 0 && *duration < *interval:
			return usageErr(e, c.name, "--duration %s is shorter than --interval %s", *duration, *interval)
		case *timeout <= 0:
			return usageErr(e, c.name, "--timeout %s must be positive", *timeout)
		case *cooldown < 0 || *window <= 0:
			return usageErr(e, c.name, "--capture-cooldown must not be negative and --baseline-window must be positive")
		case *maxSamples < 16:
			return usageErr(e, c.name, "--max-samples %d must be at least 16", *maxSamples)
		}
		var thresholds []monitor.Threshold
		for _, t := range thresholdFlags() {
			if v := *limits[t.name]; v != "" {
				lim, err := t.series.ParseLimit(v)
				if err != nil {
					return usageErr(e, c.name, "--%s: %v", t.name, err)
				}
				thresholds = append(thresholds, monitor.Threshold{Series: t.series, Max: lim})
			}
		}
		var budgets *budget.Budgets
		switch *budgetsFile {
		case "":
		case "default":
			budgets = budget.Default()
		default:
			b, err := budget.Load(*budgetsFile)
			if err != nil {
				return inputErr(e, c.name, err)
			}
			budgets = b
		}
		if !set["token"] {
			*token = e.getenv(envDebugToken)
		}

		var src monitor.Source
		var err error
		hopts := monitor.HTTPOptions{Timeout: *timeout, Token: *token}
		switch {
		case set["url"]:
			src, err = monitor.NewAgentSource(*agentURL, hopts)
			if err == nil && *token != "" && cleartextRemote(*agentURL) {
				fmt.Fprintf(e.stderr, "perfagent monitor: warning: the token goes in clear text to %s (use https)\n", *agentURL)
			}
		case set["metrics-url"]:
			src, err = monitor.NewPrometheusSource(*metricsURL, hopts)
		default:
			src, err = monitor.NewProcessSource(*pid, monitor.ProcessOptions{})
		}
		if err != nil {
			return usageErr(e, c.name, "%v", strings.TrimPrefix(err.Error(), "monitor: "))
		}
		defer src.Close()

		dir := monitoringDir(*root)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return inputErr(e, c.name, fmt.Errorf("--out: %w", err))
		}

		sp := newSpinner(e, "monitoring")
		var files *monitor.Files
		var writeErrs []error
		writeHistory := func(h *monitor.History) error {
			if files == nil {
				f, err := monitor.CreateFiles(dir, h.StartedAt, h)
				if err != nil {
					return err
				}
				files = &f
				return nil
			}
			return files.WriteHistory(h)
		}
		opts := monitor.Options{
			Interval: *interval, Duration: *duration, Thresholds: thresholds, MaxSamples: *maxSamples,
			BaselineWindow: *window, NoCapture: *noCapture, CaptureCooldown: *cooldown,
			Checkpoint: writeHistory,
			Warn: func(msg string) {
				fmt.Fprintf(e.stderr, "perfagent monitor: warning: %s\n", msg)
			},
			Progress: func(p monitor.Progress) { sp.describe(monitorProgress(src.Target(), p)) },
		}
		if *cooldown == 0 {
			opts.CaptureCooldown = time.Nanosecond // 0 means the default in Options
		}
		h, runErr := monitor.Run(e.ctx, src, opts)
		sp.done()
		if h == nil {
			return runErrLine(e, c.name, runErr)
		}
		if err := writeHistory(h); err != nil {
			writeErrs = append(writeErrs, err)
		}
		var reportPath string
		var chartPaths []string
		if files != nil {
			paths, err := files.WriteReport(h, monitor.ReportOptions{Budgets: budgets})
			if err != nil {
				writeErrs = append(writeErrs, err)
			}
			if len(paths) > 0 && paths[0] == files.Report() {
				reportPath, chartPaths = paths[0], paths[1:]
			}
		}

		var resultsPath string
		var verdict *budget.Verdict
		if *otlp != "" {
			if err := pushResults(e.ctx, *otlp, h.BenchResults(results.CurrentEnvironment())); err != nil {
				writeErrs = append(writeErrs, fmt.Errorf("--otlp: %w", err))
			}
		}
		if budgets != nil || *saveRes {
			res := h.BenchResults(results.CurrentEnvironment())
			p, err := saveResults(benchDir(*root), res)
			if err != nil {
				writeErrs = append(writeErrs, fmt.Errorf("saving results: %w", err))
			}
			resultsPath = p
			if budgets != nil {
				verdict = budget.Evaluate(&budget.Budgets{File: budgets.File, System: budgets.System}, res)
			}
		}

		historyPath := ""
		if files != nil {
			historyPath = files.History()
		}
		if *asJSON {
			_ = printJSON(e.stdout, struct {
				History *monitor.History `json:"history"`
				Files   monitorFiles     `json:"files"`
				Budgets *budget.Verdict  `json:"budgets,omitempty"`
			}{h, monitorFiles{historyPath, reportPath, chartPaths, resultsPath}, verdict})
		} else {
			_ = h.WriteText(e.stdout)
			if verdict != nil {
				fmt.Fprintln(e.stdout)
				_ = verdict.WriteText(e.stdout)
			}
			fmt.Fprintf(e.stdout, "\nhistory: %s\nreport:  %s\n", orNone(historyPath), orNone(reportPath))
			if resultsPath != "" {
				fmt.Fprintf(e.stdout, "results: %s\n", resultsPath)
			}
		}
		for _, err := range writeErrs {
			fmt.Fprintf(e.stderr, "perfagent monitor: %v\n", err)
		}
		switch {
		case h.Status == monitor.StatusTargetGone:
			fmt.Fprintf(e.stderr, "perfagent monitor: the target is gone (%s); the %d readings so far were written (marked partial)\n",
				strings.TrimSuffix(h.End, ": "+monitor.ErrTargetGone.Error()), h.Readings)
			return exitRunError
		case h.Partial:
			fmt.Fprintf(e.stderr, "perfagent monitor: interrupted; the %d readings so far were written (marked partial)\n", h.Readings)
			return exitRunError
		case len(writeErrs) > 0:
			return exitRunError
		case h.Readings <= 1 && h.Failures.Count > 0:
			fmt.Fprintf(e.stderr, "perfagent monitor: every reading after the first failed: %s\n", h.Failures.LastError)
			return exitRunError
		}
		failed := false
		if n := len(h.Breaches) + h.BreachesDropped; n > 0 {
			fmt.Fprintf(e.stderr, "perfagent monitor: %d threshold breach(es)\n", n)
			failed = true
		}
		if verdict != nil && verdict.Failed() {
			fmt.Fprintf(e.stderr, "perfagent monitor: %d system budget(s) failed\n", verdict.Failures)
			failed = true
		}
		if failed {
			return exitFailed
		}
		return exitOK
	}
	return c
}

// monitorFiles names what a monitor run wrote.
type monitorFiles struct {
	History string   `json:"history,omitempty"`
	Report  string   `json:"report,omitempty"`
	Charts  []string `json:"charts,omitempty"`
	Results string   `json:"results,omitempty"`
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
