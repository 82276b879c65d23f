package ab_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/bench/ab"
	"github.com/perfagent/perfagent/results"
)

// workGo is a package whose work per operation is a loop count, so a
// slower version is slower by construction.
const workGo = `package work

import "crypto/sha256"

var sink byte

// Work hashes a buffer n times.
func Work(n int) {
	var buf [256]byte
	for i := 0; i < n; i++ {
		s := sha256.Sum256(buf[:])
		buf[0] ^= s[0]
	}
	sink ^= buf[0]
}
`

const workTestGo = `package work

import "testing"

func BenchmarkWork(b *testing.B) {
	for b.Loop() {
		Work(Units)
	}
}
`

// perfTestGo measures the same work with perfagent's runner in TestMain,
// which runs whatever -run selects (here: no test).
const perfTestGo = `package perf

import (
	"context"
	"os"
	"testing"
	"time"

	"example.com/w/work"
	"github.com/perfagent/perfagent/bench"
)

func TestMain(m *testing.M) {
	r := bench.NewRunner()
	_, err := r.Run(context.Background(), "work/runner", "work", func(context.Context) error {
		work.Work(work.Units)
		return nil
	}, bench.Options{MinDuration: 50 * time.Millisecond})
	if err != nil {
		os.Exit(1)
	}
	os.Exit(m.Run())
}
`

// gitRun runs git in dir with a fixed identity.
func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newRepo makes a git repository holding module example.com/w: package work
// with a testing.B benchmark and, with runner, package perf measuring the
// same work with perfagent's bench.Runner in a test. The first commit does
// 100 units of work per operation, the second (HEAD) units.
func newRepo(t *testing.T, units int, runner bool) string {
	t.Helper()
	dir := t.TempDir()
	gitRun(t, dir, "init", "--quiet")
	gomod := "module example.com/w\n\ngo 1.26\n"
	if runner {
		root, err := filepath.Abs("../..")
		if err != nil {
			t.Fatal(err)
		}
		gomod += "\nrequire github.com/perfagent/perfagent v0.0.0\n\nreplace github.com/perfagent/perfagent => " + root + "\n"
		sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "go.sum"), string(sum))
		writeFile(t, filepath.Join(dir, "perf", "perf_test.go"), perfTestGo)
	}
	writeFile(t, filepath.Join(dir, "go.mod"), gomod)
	writeFile(t, filepath.Join(dir, "work", "work.go"), workGo)
	writeFile(t, filepath.Join(dir, "work", "work_test.go"), workTestGo)
	writeFile(t, filepath.Join(dir, "work", "units.go"), "package work\n\n// Units is the work per operation.\nconst Units = 100\n")
	if runner {
		cmd := exec.Command("go", "mod", "tidy")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go mod tidy: %v\n%s", err, out)
		}
	}
	gitRun(t, dir, "add", ".")
	gitRun(t, dir, "commit", "--quiet", "-m", "100 units")
	writeFile(t, filepath.Join(dir, "work", "units.go"), fmt.Sprintf("package work\n\n// Units is the work per operation.\nconst Units = %d\n", units))
	gitRun(t, dir, "commit", "--quiet", "--allow-empty", "-am", "more units")
	return dir
}

func worktrees(t *testing.T, dir string) int {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "worktree", "list", "--porcelain").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), "worktree ")
}

// short is the test's go test command: small benchtime, few rounds.
var short = []string{"-run", "^$", "-bench", ".", "-benchtime", "50ms", "./..."}

