package page

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/results"
)

func TestInteractive(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name     string
		fcp, dcl float64
		tasks    []span
		reqs     []span
		end      float64
		tti      float64
		ok       bool
	}{
		{"quiet page", 100, 80, nil, []span{{0, 50}}, 5200, 100, true},
		{"window not yet seen", 100, 80, nil, nil, 5000, 0, false},
		{"dcl after fcp", 100, 300, nil, nil, 5200, 300, true},
		{"long task after fcp", 100, 80, []span{{200, 400}}, nil, 5500, 400, true},
		{"long task window pending", 100, 80, []span{{200, 400}}, nil, 5300, 0, false},
		{"short task ignored", 100, 80, []span{{200, 240}}, nil, 5200, 100, true},
		// As in Lighthouse, TTI is the start of the CPU quiet period: a busy
		// network delays finding the window, not the value.
		{"busy network", 100, 80, nil, []span{{0, 1000}, {0, 1000}, {0, 1000}}, 6000, 100, true},
		{"busy network window pending", 100, 80, nil, []span{{0, 1000}, {0, 1000}, {0, 1000}}, 5900, 0, false},
		{"two in flight is quiet", 100, 80, nil, []span{{0, 9000}, {0, 9000}}, 5200, 100, true},
		{"three in flight forever", 100, 80, nil, []span{{0, inf}, {0, inf}, {0, inf}}, 60000, 0, false},
		{"cpu quiet inside network quiet", 100, 80, []span{{100, 3000}}, []span{{0, 500}, {0, 500}, {0, 500}}, 8100, 3000, true},
	} {
		tti, ok := interactive(tc.fcp, tc.dcl, tc.tasks, tc.reqs, tc.end, 5000)
		if ok != tc.ok || (ok && tti != tc.tti) {
			t.Errorf("%s: interactive = %v, %v; want %v, %v", tc.name, tti, ok, tc.tti, tc.ok)
		}
	}
}

func TestNetworkQuiet(t *testing.T) {
	got := networkQuiet([]span{{10, 20}, {10, 30}, {15, 40}, {50, math.Inf(1)}}, 100)
	want := []span{{0, 15}, {20, 100}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("networkQuiet = %v, want %v", got, want)
	}
	got = cpuQuiet([]span{{300, 400}, {10, 100}, {350, 500}}, 1000)
	want = []span{{0, 10}, {100, 300}, {500, 1000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("cpuQuiet = %v, want %v", got, want)
	}
}

func TestBlockingTime(t *testing.T) {
	// Tasks of 100 ms and 30 ms; one before FCP; one clipped by TTI.
	tasks := []span{{0, 200}, {300, 400}, {500, 530}, {900, 1100}}
	if got := blockingTime(150, 1000, tasks); got != 50+50 {
		t.Errorf("blockingTime = %v, want 100 (the 100 ms task and the clipped 100 ms one)", got)
	}
}

func TestLayoutShift(t *testing.T) {
	for _, tc := range []struct {
		shifts []shift
		want   float64
	}{
		{nil, 0},
		{[]shift{{start: 100, value: 0.1}, {start: 600, value: 0.05}}, 0.15},
		{[]shift{{start: 100, value: 0.1}, {start: 2000, value: 0.05}}, 0.1},                 // 1 s gap: new window
		{[]shift{{start: 100, value: 0.1, hadInput: true}, {start: 200, value: 0.02}}, 0.02}, // input excluded
		{[]shift{{start: 0, value: 0.1}, {start: 900, value: 0.1}, {start: 1800, value: 0.1}, {start: 2700, value: 0.1}, {start: 3600, value: 0.1}, {start: 4500, value: 0.1}, {start: 5400, value: 0.1}}, 0.6}, // 5 s cap
	} {
		if got := layoutShift(tc.shifts); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("layoutShift(%v) = %v, want %v", tc.shifts, got, tc.want)
		}
	}
}

func TestThirdParty(t *testing.T) {
	p := newParty("https://www.example.co.uk/shop", []string{"*.cdn.net", "fonts.example.org"})
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://static.example.co.uk/a.js", false},
		{"https://example.co.uk:8443/a.js", false},
		{"https://other.co.uk/a.js", true},
		{"https://x.cdn.net/a.js", false},
		{"https://cdn.net/a.js", false},
		{"https://fonts.example.org/f.woff2", false},
		{"https://example.org/f.woff2", true},
		{"data:image/png;base64,AAAA", false},
	} {
		if got := p.thirdParty(tc.url); got != tc.want {
			t.Errorf("thirdParty(%s) = %v, want %v", tc.url, got, tc.want)
		}
	}
	lp := newParty("http://127.0.0.1:8080/", nil)
	if !lp.thirdParty("http://localhost:9090/x.js") || lp.thirdParty("http://127.0.0.1:9090/x.js") {
		t.Error("loopback: a different host must be third party, a different port not")
	}
}

