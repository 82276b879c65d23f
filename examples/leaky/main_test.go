package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/leak"
)

// TestLeakyIsReported runs the example with short detector windows and a
// fast leak: the report must name the leaking method.
func TestLeakyIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 20s")
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-out", dir, "-fast", "-rate", "30MiB/min", "-duration", "20s"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "memory", "leak-*.json"))
	if len(paths) == 0 {
		t.Fatalf("no leak report; log:\n%s", errb.String())
	}
	f, _ := os.Open(paths[0])
	defer f.Close()
	r, err := leak.ReadReport(f, paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != leak.KindHeap || len(r.Sites) == 0 || !strings.Contains(r.Sites[0].Function, "rememberSession") {
		t.Errorf("report names %v (notes %v)", r.Sites, r.Notes)
	}
	if !strings.Contains(errb.String(), "level=WARN") || !strings.Contains(errb.String(), "rememberSession") {
		t.Errorf("no warning naming the site in the log")
	}
	if charts, _ := filepath.Glob(filepath.Join(dir, "memory", "memory-chart-*.svg")); len(charts) == 0 {
		t.Error("no chart")
	}
}

func TestLeakyHealthyAndFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-out", t.TempDir(), "-leak=false", "-duration", "300ms"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "not leaking") {
		t.Errorf("output: %s", out.String())
	}
	if code := run([]string{"-rate", "fast"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "-rate") {
		t.Errorf("bad rate: exit %d, %s", code, errb.String())
	}
	if r, err := parseRate("512KiB/min"); err != nil || r != 512<<10 {
		t.Errorf("parseRate = %v, %v", r, err)
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
