package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/monitor"
	"github.com/perfagent/perfagent/results"
)

// runMonitor runs `perfagent monitor args...` with the given environment
// and returns the exit code, stdout and stderr.
func runMonitor(t *testing.T, ctx context.Context, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{ctx: ctx, stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return vars[k] }}
	code := runEnv(e, append([]string{"monitor"}, args...))
	return code, stdout.String(), stderr.String()
}

func TestMonitorUsageErrors(t *testing.T) {
	out := t.TempDir()
	budgets := filepath.Join(out, "bad.yaml")
	if err := os.WriteFile(budgets, []byte("system:\n  memory-peak: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"no target", nil, nil, "exactly one target"},
		{"two targets", nil, []string{"--pid", "1", "--url", "http://127.0.0.1:1"}, "exactly one target"},
		{"unknown flag", nil, []string{"--pid", "1", "--bogus"}, "flag provided but not defined: -bogus"},
		{"bad duration flag", nil, []string{"--pid", "1", "--duration", "soon"}, "invalid value \"soon\" for flag -duration"},
		{"quick and extended", nil, []string{"--pid", "1", "--quick", "--extended"}, "--quick and --extended"},
		{"quick and duration", nil, []string{"--pid", "1", "--quick", "--duration", "1m"}, "--duration and --quick"},
		{"duration under interval", nil, []string{"--pid", "1", "--duration", "1s", "--interval", "5s"}, "shorter than --interval"},
		{"bad threshold", nil, []string{"--pid", "1", "--max-rss", "lots"}, "--max-rss: \"lots\" is not a size"},
		{"bad sched threshold", nil, []string{"--pid", "1", "--max-sched-lag", "50"}, "--max-sched-lag"},
		{"bad env interval", map[string]string{envMonitorInterval: "often"}, []string{"--pid", "1"}, "MONITOR_INTERVAL=often"},
		{"bad env duration", map[string]string{envMonitorDuration: "-3"}, []string{"--pid", "1"}, "MONITOR_DURATION=-3"},
		{"bad pid", nil, []string{"--pid", "-5"}, "pid -5"},
		{"bad url", nil, []string{"--url", "localhost:9464"}, "http:// or https://"},
		{"positional", nil, []string{"--pid", "1", "extra"}, "unexpected argument \"extra\""},
		{"bad budgets", nil, []string{"--pid", "1", "--budgets", budgets}, "bad.yaml:2"},
		{"missing budgets", nil, []string{"--pid", "1", "--budgets", filepath.Join(out, "none.yaml")}, "none.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMonitor(t, context.Background(), tc.vars, append(tc.args, "--out", out)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Errorf("stack trace: %s", stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(out, "monitoring")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(out, "monitoring"))
		if len(entries) > 0 {
			t.Errorf("usage errors wrote files: %v", entries)
		}
	}
}

func TestMonitorHelp(t *testing.T) {
	code, stdout, _ := runMonitor(t, context.Background(), nil, "--help")
	if code != exitOK || !strings.Contains(stdout, "examples:") || !strings.Contains(stdout, "--max-rss") || !strings.Contains(stdout, "MONITOR_DURATION") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}

func TestMonitorTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"--url", "http://" + addr},
		{"--metrics-url", "http://" + addr + "/metrics"},
		{"--pid", strconv.Itoa(1<<22 + 4321)},
	} {
		code, stdout, stderr := runMonitor(t, context.Background(), nil, append(args, "--out", t.TempDir(), "--duration", "1s", "--interval", "100ms")...)
		if code != exitRunError || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "target unavailable") || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 3 and one line", args, code, stdout, stderr)
		}
	}
}

// TestMonitorTargets monitors the built-in demo target (with the agent) by
// --url and --metrics-url, and this test process by --pid.
func TestMonitorTargets(t *testing.T) {
	ctx := context.Background()
	srv, _, stop, err := startDemo(ctx, "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, tc := range []struct {
		name string
		args []string
		kind string
		code int
	}{
		{"agent", []string{"--url", srv.URL()}, monitor.KindAgent, exitOK},
		{"prometheus", []string{"--metrics-url", srv.URL() + "/metrics"}, monitor.KindPrometheus, exitOK},
		{"process with a breach", []string{"--pid", strconv.Itoa(os.Getpid()), "--max-threads", "1"}, monitor.KindProcess, exitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := runMonitor(t, ctx, nil,
				append(tc.args, "--out", out, "--duration", "500ms", "--interval", "100ms", "--json")...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			var got struct {
				History monitor.History      `json:"history"`
				Files   monitor.SessionFiles `json:"files"`
			}
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("--json output: %v\n%s", err, stdout)
			}
			h := got.History
			if h.Target.Kind != tc.kind || h.Status != monitor.StatusComplete || h.Readings < 3 {
				t.Errorf("target %+v status %s readings %d", h.Target, h.Status, h.Readings)
			}
			for _, p := range append([]string{got.Files.History, got.Files.Report}, got.Files.Charts...) {
				if !strings.HasPrefix(p, filepath.Join(out, "monitoring")+string(filepath.Separator)) {
					t.Errorf("file %q outside %s/monitoring", p, out)
				}
				if _, err := os.Stat(p); err != nil {
					t.Error(err)
				}
			}
			f, err := os.Open(got.Files.History)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			onDisk, err := monitor.ReadHistory(f, got.Files.History)
			if err != nil || onDisk.Status != monitor.StatusComplete || onDisk.Readings != h.Readings {
				t.Errorf("history file: %v %+v", err, onDisk)
			}
			if tc.code == exitFailed && (len(h.Breaches) != 1 || !strings.Contains(stderr, "threshold breach")) {
				t.Errorf("breaches %+v, stderr %q", h.Breaches, stderr)
			}
		})
	}
}

