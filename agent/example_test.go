package agent_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/perfagent/perfagent/agent"
)

func ExampleStart() {
	a, err := agent.Start(context.Background(),
		agent.WithServiceName("checkout"),
		agent.WithHTTPAddr("127.0.0.1:0"), // a free port; a.Addr() says which
		agent.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Shutdown(context.Background())

	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(strings.Contains(string(body), "go_goroutine_count"))
	// Output: true
}

func ExampleAgent_MeterProvider() {
	a, err := agent.Start(context.Background(), agent.WithoutHTTPServer(),
		agent.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Shutdown(context.Background())

	// The host's own instruments go through the agent's exporters.
	orders, _ := a.MeterProvider().Meter("checkout").Int64Counter("checkout.orders")
	orders.Add(context.Background(), 1)
	fmt.Println("recorded")
	// Output: recorded
}