func TestParseNetwork(t *testing.T) {
	for _, tc := range []struct {
		in                string
		latency           time.Duration
		down, up          float64
		nilResult, hasErr bool
	}{
		{in: "", nilResult: true},
		{in: "none", nilResult: true},
		{in: "slow-3g", latency: 2 * time.Second, down: 50e3, up: 50e3},
		{in: "fast-3g", latency: 562500 * time.Microsecond, down: 180e3, up: 84375},
		{in: "150ms,1.6Mbit,750kbit", latency: 150 * time.Millisecond, down: 200e3, up: 93750},
		{in: "0,8M,0", down: 1e6},
		{in: "1s,2G/s,1000", latency: time.Second, down: 250e6, up: 125},
		{in: "fast", hasErr: true},
		{in: "10ms,1,2,3", hasErr: true},
		{in: "-1ms,1,1", hasErr: true},
		{in: "1ms,-1,1", hasErr: true},
		{in: "1ms,x,1", hasErr: true},
		{in: "1ms,Inf,1", hasErr: true},
	} {
		n, err := ParseNetwork(tc.in)
		switch {
		case tc.hasErr:
			if err == nil || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParseNetwork(%q) = %+v, %v; want an error naming the value", tc.in, n, err)
			}
		case err != nil:
			t.Errorf("ParseNetwork(%q): %v", tc.in, err)
		case tc.nilResult:
			if n != nil {
				t.Errorf("ParseNetwork(%q) = %+v, want nil", tc.in, n)
			}
		case n == nil || n.Latency != tc.latency || math.Abs(n.Download-tc.down) > 1e-6 || math.Abs(n.Upload-tc.up) > 1e-6:
			t.Errorf("ParseNetwork(%q) = %+v, want %v %v %v", tc.in, n, tc.latency, tc.down, tc.up)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Runs != 5 || o.CPUSlowdown != 1 || o.Timeout != 30*time.Second || o.QuietWindow != 5*time.Second || o.Width != 1350 || o.Height != 940 {
		t.Errorf("defaults %+v", o)
	}
	for _, bad := range []Options{{Runs: -1}, {CPUSlowdown: 0.5}, {CPUSlowdown: math.NaN()}, {Width: -5}, {Timeout: -1}, {Network: &Network{Latency: -1}}} {
		if _, err := bad.withDefaults(); err == nil || !strings.HasPrefix(err.Error(), "page: ") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestFindChrome(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "chrome")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	noLook := func(string) (string, error) { return "", errors.New("not found") }

	if p, err := findChrome(exe, env(nil), nil, noLook); err != nil || p != exe {
		t.Errorf("explicit: %q %v", p, err)
	}
	if p, err := findChrome("", env(map[string]string{"CHROME_PATH": exe}), nil, noLook); err != nil || p != exe {
		t.Errorf("CHROME_PATH: %q %v", p, err)
	}
	if p, err := findChrome("", env(nil), []string{filepath.Join(dir, "missing"), exe}, noLook); err != nil || p != exe {
		t.Errorf("well-known: %q %v", p, err)
	}
	if p, err := findChrome("", env(nil), nil, func(n string) (string, error) { return "/path/" + n, nil }); err != nil || p != "/path/chromium" {
		t.Errorf("PATH: %q %v", p, err)
	}
	// An explicit choice that is wrong is an error, not a fall-through.
	_, err := findChrome(plain, env(nil), []string{exe}, noLook)
	if !errors.Is(err, ErrNoBrowser) || !strings.Contains(err.Error(), "--chrome "+plain) {
		t.Errorf("non-executable --chrome: %v", err)
	}
	_, err = findChrome("", env(map[string]string{"CHROME_PATH": dir}), []string{exe}, noLook)
	if !errors.Is(err, ErrNoBrowser) || !strings.Contains(err.Error(), "CHROME_PATH="+dir) {
		t.Errorf("directory CHROME_PATH: %v", err)
	}
	_, err = findChrome("", env(nil), []string{filepath.Join(dir, "missing")}, noLook)
	if !errors.Is(err, ErrNoBrowser) || !strings.Contains(err.Error(), "apt-get install -y chromium") {
		t.Errorf("nothing found: %v", err)
	}
}

// sampleReport is a two-run report with one failed run.
func sampleReport() *Report {
	run := func(i int, load time.Duration) Load {
		l := Load{Index: i, TTFB: 20 * time.Millisecond, FCP: 150 * time.Millisecond, LCP: 300 * time.Millisecond, TTI: 400 * time.Millisecond,
			TBTMeasured: true, TBT: 30 * time.Millisecond, CLS: 0.02, DOMContentLoaded: 200 * time.Millisecond, LoadEvent: load,
			LongTasks: []Task{{Start: 250 * time.Millisecond, Duration: 80 * time.Millisecond}}}
		for _, typ := range []string{"document", "script", "stylesheet", "image", "font", "media", "other", "third-party", "total"} {
			l.Resources = append(l.Resources, Resource{Type: typ})
		}
		add := func(u, typ string, start, end time.Duration, n int64, third bool) {
			l.Requests = append(l.Requests, Request{URL: u, Type: typ, Status: 200, Start: start, End: end, Bytes: n, ThirdParty: third})
			for _, t := range []string{typ, "total"} {
				l.Resource(t).Bytes += n
				l.Resource(t).Requests++
			}
			if third {
				l.Resource("third-party").Bytes += n
				l.Resource("third-party").Requests++
			}
		}
		add("http://h/", "document", time.Millisecond, 20*time.Millisecond, 2000, false)
		add("http://h/app.js", "script", 30*time.Millisecond, 120*time.Millisecond, 123000+int64(i), false)
		add("http://cdn.other/<x>&.png", "image", 40*time.Millisecond, 0, 5000, true)
		return l
	}
	r := &Report{Schema: ReportSchema, URL: "http://h/", Settings: Settings{Runs: 3, CPUSlowdown: 1}, Runs: []Load{
		run(1, 500*time.Millisecond), {Index: 2, Error: "load http://h/: net::ERR_CONNECTION_RESET"}, run(3, 700*time.Millisecond),
	}}
	r.Summarize()
	return r
}

func TestResult(t *testing.T) {
	r := sampleReport()
	res, err := r.Result()
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != results.KindPage || res.Unit != "ns/op" || res.Iterations != 2 || len(res.Samples) != 2 || res.Stats.Median != 600e6 {
		t.Errorf("result %+v", res)
	}
	if res.Error != "" || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "run 2: load") {
		t.Errorf("error %q warnings %q", res.Error, res.Warnings)
	}
	want := map[string]float64{"ttfb-ns": 20e6, "lcp-ns": 300e6, "tbt-ns": 30e6, "cls": 0.02, "bytes-script": 123002, "requests-third-party": 1, "bytes-total": 130002, "load-ns": 600e6}
	for unit, w := range want {
		if v, ok := metric(res, unit); !ok || v != w {
			t.Errorf("metric %s = %v (%v), want %v", unit, v, ok, w)
		}
	}
	if s, _ := r.Spread("bytes-script"); s.Min != 123001 || s.Max != 123003 || s.N != 2 {
		t.Errorf("spread %+v", s)
	}
	back, err := DecodeDetail(res.Detail)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 3 || back.Runs[0].Requests[1].Bytes != 123001 || back.Runs[1].Error == "" {
		t.Errorf("detail round trip %+v", back)
	}
	for _, bad := range []string{``, `{`, `{"schema":"other"}`, `{"schema":"perfagent.page/v1","runs":[{"requests":[{"start_ns":-1}]}]}`} {
		if _, err := DecodeDetail(json.RawMessage(bad)); err == nil || !strings.HasPrefix(err.Error(), "page: ") {
			t.Errorf("DecodeDetail(%q) = %v", bad, err)
		}
	}
}

func TestRenderSVG(t *testing.T) {
	r := sampleReport()
	var buf bytes.Buffer
	if err := RenderSVG(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// Well-formed XML, escaped text, the median run, bars for every type.
	dec := xml.NewDecoder(strings.NewReader(out))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, out)
		}
	}
	for _, w := range []string{"<svg ", "median of 2 runs", "run 1 (median load time)", "cdn.other/&lt;x&gt;&amp;.png", "120KiB, 1 req", "LCP 300ms", "third party", "unfinished"} {
		if !strings.Contains(out, w) {
			t.Errorf("svg lacks %q", w)
		}
	}
	if strings.Contains(out, "<x>") || strings.Contains(out, "<script") {
		t.Error("unescaped text in svg")
	}
	buf.Reset()
	if err := RenderSVG(&buf, &Report{URL: "http://x/", Runs: []Load{{Index: 1, Error: "boom"}}}); err != nil || !strings.Contains(buf.String(), "no successful run") {
		t.Errorf("failed report: %v %s", err, buf.String())
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b strings.Builder
	if err := sampleReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{"### http://h/", "2 of 3 runs loaded", "| LCP | 300ms | 300ms | 300ms | 2 |", "| script | 120KiB |", "| third-party | 4.88KiB |", "- run 2 failed: load http://h/: net::ERR_CONNECTION_RESET"} {
		if !strings.Contains(out, w) {
			t.Errorf("markdown lacks %q:\n%s", w, out)
		}
	}
}
