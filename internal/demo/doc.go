// Package demo is perfagent's built-in demo target: a small HTTP service
// that API and page benchmarks can run against out of the box (perfagent
// demo; perfagent bench api without a URL). It is internal: the command and
// perfagent's own tests use it; services measure themselves, not it.
//
// Routes:
//
//	GET  /health              {"status":"ok","uptime_s":n}
//	POST /auth/login          {"username","password"} → {"token","token_type":"Bearer",
//	                          "expires_in","expires_at"}; 400 bad body, 401 bad credentials
//	GET  /api/items           a page of items (?limit=1..100, ?offset=); needs the token
//	GET  /api/items/{id}      one item; needs the token
//	GET  /api/search?q=word   "database query": scan, filter and sort 5000 rows; needs the token
//	GET  /api/cache/{key}     "cache operation": bounded map, X-Cache: HIT|MISS; needs the token
//	POST /api/infer           "AI inference": a small MLP over {"input":[8 numbers]}; needs the token
//	GET  /metrics, /debug/    Options.Handler (the perfagent agent) when given; otherwise
//	                          /metrics serves the demo's own metrics (see Metrics) and
//	                          /debug/ is 404
//	GET  /                    a demo page: HTML, /static/app.css, /static/app.js,
//	                          /static/logo.png (about 4 KB in all)
//
// /api routes answer 401 with a WWW-Authenticate header when the bearer
// token is missing, unknown or expired (Options.TokenTTL). The server speaks
// HTTP/1.1 and unencrypted HTTP/2 (h2c with prior knowledge).
//
// # Metrics
//
// Every route records MetricRequests (a counter by route and status code)
// and MetricDuration (a latency histogram by route, nine buckets from 100µs
// to 1.6s) through the OpenTelemetry metric API, and MetricTokens is
// observed at each collection. They go to Options.MeterProvider: give the
// agent's, as a service embedding perfagent does for its own metrics, and
// they appear on the agent's /metrics (demo_http_requests_total,
// demo_http_request_duration_seconds, demo_token_count) and in its OTLP
// export with the runtime metrics and the agent's resource. Without one
// the demo records them on a private provider that its own /metrics
// serves when Options.Handler is nil.
//
// Usage:
//
//	srv, err := demo.Start(ctx, demo.Options{Handler: a.Handler(), MeterProvider: a.MeterProvider()})
//	if err != nil {
//		return err
//	}
//	defer srv.Shutdown(context.Background())
//	fmt.Println("demo target at", srv.URL())
//
// A Server is safe for concurrent use; Shutdown and Close wait for the
// serving goroutine to exit.
package demo
