package load

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func wantFull() *Scenario {
	b := Budgets{Availability: 0.995, ErrorRate: 0.005, TimeoutRate: 0.0001}
	return &Scenario{
		Name:      "shop",
		BaseURL:   "http://127.0.0.1:8080/v1",
		Timeout:   5 * time.Second,
		Headers:   []Header{{"User-Agent", "perfagent-test"}},
		Variables: map[string]string{"user": "demo", "password": "demo"},
		Load: Load{Model: ModelOpen, Concurrency: 20, Rate: 200, RampFrom: 10, RampDuration: 5 * time.Second,
			Duration: 30 * time.Second, Requests: 10000},
		Setup: []Step{{
			Request: Request{Name: "login", Method: "POST", Path: "/auth/login",
				Headers: []Header{{"Content-Type", "application/json"}},
				Body:    `{"password":"${password}","username":"${user}"}`, ExpectStatus: []int{200}},
			Extract: []Extract{{Var: "token", JSONPointer: "/token"}, {Var: "session", Header: "X-Session"}},
		}},
		Endpoints: []Endpoint{
			{Request: Request{Name: "health", Path: "/health"},
				Targets: Targets{P50: 50 * time.Millisecond, P95: 100 * time.Millisecond, P99: 200 * time.Millisecond}},
			{Request: Request{Name: "items", Method: "GET", Path: "/api/items?limit=10",
				Headers: []Header{{"Authorization", "Bearer ${token}"}}, ExpectStatus: append([]int{200}, seq(200, 300)...)},
				Category: "api", Weight: 3,
				Targets: Targets{P50: 20 * time.Millisecond, P90: 30 * time.Millisecond, P95: 50 * time.Millisecond,
					P99: 100 * time.Millisecond, P999: 250 * time.Millisecond}},
		},
		Budgets: &b,
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestParseScenarioFull(t *testing.T) {
	for _, name := range []string{"testdata/full.yaml", "testdata/full.json"} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			s, err := LoadScenarioFile(name)
			if err != nil {
				t.Fatal(err)
			}
			want := wantFull()
			if !reflect.DeepEqual(s, want) {
				t.Errorf("got  %+v\nwant %+v", s, want)
			}
		})
	}
}

