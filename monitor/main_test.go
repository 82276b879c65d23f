package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/agent"
	"github.com/perfagent/perfagent/internal/testout"
)

// The test binary doubles as the monitored service: with envChild set,
// TestMain runs a small HTTP service instrumented with perfagent's agent
// (and, at /prom/metrics, client_golang's Go and process collectors)
// instead of the tests, prints its base URL and serves until its stdin
// closes or envChildExit passes.
const (
	envChild        = "PERFAGENT_MONITOR_TEST_CHILD"
	envChildExit    = "PERFAGENT_MONITOR_TEST_EXIT_AFTER" // a duration
	envChildCapture = "PERFAGENT_MONITOR_TEST_CAPTURE"    // "own": serve the capture contract here; "none": 404 it
	envChildToken   = "PERFAGENT_MONITOR_TEST_TOKEN"      // the agent's debug token
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(childMain())
	}
	cleanup := testout.Redirect()
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) { cleanup(); os.Exit(code) }))
}

// childMain is the monitored service.
func childMain() int {
	ctx := context.Background()
	opts := []agent.Option{agent.WithoutHTTPServer(), agent.WithServiceName("monitor-child"),
		agent.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	if tok := os.Getenv(envChildToken); tok != "" {
		opts = append(opts, agent.WithDebugToken(tok))
	}
	a, err := agent.Start(ctx, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer a.Shutdown(ctx)

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("/", a.Handler())
	mux.Handle("/prom/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	switch os.Getenv(envChildCapture) {
	case "own":
		// The agent's capture contract (POST /debug/perfagent/capture?type=heap
		// answers with the capture record naming the file), served with a real
		// heap profile of this process.
		dir, err := os.MkdirTemp("", "monitor-child-heap-")
		if err != nil {
			return 1
		}
		defer os.RemoveAll(dir)
		mux.HandleFunc("POST /debug/perfagent/capture", func(w http.ResponseWriter, r *http.Request) {
			if r.FormValue("type") != "heap" {
				http.Error(w, "type must be heap", http.StatusBadRequest)
				return
			}
			p := filepath.Join(dir, fmt.Sprintf("heap-%d.pb.gz", time.Now().UnixNano()))
			f, err := os.Create(p)
			if err == nil {
				err = pprof.Lookup("heap").WriteTo(f, 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			rec := map[string]any{"type": "heap", "trigger": "on-demand", "time": time.Now().UTC(), "path": p}
			if err != nil {
				rec["error"], rec["path"] = err.Error(), ""
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(rec)
		})
	case "none":
		mux.HandleFunc("/debug/perfagent/capture", http.NotFound)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("URL http://%s\n", ln.Addr())

	// Some work: allocation keeps the GC and the scheduler busy enough
	// for every series to have values.
	stop := make(chan struct{})
	go func() {
		var keep [][]byte
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				keep = append(keep, make([]byte, 64<<10))
				if len(keep) > 64 {
					keep = keep[:0]
				}
			}
		}
	}()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	var exit <-chan time.Time
	if d, err := time.ParseDuration(os.Getenv(envChildExit)); err == nil {
		exit = time.After(d)
	}
	select {
	case <-done:
	case <-exit:
	}
	close(stop)
	_ = srv.Close()
	return 0
}

// child is a running monitored service.
type child struct {
	url string
	pid int
	cmd *exec.Cmd
}

// startChild starts the test binary as the monitored service with the
// given extra environment ("KEY=value") and stops it when the test ends.
func startChild(t *testing.T, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{envChild + "=1"}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(waited)
	}()
	if err != nil {
		t.Fatalf("child did not report its URL: %v", err)
	}
	u, ok := strings.CutPrefix(strings.TrimSpace(line), "URL ")
	if !ok {
		t.Fatalf("child said %q", line)
	}
	return &child{url: u, pid: cmd.Process.Pid, cmd: cmd}
}
