package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// TestLocalRollingProfiles: profiling on, no Pyroscope server, an output
// directory: CPU, heap and goroutine profiles land in the profile store as
// files go tool pprof opens.
func TestLocalRollingProfiles(t *testing.T) {
	dir := t.TempDir()
	a := start(t, WithOutputDir(dir), WithProfiling(Profiling{Interval: 300 * time.Millisecond, CPUSlice: 150 * time.Millisecond}))
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		profiledWork(50 * time.Millisecond)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "profiles", "continuous", "*.pb.gz"))
	for _, f := range files {
		kind, _, _ := strings.Cut(filepath.Base(f), "-")
		got[kind]++
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := profile.Parse(r); err != nil {
			t.Errorf("%s does not parse: %v", f, err)
		}
		r.Close()
	}
	for _, kind := range []string{"cpu", "goroutine"} {
		if got[kind] == 0 {
			t.Errorf("no %s profile among %v", kind, files)
		}
	}
}

func TestLocalProfilingNeedsOutputDir(t *testing.T) {
	_, err := Start(context.Background(), WithHTTPAddr("127.0.0.1:0"), WithLogger(quietLogger()), WithProfiling(Profiling{}), WithOutputDir(""))
	if err == nil || !strings.Contains(err.Error(), "output directory") {
		t.Fatalf("Start = %v", err)
	}
}
