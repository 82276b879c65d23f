package calibration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// abRepo makes a git repository holding the work module at 100 units of
// work per operation (HEAD) and returns it.
func abRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=calibration", "-c", "user.email=c@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "--quiet")
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/work\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "work_test.go"), []byte(workModule), 0o644)
	setUnits(t, dir, 0)
	git("add", ".")
	git("commit", "--quiet", "-m", "100 units of work per operation")
	return dir
}

// setUnits makes the working tree do 100 units of work per operation plus
// extra (0.05: 5% more).
func setUnits(t *testing.T, dir string, extra float64) {
	t.Helper()
	src := fmt.Sprintf("package work\n\nconst units = %d\n", int(100*(1+extra)+0.5))
	if err := os.WriteFile(filepath.Join(dir, "units.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// abBenchtime is the -benchtime of both the A/B runs and the go test
// -count 10 run they are timed against.
const abBenchtime = "200ms"

// TestABMode runs the same-session A/B mode through the CLI (perfagent
// bench --against HEAD -- go test ...) on the work module, K times per
// case: the working tree unchanged (A/A), and doing 5% and 10% more work per
// operation (an uncommitted change, as in a pull request). It reports how
// often the gate failed, and the wall time of one A/B session beside that of
// one `go test -count 10` of the same benchmarks (which a comparison of two
// such files needs twice).
func TestABMode(t *testing.T) {
	k := pairs(t)
	pa := buildPerfagent(t, t.TempDir(), 0)
	dir := abRepo(t)
	out := t.TempDir()
	args := []string{"bench", "--against", "HEAD", "--out", out, "--", "go", "test", "-run", "^$", "-bench", ".", "-benchtime", abBenchtime, "."}
	cases := []struct {
		name  string
		extra float64
	}{{"A/A unchanged", 0}, {"A/B 5% more work", 0.05}, {"A/B 10% more work", 0.10}}
	tallies := make([]tally, len(cases))
	var abTime time.Duration
	start := time.Now()
	for i := range k {
		for j, c := range cases {
			setUnits(t, dir, c.extra)
			t0 := time.Now()
			code := exitCode(t, dir, pa, args...)
			abTime += time.Since(t0)
			tallies[j].name, tallies[j].pairs = c.name, i+1
			tallies[j].failed += code
		}
	}
	elapsed := time.Since(start)

	// One go test -count 10 of the same benchmarks, for the time it takes.
	setUnits(t, dir, 0)
	t0 := time.Now()
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchtime", abBenchtime, "-count", "10", ".")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -count 10: %v\n%s", err, b)
	}
	goTest := time.Since(t0)
	report(t, fmt.Sprintf("A/B mode through the CLI (bench --against HEAD, 10 runs per side, -benchtime %s), K=%d; one A/B session %s, one go test -count 10 %s",
		abBenchtime, k, (abTime/time.Duration(k*len(cases))).Round(100*time.Millisecond), goTest.Round(100*time.Millisecond)), tallies, elapsed)
}
