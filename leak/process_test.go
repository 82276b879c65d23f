package leak

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/snapshot"
)

// Real processes: small programs under testdata/, built once per test
// binary and run as children with a small GOGC so GC cycles come quickly.

var (
	childDir  string
	childMu   sync.Mutex
	childBins = map[string]string{}
)

// buildChild builds ./testdata/<pkg> with the extra environment and
// returns the binary's path.
func buildChild(t *testing.T, pkg string, env ...string) string {
	t.Helper()
	key := pkg + strings.Join(env, " ")
	childMu.Lock()
	defer childMu.Unlock()
	if bin, ok := childBins[key]; ok {
		return bin
	}
	if childDir == "" {
		var err error
		if childDir, err = os.MkdirTemp("", "leak-children"); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(childDir, fmt.Sprintf("%s-%d", pkg, len(childBins)))
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/"+pkg)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	childBins[key] = bin
	return bin
}

// waitReport polls dir/memory for the first leaking report of kind.
func waitReport(t *testing.T, dir, kind string, within time.Duration, stderr *syncBuf) *Report {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		paths, _ := filepath.Glob(filepath.Join(dir, "memory", "leak-*.json"))
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				continue // evicted meanwhile
			}
			r, err := ReadReport(f, p)
			f.Close()
			if err != nil {
				t.Fatalf("report %s does not parse: %v", p, err)
			}
			if r.Kind == kind && r.Status == StatusLeaking {
				return r
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s leak report within %v; child's log:\n%s", kind, within, stderr.String())
	return nil
}

// runChild starts bin with args under GOGC=20 and returns a function that
// interrupts it and waits for a clean exit.
func runChild(t *testing.T, bin string, args ...string) (stop func(), stderr *syncBuf) {
	t.Helper()
	stderr = &syncBuf{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GOGC=20")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(os.Interrupt)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("child exited with %v; log:\n%s", err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("child did not shut down within 20s")
			}
		})
	}
	t.Cleanup(stop)
	return stop, stderr
}

func parseProfileFile(t *testing.T, path string) *profile.Profile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	p, err := profile.ParseData(b)
	if err != nil {
		t.Fatalf("profile %s: %v", path, err)
	}
	return p
}

// checkQuota asserts that each output directory holds at most maxFiles of
// the store's files.
func checkQuota(t *testing.T, dir string, maxFiles int) {
	t.Helper()
	for _, sub := range []string{"memory", "monitoring", "profiles"} {
		s, _ := snapshot.OpenStore(filepath.Join(dir, sub), snapshot.StoreOptions{})
		files, err := s.Files()
		if err != nil {
			t.Fatal(err)
		}
		if len(files) > maxFiles {
			t.Errorf("%s holds %d files, quota %d", sub, len(files), maxFiles)
		}
	}
}

func TestProcessHeapLeakThroughMap(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	t.Parallel()
	bin := buildChild(t, "leaky")
	dir := t.TempDir()
	stop, stderr := runChild(t, bin, "-mode", "map", "-out", dir, "-max-files", "30")
	r := waitReport(t, dir, KindHeap, 40*time.Second, stderr)
	if len(r.Sites) == 0 || r.Sites[0].Function != "main.leakMap" || !strings.HasSuffix(r.Sites[0].File, "testdata/leaky/main.go") {
		t.Fatalf("top site %v, want main.leakMap (notes %v)", r.Sites, r.Notes)
	}
	if r.Sites[0].Bytes <= 0 || r.Sites[0].Objects <= 0 || r.Evidence.Slope <= 0 {
		t.Errorf("site %+v, slope %v", r.Sites[0], r.Evidence.Slope)
	}
	parseProfileFile(t, r.Files.BaselineProfile)
	parseProfileFile(t, r.Files.Profile)
	csv, err := os.ReadFile(r.Files.ChartCSV)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadCSV(bytes.NewReader(csv))
	if err != nil || len(rows) < 10 {
		t.Fatalf("chart: %v, %d rows", err, len(rows))
	}
	for i := 1; i < len(rows); i++ {
		if !rows[i].Time.After(rows[i-1].Time) {
			t.Fatalf("chart time does not increase at row %d: %v then %v", i, rows[i-1].Time, rows[i].Time)
		}
	}
	if rows[len(rows)-1].HeapLive <= rows[0].HeapLive {
		t.Errorf("chart shows no growth: %d → %d", rows[0].HeapLive, rows[len(rows)-1].HeapLive)
	}
	time.Sleep(2 * time.Second) // re-alerts every 0.5s: the quota must evict
	stop()
	checkQuota(t, dir, 30)
	// The pinned baseline survives eviction.
	if _, err := os.Stat(r.Files.BaselineProfile); err != nil {
		t.Errorf("baseline evicted: %v", err)
	}
	// Shutdown wrote the history.
	if files, _ := filepath.Glob(filepath.Join(dir, "monitoring", "metrics-history-*.json")); len(files) == 0 {
		t.Error("no history file after shutdown")
	}
}

func TestProcessGoroutineLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	t.Parallel()
	bin := buildChild(t, "leaky")
	for _, mode := range []string{"unreachable", "reachable"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			stop, stderr := runChild(t, bin, "-mode", mode, "-out", dir)
			r := waitReport(t, dir, KindGoroutine, 40*time.Second, stderr)
			stop()
			if len(r.Goroutines) == 0 {
				t.Fatalf("no goroutine groups (notes %v)", r.Notes)
			}
			g := r.Goroutines[0]
			spawn, block := "main.spawnUnreachable", "main.blockUnreachable"
			if mode == "reachable" {
				spawn, block = "main.spawnReachable", "main.blockReachable"
			}
			if !strings.HasPrefix(g.CreatedBy, spawn+" ") || !strings.HasPrefix(g.WaitingIn, block+" ") || g.State != "chan receive" || g.Gained < 20 {
				t.Errorf("top group %+v, want created by %s, waiting in %s", g, spawn, block)
			}
			// This binary lacks the goroutineleak profile: the report says
			// so instead of failing.
			if r.Leaked == nil || r.Leaked.Available {
				t.Errorf("leaked %+v, want available=false", r.Leaked)
			}
			parseProfileFile(t, r.Files.Profile)
			checkQuota(t, dir, 30)
		})
	}
}

// TestProcessGoroutineLeakProfile runs a child built with
// GOEXPERIMENT=goroutineleakprofile: goroutines blocked on unreachable
// channels are proved leaked by the runtime; those blocked on a reachable
// channel are not (the growth of their creation site finds them).
func TestProcessGoroutineLeakProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the standard library with a GOEXPERIMENT")
	}
	t.Parallel()
	bin := buildChild(t, "goleakexp", "GOEXPERIMENT=goroutineleakprofile")
	for _, mode := range []string{"unreachable", "reachable"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out, err := exec.Command(bin, "-mode", mode, "-out", dir).Output()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			f, err := os.Open(strings.TrimSpace(string(out)))
			if err != nil {
				t.Fatal(err)
			}
			r, err := ReadReport(f, "")
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if r.Leaked == nil || !r.Leaked.Available {
				t.Fatalf("leaked %+v, want the profile available", r.Leaked)
			}
			parseProfileFile(t, r.Leaked.Profile)
			switch mode {
			case "unreachable":
				if r.Leaked.Count < 20 || len(r.Leaked.Groups) == 0 || !strings.HasPrefix(r.Leaked.Groups[0].WaitingIn, "main.blockUnreachable ") {
					t.Errorf("leaked %+v", r.Leaked)
				}
			case "reachable":
				if r.Leaked.Count != 0 {
					t.Errorf("reachable goroutines reported leaked by the runtime: %+v", r.Leaked)
				}
				if len(r.Goroutines) == 0 || !strings.HasPrefix(r.Goroutines[0].CreatedBy, "main.spawnReachable ") {
					t.Errorf("groups %+v", r.Goroutines)
				}
			}
		})
	}
}