func TestCatchesSlowerHead(t *testing.T) {
	dir := newRepo(t, 400, false) // four times the work: caught on a busy machine too
	out := filepath.Join(t.TempDir(), "out")
	var log strings.Builder
	o, err := ab.Run(context.Background(), ab.Config{Ref: "HEAD~1", Dir: dir, GoTest: short, Rounds: 8, OutputDir: out, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var text strings.Builder
	o.Comparison.WriteText(&text)
	t.Log("\n" + text.String())
	if !o.Regressed() || len(o.Comparison.Regressions()) != 1 {
		t.Fatalf("four times the work per op not caught: samples %v and %v", o.Base.Benchmarks[0].Samples, o.Head.Benchmarks[0].Samples)
	}
	if r := o.Comparison.Regressions()[0]; r.Name != "Work" || r.BaseN != 8 || r.CurrentN != 8 || r.Delta < 0.1 {
		t.Errorf("regression row %+v", r)
	}
	if worktrees(t, dir) != 1 {
		t.Errorf("the temporary worktree was not removed")
	}
	// The order of runs is A B B A ...
	var order []string
	for _, l := range strings.Split(log.String(), "\n") {
		if i := strings.Index(l, "("); i >= 0 && strings.HasPrefix(l, "ab: run ") {
			order = append(order, l[i+1:i+5])
		}
	}
	if got := strings.Join(order, " "); got != "base head head base base head head base base head head base base head head base" {
		t.Errorf("run order %s", got)
	}
	// Both sides are results files that compare reads again, with the same
	// verdict.
	if len(o.Files) != 4 {
		t.Fatalf("files %v", o.Files)
	}
	for i, want := range []string{"ab-base-", "ab-base-", "ab-head-", "ab-head-"} {
		if !strings.HasPrefix(filepath.Base(o.Files[i]), want) {
			t.Errorf("file %d: %s, want %s<ts>", i, o.Files[i], want)
		}
	}
	base, err := results.ReadFile(o.Files[1]) // the .txt twin, as benchstat reads it
	if err != nil {
		t.Fatal(err)
	}
	head, err := results.ReadFile(o.Files[2])
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Benchmarks[0].Samples) != 8 || head.Environment.Revision == base.Environment.Revision {
		t.Errorf("files: %d samples, revisions %s and %s", len(base.Benchmarks[0].Samples), base.Environment.Revision, head.Environment.Revision)
	}
	if c := bench.Compare(base, head, bench.CompareOptions{}); !c.Failed() {
		t.Errorf("the files compared again do not fail the gate")
	}
}

func TestUnchangedPasses(t *testing.T) {
	dir := newRepo(t, 100, false) // HEAD~1 and HEAD do the same work
	// Note: at α = 0.01 an unchanged tree fails at most 1% of the time.
	o, err := ab.Run(context.Background(), ab.Config{Ref: "HEAD~1", Dir: dir, GoTest: short, Rounds: 8, OutputDir: t.TempDir(),
		Compare: bench.CompareOptions{Alpha: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	o.Comparison.WriteText(&text)
	if o.Regressed() || o.Comparison.Gated != 1 {
		t.Errorf("unchanged tree: regressed=%v gated=%d\n%s", o.Regressed(), o.Comparison.Gated, text.String())
	}
}

// TestRunnerBenchmarks: a bench.Runner in a user's TestMain is measured in
// the A/B mode with the usual -run '^$', one round per run, and its slowdown
// is caught, as is the testing.B benchmark's beside it. The working tree's uncommitted change is
// the head.
func TestRunnerBenchmarks(t *testing.T) {
	dir := newRepo(t, 100, true)
	writeFile(t, filepath.Join(dir, "work", "units.go"), "package work\n\nconst Units = 400\n")
	o, err := ab.Run(context.Background(), ab.Config{Ref: "HEAD", Dir: dir, Rounds: 8, OutputDir: t.TempDir(),
		GoTest: short})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	o.Comparison.WriteText(&text)
	t.Log("\n" + text.String())
	got := map[string]bool{}
	for _, r := range o.Comparison.Regressions() {
		got[r.Name] = r.BaseN == 8 && r.CurrentN == 8
	}
	if !got["work/runner"] || !got["Work"] {
		t.Errorf("regressions %v, want work/runner and Work with 8 runs each", got)
	}
	if !o.Head.Environment.Modified {
		t.Errorf("the working tree's change is not recorded as modified")
	}
}

func TestBadInput(t *testing.T) {
	dir := newRepo(t, 100, false)
	for _, c := range []struct {
		name string
		cfg  ab.Config
		want string
	}{
		{"unknown ref", ab.Config{Ref: "no-such-branch", Dir: dir, GoTest: short}, `"no-such-branch": no such commit`},
		{"option as ref", ab.Config{Ref: "--all", Dir: dir, GoTest: short}, "want a git revision"},
		{"not a repository", ab.Config{Ref: "HEAD", Dir: t.TempDir(), GoTest: short}, "not in a git working tree"},
		{"count", ab.Config{Ref: "HEAD", Dir: dir, GoTest: []string{"-bench", ".", "-count", "10", "./..."}}, "-count (the rounds are the count"},
		{"profile", ab.Config{Ref: "HEAD", Dir: dir, GoTest: []string{"-bench=.", "-cpuprofile=cpu.out"}}, "-cpuprofile"},
		{"no package", ab.Config{Ref: "HEAD", Dir: dir, GoTest: []string{"-bench", ".", "./nothing"}}, "packages ./nothing"},
		{"no benchmark matched", ab.Config{Ref: "HEAD", Dir: dir, Rounds: 2, GoTest: []string{"-bench", "NoSuch", "./..."}}, "no benchmark matched"},
		{"rounds", ab.Config{Ref: "HEAD", Dir: dir, Rounds: -1, GoTest: short}, "rounds -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.OutputDir = t.TempDir()
			_, err := ab.Run(context.Background(), c.cfg)
			if !errors.Is(err, ab.ErrInput) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrInput with %q", err, c.want)
			}
		})
	}
	if worktrees(t, dir) != 1 {
		t.Errorf("a temporary worktree was left")
	}
}

// TestBuildFailure: a base that does not compile is a run failure (not bad
// input), and the worktree is removed.
func TestBuildFailure(t *testing.T) {
	dir := newRepo(t, 100, false)
	writeFile(t, filepath.Join(dir, "work", "units.go"), "package work\n\nconst Units = undefined\n")
	gitRun(t, dir, "commit", "--quiet", "-am", "broken")
	writeFile(t, filepath.Join(dir, "work", "units.go"), "package work\n\nconst Units = 100\n")
	_, err := ab.Run(context.Background(), ab.Config{Ref: "HEAD", Dir: dir, GoTest: short, Rounds: 2, OutputDir: t.TempDir()})
	if err == nil || errors.Is(err, ab.ErrInput) || !strings.Contains(err.Error(), "build example.com/w/work at HEAD") {
		t.Errorf("error %v, want a build failure at HEAD", err)
	}
	if worktrees(t, dir) != 1 {
		t.Errorf("the temporary worktree was left")
	}
}

// TestCancelRemovesWorktree: a cancelled session (Ctrl-C) stops and
// removes its worktree.
func TestCancelRemovesWorktree(t *testing.T) {
	dir := newRepo(t, 100, false)
	ctx, cancel := context.WithCancel(context.Background())
	log := &cancelOnRun{cancel: cancel}
	_, err := ab.Run(ctx, ab.Config{Ref: "HEAD~1", Dir: dir, GoTest: short, Rounds: 4, OutputDir: t.TempDir(), Log: log})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if worktrees(t, dir) != 1 {
		t.Errorf("the temporary worktree was left")
	}
}

// cancelOnRun cancels when the third run starts.
type cancelOnRun struct {
	cancel func()
	runs   int
}

func (c *cancelOnRun) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "ab: run ") {
		if c.runs++; c.runs == 3 {
			c.cancel()
		}
	}
	return len(p), nil
}

