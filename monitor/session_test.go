package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/results"
)

func TestSessionWritesFilesAndJudgesBudgets(t *testing.T) {
	t.Parallel()
	c := startChild(t)
	src, err := NewProcessSource(c.pid, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	b := budget.Default()
	b.System["memory-peak"] = budget.Limit{Value: 1, Source: "test"} // one byte: fails
	var pushed *results.Run
	s, err := RunSession(context.Background(), src, SessionOptions{
		Options: fast(500 * time.Millisecond), Dir: filepath.Join(dir, "monitoring"), ResultsDir: filepath.Join(dir, "benchmarks"),
		Budgets: b, Push: func(_ context.Context, r *results.Run) error { pushed = r; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, why := s.Outcome(); got != OutcomeBreached || !strings.Contains(why, "system budget(s) failed") {
		t.Errorf("outcome %v %q, want a failed budget", got, why)
	}
	if s.Budgets == nil || !s.Budgets.Failed() || pushed == nil {
		t.Errorf("budgets %+v pushed %v", s.Budgets, pushed != nil)
	}
	for _, p := range append([]string{s.Files.History, s.Files.Report, s.Files.Results}, s.Files.Charts...) {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(strings.TrimSuffix(s.Files.Results, ".json") + ".txt"); err != nil {
		t.Error(err)
	}
	res, err := results.ReadFile(s.Files.Results)
	if err != nil || len(res.Benchmarks) == 0 {
		t.Fatalf("results %v: %v", res, err)
	}
	// The session encodes as the command's --json document.
	js, err := json.Marshal(s)
	if err != nil || !strings.Contains(string(js), `"files":{"history":`) {
		t.Errorf("json %s: %v", js, err)
	}
}

func TestSessionKeepsWhatWasMeasuredWhenFilesFail(t *testing.T) {
	t.Parallel()
	c := startChild(t)
	src, err := NewProcessSource(c.pid, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// A file where the directory should be: nothing can be written.
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := RunSession(context.Background(), src, SessionOptions{
		Options: fast(300 * time.Millisecond), Dir: blocked,
		Push: func(context.Context, *results.Run) error { return errors.New("collector down") },
	})
	if err != nil {
		t.Fatal(err)
	}
	got, why := s.Outcome()
	if got != OutcomeWriteFailed || !strings.Contains(why, "collector down") || !strings.Contains(why, blocked) {
		t.Errorf("outcome %v %q", got, why)
	}
	if s.History == nil || s.History.Readings < 2 || s.Files.History != "" {
		t.Errorf("history %+v files %+v", s.History, s.Files)
	}
}
