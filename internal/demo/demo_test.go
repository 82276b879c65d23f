package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func do(t *testing.T, method, url, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func login(t *testing.T, base string) string {
	t.Helper()
	code, _, b := do(t, "POST", base+"/auth/login", "", `{"username":"demo","password":"demo"}`)
	if code != 200 {
		t.Fatalf("login: %d %s", code, b)
	}
	var tok struct {
		Token     string `json:"token"`
		Type      string `json:"token_type"`
		ExpiresIn int64  `json:"expires_in"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" || tok.Type != "Bearer" || tok.ExpiresAt == "" {
		t.Fatalf("login response %s: %v", b, err)
	}
	return tok.Token
}

func TestRoutes(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	s := start(t, Options{})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q: want a loopback address", s.URL())
	}
	base := s.URL()
	tok := login(t, base)
	tests := []struct {
		method, path, token, body string
		code                      int
		contains                  string
	}{
		{"GET", "/health", "", "", 200, `"status":"ok"`},
		{"POST", "/auth/login", "", `{"username":"demo","password":"nope"}`, 401, "wrong user name"},
		{"POST", "/auth/login", "", `not json`, 400, "body must be JSON"},
		{"GET", "/auth/login", "", "", 405, ""},
		{"GET", "/api/items", "", "", 401, "missing bearer token"},
		{"GET", "/api/items", "bogus", "", 401, "expired or unknown"},
		{"GET", "/api/items?limit=2", tok, "", 200, `"total":5000`},
		{"GET", "/api/items?limit=500", tok, "", 400, "limit must be"},
		{"GET", "/api/items/3", tok, "", 200, `"id":3`},
		{"GET", "/api/items/0", tok, "", 404, "no such item"},
		{"GET", "/api/search?q=steel&limit=3", tok, "", 200, `"query":"steel"`},
		{"GET", "/api/search", tok, "", 400, "q must be"},
		{"GET", "/api/cache/item-1", tok, "", 200, `"key":"item-1"`},
		{"POST", "/api/infer", tok, `{"input":[1,2,3,4,5,6,7,8]}`, 200, `"label":`},
		{"POST", "/api/infer", tok, `{"input":[1]}`, 400, "8 numbers"},
		{"GET", "/metrics", "", "", 200, `demo_http_requests_total{code="200",route="health"} 1`},
		{"GET", "/debug/pprof/", "", "", 404, ""},
		{"GET", "/nope", "", "", 404, ""},
	}
	for _, tt := range tests {
		code, _, b := do(t, tt.method, base+tt.path, tt.token, tt.body)
		if code != tt.code || !strings.Contains(string(b), tt.contains) {
			t.Errorf("%s %s: %d %q; want %d containing %q", tt.method, tt.path, code, b, tt.code, tt.contains)
		}
	}
	// The cache answers MISS then HIT.
	_, h1, _ := do(t, "GET", base+"/api/cache/k2", tok, "")
	_, h2, _ := do(t, "GET", base+"/api/cache/k2", tok, "")
	if h1.Get("X-Cache") != "MISS" || h2.Get("X-Cache") != "HIT" {
		t.Errorf("X-Cache %q then %q", h1.Get("X-Cache"), h2.Get("X-Cache"))
	}
	// The search is sorted by price.
	_, _, b := do(t, "GET", base+"/api/search?q=lamp&limit=50", tok, "")
	var res struct {
		Matches int `json:"matches"`
		Items   []struct {
			Name  string  `json:"name"`
			Price float64 `json:"price"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Matches == 0 || len(res.Items) == 0 {
		t.Fatalf("search: %s %v", b, err)
	}
	for i, it := range res.Items {
		if !strings.Contains(it.Name, "lamp") || (i > 0 && it.Price < res.Items[i-1].Price) {
			t.Errorf("search result %d: %+v out of order or not matching", i, it)
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s := start(t, Options{TokenTTL: time.Minute, Now: c.Now})
	tok := login(t, s.URL())
	if code, _, _ := do(t, "GET", s.URL()+"/api/items", tok, ""); code != 200 {
		t.Fatalf("fresh token: %d", code)
	}
	c.Advance(time.Minute)
	code, h, _ := do(t, "GET", s.URL()+"/api/items", tok, "")
	if code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("expired token: %d %q", code, h.Get("WWW-Authenticate"))
	}
}

func TestTokenStoreBounded(t *testing.T) {
	s := newTokenStore(3)
	exp := time.Unix(100, 0)
	for _, tok := range []string{"a", "b", "c", "d"} {
		s.add(tok, "u", exp)
	}
	if s.len() != 3 || s.valid("a", time.Unix(0, 0)) || !s.valid("d", time.Unix(0, 0)) {
		t.Errorf("len %d, a valid %v, d valid %v; want the oldest forgotten", s.len(), s.valid("a", time.Unix(0, 0)), s.valid("d", time.Unix(0, 0)))
	}
}

func TestAgentHandlerMounted(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "agent "+r.URL.Path) })
	s := start(t, Options{Handler: h})
	for _, p := range []string{"/metrics", "/debug/perfagent/status"} {
		if code, _, b := do(t, "GET", s.URL()+p, "", ""); code != 200 || string(b) != "agent "+p {
			t.Errorf("%s: %d %q", p, code, b)
		}
	}
}

