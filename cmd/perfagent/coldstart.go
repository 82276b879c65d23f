package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/monitor"
	"github.com/perfagent/perfagent/results"
)

// coldStartOptions are the flags of the cold-start measurement.
type coldStartOptions struct {
	enabled bool
	runs    int
	health  string
	idle    time.Duration
	limit   time.Duration
	command []string
}

func (o *coldStartOptions) flags(fs *flag.FlagSet) {
	fs.BoolVar(&o.enabled, "cold-start", false, "system: measure the cold start (process start to first healthy response), "+
		"idle RSS, peak RSS and idle CPU of the command after -- (default: perfagent's own demo target)")
	fs.IntVar(&o.runs, "cold-start-runs", 10, "system: cold starts to measure (each is one sample: with fewer than 8, no change can be significant once the gate adjusts for the suite's rows)")
	fs.StringVar(&o.health, "health-url", "", "system: the URL that answers 2xx once the command is ready (default http://127.0.0.1:8080/health for a command)")
	fs.DurationVar(&o.idle, "idle", 2*time.Second, "system: how long to watch the started process idle for its CPU and memory baseline")
	fs.DurationVar(&o.limit, "start-timeout", 30*time.Second, "system: give up on a start after this long")
}

// measureColdStart starts the target o.runs times, each time timing how
// long it takes to answer its health URL, and watches the last start idle
// for the memory baseline, memory peak and idle CPU the system budgets
// check.
func measureColdStart(ctx context.Context, e *env, r *bench.Runner, o *coldStartOptions) error {
	if o.runs < 1 || o.runs > 1000 {
		return errors.New("--cold-start-runs must be between 1 and 1000")
	}
	var samples []float64
	var idle *procIdle
	var errs []error
	for i := 0; i < o.runs && ctx.Err() == nil; i++ {
		argv, health, err := o.target()
		if err != nil {
			return err
		}
		d, pi, err := coldStartOnce(ctx, argv, health, o.limit, o.idle, i == o.runs-1)
		if err != nil {
			errs = append(errs, fmt.Errorf("cold start %d of %v: %w", i+1, argv, err))
			continue
		}
		samples = append(samples, float64(d.Nanoseconds()))
		if pi != nil {
			idle = pi
		}
	}
	res := results.Benchmark{Name: "system/cold-start", Category: "system", Kind: results.KindFunc, Unit: results.UnitNsPerOp,
		Iterations: int64(len(samples)), Samples: samples, Labels: map[string]string{"command": fmt.Sprint(o.command)}}
	if len(o.command) == 0 {
		res.Labels["command"] = "perfagent demo"
	}
	if len(samples) > 0 {
		st, warns := results.Summarize(samples)
		res.Stats, res.Warnings = st, warns
		res.PerOp = results.NewDistribution(samples)
		res.Metrics = append(res.Metrics, results.Metric{Unit: results.UnitColdStart, Value: st.Median})
	}
	if idle != nil {
		res.Metrics = append(res.Metrics,
			results.Metric{Unit: results.UnitRSSBaseline, Value: idle.rss},
			results.Metric{Unit: results.UnitRSSPeak, Value: idle.peak},
			results.Metric{Unit: results.UnitCPUIdle, Value: idle.cpu})
	}
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
	}
	if aerr := r.Add(res); aerr != nil {
		errs = append(errs, aerr)
	}
	return errors.Join(errs...)
}

// target returns the command and health URL of one start: the user's, or
// perfagent's own demo target on a fresh free port.
func (o *coldStartOptions) target() ([]string, string, error) {
	if len(o.command) > 0 {
		h := o.health
		if h == "" {
			h = "http://127.0.0.1:8080/health"
		}
		return o.command, h, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("finding perfagent's own binary for the demo target: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return []string{self, "demo", "--addr", addr}, "http://" + addr + "/health", nil
}

// selfExecEnv is set in the environment of processes the cold-start
// measurement starts.
const selfExecEnv = "PERFAGENT_SELF_EXEC"

// procIdle is what an idle process costs.
type procIdle struct {
	rss, peak float64 // bytes
	cpu       float64 // fraction of one core
}

func coldStartOnce(ctx context.Context, argv []string, health string, limit, idleFor time.Duration, watchIdle bool) (time.Duration, *procIdle, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	// Tells a test binary standing in for perfagent to run the command
	// rather than its tests; perfagent itself ignores it.
	cmd.Env = append(os.Environ(), selfExecEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // stop `go run` and its child together
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer stopProcessGroup(cmd, exited)

	client := &http.Client{Timeout: 500 * time.Millisecond}
	defer client.CloseIdleConnections()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case err := <-exited:
			exited <- err
			return 0, nil, fmt.Errorf("exited before it was healthy (%v): %s", err, lastLine(stderr.String()))
		case <-deadline.C:
			return 0, nil, fmt.Errorf("not healthy at %s within %v", health, limit)
		case <-tick.C:
		}
	}
	d := time.Since(start)
	if !watchIdle || idleFor <= 0 {
		return d, nil, nil
	}
	src, err := monitor.NewProcessSource(cmd.Process.Pid, monitor.ProcessOptions{MaxFDs: -1})
	if err != nil {
		return d, nil, nil // no /proc: no idle figures
	}
	defer src.Close()
	var r0, r1 monitor.Reading
	if err := src.Read(ctx, &r0); err != nil || !r0.HasCPU {
		return d, nil, nil
	}
	select {
	case <-ctx.Done():
		return d, nil, nil
	case <-time.After(idleFor):
	}
	if err := src.Read(ctx, &r1); err != nil {
		return d, nil, nil
	}
	rss, ok := r1.Gauges.Get(monitor.RSS)
	if !ok {
		return d, nil, nil
	}
	return d, &procIdle{rss: rss, peak: max(r1.RSSPeak, rss),
		cpu: (r1.CPUSeconds - r0.CPUSeconds) / r1.Time.Sub(r0.Time).Seconds()}, nil
}

// stopProcessGroup ends the started process group: SIGTERM, then SIGKILL
// after 5 seconds.
func stopProcessGroup(cmd *exec.Cmd, exited chan error) {
	pgid := -cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-exited
	}
}

func lastLine(s string) string {
	s = string(bytes.TrimSpace([]byte(s)))
	if i := bytes.LastIndexByte([]byte(s), '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
