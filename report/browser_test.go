package report_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/page"
	"github.com/perfagent/perfagent/report"
)

// One headless Chromium per test binary, started on first use and stopped
// after all tests.
type browserState struct {
	once   sync.Once
	ctx    context.Context
	stop   func()
	err    error
	tmpDir string
}

var browser browserState

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.stop != nil {
		browser.stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// chromiumPath finds the browser the way `perfagent page` does
// (CHROME_PATH, then Debian's real binary, then the usual names), or "".
func chromiumPath() string {
	p, err := page.FindChrome("", nil)
	if err != nil {
		return ""
	}
	return p
}

// needBrowser returns the browser context, skipping the test when no
// browser is installed outside CI and failing it in CI.
func needBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium found and CI is set: the browser test must run (apt-get install -y chromium)")
		}
		t.Skip("no Chromium found; install it with: apt-get install -y chromium")
	}
	browser.once.Do(func() {
		tmp, err := os.MkdirTemp("", "report-chromium-")
		if err != nil {
			browser.err = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"),
			chromedp.Env("TMPDIR="+tmp))
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		browser.stop = func() {
			tctx, tcancel := context.WithTimeout(bctx, 10*time.Second)
			_ = chromedp.Cancel(tctx)
			tcancel()
			bcancel()
			acancel()
			_ = os.RemoveAll(tmp)
		}
		// The first action starts the browser; it must not carry a timeout.
		if err := chromedp.Do(bctx); err != nil {
			browser.err = fmt.Errorf("start %s: %w", path, err)
			return
		}
		browser.ctx = bctx
	})
	if browser.err != nil {
		t.Fatalf("browser: %v", browser.err)
	}
	return browser.ctx
}

// pageEvents collects what a tab reports: console errors, exceptions,
// error log entries and requests.
type pageEvents struct {
	mu       sync.Mutex
	errors   []string
	requests []string
}

func (p *pageEvents) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type == cdpruntime.ConsoleAPICalledTypeError {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			p.errors = append(p.errors, "console.error: "+strings.Join(args, " "))
		}
	case *cdpruntime.EventExceptionThrown:
		p.errors = append(p.errors, "exception: "+ev.ExceptionDetails.Text)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			p.errors = append(p.errors, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		p.requests = append(p.requests, ev.Request.URL)
	}
}

type chartBox struct {
	W     float64 `json:"w"`
	H     float64 `json:"h"`
	Marks int     `json:"marks"`
	Title string  `json:"title"`
}

// TestHTMLRendersInChromium opens the report of the fixture in headless
// Chromium: no console errors, no requests beyond the file itself, every
// chart laid out with marks in it, and pixels of the chart colours on screen.
func TestHTMLRendersInChromium(t *testing.T) {
	bctx := needBrowser(t)
	base, cur := fixture()
	cur.Partial = true
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := report.HTML(&buf, cur, bench.Compare(base, cur, bench.CompareOptions{})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	ev := &pageEvents{}
	tab, cancel := chromedp.NewContext(bctx, chromedp.WithListener(ev.listen))
	defer cancel()
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1100, 900)); err != nil {
		t.Fatal(err)
	}
	ctx, tcancel := context.WithTimeout(tab, 60*time.Second)
	defer tcancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
		t.Fatal(err)
	}
	boxes, err := chromedp.Run(ctx, chromedp.Evaluate[[]chartBox](`Array.from(document.querySelectorAll('svg.chart')).map(s => {
		const r = s.getBoundingClientRect();
		return {w: r.width, h: r.height, marks: s.querySelectorAll('rect.bar, rect.bin, polyline.series').length,
			title: s.querySelector('title').textContent};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Count(buf.String(), `<svg `); len(boxes) != want || want < len(cur.Benchmarks) {
		t.Errorf("%d charts laid out, %d in the page", len(boxes), want)
	}
	for _, b := range boxes {
		if b.W < 300 || b.H < 50 || b.Marks == 0 {
			t.Errorf("chart %q: %.0fx%.0f with %d marks", b.Title, b.W, b.H, b.Marks)
		}
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shotPath)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	// Bars and bins are drawn in these colours; the page's own CSS uses the
	// red and green only for small badges.
	for _, c := range []struct {
		name    string
		rgb     [3]uint8
		atLeast int
	}{{"primary (bins, bars)", [3]uint8{0x3b, 0x6f, 0xb6}, 20000}, {"regression", [3]uint8{0xc0, 0x39, 0x2b}, 300}, {"improvement", [3]uint8{0x2e, 0x8b, 0x57}, 300}} {
		if n := countColor(img, c.rgb); n < c.atLeast {
			t.Errorf("%d pixels of %s colour, want at least %d", n, c.name, c.atLeast)
		}
	}

	// Let late console messages arrive, then check.
	time.Sleep(200 * time.Millisecond)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.errors) > 0 {
		t.Errorf("console errors: %q", ev.errors)
	}
	for _, u := range ev.requests {
		if u != "file://"+path {
			t.Errorf("the page requested %s", u)
		}
	}
}

// countColor counts the pixels of img within a small distance of rgb.
func countColor(img image.Image, rgb [3]uint8) int {
	near := func(r, g, b uint8) bool { return near8(r, rgb[0]) && near8(g, rgb[1]) && near8(b, rgb[2]) }
	n := 0
	switch m := img.(type) {
	case *image.NRGBA: // what PNG screenshots decode to; read the bytes directly
		for i := 0; i+3 < len(m.Pix); i += 4 {
			if near(m.Pix[i], m.Pix[i+1], m.Pix[i+2]) {
				n++
			}
		}
	case *image.RGBA:
		for i := 0; i+3 < len(m.Pix); i += 4 {
			if near(m.Pix[i], m.Pix[i+1], m.Pix[i+2]) {
				n++
			}
		}
	default:
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if near(uint8(r>>8), uint8(g>>8), uint8(bl>>8)) {
					n++
				}
			}
		}
	}
	return n
}

func near8(v, want uint8) bool {
	d := int(v) - int(want)
	return d >= -6 && d <= 6
}

// TestBrowserErrorsAreCaught checks that the listener does see a console
// error, so the test above cannot pass by not listening.
func TestBrowserErrorsAreCaught(t *testing.T) {
	bctx := needBrowser(t)
	path := filepath.Join(t.TempDir(), "bad.html")
	if err := os.WriteFile(path, []byte(`<!DOCTYPE html><html><body><p>x</p><img src="missing.png"></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := &pageEvents{}
	tab, cancel := chromedp.NewContext(bctx, chromedp.WithListener(ev.listen))
	defer cancel()
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	ctx, tcancel := context.WithTimeout(tab, 30*time.Second)
	defer tcancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`console.error("boom"); null`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev.mu.Lock()
		n := len(ev.errors)
		got := slicesClone(ev.errors)
		ev.mu.Unlock()
		if n >= 2 {
			if !strings.Contains(strings.Join(got, "\n"), "boom") {
				t.Errorf("errors %q lack the console.error", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(errors.New("the listener saw " + fmt.Sprint(got) + ", want a failed load and a console.error"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }
