package demo_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"strings"

	"github.com/perfagent/perfagent/agent"
	"github.com/perfagent/perfagent/internal/demo"
)

func ExampleStart() {
	srv, err := demo.Start(context.Background(), demo.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	resp, err := http.Post(srv.URL()+"/auth/login", "application/json",
		strings.NewReader(`{"username":"demo","password":"demo"}`))
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)
	http.DefaultClient.CloseIdleConnections()
	// Output: 200 OK
}

// Example_agent wires the demo the way a service embedding perfagent
// records its own metrics: its instruments come from the agent's
// MeterProvider, so they reach the agent's /metrics and OTLP export beside
// the runtime metrics, under the agent's resource, with no registry of
// their own. The agent's handler is mounted on the demo's port as well.
func Example_agent() {
	ctx := context.Background()
	a, err := agent.Start(ctx,
		agent.WithServiceName("demo"),
		agent.WithHTTPAddr("127.0.0.1:0"),
		agent.WithOutputDir("off"),
		agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Shutdown(ctx)

	srv, err := demo.Start(ctx, demo.Options{Handler: a.Handler(), MeterProvider: a.MeterProvider()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	defer http.DefaultClient.CloseIdleConnections()

	for range 2 {
		resp, err := http.Get(srv.URL() + "/health")
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// The agent's own listener serves the demo's request counter.
	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "demo_http_requests_total{") {
			fmt.Print(line)
		}
	}
	// Output: demo_http_requests_total{code="200",route="health"} 2
}
