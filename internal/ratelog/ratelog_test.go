package ratelog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute, func() time.Time { return now })
	if !l.Log("otlp", slog.LevelWarn, "export failed") {
		t.Fatal("first record suppressed")
	}
	for i := 0; i < 5; i++ {
		now = now.Add(time.Second)
		if l.Log("otlp", slog.LevelWarn, "export failed") {
			t.Fatal("record within the interval logged")
		}
	}
	if !l.Log("prometheus", slog.LevelWarn, "other key") {
		t.Fatal("other key suppressed")
	}
	now = now.Add(time.Minute)
	if !l.Log("otlp", slog.LevelWarn, "export failed") {
		t.Fatal("record after the interval suppressed")
	}
	out := buf.String()
	if strings.Count(out, "export failed") != 2 || !strings.Contains(out, "suppressed=5") {
		t.Errorf("log:\n%s", out)
	}
}

func TestLimiterBoundsKeys(t *testing.T) {
	l := New(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), time.Minute, nil)
	for i := 0; i < 1000; i++ {
		l.Log(fmt.Sprint(i), slog.LevelInfo, "x")
	}
	if len(l.keys) > maxKeys {
		t.Errorf("%d keys kept", len(l.keys))
	}
}
