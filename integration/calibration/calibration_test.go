package calibration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pairs returns K, the pairs per case, from PERFAGENT_CALIBRATE; the
// calibration is skipped without it (it takes minutes, and its figures are
// the point, not a pass/fail).
func pairs(t *testing.T) int {
	t.Helper()
	v := os.Getenv("PERFAGENT_CALIBRATE")
	if v == "" {
		t.Skip("set PERFAGENT_CALIBRATE=K to run K pairs per case (see doc.go)")
	}
	k, err := strconv.Atoi(v)
	if err != nil || k < 1 {
		t.Fatalf("PERFAGENT_CALIBRATE=%q: want a positive count of pairs", v)
	}
	return k
}

// root is the repository root (the main module).
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// buildPerfagent builds cmd/perfagent, with extra work per operation in the
// system suite when work > 0 (a known-slower build), into dir.
func buildPerfagent(t *testing.T, dir string, work float64) string {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("perfagent-%g", work))
	args := []string{"build", "-o", out}
	if work > 0 {
		args = append(args, "-ldflags", fmt.Sprintf("-X github.com/perfagent/perfagent/bench/system.calibrationWork=%g", work))
	}
	cmd := exec.Command("go", append(args, "./cmd/perfagent")...)
	cmd.Dir = root(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// exitCode runs a command in dir and returns its exit code; codes other
// than 0 and 1 (a usage or run error) fail the test. The regressions of a
// failed gate are logged.
func exitCode(t *testing.T, dir string, name string, args ...string) int {
	t.Helper()
	code, out := run(t, dir, name, args...)
	if code == 1 {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "regression") && !strings.HasPrefix(l, "gate:") {
				t.Logf("%s: %s", filepath.Base(name), strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return code
}

// run runs a command in dir and returns its exit code and output.
func run(t *testing.T, dir string, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CI=1")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		code = ee.ExitCode()
	}
	if code > 1 {
		t.Fatalf("%s %v: exit %d\n%s", name, args, code, out)
	}
	return code, string(out)
}

// tally counts the failures of a case.
type tally struct {
	name          string
	failed, pairs int
}

func (c tally) String() string {
	return fmt.Sprintf("%-28s gate failed in %2d of %2d pairs (%.0f%%)", c.name, c.failed, c.pairs, 100*float64(c.failed)/float64(c.pairs))
}

// report logs the table and writes it to $PERFAGENT_CALIBRATE_OUT when set.
func report(t *testing.T, title string, cases []tally, elapsed time.Duration) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, load average %s)\n", title, elapsed.Round(time.Second), loadavg())
	for _, c := range cases {
		fmt.Fprintln(&b, "  "+c.String())
	}
	t.Log("\n" + b.String())
	if p := os.Getenv("PERFAGENT_CALIBRATE_OUT"); p != "" {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			f.WriteString(b.String())
			f.Close()
		}
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// TestSystemSuiteGate runs the system suite through the CLI as a user
// would: bench, baseline, bench (same session, separate processes), K times
// per case: an unchanged build (A/A), and builds whose batched benchmarks do
// 5% and 10% more work per operation. Set PERFAGENT_CALIBRATE_MODE=full for
// the full suite instead of --quick.
func TestSystemSuiteGate(t *testing.T) {
	k := pairs(t)
	bin := t.TempDir()
	a, b5, b10 := buildPerfagent(t, bin, 0), buildPerfagent(t, bin, 0.05), buildPerfagent(t, bin, 0.10)
	mode := []string{"--quick"}
	if os.Getenv("PERFAGENT_CALIBRATE_MODE") == "full" {
		mode = nil
	}
	cases := []struct {
		name string
		bin  string
	}{{"A/A unchanged", a}, {"A/B 5% more work", b5}, {"A/B 10% more work", b10}}
	tallies := make([]tally, len(cases))
	start := time.Now()
	for i := range k {
		for j, c := range cases {
			dir := t.TempDir()
			args := append([]string{"bench", "system", "--no-baseline"}, mode...)
			exitCode(t, dir, a, args...)
			exitCode(t, dir, a, "baseline")
			code := exitCode(t, dir, c.bin, append([]string{"bench", "system"}, mode...)...)
			tallies[j].name, tallies[j].pairs = c.name, i+1
			tallies[j].failed += code
		}
	}
	report(t, fmt.Sprintf("system suite %v through the CLI (bench, baseline, bench), K=%d", mode, k), tallies, time.Since(start))
}

// TestGoTestCompare runs a generated module's benchmark with `go test
// -bench -count 10` twice, one run after the other (the old and new files a
// user compares), and compares them with `perfagent compare`, K times per
// case: unchanged, 5% and 10% more work per operation.
func TestGoTestCompare(t *testing.T) {
	k := pairs(t)
	bin := t.TempDir()
	pa := buildPerfagent(t, bin, 0)
	tests := map[float64]string{}
	for _, extra := range []float64{0, 0.05, 0.10} {
		tests[extra] = buildWorkTest(t, bin, extra)
	}
	cases := []struct {
		name  string
		extra float64
	}{{"A/A unchanged", 0}, {"A/B 5% more work", 0.05}, {"A/B 10% more work", 0.10}}
	tallies := make([]tally, len(cases))
	start := time.Now()
	for i := range k {
		for j, c := range cases {
			dir := t.TempDir()
			oldF, newF := filepath.Join(dir, "old.txt"), filepath.Join(dir, "new.txt")
			runWorkTest(t, tests[0], oldF)
			runWorkTest(t, tests[c.extra], newF)
			code := exitCode(t, dir, pa, "compare", oldF, newF)
			tallies[j].name, tallies[j].pairs = c.name, i+1
			tallies[j].failed += code
		}
	}
	report(t, fmt.Sprintf("perfagent compare on go test -bench -count 10 output, K=%d", k), tallies, time.Since(start))
}

// workModule is a module whose benchmarks do a fixed amount of work per
// operation, scaled by Extra (generated per build).
const workModule = `package work

import (
	"crypto/sha256"
	"testing"
)

var sink byte

func work(n int) {
	var buf [256]byte
	for i := 0; i < n; i++ {
		s := sha256.Sum256(buf[:])
		buf[0] ^= s[0]
	}
	sink ^= buf[0]
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		work(units)
	}
}

func BenchmarkHashSmall(b *testing.B) {
	for b.Loop() {
		work(units / 10)
	}
}
`

// buildWorkTest writes the work module with 100 units of work (plus extra)
// and builds its test binary.
func buildWorkTest(t *testing.T, dir string, extra float64) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "work")
	os.MkdirAll(src, 0o755)
	units := int(100*(1+extra) + 0.5)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/work\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(src, "work_test.go"), []byte(workModule+fmt.Sprintf("\nconst units = %d\n", units)), 0o644)
	out := filepath.Join(dir, fmt.Sprintf("work-%g.test", extra))
	cmd := exec.Command("go", "test", "-c", "-o", out, ".")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, b)
	}
	return out
}

