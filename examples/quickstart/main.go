// Command quickstart is a small HTTP service instrumented with perfagent's
// agent. It prints where its metrics are and serves them until interrupted.
//
//	go run ./examples/quickstart
//	curl -s http://127.0.0.1:9464/metrics | grep go_goroutine
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
	"syscall"
	"time"

	"github.com/perfagent/perfagent/agent"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address of the example service")
	metricsAddr := fs.String("metrics-addr", "", "address of the agent's listener (default PERFAGENT_HTTP_ADDR or 127.0.0.1:9464)")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	opts := []agent.Option{agent.WithServiceName("quickstart"), agent.WithPprof(true),
		agent.WithLogger(slog.New(slog.NewTextHandler(stderr, nil)))}
	if *metricsAddr != "" {
		opts = append(opts, agent.WithHTTPAddr(*metricsAddr))
	}
	a, err := agent.Start(ctx, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Shutdown(sctx); err != nil {
			fmt.Fprintln(stderr, "quickstart: agent shutdown:", err)
		}
	}()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "quickstart: listen on %s (-addr): %v\n", *addr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		// A little allocation so the runtime metrics move.
		items := make([]map[string]int, 100)
		for i := range items {
			items[i] = map[string]int{"n": i}
		}
		json.NewEncoder(w).Encode(map[string]any{"hello": r.URL.Query().Get("name"), "items": len(items)})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)

	fmt.Fprintf(stdout, "service:  http://%s/hello?name=gopher\n", ln.Addr())
	if a.Addr() != "" {
		fmt.Fprintf(stdout, "metrics:  http://%s/metrics\n", a.Addr())
		fmt.Fprintf(stdout, "status:   http://%s/debug/perfagent/\n", a.Addr())
		fmt.Fprintf(stdout, "profiles: http://%s/debug/pprof/\n", a.Addr())
	}
	fmt.Fprintln(stdout, "press Ctrl-C to stop")
	<-ctx.Done()

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "quickstart: shutdown:", err)
	}
	return 0
}