func TestParseScenarioErrors(t *testing.T) {
	const base = "base_url: http://x\nendpoints:\n  - name: a\n    path: /a\n"
	tests := []struct {
		name, file, data string
		want             []string // substrings of the error
	}{
		{"unknown top field", "s.yaml", base + "budget: {}\n", []string{"s.yaml:5:1: budget: unknown field"}},
		{"unknown endpoint field", "s.yaml", base + "    methd: GET\n", []string{"s.yaml:5:5: endpoints[0].methd: unknown field"}},
		{"duration without unit", "s.yaml", base + "timeout: 5\n", []string{"s.yaml:5:10: timeout:", `unit like "250ms"`}},
		{"bad duration", "s.yaml", base + "load: {duration: soon}\n", []string{"load.duration: want a duration"}},
		{"undefined variable", "s.yaml", base + "    headers: {Authorization: \"Bearer ${token}\"}\n",
			[]string{"s.yaml:5:30: endpoints[0].headers.Authorization: undefined variable ${token}"}},
		{"unclosed variable", "s.yaml", base + "    body: \"${x\"\n", []string{"endpoints[0].body: unclosed ${"}},
		{"bad method", "s.yaml", base + "    method: \"GE T\"\n", []string{"s.yaml:5:13: endpoints[0].method: invalid method"}},
		{"missing base_url", "s.yaml", "endpoints:\n  - name: a\n    path: /a\n", []string{"s.yaml:1:1: base_url: missing"}},
		{"no endpoints", "s.yaml", "base_url: http://x\n", []string{"endpoints: no endpoints"}},
		{"path without slash", "s.yaml", "base_url: http://x\nendpoints:\n  - name: a\n    path: a\n", []string{"s.yaml:4:11: endpoints[0].path: must start with '/'"}},
		{"duplicate names", "s.yaml", base + "  - name: a\n    path: /b\n", []string{"endpoints[1].name: \"a\" is also the name of endpoints[0]"}},
		{"bad scheme", "s.yaml", "base_url: ftp://x\nendpoints: [{name: a, path: /}]\n", []string{"s.yaml:1:11: base_url: scheme must be http or https"}},
		{"open without rate", "s.yaml", base + "load: {model: open}\n", nil},
		{"closed with rate", "s.yaml", base + "load: {model: closed, rate: 10}\n", []string{"load.rate: the closed model takes no rate"}},
		{"bad model", "s.yaml", base + "load: {model: half-open}\n", []string{`load.model: unknown model "half-open"`}},
		{"bad status", "s.yaml", base + "    expect_status: 700\n", []string{"endpoints[0].expect_status: not an HTTP status code"}},
		{"bad weight", "s.yaml", base + "    weight: 0\n", []string{"endpoints[0].weight: must be between 1"}},
		{"bad budget", "s.yaml", base + "budgets: {error_rate: 5}\n", []string{"budgets.error_rate: fraction \"5\" is over 1"}},
		{"extract both", "s.yaml", "base_url: http://x\nsetup:\n  - name: l\n    path: /l\n    extract: {t: {json: /t, header: X}}\nendpoints: [{name: a, path: /}]\n",
			[]string{"setup[0].extract[0]: set either json"}},
		{"reserved header", "s.yaml", base + "    headers: {Host: other}\n", []string{"endpoints[0].headers.Host: set by the client"}},
		{"yaml syntax", "s.yaml", "base_url: [\n", []string{"s.yaml:", "invalid YAML"}},
		{"not a mapping", "s.yaml", "- a\n", []string{"s.yaml:1:1: want a mapping"}},
		{"empty", "s.yaml", "", []string{"s.yaml: empty file"}},
		{"json syntax", "s.json", "{\n  \"base_url\": \"http://x\",\n  \"endpoints\": [}\n", []string{"s.json:3:", "invalid JSON"}},
		{"json truncated", "s.json", "{\"base_url\": ", []string{"s.json:1:", "invalid JSON"}},
		{"json wrong type", "s.json", "{\"base_url\": \"http://x\", \"endpoints\": [{\"name\": \"a\", \"path\": \"/\", \"weight\": \"x\"}]}",
			[]string{"s.json:1:77: endpoints[0].weight: want a whole number"}},
		{"json trailing", "s.json", "{\"base_url\": \"http://x\"} {}", []string{"s.json:1:", "unexpected data after"}},
		{"several", "s.yaml", "base_url: ftp://x\nendpoints:\n  - name: a\n    path: a\n", []string{"base_url: scheme", "endpoints[0].path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseScenario(tt.file, []byte(tt.data))
			if tt.want == nil {
				// valid file, invalid run: Run must catch it
				if err != nil {
					t.Fatalf("ParseScenario: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error for %q, got %+v", tt.data, s)
			}
			var se *ScenarioError
			if !errors.As(err, &se) {
				t.Errorf("error %v is not a *ScenarioError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadScenarioFileErrors(t *testing.T) {
	if _, err := LoadScenarioFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxScenarioBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadScenarioFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

func TestValidateGoScenario(t *testing.T) {
	s := &Scenario{BaseURL: "http://x", Endpoints: []Endpoint{{Request: Request{Name: "a", Path: "/${nope}"}}}}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "scenario endpoints[0].path: undefined variable ${nope}") {
		t.Errorf("Validate = %v", err)
	}
	if err := DefaultScenario("http://127.0.0.1:1").Validate(); err != nil {
		t.Errorf("default scenario: %v", err)
	}
}

func TestInferCategory(t *testing.T) {
	for path, want := range map[string]string{
		"/health": "health", "/healthz": "health", "/ready": "health", "/auth/login": "authentication",
		"/login": "authentication", "/metrics": "metrics", "/api/items": "api", "/": "api",
	} {
		if got := inferCategory(path); got != want {
			t.Errorf("inferCategory(%q) = %q, want %q", path, got, want)
		}
	}
}

func FuzzParseScenario(f *testing.F) {
	for _, name := range []string{"testdata/full.yaml", "testdata/full.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(name), b)
	}
	f.Add("a.yaml", []byte("base_url: http://x\nendpoints: [{name: a, path: /}]\n"))
	f.Add("a.yaml", []byte("a: &x [*x]\n"))
	f.Add("a.json", []byte(`{"endpoints": [{"name": "a", "path": "/", "body": {"k": [1, 2.5, null, true]}}]}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		s, err := ParseScenario(name, data)
		if err != nil {
			var se *ScenarioError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *ScenarioError", err)
			}
			if s != nil {
				t.Fatal("scenario returned with an error")
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed scenario does not validate: %v", err)
		}
	})
}