// runWorkTest runs the benchmarks as `go test -run '^$' -bench . -count 10
// -benchtime 200ms` would, into file.
func runWorkTest(t *testing.T, bin, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", ".", "-test.count", "10", "-test.benchtime", "200ms")
	cmd.Stdout = f
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
}

// TestAPISuiteGate runs the API suite through the CLI against a loopback
// server whose handler does a fixed amount of work per request, K times per
// case: unchanged, and the handler doing 10% more work (the same binary of
// perfagent; the server changes, as a service under test would).
func TestAPISuiteGate(t *testing.T) {
	k := pairs(t)
	pa := buildPerfagent(t, t.TempDir(), 0)
	var units atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		var buf [256]byte
		for range units.Load() {
			buf[0] ^= byte(len(buf) - 1)
			for i := range buf {
				buf[i] = buf[i]*31 + byte(i)
			}
		}
		fmt.Fprintf(w, "%d\n", buf[0])
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	scenario := filepath.Join(t.TempDir(), "work.yaml")
	os.WriteFile(scenario, []byte(fmt.Sprintf("name: work\nbase_url: http://%s\nendpoints:\n  - {name: work, path: /work, category: health}\n", ln.Addr())), 0o644)
	const base = 2000
	cases := []struct {
		name  string
		extra float64
	}{{"A/A unchanged", 0}, {"A/B 5% more work", 0.05}, {"A/B 10% more work", 0.10}}
	tallies := make([]tally, len(cases))
	start := time.Now()
	for i := range k {
		for j, c := range cases {
			dir := t.TempDir()
			units.Store(base)
			args := []string{"bench", "api", "--scenario", scenario, "--concurrency", "2", "--duration", "5s"}
			exitCode(t, dir, pa, append(args, "--no-baseline")...)
			exitCode(t, dir, pa, "baseline")
			units.Store(int64(base * (1 + c.extra)))
			// Note: bench api also exits 1 when the load's own targets fail;
			// the gate alone is what compare of the two runs says.
			exitCode(t, dir, pa, args...)
			code := exitCode(t, dir, pa, "compare")
			tallies[j].name, tallies[j].pairs = c.name, i+1
			tallies[j].failed += code
		}
	}
	report(t, fmt.Sprintf("API suite through the CLI (bench api, baseline, bench api; 5 s, 2 users), K=%d", k), tallies, time.Since(start))
}
