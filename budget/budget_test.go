package budget

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func limitsEqual(t *testing.T, field string, got, want Targets) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d limits %v, want %d %v", field, len(got), got, len(want), want)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g.Value-w.Value) > 1e-9*math.Max(1, w.Value) || g.Off != w.Off {
			t.Errorf("%s.%s = %+v, want %+v", field, k, g, w)
		}
	}
}

func TestExampleFileMatchesDefaults(t *testing.T) {
	b, err := Load(filepath.Join("..", "examples", "budgets", "budgets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if len(b.API) != len(d.API) {
		t.Errorf("api categories %d, want %d", len(b.API), len(d.API))
	}
	for cat, want := range d.API {
		limitsEqual(t, "api."+cat, b.API[cat], want)
	}
	limitsEqual(t, "system", b.System, d.System)
	limitsEqual(t, "errors", b.Errors, d.Errors)
	if len(b.Page) != 1 {
		t.Fatalf("page entries %d, want 1", len(b.Page))
	}
	limitsEqual(t, "page.resource-sizes", b.Page[0].Sizes, d.Page[0].Sizes)
	limitsEqual(t, "page.timings", b.Page[0].Timings, d.Page[0].Timings)
	if got := b.API["health"]["p95"].Source; !strings.HasSuffix(got, "budgets.yaml:12") {
		t.Errorf("health p95 source = %q, want the file and line 12", got)
	}
}

func TestLighthouseExampleMatchesDefaultPage(t *testing.T) {
	b, err := Load(filepath.Join("..", "examples", "budgets", "budget.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !b.PageLastMatch || len(b.Page) != 1 || b.Page[0].Path != "/*" {
		t.Fatalf("page = %+v, last match %v", b.Page, b.PageLastMatch)
	}
	d := Default().Page[0]
	limitsEqual(t, "sizes", b.Page[0].Sizes, d.Sizes)
	want := Targets{}
	for k, l := range d.Timings {
		if k != "ttfb" { // Lighthouse has no TTFB budget
			want[k] = l
		}
	}
	limitsEqual(t, "timings", b.Page[0].Timings, want)
	limitsEqual(t, "system (kept default)", b.System, Default().System)
}

func TestParseOverlay(t *testing.T) {
	src := `
api:
  health: {p95: 80ms}
  search: {p99: 1s}
  cache: off
endpoints:
  "GET /slow": {p95: 1s, error-rate: 5%, p50: off}
system: {cpu-idle: off, memory-peak: 1GB}
errors: off
page:
  resource-counts: {third-party: 3}
  timings: {cls: 0.1, largest-contentful-paint: 2s}
  first-party-hosts: ["*.example.com"]
  paths:
    - path: /checkout*
      resource-sizes: {script: 300KiB}
      timings: {lcp: off}
`
	b, err := Parse("b.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	limitsEqual(t, "api.health", b.API["health"], Targets{"p50": {Value: 50 * ms}, "p95": {Value: 80 * ms}, "p99": {Value: 200 * ms}})
	limitsEqual(t, "api.search", b.API["search"], Targets{"p99": {Value: 1e9}})
	if _, ok := b.API["cache"]; ok {
		t.Error("api.cache: off kept the category")
	}
	limitsEqual(t, "endpoints", b.Endpoints["GET /slow"], Targets{"p95": {Value: 1e9}, "error-rate": {Value: 0.05}, "p50": {Off: true}})
	limitsEqual(t, "system", b.System, Targets{"cold-start": {Value: 3e9}, "memory-baseline": {Value: 512 << 20}, "memory-peak": {Value: 1e9}, "scheduler-lag": {Value: 50 * ms}})
	if len(b.Errors) != 0 {
		t.Errorf("errors: off left %v", b.Errors)
	}
	if len(b.Page) != 2 || b.Page[1].Path != "/checkout*" {
		t.Fatalf("page entries %+v", b.Page)
	}
	sizes, counts, timings := b.PageTargets("https://shop.example.com/checkout/pay?x=1")
	if sizes["script"].Value != 300<<10 || sizes["document"].Value != 15<<10 {
		t.Errorf("checkout sizes %v", sizes)
	}
	if counts["third-party"].Value != 3 {
		t.Errorf("counts %v", counts)
	}
	if _, ok := timings["lcp"]; ok || timings["cls"].Value != 0.1 {
		t.Errorf("checkout timings %v (lcp should be off, cls 0.1)", timings)
	}
	_, _, timings = b.PageTargets("https://shop.example.com/")
	if timings["lcp"].Value != 2e9 {
		t.Errorf("home lcp %v, want 2s", timings["lcp"])
	}
	if got := b.FirstPartyHosts("https://x/"); len(got) != 1 || got[0] != "*.example.com" {
		t.Errorf("first-party hosts %v", got)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "\n\n"} {
		b, err := Parse("e.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		limitsEqual(t, "system", b.System, Default().System)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"bad duration", "api:\n  health:\n    p95: 100\n", []string{"f.yaml:3:10: api.health.p95:", "needs a unit"}},
		{"unknown api key", "api:\n  health: {p96: 1s}\n", []string{"f.yaml:2:12: api.health.p96: unknown key", "p50, p95, p99"}},
		{"unknown top key", "sytem: {}\n", []string{"f.yaml:1:1: sytem: unknown key"}},
		{"bad size", "system:\n  memory-peak: 2 gigs\n", []string{"f.yaml:2:16: system.memory-peak:", "not a size"}},
		{"fraction over 1", "errors:\n  error-rate: 5\n", []string{"errors.error-rate", "over 1", "5%"}},
		{"percent over 100", "errors: {availability: 101%}\n", []string{"over 100%"}},
		{"negative", "system: {cold-start: -1s}\n", []string{"system.cold-start", "non-negative"}},
		{"null value", "system:\n  cold-start:\n", []string{"f.yaml:2:14: system.cold-start", "no value"}},
		{"wrong kind", "api: [1, 2]\n", []string{"f.yaml:1:6: api: want a mapping", "a list"}},
		{"duplicate", "system:\n  cold-start: 1s\n  cold-start: 2s\n", []string{"f.yaml:3:3: system.cold-start: duplicate key"}},
		{"bad path", "page:\n  paths:\n    - path: checkout\n", []string{"f.yaml:3:13: page.paths[0].path", "start with '/'"}},
		{"two stars", "page: {paths: [{path: /a*b*}]}\n", []string{"at most one '*'"}},
		{"dollar inside", "page: {paths: [{path: /a$b}]}\n", []string{"'$' may only end"}},
		{"path missing", "page:\n  paths:\n    - timings: {lcp: 1s}\n", []string{"f.yaml:3:7: page.paths[0]: a path entry needs a path"}},
		{"resource type", "page:\n  resource-sizes: {js: 1KiB}\n", []string{"page.resource-sizes.js: unknown key", "script"}},
		{"count", "page: {resource-counts: {total: 1.5}}\n", []string{"whole number"}},
		{"host", "page: {first-party-hosts: [\"a.com:80\"]}\n", []string{"page.first-party-hosts[0]", "not a host name"}},
		{"version", "version: 2\n", []string{"f.yaml:1:10: version: unsupported version"}},
		{"syntax", "api:\n  health: {p50: 1s\n", []string{"f.yaml:"}},
		{"scalar root", "42\n", []string{"f.yaml:1:1", "mapping"}},
		{"merge key", "a: &a {cold-start: 1s}\nsystem:\n  <<: *a\n", []string{"a: unknown key", "merge keys"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseLighthouseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown property", "[{\"paht\": \"/\"}]", []string{"l.json:1:3: [0].paht: unknown property"}},
		{"bad type", "[\n {\"resourceSizes\": [\n  {\"resourceType\": \"js\", \"budget\": 1}]}]", []string{"l.json:3:20: [0].resourceSizes[0].resourceType: invalid resourceType \"js\""}},
		{"string budget", "[{\"timings\": [{\"metric\": \"interactive\", \"budget\": \"5s\"}]}]", []string{"[0].timings[0].budget: want a number"}},
		{"unknown metric", "[{\"timings\": [{\"metric\": \"ttfb\", \"budget\": 1}]}]", []string{"invalid metric \"ttfb\""}},
		{"duplicate", "[{\"resourceCounts\": [{\"resourceType\": \"total\", \"budget\": 1}, {\"resourceType\": \"total\", \"budget\": 2}]}]", []string{"[0].resourceCounts[1].resourceType: duplicate entry"}},
		{"missing budget", "[{\"resourceCounts\": [{\"resourceType\": \"total\"}]}]", []string{"want both resourceType and budget"}},
		{"tolerance", "[{\"timings\": [{\"metric\": \"interactive\", \"budget\": 1, \"tolerance\": 2}]}]", []string{"tolerance: unknown property"}},
		{"option", "[{\"options\": {\"firstParty\": []}}]", []string{"[0].options.firstParty: unknown option"}},
		{"host wildcard", "[{\"options\": {\"firstPartyHostnames\": [\"a.*.com\"]}}]", []string{"wildcard"}},
		{"syntax", "[{\"path\": \"/\",}]", []string{"l.json:1:"}},
		{"truncated", "[{\"path\": \"/\"", []string{"l.json:1:", "end of JSON"}},
		{"trailing", "[] []", []string{"l.json:1:4", "after the JSON value"}},
		{"negative", "[{\"resourceSizes\": [{\"resourceType\": \"total\", \"budget\": -1}]}]", []string{"non-negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("l.json", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseLighthouseLastMatch(t *testing.T) {
	src := `[
	{"path": "/", "resourceSizes": [{"resourceType": "total", "budget": 100}], "timings": [{"metric": "cumulative-layout-shift", "budget": 0.1}]},
	{"path": "/blog$", "resourceCounts": [{"resourceType": "third-party", "budget": 2}]},
	{"path": "/shop*cart", "options": {"firstPartyHostnames": ["*.cdn.com"]}, "resourceSizes": [{"resourceType": "script", "budget": 12.5}]}
]`
	b, err := Parse("budget.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sizes, counts, timings := b.PageTargets("http://x/blog")
	if len(sizes) != 0 || counts["third-party"].Value != 2 || len(timings) != 0 {
		t.Errorf("/blog: last match should be the only budget, got %v %v %v", sizes, counts, timings)
	}
	sizes, _, timings = b.PageTargets("http://x/about")
	if sizes["total"].Value != 100*1024 || timings["cls"].Value != 0.1 {
		t.Errorf("/about: %v %v", sizes, timings)
	}
	if got := sizes["total"].Source; got != "budget.json:2" {
		t.Errorf("source %q, want budget.json:2", got)
	}
	sizes, _, _ = b.PageTargets("http://x/shop/my/cart?id=1")
	if sizes["script"].Value != 12.5*1024 {
		t.Errorf("/shop/my/cart: %v", sizes)
	}
	if h := b.FirstPartyHosts("http://x/shop/cart"); len(h) != 1 {
		t.Errorf("hosts %v", h)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "budget: ") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("system:\n  cold-start: fast\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad+":2:15: system.cold-start") {
		t.Errorf("bad file: %v", err)
	}
}

func TestAliasBomb(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n" +
		"page: {paths: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]}\n"
	_, err := Parse("bomb.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
}

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		q    Quantity
		in   string
		want float64
		err  bool
	}{
		{Duration, "50ms", 50e6, false},
		{Duration, "1.8s", 1.8e9, false},
		{Duration, "0", 0, false},
		{Duration, "50", 0, true},
		{Duration, "1h2m", 3720e9, false},
		{Bytes, "15KiB", 15360, false},
		{Bytes, "15KB", 15000, false},
		{Bytes, "15kB", 15000, false},
		{Bytes, "1.5MiB", 1572864, false},
		{Bytes, "2GiB", 2 << 30, false},
		{Bytes, "512MB", 512e6, false},
		{Bytes, "1000", 1000, false},
		{Bytes, "10.5", 0, true},
		{Bytes, "KiB", 0, true},
		{Bytes, "12 KiB", 12288, false},
		{Fraction, "0.1%", 0.001, false},
		{Fraction, "99.9%", 0.999, false},
		{Fraction, "0.05", 0.05, false},
		{Fraction, "1.5", 0, true},
		{Fraction, "-1%", 0, true},
		{Count, "12", 12, false},
		{Count, "-1", 0, true},
		{Score, "0.25", 0.25, false},
		{Score, "NaN", 0, true},
		{Score, "Inf", 0, true},
		{Score, "", 0, true},
	} {
		got, err := parseValue(tc.q, tc.in)
		if (err != nil) != tc.err || (err == nil && math.Abs(got-tc.want) > 1e-9*math.Max(1, tc.want)) {
			t.Errorf("parseValue(%v, %q) = %v, %v; want %v, error %v", tc.q, tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		q    Quantity
		v    float64
		want string
	}{
		{Duration, 132.456e6, "132ms"},
		{Duration, 1.8e9, "1.8s"},
		{Duration, 999, "999ns"},
		{Duration, 12345, "12.3µs"},
		{Bytes, 512, "512B"},
		{Bytes, 15 << 10, "15.0KiB"},
		{Bytes, 230 * 1024, "230KiB"},
		{Bytes, 1 << 20, "1.00MiB"},
		{Bytes, 2 << 30, "2.00GiB"},
		{Fraction, 0.001, "0.1%"},
		{Fraction, 0.0001, "0.01%"},
		{Fraction, 0.999, "99.9%"},
		{Count, 3, "3"},
		{Score, 0.1547, "0.1547"},
	} {
		if got := tc.q.Format(tc.v); got != tc.want {
			t.Errorf("%v.Format(%v) = %q, want %q", tc.q, tc.v, got, tc.want)
		}
	}
}

func TestMatchPath(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"", "/anything", true},
		{"/", "/", true},
		{"/", "/a?b", true},
		{"/cat", "/cats/tom", true},
		{"/cat", "/dog", false},
		{"/dog$", "/dog", true},
		{"/dog$", "/dogs", false},
		{"/vegetables*fruit", "/vegetables/apple-fruit/x", true},
		{"/vegetables*fruit", "/vegetables/apple", false},
		{"/vendor*chunk.js$", "/vendor/a/chunk.js", true},
		{"/vendor*chunk.js$", "/vendor/a/chunk.js.map", false},
		{"/*", "/x", true},
		{"/a*", "/b", false},
	} {
		if got := MatchPath(tc.pattern, tc.path); got != tc.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
	if got := urlPath("https://x.com:8080/a/b?c=1#frag"); got != "/a/b?c=1" {
		t.Errorf("urlPath = %q", got)
	}
	if got := urlPath("http://x.com"); got != "/" {
		t.Errorf("urlPath(no path) = %q", got)
	}
}