func TestPageWithinBudgets(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	s := start(t, Options{})
	// The seed's page budgets: HTML < 15 KB, CSS < 50 KB, JS < 200 KB,
	// images < 500 KB, total < 1 MB.
	total := 0
	for _, f := range []struct {
		path, ctype string
		budget      int
	}{
		{"/", "text/html", 15 << 10},
		{"/static/app.css", "text/css", 50 << 10},
		{"/static/app.js", "text/javascript", 200 << 10},
		{"/static/logo.png", "image/png", 500 << 10},
	} {
		code, h, b := do(t, "GET", s.URL()+f.path, "", "")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), f.ctype) || len(b) == 0 || len(b) > f.budget {
			t.Errorf("%s: %d %q %d bytes (budget %d)", f.path, code, h.Get("Content-Type"), len(b), f.budget)
		}
		total += len(b)
	}
	if total > 1<<20 {
		t.Errorf("page total %d bytes", total)
	}
	_, _, html := do(t, "GET", s.URL()+"/", "", "")
	for _, ref := range []string{"/static/app.css", "/static/app.js", "/static/logo.png"} {
		if !strings.Contains(string(html), ref) {
			t.Errorf("page does not reference %s", ref)
		}
	}
}

func TestH2C(t *testing.T) {
	s := start(t, Options{})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(s.URL() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Errorf("%s %d", resp.Proto, resp.StatusCode)
	}
}

func TestLifecycle(t *testing.T) {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Shutdown(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("second Shutdown: %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after Shutdown: %v, want ErrClosed", err)
	}
	if _, err := http.Get(s.URL() + "/health"); err == nil {
		t.Error("server still answers after Shutdown")
	}
	// A bad address and bad options are errors.
	if _, err := Start(context.Background(), Options{Addr: "256.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "demo: listen") {
		t.Errorf("bad address: %v", err)
	}
	if _, err := Start(context.Background(), Options{TokenTTL: -1}); err == nil {
		t.Error("negative TokenTTL accepted")
	}
}

func TestShutdownWaitsForRequests(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	s := start(t, Options{Handler: h})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	got := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get(s.URL() + "/metrics")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a request in flight past the deadline: %v", err)
	}
	close(release)
	<-got
}

// TestMeterProvider records the demo's metrics on a provider it is given
// and detaches from it at Close.
func TestMeterProvider(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	s := start(t, Options{MeterProvider: mp})
	login(t, s.URL())
	for range 2 {
		do(t, "GET", s.URL()+"/health", "", "")
	}
	do(t, "GET", s.URL()+"/api/items", "", "")
	if code, _, _ := do(t, "GET", s.URL()+"/metrics", "", ""); code != http.StatusNotFound {
		t.Errorf("/metrics with a MeterProvider and no Handler: %d, want 404", code)
	}

	collect := func() map[string]metricdata.Metrics {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		byName := map[string]metricdata.Metrics{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				byName[m.Name] = m
			}
		}
		return byName
	}
	got := collect()
	counts := map[string]int64{}
	for _, p := range got[MetricRequests].Data.(metricdata.Sum[int64]).DataPoints {
		route, _ := p.Attributes.Value("route")
		code, _ := p.Attributes.Value("code")
		counts[route.AsString()+" "+code.Emit()] = p.Value
	}
	want := map[string]int64{"login 200": 1, "health 200": 2, "items 401": 1}
	if !maps.Equal(counts, want) {
		t.Errorf("%s: %v, want %v", MetricRequests, counts, want)
	}
	for _, p := range got[MetricDuration].Data.(metricdata.Histogram[float64]).DataPoints {
		if !slices.Equal(p.Bounds, durationBounds) {
			t.Errorf("%s bounds %v", MetricDuration, p.Bounds)
		}
		if route, _ := p.Attributes.Value("route"); route.AsString() == "health" && p.Count != 2 {
			t.Errorf("%s{route=health} count %d, want 2", MetricDuration, p.Count)
		}
	}
	if g, ok := got[MetricTokens].Data.(metricdata.Gauge[int64]); !ok || len(g.DataPoints) != 1 || g.DataPoints[0].Value != 1 {
		t.Errorf("%s: %+v, want one point of 1", MetricTokens, got[MetricTokens].Data)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if g, ok := collect()[MetricTokens].Data.(metricdata.Gauge[int64]); ok && len(g.DataPoints) > 0 {
		t.Errorf("%s still observed after Close: %+v", MetricTokens, g)
	}
}
