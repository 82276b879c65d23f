package page

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/results"
)

// One browser serves every test of the package: starting Chromium costs
// about two seconds.
var shared struct {
	once sync.Once
	b    *Browser
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.b != nil {
		if err := shared.b.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close browser:", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testOptions keep runs short: a 300 ms quiet window instead of 5 s.
func testOptions() Options {
	return Options{Runs: 1, QuietWindow: 300 * time.Millisecond, Timeout: 20 * time.Second,
		// No DNS for anything but loopback: the tests need no network.
		Flags: map[string]any{"host-resolver-rules": "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"}}
}

// testBrowser returns the shared browser. Without a browser the test fails
// under CI (make test installs one) and is skipped elsewhere.
func testBrowser(t *testing.T) *Browser {
	t.Helper()
	if _, err := FindChrome("", nil); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and no browser was found: %v", err)
		}
		t.Skipf("no browser (install one: apt-get install -y chromium): %v", err)
	}
	shared.once.Do(func() { shared.b, shared.err = Launch(context.Background(), testOptions()) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.b
}

// measure runs the shared browser with per-test options.
func measure(t *testing.T, url string, edit func(*Options)) *Report {
	t.Helper()
	b := testBrowser(t)
	saved := b.opts
	o := testOptions()
	if edit != nil {
		edit(&o)
	}
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b.opts = o
	defer func() { b.opts = saved }()
	r, err := b.Measure(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// countingServer serves handler on loopback with keep-alives off, so each
// connection carries one response and the bytes written to it are exactly
// that response's transfer size.
type countingServer struct {
	*httptest.Server
	mu      sync.Mutex
	written map[string]int64  // by remote address
	paths   map[string]string // remote address -> request path
}

type countingConn struct {
	net.Conn
	s *countingServer
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.s.mu.Lock()
	c.s.written[c.RemoteAddr().String()] += int64(n)
	c.s.mu.Unlock()
	return n, err
}

type countingListener struct {
	net.Listener
	s *countingServer
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.s}, nil
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	s := &countingServer{written: map[string]int64{}, paths: map[string]string{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths[r.RemoteAddr] = r.URL.Path
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	s.Listener = countingListener{s.Listener, s}
	s.Config.SetKeepAlivesEnabled(false)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// bytesByPath returns the bytes written per request path.
func (s *countingServer) bytesByPath() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for addr, n := range s.written {
		out[s.paths[addr]] += n
	}
	return out
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7 % 251)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func serveBytes(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	}
}

func TestBytesByType(t *testing.T) {
	third := newCountingServer(t, serveBytes("text/javascript", []byte("window.tp = '"+strings.Repeat("t", 3000)+"';")))
	// The third party is "localhost", a different host from 127.0.0.1.
	thirdURL := strings.Replace(third.URL, "127.0.0.1", "localhost", 1) + "/tp.js"
	script := []byte("window.app = '" + strings.Repeat("a", 120*1024) + "';")
	img1, img2 := pngOf(t, 300, 200), pngOf(t, 120, 80)
	css := []byte("body { margin: 0 } h1 { color: #333 }\n" + strings.Repeat("/* pad */\n", 200))
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><html><head><link rel="stylesheet" href="/style.css"><script src="/app.js"></script><script src="%s"></script></head>
<body><h1>Known sizes</h1><img src="/one.png" width="300" height="200"><img src="/two.png" width="120" height="80"></body></html>`, thirdURL)
	})
	mux.Handle("/app.js", serveBytes("text/javascript", script))
	mux.Handle("/style.css", serveBytes("text/css", css))
	mux.Handle("/one.png", serveBytes("image/png", img1))
	mux.Handle("/two.png", serveBytes("image/png", img2))
	mux.Handle("/favicon.ico", serveBytes("image/x-icon", []byte("icon")))
	first := newCountingServer(t, mux)

	r := measure(t, first.URL+"/", nil)
	if len(r.Runs) != 1 || r.Runs[0].Error != "" {
		t.Fatalf("runs: %+v", r.Runs)
	}
	run := r.Runs[0]
	served := first.bytesByPath()
	tp := third.bytesByPath()["/tp.js"]
	want := map[string]int64{
		"document":    served["/"],
		"script":      served["/app.js"] + tp,
		"stylesheet":  served["/style.css"],
		"image":       served["/one.png"] + served["/two.png"],
		"third-party": tp,
	}
	// Chromium fetches the favicon on its own; it is a real transfer of
	// type other when the page loaded long enough for it.
	want["other"] = run.Resource("other").Bytes
	if run.Resource("other").Requests > 0 {
		want["other"] = served["/favicon.ico"]
	}
	want["total"] = want["document"] + want["script"] + want["stylesheet"] + want["image"] + want["other"]
	for typ, w := range want {
		if got := run.Resource(typ).Bytes; got != w {
			t.Errorf("bytes-%s = %d, served %d", typ, got, w)
		}
	}
	for typ, n := range map[string]int{"document": 1, "script": 2, "stylesheet": 1, "image": 2, "third-party": 1, "font": 0, "media": 0} {
		if got := run.Resource(typ).Requests; got != n {
			t.Errorf("requests-%s = %d, want %d", typ, got, n)
		}
	}
	if s := served["/app.js"]; s < int64(len(script)) || s > int64(len(script))+300 {
		t.Errorf("server wrote %d bytes for a %d-byte script: the counting is off", s, len(script))
	}
	res, err := r.Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"bytes-script", "requests-image", "ttfb-ns", "fcp-ns", "lcp-ns", "tti-ns", "tbt-ns", "cls", "load-ns"} {
		if _, ok := metric(res, m); !ok {
			t.Errorf("result lacks metric %s: %+v", m, res.Metrics)
		}
	}
	if v, _ := metric(res, "bytes-script"); int64(v) != want["script"] {
		t.Errorf("metric bytes-script %v, want %d", v, want["script"])
	}
	if res.Kind != results.KindPage || res.Name != first.URL+"/" || len(res.Samples) != 1 || res.Stats.N != 1 {
		t.Errorf("result %+v", res)
	}
	var thirdSeen bool
	for _, q := range run.Requests {
		if q.URL == thirdURL {
			thirdSeen = q.ThirdParty && q.Type == "script" && q.Status == 200 && q.End > q.Start
		}
	}
	if !thirdSeen {
		t.Errorf("waterfall lacks the third-party script: %+v", run.Requests)
	}

	// The same result over a budget fails `check`, naming the type, the
	// budget and the measured value.
	b, err := budget.Parse("budgets.yaml", []byte("page:\n  resource-sizes: {script: 100KiB}\n  resource-counts: {third-party: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := budget.Evaluate(b, &results.Run{Schema: results.Schema, Benchmarks: []results.Benchmark{res}})
	if !v.Failed() {
		t.Fatalf("over budget passed:\n%s", verdictText(v))
	}
	text := verdictText(v)
	for _, w := range []string{
		"FAIL page " + first.URL + "/ bytes-script: " + budget.Bytes.Format(float64(want["script"])) + " > budget 100KiB (budgets.yaml:2)",
		"FAIL page " + first.URL + "/ requests-third-party: 1 > budget 0 (budgets.yaml:3)",
		"pass page " + first.URL + "/ bytes-image:",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("verdict lacks %q:\n%s", w, text)
		}
	}
	lh, err := budget.Parse("budget.json", []byte(`[{"path": "/", "resourceSizes": [{"resourceType": "total", "budget": 100}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if v := budget.Evaluate(lh, &results.Run{Benchmarks: []results.Benchmark{res}}); !v.Failed() {
		t.Errorf("over a Lighthouse budget passed:\n%s", verdictText(v))
	}
}

func verdictText(v *budget.Verdict) string {
	var b strings.Builder
	_ = v.WriteText(&b)
	return b.String()
}

func metric(r results.Benchmark, unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

func TestTTFBAndLCPMove(t *testing.T) {
	const serverDelay, lateInsert = 400 * time.Millisecond, 700 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html><body><p id="early">Small text</p></body></html>`)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(serverDelay)
		fmt.Fprintf(w, `<!doctype html><html><body><p id="early">Small text</p><script>
setTimeout(() => { const d = document.createElement('div'); d.id = 'late';
  d.style.cssText = 'font-size:96px'; d.textContent = 'A late and much larger headline';
  document.body.appendChild(d); }, %d);
</script></body></html>`, lateInsert.Milliseconds())
	})
	mux.HandleFunc("/favicon.ico", http.NotFound)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	fast := measure(t, srv.URL+"/fast", nil).Runs[0]
	// LCP is read when the run ends, after a quiet window following FCP:
	// the window must outlast the late insert for it to count.
	slow := measure(t, srv.URL+"/slow", func(o *Options) { o.QuietWindow = 1200 * time.Millisecond }).Runs[0]
	if fast.Error != "" || slow.Error != "" {
		t.Fatalf("errors: %q %q", fast.Error, slow.Error)
	}
	if fast.TTFB <= 0 || slow.TTFB < serverDelay {
		t.Errorf("TTFB fast %v, slow %v: the slow page's server waits %v", fast.TTFB, slow.TTFB, serverDelay)
	}
	if fast.LCPElement != "p#early" {
		t.Errorf("fast LCP element %q, want p#early", fast.LCPElement)
	}
	if slow.LCPElement != "div#late" || slow.LCP < slow.TTFB+lateInsert {
		t.Errorf("slow LCP %v on %q; want div#late at least %v after TTFB %v", slow.LCP, slow.LCPElement, lateInsert, slow.TTFB)
	}
	if slow.FCP >= slow.LCP || slow.FCP < slow.TTFB {
		t.Errorf("slow FCP %v should fall between TTFB %v and LCP %v", slow.FCP, slow.TTFB, slow.LCP)
	}
	for _, l := range []Load{fast, slow} {
		if l.TTI < l.FCP || l.LoadEvent <= 0 || l.CLS != 0 || !l.TBTMeasured {
			t.Errorf("run %+v", l)
		}
	}
}

func TestLongTaskMovesTTI(t *testing.T) {
	const busy = 250 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><html><body><h1>Busy</h1><script>
addEventListener('load', () => setTimeout(() => { const end = performance.now() + %d; while (performance.now() < end) {} }, 200));
</script></body></html>`, busy.Milliseconds())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	l := measure(t, srv.URL+"/", nil).Runs[0]
	if l.Error != "" {
		t.Fatal(l.Error)
	}
	if len(l.LongTasks) == 0 {
		t.Fatalf("no long task recorded: %+v", l)
	}
	var task Task
	for _, lt := range l.LongTasks {
		if lt.Duration >= busy {
			task = lt
		}
	}
	if task.Duration == 0 {
		t.Fatalf("no long task of at least %v: %+v", busy, l.LongTasks)
	}
	if l.TTI < task.Start+task.Duration {
		t.Errorf("TTI %v before the end of the long task %+v", l.TTI, task)
	}
	if l.TBT < busy-50*time.Millisecond {
		t.Errorf("TBT %v, want at least %v", l.TBT, busy-50*time.Millisecond)
	}
}

func TestNetworkEmulation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><p>hi</p>`)
	}))
	t.Cleanup(srv.Close)
	n, err := ParseNetwork("300ms,0,0")
	if err != nil {
		t.Fatal(err)
	}
	r := measure(t, srv.URL+"/", func(o *Options) { o.Network = n; o.CPUSlowdown = 2 })
	l := r.Runs[0]
	if l.Error != "" {
		t.Fatal(l.Error)
	}
	if l.TTFB < 300*time.Millisecond {
		t.Errorf("TTFB %v with 300ms of emulated latency", l.TTFB)
	}
	if r.Settings.Network == nil || r.Settings.CPUSlowdown != 2 {
		t.Errorf("settings %+v", r.Settings)
	}
}

func TestFailingURLs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(hang) })

	r := measure(t, closed, func(o *Options) { o.Runs = 2 })
	if len(r.Runs) != 2 {
		t.Fatalf("%d runs, want 2", len(r.Runs))
	}
	for _, run := range r.Runs {
		if !strings.Contains(run.Error, "ERR_CONNECTION_REFUSED") {
			t.Errorf("run %d error %q", run.Index, run.Error)
		}
	}
	res, err := r.Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Error, "all 2 runs failed") || len(res.Warnings) != 2 || len(res.Metrics) != 0 {
		t.Errorf("result error %q warnings %q metrics %v", res.Error, res.Warnings, res.Metrics)
	}
	v := budget.Evaluate(nil, &results.Run{Benchmarks: []results.Benchmark{res}})
	if v.Failed() {
		t.Errorf("a page that never loaded failed budgets instead of being not measured:\n%s", verdictText(v))
	}

	r = measure(t, hanging.URL+"/", func(o *Options) { o.Timeout = 1500 * time.Millisecond })
	if run := r.Runs[0]; !strings.Contains(run.Error, "timed out after 1.5s") {
		t.Errorf("hanging page: %+v", run)
	}
}

func TestMeasureErrors(t *testing.T) {
	b := testBrowser(t)
	for _, u := range []string{"file:///etc/passwd", "localhost:80", "http://", ":"} {
		if _, err := b.Measure(context.Background(), u); err == nil || !strings.Contains(err.Error(), "http or https") {
			t.Errorf("Measure(%q) = %v", u, err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><p>hi</p>`)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := b.Measure(ctx, srv.URL)
	if !errors.Is(err, context.Canceled) || r == nil || len(r.Runs) != 1 || r.Runs[0].Error == "" {
		t.Errorf("cancelled: %v, %+v", err, r)
	}
}

func TestLaunchAndClose(t *testing.T) {
	testBrowser(t) // skips or fails without a browser
	if _, err := Launch(context.Background(), Options{Runs: -1}); err == nil || !strings.Contains(err.Error(), "runs -1") {
		t.Errorf("bad options: %v", err)
	}
	if _, err := Launch(context.Background(), Options{ChromePath: "/nonexistent/chrome"}); !errors.Is(err, ErrNoBrowser) || !strings.Contains(err.Error(), "--chrome /nonexistent/chrome") {
		t.Errorf("bad --chrome: %v", err)
	}
	b, err := Launch(context.Background(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Version(), "Chrome") || b.Path() == "" {
		t.Errorf("version %q path %q", b.Version(), b.Path())
	}
	dir := b.dir
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("profile dir %s left behind: %v", dir, err)
	}
	if err := b.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := b.Measure(context.Background(), "http://127.0.0.1/"); !errors.Is(err, ErrClosed) {
		t.Errorf("Measure after Close: %v", err)
	}
}
