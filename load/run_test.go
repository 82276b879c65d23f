package load

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfagent/perfagent/internal/demo"
	"github.com/perfagent/perfagent/results"
)

// fakeClock is advanced by the test server, so measured latencies are
// exactly the server's chosen durations.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func scenario(base string, eps ...Endpoint) *Scenario {
	return &Scenario{Name: "t", BaseURL: base, Endpoints: eps}
}

func ep(name, path string) Endpoint {
	return Endpoint{Request: Request{Name: name, Path: path}}
}

func TestKnownLatencyDistribution(t *testing.T) {
	const n = 3000
	rng := rand.New(rand.NewPCG(1, 2))
	durs := make([]time.Duration, n)
	for i := range durs {
		// Log-normal around 2ms with a long tail up to seconds.
		durs[i] = time.Duration(math.Exp(rng.NormFloat64()*1.2) * float64(2*time.Millisecond))
	}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	var i atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clock.Advance(durs[i.Add(1)-1])
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	rep, err := Run(context.Background(), scenario(srv.URL, ep("dist", "/")), Options{
		Now:  clock.Now,
		Load: Load{Concurrency: 1, Requests: n},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Endpoints[0].Latency
	if l.N != n || rep.Total.Requests != n || rep.Total.Errors != 0 {
		t.Fatalf("N = %d, requests %d, errors %d; want %d, %d, 0", l.N, rep.Total.Requests, rep.Total.Errors, n, n)
	}
	sorted := slices.Clone(durs)
	slices.Sort(sorted)
	// The nearest-rank order statistic, HDR's definition: rank round(p·N).
	exact := func(p float64) time.Duration {
		return sorted[min(int(p/100*n+0.5), n)-1]
	}
	for _, c := range []struct {
		name string
		p    float64
		got  time.Duration
	}{{"p50", 50, l.P50}, {"p90", 90, l.P90}, {"p95", 95, l.P95}, {"p99", 99, l.P99}, {"p99.9", 99.9, l.P999}, {"max", 100, l.Max}} {
		want := exact(c.p)
		// HDR reports the highest value equivalent to the order
		// statistic: at most 0.1% (3 significant digits) above it.
		if c.got < want || float64(c.got-want) > 0.001*float64(want)+1 {
			t.Errorf("%s = %v, exact %v: outside HDR precision", c.name, c.got, want)
		}
	}
	if l.Min != sorted[0].Truncate(0) && math.Abs(float64(l.Min-sorted[0])) > 0.001*float64(sorted[0]) {
		t.Errorf("min = %v, exact %v", l.Min, sorted[0])
	}
	var sum float64
	for _, d := range durs {
		sum += float64(d)
	}
	if mean := sum / n; math.Abs(float64(l.Mean)-mean) > 0.001*mean {
		t.Errorf("mean = %v, exact %v", l.Mean, time.Duration(mean))
	}
	// The results carry the same numbers.
	// The results carry the same numbers: one round, so one sample (its
	// median), and every request in PerOp.
	b := rep.BenchResults().Benchmarks[0]
	if b.PerOp == nil || b.PerOp.P99 != float64(l.P99) || b.PerOp.N != n || b.Kind != results.KindHTTP || b.Unit != results.UnitNsPerOp {
		t.Errorf("bench result %+v does not match the report", b.PerOp)
	}
	if len(b.Samples) != 1 || b.Samples[0] != float64(l.P50) || b.Stats.N != 1 {
		t.Errorf("samples %v (stats n %d), want the one round's median %v", b.Samples, b.Stats.N, l.P50)
	}
}

func TestOpenModelShowsStall(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s of real time")
	}
	// The server stalls from 1 s to 2 s after its first request.
	var start atomic.Pointer[time.Time]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		start.CompareAndSwap(nil, &now)
		since := now.Sub(*start.Load())
		if since >= time.Second && since < 2*time.Second {
			select {
			case <-time.After(2*time.Second - since):
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), scenario(srv.URL, ep("stall", "/")), Options{
		Load: Load{Model: ModelOpen, Rate: 200, Concurrency: 4, Duration: 3 * time.Second},
		// Lateness is judged loosely: a loaded test machine's timers
		// oversleep, and this test is about the stall, not timer precision.
		LateAfter: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Endpoints[0]
	t.Logf("latency p50 %v p99 %v; service p50 %v p99 %v; waited %d", e.Latency.P50, e.Latency.P99, e.ServiceTime.P50, e.ServiceTime.P99, rep.Open.Waited)
	if e.Latency.P99 < 700*time.Millisecond {
		t.Errorf("open model p99 = %v, want the 1 s stall to show (≥ 700ms)", e.Latency.P99)
	}
	if e.ServiceTime.P99 > 300*time.Millisecond {
		t.Errorf("service time p99 = %v; only the 4 requests in flight saw the stall, it should hide it", e.ServiceTime.P99)
	}
	if rep.Open.Waited < 100 {
		t.Errorf("%d requests waited for a connection; the ~200 due during the stall did", rep.Open.Waited)
	}
	if rep.Open.Saturated || !rep.Verdict().Pass {
		t.Errorf("a stalled server is not a saturated generator: %+v, verdict %+v", rep.Open, rep.Verdict().Failed())
	}
	if e.Errors != 0 || e.Requests < 500 {
		t.Errorf("requests %d, errors %d; want ~600 and none", e.Requests, e.Errors)
	}
	if rep.Open.Dispatched != e.Requests || rep.Open.Intended < rep.Open.Dispatched {
		t.Errorf("dispatched %d, intended %d, requests %d", rep.Open.Dispatched, rep.Open.Intended, e.Requests)
	}
}

func TestClosedModelHidesStall(t *testing.T) {
	// The contrast to the open model, deterministic: with a fake clock a
	// closed-model user sees one slow request per stall, whatever its
	// length, because it waits instead of sending.
	clock := &fakeClock{t: time.Unix(0, 0)}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 50 {
			clock.Advance(time.Second)
		} else {
			clock.Advance(time.Millisecond)
		}
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/")), Options{Now: clock.Now, Load: Load{Concurrency: 1, Requests: 200}})
	if err != nil {
		t.Fatal(err)
	}
	if l := rep.Endpoints[0].Latency; l.P99 > 2*time.Millisecond || l.Max < time.Second {
		t.Errorf("closed model: p99 %v max %v; want the stall in max only", l.P99, l.Max)
	}
}

func TestAuthFlowWithTokenExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	srv, err := demo.Start(context.Background(), demo.Options{TokenTTL: 100 * time.Millisecond, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s := DefaultScenario(srv.URL())
	s.Endpoints = s.Endpoints[3:4] // items: needs the token
	// Every 50th response moves the demo's clock past the token's expiry.
	var n atomic.Int64
	inner := srv.Handler()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		if r.URL.Path == "/api/items" && n.Add(1)%50 == 0 {
			clock.Advance(time.Second)
		}
	}))
	defer proxy.Close()
	s.BaseURL = proxy.URL
	// One user: a second one could finish the 50th request between another's
	// login and its retry, expiring the fresh token too (a real 401).
	rep, err := Run(context.Background(), s, Options{Load: Load{Concurrency: 1, Requests: 400}})
	if err != nil {
		t.Fatal(err)
	}
	items := rep.Endpoints[0]
	if items.Errors != 0 || items.Requests != 400 {
		t.Fatalf("items: %d requests, %d errors (%v %v); want 400, 0", items.Requests, items.Errors, items.StatusCodes, items.ErrorSamples)
	}
	if rep.Refreshes < 3 || items.Reauth < 3 {
		t.Errorf("refreshes %d, reauth %d; want ≥ 3 each (token expired every 50 requests)", rep.Refreshes, items.Reauth)
	}
	login := rep.Setup[0]
	if login.Requests != rep.Refreshes+1 || login.Errors != 0 || login.Phase != "setup" {
		t.Errorf("setup login: %d requests (%d errors, phase %q), want refreshes+1 = %d", login.Requests, login.Errors, login.Phase, rep.Refreshes+1)
	}
	if items.StatusCodes["401"] != 0 || items.StatusCodes["200"] != 400 {
		t.Errorf("status codes %v: the 401 answers are retried, not counted", items.StatusCodes)
	}
	res := rep.BenchResults()
	if len(res.Benchmarks) != 2 || res.Benchmarks[1].Name != "demo/setup/login" || res.Benchmarks[1].Labels["phase"] != "setup" {
		t.Errorf("results: %+v", res.Benchmarks)
	}
}

func TestRefreshIsSingleFlight(t *testing.T) {
	srv, err := demo.Start(context.Background(), demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	e, err := newEngine(context.Background(), DefaultScenario(srv.URL()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.cancel()
	vars, err := e.runSetup()
	if err != nil {
		t.Fatal(err)
	}
	set, err := e.renderAll(vars, 1)
	if err != nil {
		t.Fatal(err)
	}
	e.rendered.Store(set)
	var wg sync.WaitGroup
	var refreshed atomic.Int64
	for range 10 {
		wg.Go(func() {
			if e.refresh(1) {
				refreshed.Add(1)
			}
		})
	}
	wg.Wait()
	if refreshed.Load() != 10 || e.refreshes != 1 || e.rendered.Load().gen != 2 || e.setup.eps[0].requests != 2 {
		t.Errorf("refreshed %d, refreshes %d, gen %d, logins %d; want 10, 1, 2, 2", refreshed.Load(), e.refreshes, e.rendered.Load().gen, e.setup.eps[0].requests)
	}
	if !strings.Contains(string(e.rendered.Load().reqs[3].wire), "Authorization: Bearer ") {
		t.Errorf("items request lacks the token: %q", e.rendered.Load().reqs[3].wire)
	}
	e.tr.CloseIdleConnections()
}

func TestSetupFailure(t *testing.T) {
	srv, err := demo.Start(context.Background(), demo.Options{Users: map[string]string{"demo": "other"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rep, err := Run(context.Background(), DefaultScenario(srv.URL()), Options{Load: Load{Requests: 10}})
	if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), `setup step "login"`) || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("err = %v, want ErrSetup naming the step and the 401", err)
	}
	if rep == nil || rep.Setup[0].Requests != 1 || rep.Setup[0].StatusCodes["401"] != 1 {
		t.Fatalf("report %+v does not hold the setup traffic", rep)
	}
}

func TestErrorAndTimeoutCounting(t *testing.T) {
	var fails atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(1)%2 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := scenario(srv.URL, ep("ok", "/ok"), ep("flaky", "/flaky"), ep("missing", "/missing"), ep("slow", "/slow"))
	// Generous for the fast routes on a loaded machine under -race.
	s.Timeout = 250 * time.Millisecond
	rep, err := Run(context.Background(), s, Options{Load: Load{Concurrency: 4, Requests: 100}, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]EndpointReport{}
	var sum int64
	for _, e := range rep.Endpoints {
		byName[e.Name] = e
		sum += e.Requests
	}
	if sum != 100 || rep.Total.Requests != 100 {
		t.Fatalf("requests: endpoints sum %d, total %d; want 100", sum, rep.Total.Requests)
	}
	ok, flaky, missing, slow := byName["ok"], byName["flaky"], byName["missing"], byName["slow"]
	if ok.Errors != 0 || ok.StatusCodes["200"] != ok.Requests {
		t.Errorf("ok: %+v", ok.Totals)
	}
	if flaky.Errors != flaky.StatusCodes["500"] || flaky.ErrorKinds["status"] != flaky.Errors || flaky.Errors == 0 {
		t.Errorf("flaky: errors %d, statuses %v, kinds %v", flaky.Errors, flaky.StatusCodes, flaky.ErrorKinds)
	}
	if flaky.Availability != 1-float64(flaky.Errors)/float64(flaky.Requests) {
		t.Errorf("flaky availability %v: 500s are server-side failures", flaky.Availability)
	}
	if missing.Errors != missing.Requests || missing.Availability != 1 || missing.ErrorRate != 1 {
		t.Errorf("missing: 404s are errors but not server-side: %+v", missing.Totals)
	}
	if slow.Timeouts != slow.Requests || slow.ErrorKinds["timeout"] != slow.Requests || slow.TimeoutRate != 1 {
		t.Errorf("slow: %d requests, %d timeouts, kinds %v", slow.Requests, slow.Timeouts, slow.ErrorKinds)
	}
	if slow.Latency.N != slow.Requests || float64(slow.Latency.Min) < 0.999*float64(250*time.Millisecond) { // HDR precision
		t.Errorf("slow: timed-out requests are in the latency at ≥ the timeout: %+v", slow.Latency)
	}
	wantErr := flaky.Errors + missing.Errors + slow.Errors
	if rep.Total.Errors != wantErr || rep.Total.Timeouts != slow.Timeouts {
		t.Errorf("total errors %d timeouts %d, want %d %d", rep.Total.Errors, rep.Total.Timeouts, wantErr, slow.Timeouts)
	}
	v := rep.Verdict()
	failed := map[string]bool{}
	for _, c := range v.Failed() {
		failed[c.Metric] = true
	}
	if v.Pass || !failed["error-rate"] || !failed["timeout-rate"] || !failed["availability"] {
		t.Errorf("verdict %+v: want error-rate, timeout-rate and availability failing", v)
	}
}

// rawServer accepts connections and hands each to fn; it counts them.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

func newRawServer(t *testing.T, fn func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Go(func() {
				defer c.Close()
				fn(c, bufio.NewReader(c))
			})
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *rawServer) URL() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one request head and returns its path.
func readRequest(br *bufio.Reader) (string, bool) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", false
	}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		if h == "\r\n" {
			break
		}
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", false
	}
	return f[1], true
}

func TestLeanClientResponses(t *testing.T) {
	responses := map[string]string{
		"/cl":       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"/chunked":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"/continue": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"/close":    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye",
		"/http10":   "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/bad":      "HTTP/1.1 2x0 OK\r\n\r\n",
		"/short":    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"/badlen":   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok",
		"/badchunk": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"/huge":     "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n",
	}
	closeAfter := map[string]bool{"/close": true, "/http10": true, "/bad": true, "/short": true, "/badlen": true, "/badchunk": true, "/huge": true}
	tests := []struct {
		path          string
		status        int
		bodyIn        int64
		kind          string
		conns         int64 // for 3 requests
		alsoOtherKind string
	}{
		{"/cl", 200, 5, "", 1, ""},
		{"/chunked", 200, 11, "", 1, ""},
		{"/continue", 204, 0, "", 1, ""},
		{"/close", 200, 3, "", 3, ""},
		{"/http10", 200, 2, "", 3, ""},
		{"/bad", 0, 0, "protocol", 3, ""},
		{"/short", 0, 0, "eof", 3, ""},
		{"/badlen", 0, 0, "protocol", 3, ""},
		{"/badchunk", 0, 0, "protocol", 3, ""},
		{"/huge", 0, 0, "protocol", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path[1:], func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					path, ok := readRequest(br)
					if !ok {
						return
					}
					io.WriteString(c, responses[path])
					if closeAfter[path] {
						return
					}
				}
			})
			rep, err := Run(context.Background(), scenario(srv.URL(), ep("x", tt.path)), Options{Load: Load{Concurrency: 1, Requests: 3}})
			if err != nil {
				t.Fatal(err)
			}
			e := rep.Endpoints[0]
			if e.Requests != 3 {
				t.Fatalf("requests %d, want 3", e.Requests)
			}
			if tt.kind == "" {
				if e.Errors != 0 || e.StatusCodes[fmt.Sprint(tt.status)] != 3 || e.BytesIn != 3*tt.bodyIn {
					t.Errorf("errors %d %v, statuses %v, bytes in %d; want 0, %d×3, %d", e.Errors, e.ErrorSamples, e.StatusCodes, e.BytesIn, tt.status, 3*tt.bodyIn)
				}
				if e.WireBytesIn <= e.BytesIn || e.WireBytesOut == 0 {
					t.Errorf("wire bytes in %d out %d", e.WireBytesIn, e.WireBytesOut)
				}
			} else if e.ErrorKinds[tt.kind] != 3 {
				t.Errorf("error kinds %v (%v), want %s×3", e.ErrorKinds, e.ErrorSamples, tt.kind)
			}
			if got := srv.conns.Load(); got != tt.conns {
				t.Errorf("%d connections for 3 requests, want %d", got, tt.conns)
			}
		})
	}
}

