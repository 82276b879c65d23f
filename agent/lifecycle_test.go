package agent

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// hangPeer is a real TCP peer that accepts connections, holds them and
// never writes: a collector or Pyroscope server that hangs.
type hangPeer struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
	done     chan struct{}
}

func newHangPeer(t *testing.T) *hangPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangPeer{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *hangPeer) url() string { return "http://" + p.ln.Addr().String() }

func (p *hangPeer) close() {
	p.ln.Close()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A Start that fails returns within its ctx and sends nothing: no final
// export of metrics it never exported, no profile upload.
func TestFailedStartIsBoundedAndSendsNothing(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cases := []struct {
		name string
		opts func(otlp, pyro *hangPeer) []Option
	}{
		{"port taken, otlp grpc", func(otlp, pyro *hangPeer) []Option {
			return []Option{WithHTTPAddr(held.Addr().String()), WithOTLP("grpc", otlp.url()),
				WithProfiling(Profiling{ServerAddress: pyro.url(), Interval: time.Hour})}
		}},
		{"port taken, otlp http", func(otlp, pyro *hangPeer) []Option {
			return []Option{WithHTTPAddr(held.Addr().String()), WithOTLP("http/protobuf", otlp.url()),
				WithProfiling(Profiling{ServerAddress: pyro.url(), Interval: time.Hour})}
		}},
		{"local profiling without files, otlp http", func(otlp, _ *hangPeer) []Option {
			return []Option{WithHTTPAddr("127.0.0.1:0"), WithOTLP("http/protobuf", otlp.url()),
				WithOutputDir("off"), WithProfiling(Profiling{Interval: time.Hour})}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			otlp, pyro := newHangPeer(t), newHangPeer(t)
			ignore := goleak.IgnoreCurrent()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			t0 := time.Now()
			a, err := Start(ctx, append(tc.opts(otlp, pyro), WithLogger(quietLogger()))...)
			took := time.Since(t0)
			if err == nil {
				a.Shutdown(context.Background())
				t.Fatal("Start succeeded")
			}
			if took > 15*time.Second {
				t.Errorf("failed Start took %v, its ctx allowed 3s", took)
			}
			if n := otlp.accepted.Load(); n != 0 {
				t.Errorf("failed Start connected to the collector %d times (a final export of data never exported)", n)
			}
			if n := pyro.accepted.Load(); n != 0 {
				t.Errorf("failed Start connected to Pyroscope %d times", n)
			}
			if err := goleak.Find(ignore); err != nil {
				t.Errorf("goroutines left by a failed Start: %v", err)
			}
		})
	}
}

// Shutdown(context.Background()) is bounded by DefaultShutdownTimeout
// against peers that hang or fail, drops and counts what it could not
// deliver, and leaves no goroutine behind.
func TestShutdownWithoutDeadlineIsBounded(t *testing.T) {
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusInternalServerError)
	}))
	defer fail.Close()
	cases := []struct {
		name      string
		pyroscope func(t *testing.T) string
		otlp      string
	}{
		{"pyroscope hangs, otlp grpc hangs", func(t *testing.T) string { return newHangPeer(t).url() }, "grpc"},
		{"pyroscope hangs, otlp http hangs", func(t *testing.T) string { return newHangPeer(t).url() }, "http/protobuf"},
		{"pyroscope answers 500", func(*testing.T) string { return fail.URL }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()), WithOutputDir("off"),
				WithProfiling(Profiling{ServerAddress: tc.pyroscope(t), Interval: 100 * time.Millisecond})}
			if tc.otlp != "" {
				opts = append(opts, WithOTLP(tc.otlp, newHangPeer(t).url()), WithExportInterval(time.Hour))
			}
			fail.CloseClientConnections()
			ignore := goleak.IgnoreCurrent()
			a, err := Start(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(700 * time.Millisecond) // a few periods: profiles queue up behind the hanging uploads
			t0 := time.Now()
			err = a.Shutdown(context.Background())
			took := time.Since(t0)
			if lerr := goleak.Find(ignore); lerr != nil {
				t.Errorf("goroutines alive right after Shutdown returned: %v", lerr)
			}
			if err == nil {
				t.Error("Shutdown = nil, want the undelivered profiles reported")
			}
			if took > DefaultShutdownTimeout+10*time.Second {
				t.Errorf("Shutdown(context.Background()) took %v, want about DefaultShutdownTimeout (%v)", took, DefaultShutdownTimeout)
			}
			if st := a.Status(); st.Dropped["profile"] == 0 {
				t.Errorf("no profile counted as dropped: %+v", st.Dropped)
			}
		})
	}
}

func TestCaptureRateLimited(t *testing.T) {
	dir := t.TempDir()
	a := start(t, WithOutputDir(dir), WithoutCaptureTriggers())
	url := "http://" + a.Addr() + "/debug/perfagent/capture?type=goroutine"
	var limited *http.Response
	for i := 0; i < 2*DefaultCaptureBurst && limited == nil; i++ {
		resp, err := http.Post(url, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			limited = resp
		default:
			t.Fatalf("capture %d: %d", i, resp.StatusCode)
		}
	}
	if limited == nil {
		t.Fatalf("%d on-demand captures in a row, none answered 429", 2*DefaultCaptureBurst)
	}
	if ra := limited.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("429 without a Retry-After (%q)", ra)
	}
	if st := a.LeakStatus(); st.Captures.Skipped["rate_limit"] == 0 {
		t.Errorf("rate-limited captures not counted: %+v", st.Captures.Skipped)
	}
}

