// Command leaky is a small HTTP service with a deliberate slow memory leak
// (a session cache that never evicts), run under perfagent's agent with
// its default leak detection. Within minutes the agent logs a warning and
// writes perf/memory/leak-<ts>.json and .md naming main.rememberSession,
// with perf/memory/memory-chart-<ts>.csv and .svg beside them.
//
//	go run ./examples/leaky                  # leaks 2 MiB a minute
//	go run ./examples/leaky -leak=false      # the same service, healthy
//	go run ./examples/leaky -goroutines      # leaks goroutines too
//	curl -s http://127.0.0.1:9464/debug/perfagent/leak
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/perfagent/perfagent/agent"
	"github.com/perfagent/perfagent/leak"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// service is the example service's state.
type service struct {
	mu       sync.Mutex
	sessions map[int][]byte // the leak: never evicted
	next     int
	waiters  chan struct{} // goroutine leak: nothing ever sends
	sink     []byte
}

// rememberSession stores a session that nothing ever removes.
//
//go:noinline
func (s *service) rememberSession(size int) {
	s.mu.Lock()
	s.sessions[s.next] = make([]byte, size)
	s.next++
	s.mu.Unlock()
}

// startWaiter starts a goroutine that waits for a reply that never comes.
//
//go:noinline
func (s *service) startWaiter() {
	go func() { <-s.waiters }()
}

// handle is the service's work: it allocates garbage (so the GC runs, as in
// a real service) and, when leaking, keeps a little of it.
func (s *service) handle(leakBytes int, leakGoroutine bool) {
	buf := make([]byte, 0, 256<<10)
	for i := 0; i < 64; i++ {
		buf = strconv.AppendInt(buf, int64(i), 10)
	}
	s.mu.Lock()
	s.sink = buf
	s.mu.Unlock()
	if leakBytes > 0 {
		s.rememberSession(leakBytes)
	}
	if leakGoroutine {
		s.startWaiter()
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("leaky", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address of the example service")
	metricsAddr := fs.String("metrics-addr", "", "address of the agent's listener (default PERFAGENT_HTTP_ADDR or 127.0.0.1:9464)")
	out := fs.String("out", "perf", "output root for reports, charts and profiles")
	leaking := fs.Bool("leak", true, "leak memory (false: a healthy service)")
	rate := fs.String("rate", "2MiB/min", "leak rate, in KiB/min or MiB/min")
	goroutines := fs.Bool("goroutines", false, "also leak goroutines (30 a minute)")
	fast := fs.Bool("fast", false, "short detector windows (warm-up 2s, window 4s), for a demo in seconds")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	perMin, err := parseRate(*rate)
	if err != nil {
		fmt.Fprintf(stderr, "leaky: -rate %q: %v\n", *rate, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	opts := []agent.Option{agent.WithServiceName("leaky"), agent.WithOutputDir(*out),
		agent.WithLogger(slog.New(slog.NewTextHandler(stderr, nil)))}
	if *metricsAddr != "" {
		opts = append(opts, agent.WithHTTPAddr(*metricsAddr))
	}
	if *fast {
		opts = append(opts, agent.WithSnapshotInterval(200*time.Millisecond),
			agent.WithLeakDetection(leak.Config{WarmUp: 2 * time.Second, Window: 4 * time.Second, Persist: 2 * time.Second, MinGoroutineGrowth: 5}))
	}
	a, err := agent.Start(ctx, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "leaky:", err)
		return 1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(sctx); err != nil {
			fmt.Fprintln(stderr, "leaky: agent shutdown:", err)
		}
	}()

	svc := &service{sessions: map[int][]byte{}, waiters: make(chan struct{})}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "leaky: listen on %s (-addr): %v\n", *addr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		svc.handle(0, false)
		_ = json.NewEncoder(w).Encode(map[string]string{"hello": r.URL.Query().Get("name")})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	fmt.Fprintf(stdout, "service:  http://%s/hello\n", ln.Addr())
	if a.Addr() != "" {
		fmt.Fprintf(stdout, "leak:     http://%s/debug/perfagent/leak\n", a.Addr())
	}
	if *leaking {
		fmt.Fprintf(stdout, "leaking %s a minute through main.(*service).rememberSession; reports go to %s/memory\n", leak.FormatBytes(perMin), *out)
	} else {
		fmt.Fprintln(stdout, "not leaking (-leak=false)")
	}

	// Simulated traffic: 50 requests a second, each leaking its share.
	const perSecond = 50
	tick := time.NewTicker(time.Second / perSecond)
	defer tick.Stop()
	var leakPer int
	if *leaking {
		leakPer = int(perMin / 60 / perSecond)
	}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
			svc.handle(leakPer, *goroutines && i%(perSecond*2) == 0)
		}
	}
}

// parseRate reads "2MiB/min" or "512KiB/min" as bytes per minute.
func parseRate(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "/min")
	if !ok {
		return 0, errors.New("want a rate per minute, e.g. 2MiB/min")
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(num, "MiB"):
		num, mult = strings.TrimSuffix(num, "MiB"), 1<<20
	case strings.HasSuffix(num, "KiB"):
		num, mult = strings.TrimSuffix(num, "KiB"), 1<<10
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, errors.New("want a non-negative number, e.g. 2MiB/min")
	}
	return v * mult, nil
}
