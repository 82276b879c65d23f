package load

import "time"

// Credentials of the built-in demo target (package demo), used by
// [DefaultScenario].
const (
	DemoUser     = "demo"
	DemoPassword = "demo"
)

// DefaultScenario returns the built-in scenario, written for the demo
// target (perfagent demo, package demo) at baseURL: a login setup step
// whose token authorises the /api routes (refreshed on 401), and measured
// endpoints for each budget category with the seed's latency targets:
//
//	health        GET  /health                 p50 50ms  p95 100ms p99 200ms
//	auth-login    POST /auth/login             p50 100ms p95 200ms p99 500ms
//	metrics       GET  /metrics                (no target)
//	items         GET  /api/items?limit=20     (no target)
//	search        GET  /api/search?q=...       p50 20ms  p95 50ms  p99 100ms (database)
//	cache         GET  /api/cache/...          p50 5ms   p95 10ms  p99 20ms  (cache)
//	infer         POST /api/infer              p50 500ms p95 2s    p99 5s    (ai-inference)
//
// The load is closed, 10 users for 10 seconds.
func DefaultScenario(baseURL string) *Scenario {
	bearer := []Header{{Name: "Authorization", Value: "Bearer ${token}"}}
	jsonHdr := []Header{{Name: "Content-Type", Value: "application/json"}}
	creds := `{"username":"${user}","password":"${password}"}`
	return &Scenario{
		Name:      "demo",
		BaseURL:   baseURL,
		Timeout:   DefaultTimeout,
		Variables: map[string]string{"user": DemoUser, "password": DemoPassword},
		Load:      Load{Model: ModelClosed, Concurrency: DefaultConcurrency, Duration: DefaultDuration},
		Setup: []Step{{
			Request: Request{Name: "login", Method: "POST", Path: "/auth/login", Headers: jsonHdr, Body: creds, ExpectStatus: []int{200}},
			Extract: []Extract{{Var: "token", JSONPointer: "/token"}},
		}},
		Endpoints: []Endpoint{
			{Request: Request{Name: "health", Path: "/health", ExpectStatus: []int{200}}, Category: "health", Weight: 2,
				Targets: Targets{P50: 50 * time.Millisecond, P95: 100 * time.Millisecond, P99: 200 * time.Millisecond}},
			{Request: Request{Name: "auth-login", Method: "POST", Path: "/auth/login", Headers: jsonHdr, Body: creds, ExpectStatus: []int{200}},
				Category: "authentication", Weight: 1,
				Targets: Targets{P50: 100 * time.Millisecond, P95: 200 * time.Millisecond, P99: 500 * time.Millisecond}},
			{Request: Request{Name: "metrics", Path: "/metrics", ExpectStatus: []int{200}}, Category: "metrics", Weight: 1},
			{Request: Request{Name: "items", Path: "/api/items?limit=20", Headers: bearer, ExpectStatus: []int{200}}, Category: "api", Weight: 3},
			{Request: Request{Name: "search", Path: "/api/search?q=steel&limit=10", Headers: bearer, ExpectStatus: []int{200}}, Category: "database", Weight: 2,
				Targets: Targets{P50: 20 * time.Millisecond, P95: 50 * time.Millisecond, P99: 100 * time.Millisecond}},
			{Request: Request{Name: "cache", Path: "/api/cache/item-42", Headers: bearer, ExpectStatus: []int{200}}, Category: "cache", Weight: 3,
				Targets: Targets{P50: 5 * time.Millisecond, P95: 10 * time.Millisecond, P99: 20 * time.Millisecond}},
			{Request: Request{Name: "infer", Method: "POST", Path: "/api/infer", Headers: append(bearer, jsonHdr...),
				Body: `{"input":[0.5,-1.25,3.0,0.75,2.5,-0.5,1.0,0.25]}`, ExpectStatus: []int{200}},
				Category: "ai-inference", Weight: 1,
				Targets: Targets{P50: 500 * time.Millisecond, P95: 2 * time.Second, P99: 5 * time.Second}},
		},
	}
}