func TestLeanClientRetriesStaleKeepAlive(t *testing.T) {
	// The server answers one request per connection without saying so:
	// the client finds the reused connection closed and sends again.
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); ok {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			time.Sleep(5 * time.Millisecond) // let the close arrive before the next request
		}
	})
	rep, err := Run(context.Background(), scenario(srv.URL(), ep("x", "/")), Options{Load: Load{Concurrency: 1, Requests: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if e := rep.Endpoints[0]; e.Errors != 0 || e.Requests != 5 {
		t.Errorf("errors %d (%v) of %d", e.Errors, e.ErrorSamples, e.Requests)
	}
	if srv.conns.Load() != 5 {
		t.Errorf("%d connections, want 5", srv.conns.Load())
	}
}

func TestConnectionFailures(t *testing.T) {
	// Refused: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep, err := Run(context.Background(), scenario("http://"+addr, ep("x", "/")), Options{Load: Load{Concurrency: 2, Requests: 6}})
	if err != nil {
		t.Fatal(err)
	}
	if e := rep.Endpoints[0]; e.ErrorKinds["connect-refused"] != 6 || e.Latency.N != 0 || e.Availability != 0 {
		t.Errorf("refused: kinds %v, latency n %d, availability %v", e.ErrorKinds, e.Latency.N, e.Availability)
	}
	if rep.Verdict().Pass {
		t.Error("verdict passed with every request refused")
	}

	// DNS: a malformed host name fails in the resolver without a query.
	for _, engine := range []Engine{EngineAuto, EngineNetHTTP} {
		rep, err = Run(context.Background(), scenario("http://no..such.host:80", ep("x", "/")), Options{Engine: engine, Load: Load{Concurrency: 1, Requests: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if e := rep.Endpoints[0]; e.ErrorKinds["dns"] != 2 {
			t.Errorf("dns (%s): kinds %v (%v)", engine, e.ErrorKinds, e.ErrorSamples)
		}
	}

	// Reset: the server aborts each connection after reading the request.
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); ok {
			c.(*net.TCPConn).SetLinger(0)
		}
	})
	rep, err = Run(context.Background(), scenario(srv.URL(), ep("x", "/")), Options{Load: Load{Concurrency: 1, Requests: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if e := rep.Endpoints[0]; e.ErrorKinds["reset"]+e.ErrorKinds["eof"] != 4 {
		t.Errorf("reset: kinds %v (%v)", e.ErrorKinds, e.ErrorSamples)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshakes
	srv.StartTLS()
	defer srv.Close()
	s := scenario(srv.URL, ep("x", "/"))
	// Untrusted certificate.
	rep, err := Run(context.Background(), s, Options{Load: Load{Concurrency: 1, Requests: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if e := rep.Endpoints[0]; e.ErrorKinds["tls"] != 2 {
		t.Errorf("untrusted: kinds %v (%v), want tls×2", e.ErrorKinds, e.ErrorSamples)
	}
	// Trusted through Options.TLSConfig: keep-alive, one TLS handshake.
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tc := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tc.RootCAs = pool
	rep, err = Run(context.Background(), s, Options{Load: Load{Concurrency: 1, Requests: 5}, TLSConfig: tc})
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Endpoints[0]
	if e.Errors != 0 || e.Phases["tls"].N != 1 || e.Phases["ttfb"].N != 5 {
		t.Errorf("trusted: errors %d %v, tls phase n %d, ttfb n %d", e.Errors, e.ErrorSamples, e.Phases["tls"].N, e.Phases["ttfb"].N)
	}
	// InsecureSkipVerify through the scenario, over net/http.
	s.InsecureSkipVerify = true
	rep, err = Run(context.Background(), s, Options{Load: Load{Concurrency: 1, Requests: 3}, Engine: EngineNetHTTP})
	if err != nil {
		t.Fatal(err)
	}
	if e := rep.Endpoints[0]; e.Errors != 0 || rep.Engine != "net/http" || e.Phases["tls"].N != 1 {
		t.Errorf("insecure net/http: errors %d %v, engine %s, tls n %d", e.Errors, e.ErrorSamples, rep.Engine, e.Phases["tls"].N)
	}
}

func TestHTTP2(t *testing.T) {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "want HTTP/2", http.StatusHTTPVersionNotSupported)
			return
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.Protocols = &protos
	srv.Start()
	defer srv.Close()
	s := scenario(srv.URL, ep("x", "/"))
	s.HTTP2 = true
	rep, err := Run(context.Background(), s, Options{Load: Load{Concurrency: 4, Requests: 40}})
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Endpoints[0]
	if e.Errors != 0 || e.StatusCodes["200"] != 40 || rep.Protocol != "HTTP/2" || rep.Engine != "net/http" {
		t.Errorf("errors %d %v, statuses %v, protocol %s, engine %s", e.Errors, e.ErrorSamples, e.StatusCodes, rep.Protocol, rep.Engine)
	}
}

func TestCancelMidRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fast" {
			return
		}
		<-r.Context().Done() // hangs until the client goes away
	}))
	defer srv.Close()
	for _, model := range []Model{ModelClosed, ModelOpen} {
		t.Run(string(model), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			l := Load{Model: model, Concurrency: 4, Duration: time.Minute}
			if model == ModelOpen {
				l.Rate = 100
			}
			s := scenario(srv.URL, ep("hang", "/hang"), ep("fast", "/fast"))
			s.Timeout = time.Minute
			var progress atomic.Int64
			time.AfterFunc(300*time.Millisecond, cancel)
			t0 := time.Now()
			rep, err := Run(ctx, s, Options{Load: l, ProgressInterval: 50 * time.Millisecond, Progress: func(Progress) { progress.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(t0); d > 5*time.Second {
				t.Errorf("Run took %v after cancel", d)
			}
			hang, fast := rep.Endpoints[0], rep.Endpoints[1]
			if !rep.Partial || hang.Canceled == 0 || hang.Requests != 0 || hang.Errors != 0 {
				t.Errorf("partial %v, hang: canceled %d requests %d errors %d", rep.Partial, hang.Canceled, hang.Requests, hang.Errors)
			}
			if fast.Requests == 0 || fast.Errors != 0 {
				t.Errorf("fast: %d requests, %d errors: what was measured before the cancel is kept", fast.Requests, fast.Errors)
			}
			if progress.Load() < 2 {
				t.Errorf("progress called %d times", progress.Load())
			}
			if !rep.BenchResults().Partial {
				t.Error("results not marked partial")
			}
		})
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	s := scenario("http://127.0.0.1:1", ep("a", "/"))
	for _, o := range []Options{
		{Load: Load{Model: ModelOpen}},
		{Load: Load{Model: "sideways"}},
		{Load: Load{Rate: 5}},
		{Timeout: -1},
		{Engine: "curl"},
	} {
		if rep, err := Run(context.Background(), s, o); err == nil || rep != nil {
			t.Errorf("Run(%+v) = %v, %v; want an error", o, rep, err)
		}
	}
	if _, err := Run(context.Background(), nil, Options{}); err == nil {
		t.Error("nil scenario accepted")
	}
}

func TestOpenModelRampAndRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/")), Options{
		Load: Load{Model: ModelOpen, Rate: 400, RampFrom: 100, RampDuration: 500 * time.Millisecond, Requests: 300},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := rep.Open
	if rep.Total.Requests != 300 || o.Dispatched != 300 || o.Intended != 300 || o.Dropped != 0 {
		t.Errorf("requests %d dispatched %d intended %d dropped %d", rep.Total.Requests, o.Dispatched, o.Intended, o.Dropped)
	}
	// 300 requests: 125 in the ramp (0.5 s), 175 at 400/s (0.44 s).
	if rep.Elapsed < 900*time.Millisecond {
		t.Errorf("elapsed %v: sent faster than the schedule", rep.Elapsed)
	}
	if o.SendLag.Min < 0 {
		t.Errorf("a request was sent before its time: send lag min %v", o.SendLag.Min)
	}
}

func TestSeriesAndSummary(t *testing.T) {
	srv, err := demo.Start(context.Background(), demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rep, err := Run(context.Background(), DefaultScenario(srv.URL()), Options{Load: Load{Concurrency: 2, Duration: 1500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Endpoints) != 7 || rep.Total.Requests == 0 || rep.Total.Errors != 0 {
		t.Fatalf("endpoints %d, requests %d, errors %d", len(rep.Endpoints), rep.Total.Requests, rep.Total.Errors)
	}
	var inSeries int64
	for _, p := range rep.Series.Points {
		inSeries += p.Requests
	}
	// One point per second and a last partial one (a starved ticker may
	// fold them into one).
	if n := len(rep.Series.Points); n < 1 || n > 2 || inSeries != rep.Total.Requests {
		t.Errorf("series: %d points with %d requests, want 2 with %d", n, inSeries, rep.Total.Requests)
	}
	if p := rep.Series.Points[0]; p.T != 0 || p.D <= 0 || p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 {
		t.Errorf("first point %+v", p)
	}
	var b strings.Builder
	if err := rep.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{`API benchmark "demo"`, "closed model, 2 users", "health", "auth-login", "infer", "setup (auth traffic", "budgets: availability", "verdict:"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// The results survive a JSON round trip.
	raw, err := json.Marshal(rep.BenchResults())
	if err != nil {
		t.Fatal(err)
	}
	var res results.Run
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if res.Schema != results.Schema || len(res.Benchmarks) != 8 || res.Benchmarks[0].Name != "demo/health" || res.Benchmarks[0].Category != "health" {
		t.Errorf("results: schema %q, %d benchmarks, first %q", res.Schema, len(res.Benchmarks), res.Benchmarks[0].Name)
	}
	var detail struct {
		StatusCodes map[string]int64 `json:"status_codes"`
		Phases      map[string]any   `json:"phases"`
		Run         struct {
			Engine string `json:"engine"`
		} `json:"run"`
	}
	if err := json.Unmarshal(res.Benchmarks[0].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if detail.StatusCodes["200"] == 0 || detail.Phases["ttfb"] == nil || detail.Run.Engine != "lean-http1" {
		t.Errorf("detail: %+v", detail)
	}
	units := map[string]bool{}
	for _, m := range res.Benchmarks[0].Metrics {
		units[m.Unit] = true
	}
	for _, u := range []string{results.UnitReqPerSec, results.UnitErrorRate, results.UnitTimeoutRate, results.UnitAvailable, results.UnitP90, results.UnitP999} {
		if !units[u] {
			t.Errorf("metric %s missing", u)
		}
	}
}

func TestVerdictTargets(t *testing.T) {
	r := &Report{
		Budgets: DefaultBudgets(),
		Total:   Totals{Requests: 1000, Errors: 1, Availability: 0.999, ErrorRate: 0.001},
		Endpoints: []EndpointReport{{
			Name:    "a",
			Totals:  Totals{Latency: Summary{N: 10, P50: 10 * time.Millisecond, P99: 300 * time.Millisecond}},
			Targets: Targets{P50: 20 * time.Millisecond, P99: 200 * time.Millisecond},
		}},
	}
	v := r.Verdict()
	f := v.Failed()
	if v.Pass || len(f) != 1 || f[0].Endpoint != "a" || f[0].Metric != "p99" || f[0].Value != float64(300*time.Millisecond) {
		t.Fatalf("verdict %+v", v)
	}
	if !strings.Contains(f[0].Message, "a p99 300ms > 200ms") {
		t.Errorf("message %q", f[0].Message)
	}
	// Budgets are inclusive: exactly 0.1% errors and 99.9% availability pass.
	for _, c := range v.Checks {
		if c.Endpoint == "" && !c.Pass {
			t.Errorf("run check %+v failed", c)
		}
	}
	if _, err := json.Marshal(v); err != nil {
		t.Fatal(err)
	}
}

func TestExtract(t *testing.T) {
	body := []byte(`{"token":"abc","data":[{"id":7},{"id":8}],"a/b":{"m~n":true},"n":null}`)
	hdr := http.Header{"X-Session": {"s1"}}
	tests := []struct {
		x    Extract
		want string
		err  string
	}{
		{Extract{JSONPointer: "/token"}, "abc", ""},
		{Extract{JSONPointer: "/data/1/id"}, "8", ""},
		{Extract{JSONPointer: "/data/1"}, `{"id":8}`, ""},
		{Extract{JSONPointer: "/a~1b/m~0n"}, "true", ""},
		{Extract{JSONPointer: "/missing"}, "", `no member "missing"`},
		{Extract{JSONPointer: "/data/2/id"}, "", "no element"},
		{Extract{JSONPointer: "/data/01/id"}, "", "no element"},
		{Extract{JSONPointer: "/token/x"}, "", "goes through a string"},
		{Extract{JSONPointer: "/n"}, "", "null at JSON pointer"},
		{Extract{Header: "X-Session"}, "s1", ""},
		{Extract{Header: "X-Other"}, "", "no header X-Other"},
	}
	for _, tt := range tests {
		got, err := extract(tt.x, hdr, body)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("extract(%+v) error %v, want %q", tt.x, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("extract(%+v) = %q, %v; want %q", tt.x, got, err, tt.want)
		}
	}
	if _, err := extract(Extract{JSONPointer: "/token"}, hdr, []byte("<html>")); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("non-JSON body: %v", err)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte(`{"token":"abc","data":[{"id":7}]}`), "/data/0/id")
	f.Add([]byte(`[1,2,{"~":{"/":3}}]`), "/2/~0/~1")
	f.Add([]byte(`"s"`), "")
	f.Fuzz(func(t *testing.T, body []byte, ptr string) {
		v, err := extract(Extract{JSONPointer: ptr}, nil, body)
		if err == nil && ptr == "" && v == "" && len(body) == 0 {
			t.Fatal("empty body extracted")
		}
	})
}

func TestGeneratorSaturatedVerdict(t *testing.T) {
	e, err := newEngine(context.Background(), scenario("http://127.0.0.1:1", ep("a", "/")), Options{Load: Load{Model: ModelOpen, Rate: 1000, Duration: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.cancel()
	s, sh := e.shards[0].eps[0], e.shards[0]
	// 1,000 requests, 20 of them (2%) sent 20ms late with a connection
	// free, 30 more 300ms late behind busy connections (not the
	// generator's delay).
	s.requests, s.late, s.genLate = 1000, 50, 20
	e.pacer.dispatched, e.pacer.waited = 1000, 30
	for i := range 1000 {
		switch {
		case i < 20:
			record(sh.sendLag, 20*time.Millisecond)
			record(sh.genLag, 20*time.Millisecond)
		case i < 50:
			record(sh.sendLag, 300*time.Millisecond)
		default:
			record(sh.sendLag, 100*time.Microsecond)
			record(sh.genLag, 100*time.Microsecond)
		}
	}
	feed := func(fast, slow time.Duration) {
		h := e.rounds.cum[0] // the latencies of the closed rounds
		h.Reset()
		for i := range 1000 {
			record(h, map[bool]time.Duration{true: slow, false: fast}[i < 20])
		}
	}
	generator := func(rep *Report) *Check {
		for _, c := range rep.Verdict().Checks {
			if c.Metric == "generator" {
				return &c
			}
		}
		t.Fatal("no generator check")
		return nil
	}

	// The late sends are the latency tail: the p99 is mostly the
	// generator's delay.
	feed(time.Millisecond, 21*time.Millisecond)
	rep := e.report(time.Now(), time.Now().Add(time.Second), false)
	if !rep.Open.Saturated || !strings.Contains(rep.Open.Saturation, "send lag p99 20") {
		t.Fatalf("open report %+v", rep.Open)
	}
	if c := generator(rep); c.Pass || !strings.Contains(c.Message, "distorts the latency") {
		t.Errorf("generator check %+v, want failing with the reason", c)
	}
	if b := rep.BenchResults().Benchmarks[0]; !slices.Contains(b.Warnings, "generator saturated") {
		t.Errorf("result warnings %q", b.Warnings)
	}
	var out strings.Builder
	if err := rep.WriteSummary(&out); err != nil || !strings.Contains(out.String(), "GENERATOR SATURATED") {
		t.Errorf("summary does not say the generator saturated (%v):\n%s", err, out.String())
	}

	// The same burst against a slow target is 4% of its p99: reported
	// with its figures, not failed; so are the waits for busy
	// connections, although they are most of the send lag's p99.
	feed(100*time.Millisecond, 500*time.Millisecond)
	rep = e.report(time.Now(), time.Now().Add(time.Second), false)
	if rep.Open.Saturated || !generator(rep).Pass {
		t.Errorf("a burst of lateness failed the run: %+v", rep.Open)
	}
	if !strings.Contains(rep.Open.Saturation, "20 of 1000 sends") || !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "in bursts") }) {
		t.Errorf("the burst is not reported: %q, warnings %q", rep.Open.Saturation, rep.Warnings)
	}

	// Falling behind the schedule for longer than SustainedBehind fails
	// whatever the percentiles.
	e.pacer.behind = SustainedBehind + time.Millisecond
	rep = e.report(time.Now(), time.Now().Add(time.Second), false)
	if !rep.Open.Saturated || !strings.Contains(rep.Open.Saturation, "fell behind its schedule") {
		t.Errorf("sustained lag not saturated: %+v", rep.Open)
	}
}
