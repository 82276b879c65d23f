package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestQuickstartRuns(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-duration", "300ms"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"service:  http://127.0.0.1:", "metrics:  http://127.0.0.1:", "/metrics"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestQuickstartBadFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-addr", "not-an-address"}, &out, &errb); code != 1 {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(errb.String(), "-addr") {
		t.Errorf("error does not name the flag: %s", errb.String())
	}
}