func TestParseGoTest(t *testing.T) {
	p, err := ab.ParseGoTest([]string{"-tags", "fast", "-race", "-run=^$", "--bench", "Parse", "-test.benchtime=100x", "-cpu", "1,2", "./pkg/...", "-benchmem", "-args", "-my.flag", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.BuildFlags, " "); got != "-tags=fast -race" {
		t.Errorf("build flags %q", got)
	}
	if got := strings.Join(p.RunArgs(), " "); got != "-test.run=^$ -test.count=1 -test.benchmem -test.bench=Parse -test.benchtime=100x -test.timeout=10m0s -test.cpu=1,2 -my.flag x" {
		t.Errorf("run args %q", got)
	}
	if got := strings.Join(p.Packages, " "); got != "./pkg/..." {
		t.Errorf("packages %q", got)
	}
	p, err = ab.ParseGoTest(nil)
	if err != nil || strings.Join(p.Packages, " ") != "." || p.Run != "^$" || p.Benchtime != "1s" {
		t.Errorf("defaults: %+v %v", p, err)
	}
	for _, bad := range [][]string{{"-count", "3"}, {"-json"}, {"-o", "x.test"}, {"-bench"}, {"-memprofile", "m.out", "./x"}} {
		if _, err := ab.ParseGoTest(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	_, err = ab.ParseGoTest([]string{"-count", "3", "-json", "./x"})
	if err == nil || !strings.Contains(err.Error(), "-count") || !strings.Contains(err.Error(), "-json") {
		t.Errorf("refusal names every flag: %v", err)
	}
}

// TestNothingInCommon: benchmarks only in the working tree (a package REF
// does not have) cannot be gated: bad input, not a pass.
func TestNothingInCommon(t *testing.T) {
	dir := newRepo(t, 100, false)
	writeFile(t, filepath.Join(dir, "fresh", "fresh_test.go"), "package fresh\n\nimport \"testing\"\n\nfunc BenchmarkFresh(b *testing.B) {\n\tfor b.Loop() {\n\t}\n}\n")
	_, err := ab.Run(context.Background(), ab.Config{Ref: "HEAD", Dir: filepath.Join(dir, "fresh"), Rounds: 2, OutputDir: t.TempDir(),
		GoTest: []string{"-bench", ".", "-benchtime", "10ms"}})
	if !errors.Is(err, ab.ErrInput) || !strings.Contains(err.Error(), "no benchmark in common: HEAD has no benchmarks; the working tree has Fresh") {
		t.Errorf("error %v, want no benchmark in common", err)
	}
}
