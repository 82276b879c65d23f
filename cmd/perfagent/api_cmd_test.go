package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/results"
)

func TestBenchAPIBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--rate", "NaN"}, "--rate"},
		{[]string{"--rate", "Inf"}, "--rate"},
		{[]string{"--rate", "-Inf"}, "--rate"},
		{[]string{"--rate", "1e308"}, "--rate"},
		{[]string{"--rate", "-1"}, "--rate"},
		{[]string{"--rate", "0"}, "--rate"},
		{[]string{"--rate", "fast"}, "--rate"},
		{[]string{"--rate", "10", "--ramp-from", "NaN", "--ramp", "1s"}, "--ramp-from"},
		{[]string{"--concurrency", "1e8"}, "--concurrency"},
		{[]string{"--concurrency", "100000000"}, "--concurrency"},
		{[]string{"--concurrency", "0"}, "--concurrency"},
		{[]string{"--concurrency", "-1"}, "--concurrency"},
		{[]string{"--concurrency", "2.5"}, "--concurrency"},
		{[]string{"--duration", "0"}, "--duration"},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--duration", "100000h"}, "--duration"},
		{[]string{"--timeout", "0s"}, "--timeout"},
		{[]string{"--timeout", "-5s"}, "--timeout"},
		{[]string{"--requests", "0"}, "--requests"},
		{[]string{"--requests", "-3"}, "--requests"},
		{[]string{"--rounds", "0"}, "--rounds"},
		{[]string{"--rounds", "1001"}, "--rounds"},
		{[]string{"--duration", "1s", "--rounds", "500"}, "--rounds"},
		{[]string{"--requests", "5", "--rounds", "10"}, "--rounds"},
		{[]string{"--rate", "10", "--duration", "1s", "--ramp", "2s"}, "--ramp"},
		{[]string{"--ramp", "1s"}, "--ramp"},
	} {
		args := append([]string{"bench", "api", "--out", t.TempDir()}, tc.args...)
		code, out, errb := cli(t, nil, args...)
		lines := strings.Split(strings.TrimRight(errb, "\n"), "\n")
		if code != exitUsage || len(lines) != 1 || !strings.Contains(errb, tc.flag) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line naming %s", tc.args, code, errb, tc.flag)
		}
		if out != "" {
			t.Errorf("%v: printed %q on stdout", tc.args, out)
		}
	}
}

// closedURL returns an http URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func latestRun(t *testing.T, root string) *results.Run {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "benchmarks", "benchmark-*.json"))
	if len(files) != 1 {
		t.Fatalf("result files %v", files)
	}
	return readJSON(t, files[0])
}

func TestBenchAPIClosedPortFailsCheck(t *testing.T) {
	// A scenario without setup: every measured request is refused.
	dir := t.TempDir()
	scen := filepath.Join(dir, "api.yaml")
	if err := os.WriteFile(scen, []byte("name: closed\nbase_url: http://127.0.0.1:9\nendpoints:\n  - name: health\n    path: /health\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "perf")
	code, out, errb := cli(t, nil, "bench", "api", "--out", root, "--url", closedURL(t), "--scenario", scen, "--duration", "300ms", "--concurrency", "2")
	if code != exitFailed {
		t.Fatalf("bench against a closed port: exit %d, want 1\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out, "connect-refused") {
		t.Errorf("summary does not count the refusals by kind:\n%s", out)
	}
	res := latestRun(t, root)
	b := res.Benchmarks[0]
	if m := b.MetricByUnit(results.UnitAvailable); m == nil || m.Value != 0 {
		t.Errorf("availability %+v, want 0", m)
	}
	if m := b.MetricByUnit(results.UnitErrorRate); m == nil || m.Value != 1 {
		t.Errorf("error rate %+v, want 1", m)
	}
	code, out, errb = cli(t, nil, "check", "--out", root)
	if code != exitFailed || !strings.Contains(out+errb, "availability") {
		t.Errorf("check of a run that reached nothing: exit %d, want 1\n%s\n%s", code, out, errb)
	}

	// The default scenario's login fails first: nothing was measured, and
	// nothing passes.
	root2 := filepath.Join(dir, "perf2")
	code, out, errb = cli(t, nil, "bench", "api", "--out", root2, "--url", closedURL(t), "--duration", "300ms")
	if code != exitRunError || !strings.Contains(errb, "connect-refused") {
		t.Fatalf("bench with a failing setup: exit %d, want 3\n%s\n%s", code, out, errb)
	}
	for _, b := range latestRun(t, root2).Benchmarks {
		if m := b.MetricByUnit(results.UnitAvailable); m != nil && m.Value != 0 {
			t.Errorf("%s: availability %v from a target that answered nothing", b.Name, m.Value)
		}
	}
	if code, out, errb = cli(t, nil, "check", "--out", root2); code != exitFailed {
		t.Errorf("check: exit %d, want 1\n%s\n%s", code, out, errb)
	}
}

func TestBenchAPIRoundsAndJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	dir := t.TempDir()
	scen := filepath.Join(dir, "api.yaml")
	if err := os.WriteFile(scen, []byte("name: t\nbase_url: http://127.0.0.1:9\nendpoints:\n  - name: a\n    path: /a\n  - name: b\n    path: /b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errb := cli(t, nil, "bench", "api", "--out", filepath.Join(dir, "perf"), "--url", srv.URL, "--scenario", scen,
		"--quick", "--duration", "800ms", "--concurrency", "2", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var doc struct {
		Results *results.Run `json:"results"`
	}
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if dec.More() || strings.TrimSpace(out[dec.InputOffset():]) != "" {
		t.Errorf("more than one JSON document on stdout:\n%s", out)
	}
	if !strings.Contains(errb, "API benchmark") {
		t.Errorf("the human summary should be on stderr with --json:\n%s", errb)
	}
	res := doc.Results
	if !res.Quick || res.Parameters["api.rounds"] != "8" || res.Parameters["api.duration"] != "800ms" || res.Parameters["api.concurrency"] != "2" || res.Parameters["api.model"] != "closed" {
		t.Errorf("quick %v, parameters %v", res.Quick, res.Parameters)
	}
	for _, b := range res.Benchmarks {
		// A round in which no request of the endpoint completed (the
		// machine stalled the process for a whole 100 ms round) has no
		// median and no sample; every request is still in per_op.
		if len(b.Samples) < 6 || len(b.Samples) > 8 || b.PerOp == nil || b.PerOp.N != b.Iterations {
			t.Errorf("%s: %d samples, per-op %+v, %d requests; want 8 rounds and every request", b.Name, len(b.Samples), b.PerOp, b.Iterations)
		}
		if m := b.MetricByUnit(results.UnitReqPerSec); m == nil || len(m.Samples) != 8 {
			t.Errorf("%s: req/s %+v, want per-round samples", b.Name, m)
		}
	}
}
