package load_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/perfagent/perfagent/load"
)

func ExampleParseScenario() {
	s, err := load.ParseScenario("api.yaml", []byte(`
name: shop
base_url: http://127.0.0.1:8080
variables: {user: demo, password: demo}
load: {model: open, rate: 200, duration: 30s}
setup:
  - name: login
    method: POST
    path: /auth/login
    body: {username: "${user}", password: "${password}"}
    extract: {token: {json: /token}}
endpoints:
  - name: items
    path: /api/items
    headers: {Authorization: "Bearer ${token}"}
    targets: {p99: 100ms}
`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Name, s.Load.Model, s.Load.Rate, s.Load.Duration)
	fmt.Println(s.Setup[0].Body)
	fmt.Println(s.Endpoints[0].Targets.P99)
	// Output:
	// shop open 200 30s
	// {"password":"${password}","username":"${user}"}
	// 100ms
}

func ExampleParseScenario_error() {
	_, err := load.ParseScenario("api.yaml", []byte(`
base_url: http://127.0.0.1:8080
endpoints:
  - name: items
    path: /api/items
    headers: {Authorization: "Bearer ${token}"}
    timeout: 5
`))
	fmt.Println(err)
	// Output:
	// scenario api.yaml:7:5: endpoints[0].timeout: unknown field (known: name, method, path, headers, body, expect_status, category, weight, targets)
}

func ExampleExpand() {
	s, err := load.Expand("Bearer ${token} costs $$5", map[string]string{"token": "abc"})
	fmt.Println(s, err)
	// Output: Bearer abc costs $5 <nil>
}

// Run a scenario against a service: here a local test server with a login
// that hands out a token and an endpoint that needs it.
func ExampleRun() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"token":"t0k"}`)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /api/items", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0k" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `[]`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s, err := load.ParseScenario("api.yaml", []byte(`
name: shop
base_url: `+srv.URL+`
setup:
  - {name: login, method: POST, path: /auth/login, expect_status: 200, extract: {token: {json: /token}}}
endpoints:
  - {name: health, path: /health, category: health}
  - {name: items, path: /api/items, headers: {Authorization: "Bearer ${token}"}, expect_status: 200, weight: 3}
`))
	if err != nil {
		log.Fatal(err)
	}
	rep, err := load.Run(context.Background(), s, load.Options{
		Load: load.Load{Concurrency: 2, Duration: 300 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	// rep.WriteSummary(os.Stdout) prints the table; results go to files
	// through rep.BenchResults().
	for _, ep := range rep.Endpoints {
		fmt.Printf("%-6s %-7s errors=%d\n", ep.Name, ep.Category, ep.Errors)
	}
	fmt.Println("setup:", rep.Setup[0].Name, rep.Setup[0].Phase)
	// Output:
	// health health  errors=0
	// items  api     errors=0
	// setup: login setup
}

func ExampleReport_Verdict() {
	rep := &load.Report{
		Budgets: load.DefaultBudgets(),
		Total:   load.Totals{Requests: 10000, Errors: 25, ErrorRate: 0.0025, Availability: 0.9975},
		Endpoints: []load.EndpointReport{{
			Name:    "search",
			Totals:  load.Totals{Latency: load.Summary{N: 10000, P50: 12 * time.Millisecond, P99: 140 * time.Millisecond}},
			Targets: load.Targets{P50: 20 * time.Millisecond, P99: 100 * time.Millisecond},
		}},
	}
	v := rep.Verdict()
	fmt.Println("pass:", v.Pass)
	for _, c := range v.Failed() {
		fmt.Println(c.Metric, "-", c.Message)
	}
	// Output:
	// pass: false
	// p99 - search p99 140ms > 100ms
	// availability - availability 99.75% (budget >= 99.90%): FAILED
	// error-rate - error-rate 0.25% (budget <= 0.10%): FAILED
}