func TestListenerLimitsConnections(t *testing.T) {
	const limit = 2
	a := start(t, WithMaxConnections(limit))
	if s := a.server; s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Errorf("server timeouts header %v read %v write %v idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
	// limit+1 idle connections: exactly one is refused with a 503.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range limit + 1 {
		c, err := net.Dial("tcp", a.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	got := make(chan string, len(conns))
	for _, c := range conns {
		go func() {
			c.SetReadDeadline(time.Now().Add(4 * time.Second)) // under ReadHeaderTimeout: held conns stay quiet
			line, _ := bufio.NewReader(c).ReadString('\n')
			got <- line
		}()
	}
	refused := 0
	for range conns {
		if strings.Contains(<-got, " 503 ") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d of %d connections refused with 503, want 1 (limit %d)", refused, len(conns), limit)
	}
	if st := a.Status(); st.HTTP.MaxConnections != limit {
		t.Errorf("status http %+v", st.HTTP)
	}
}

// A CPU profile longer than the server's write timeout still completes.
func TestLongProfileOutlivesWriteTimeout(t *testing.T) {
	short := optionFunc(func(c *config) error {
		c.server.write = 500 * time.Millisecond
		c.server.read = 500 * time.Millisecond
		return nil
	})
	a := start(t, WithPprof(true), short)
	code, body := get(t, "http://"+a.Addr()+"/debug/pprof/profile?seconds=1")
	if code != 200 || len(body) == 0 {
		t.Errorf("profile?seconds=1 with a 500ms write timeout: %d (%d bytes)", code, len(body))
	}
}

func TestProxiedRequestsAreRemote(t *testing.T) {
	serve := func(a *Agent, header, value, auth string) int {
		req := httptest.NewRequest("GET", "/debug/perfagent/", nil)
		addr, _ := net.ResolveTCPAddr("tcp", "127.0.0.1:9464")
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, addr))
		req.RemoteAddr = "127.0.0.1:50000"
		if header != "" {
			req.Header.Set(header, value)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	a := start(t, WithoutHTTPServer())
	if c := serve(a, "", "", ""); c != 200 {
		t.Errorf("plain loopback: %d", c)
	}
	for _, h := range [][2]string{{"Forwarded", "for=203.0.113.9"}, {"X-Forwarded-For", "203.0.113.9"}, {"X-Real-IP", "203.0.113.9"}} {
		if c := serve(a, h[0], h[1], ""); c != 403 {
			t.Errorf("loopback with %s: %d, want 403", h[0], c)
		}
	}
	a.Shutdown(context.Background())
	a = start(t, WithoutHTTPServer(), WithDebugToken("s3cret"), WithPprof(true))
	if c := serve(a, "X-Forwarded-For", "203.0.113.9", ""); c != 401 {
		t.Errorf("proxied without token: %d, want 401", c)
	}
	if c := serve(a, "X-Forwarded-For", "203.0.113.9", "Bearer s3cret"); c != 200 {
		t.Errorf("proxied with token: %d", c)
	}
}

func TestBearerSchemeCaseInsensitive(t *testing.T) {
	a := start(t, WithoutHTTPServer(), WithDebugToken("s3cret"))
	for _, auth := range []string{"bearer s3cret", "BEARER s3cret", "Bearer  s3cret"} {
		req := httptest.NewRequest("GET", "/debug/perfagent/", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("%q: %d", auth, rec.Code)
		}
	}
	req := httptest.NewRequest("GET", "/debug/perfagent/", nil)
	req.Header.Set("Authorization", "Basic s3cret")
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("Basic scheme: %d", rec.Code)
	}
}

// Against a collector that accepts and never answers, the exporter is
// "unknown" until its first export finishes, not "healthy, 0 failures".
func TestHealthUnknownUntilFirstExport(t *testing.T) {
	peer := newHangPeer(t)
	a := start(t, WithOTLP("http/protobuf", peer.url()), WithExportInterval(time.Hour), WithExportTimeout(200*time.Millisecond))
	st := a.Status().Exporters["otlp-http"]
	if st.State != "unknown" || st.Healthy {
		t.Errorf("before any export: %+v, want state unknown, not healthy", st)
	}
	_ = a.ForceFlush(context.Background()) // the export times out after 200ms
	for end := time.Now().Add(10 * time.Second); a.Status().Exporters["otlp-http"].Exports == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if st := a.Status().Exporters["otlp-http"]; st.State != "failing" || st.Healthy {
		t.Errorf("after a failed export: %+v", st)
	}
}

// Shutdown that hits its deadline against a hanging Pyroscope server, with a
// CPU capture streaming on the listener, still leaves no goroutine.
func TestShutdownAtDeadlineLeavesNoGoroutine(t *testing.T) {
	pyro := newHangPeer(t)
	ignore := goleak.IgnoreCurrent()
	a, err := Start(context.Background(), WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()), WithOutputDir(t.TempDir()),
		WithSnapshotInterval(10*time.Millisecond), WithProfiling(Profiling{ServerAddress: pyro.url(), Interval: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := (&http.Client{Transport: tr}).Post("http://"+a.Addr()+"/debug/perfagent/capture?type=cpu&seconds=30", "", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	for end := time.Now().Add(10 * time.Second); a.Status().HTTP.Connections == 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the capture is running
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := a.Shutdown(ctx); err == nil {
		t.Error("Shutdown = nil at its deadline")
	}
	if err := goleak.Find(ignore, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"), goleak.IgnoreAnyFunction(
			"github.com/perfagent/perfagent/agent.TestShutdownAtDeadlineLeavesNoGoroutine.func1")); err != nil {
		t.Errorf("goroutines alive right after Shutdown returned: %v", err)
	}
	<-done
	tr.CloseIdleConnections()
}