func TestMonitorBudgetsAndEnvironment(t *testing.T) {
	out := t.TempDir()
	budgets := filepath.Join(out, "budgets.yaml")
	if err := os.WriteFile(budgets, []byte("system:\n  memory-peak: 1MiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The seed's variables in seconds; the tight memory-peak budget fails.
	vars := map[string]string{envMonitorDuration: "0.5", envMonitorInterval: "0.1"}
	code, stdout, stderr := runMonitor(t, context.Background(), vars, "--pid", strconv.Itoa(os.Getpid()), "--out", out, "--budgets", budgets)
	if code != exitFailed || !strings.Contains(stderr, "system budget(s) failed") {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	if !strings.Contains(stdout, "FAIL system monitor/") || !strings.Contains(stdout, "memory-peak") {
		t.Errorf("verdict not printed:\n%s", stdout)
	}
	p, err := results.LatestFile(filepath.Join(out, "benchmarks"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := results.ReadFile(p)
	if err != nil || res.Suite != "monitor" || len(res.Benchmarks) != 1 {
		t.Fatalf("results %v %+v", err, res)
	}
	units := map[string]bool{}
	for _, m := range res.Benchmarks[0].Metrics {
		units[m.Unit] = true
	}
	for _, u := range []string{results.UnitRSSBaseline, results.UnitRSSPeak, results.UnitCPUIdle} {
		if !units[u] {
			t.Errorf("results lack %s: %+v", u, res.Benchmarks[0].Metrics)
		}
	}
	// MONITOR_DURATION=0.5 at 0.1s: about six readings.
	if n := res.Benchmarks[0].Iterations; n < 3 || n > 8 {
		t.Errorf("%d readings for 0.5s every 0.1s", n)
	}
	// `perfagent check` reads the file and fails the same budget.
	var so, se bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &so, stderr: &se, getenv: func(string) string { return "" }}
	if code := runEnv(e, []string{"check", "--budgets", budgets, p}); code != exitFailed {
		t.Errorf("check: exit %d\n%s%s", code, so.String(), se.String())
	}
}

func TestMonitorProcessExits(t *testing.T) {
	cmd := exec.Command("sleep", "0.6")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() { <-done }()
	out := t.TempDir()
	code, stdout, stderr := runMonitor(t, context.Background(), nil, "--pid", strconv.Itoa(cmd.Process.Pid), "--interval", "100ms", "--out", out)
	if code != exitRunError || !strings.Contains(stderr, "the target is gone") || !strings.Contains(stderr, "marked partial") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "history: "+filepath.Join(out, "monitoring")) || !strings.Contains(stdout, "report:  ") {
		t.Errorf("files not named:\n%s", stdout)
	}
	matches, _ := filepath.Glob(filepath.Join(out, "monitoring", "metrics-history-*.json"))
	if len(matches) != 1 {
		t.Fatalf("history files %v", matches)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := monitor.ReadHistory(f, matches[0])
	if err != nil || h.Status != monitor.StatusTargetGone || !h.Partial || h.Readings < 2 {
		t.Errorf("history %v %+v", err, h)
	}
}

// TestMonitorInterrupt is Ctrl-C: with --duration the run is partial (exit
// 3), without one it is the normal end (exit 0); both write their files.
func TestMonitorInterrupt(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--duration", "1h"}, exitRunError, "interrupted"},
		{nil, exitOK, ""},
	} {
		out := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		code, stdout, stderr := runMonitor(t, ctx, nil, append(tc.args, "--pid", strconv.Itoa(os.Getpid()), "--interval", "100ms", "--out", out)...)
		cancel()
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr)
		}
		md, _ := filepath.Glob(filepath.Join(out, "monitoring", "report-*.md"))
		js, _ := filepath.Glob(filepath.Join(out, "monitoring", "metrics-history-*.json"))
		if len(md) != 1 || len(js) != 1 {
			t.Errorf("%v: files %v %v\n%s", tc.args, md, js, stdout)
		}
	}
}
