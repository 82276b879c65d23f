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
//	                          /metrics serves the demo's own counters in Prometheus text
//	                          format (private registry) and /debug/ is 404
//	GET  /                    a demo page: HTML, /static/app.css, /static/app.js,
//	                          /static/logo.png (about 4 KB in all)
//
// /api routes answer 401 with a WWW-Authenticate header when the bearer
// token is missing, unknown or expired (Options.TokenTTL). The server speaks
// HTTP/1.1 and unencrypted HTTP/2 (h2c with prior knowledge).
//
// Usage:
//
//	srv, err := demo.Start(ctx, demo.Options{Handler: agent.Handler()})
//	if err != nil {
//		return err
//	}
//	defer srv.Shutdown(context.Background())
//	fmt.Println("demo target at", srv.URL())
//
// A Server is safe for concurrent use; Shutdown and Close wait for the
// serving goroutine to exit.
package demo
