package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/bench"
)

// abRepo makes a git repository with a module whose benchmark does a loop
// count of work per operation: 100 units at HEAD~1, units at HEAD. The test
// runs in it (perfagent bench --against works on the current directory).
func abRepo(t *testing.T, units int) string {
	t.Helper()
	dir := t.TempDir()
	gitC := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitC("init", "--quiet")
	write("go.mod", "module example.com/w\n\ngo 1.26\n")
	write("work_test.go", `package w

import (
	"crypto/sha256"
	"testing"
)

var sink byte

func BenchmarkWork(b *testing.B) {
	for b.Loop() {
		var buf [256]byte
		for range units {
			s := sha256.Sum256(buf[:])
			buf[0] ^= s[0]
		}
		sink ^= buf[0]
	}
}
`)
	write("units.go", "package w\n\nconst units = 100\n")
	gitC("add", ".")
	gitC("commit", "--quiet", "-m", "base")
	write("units.go", fmt.Sprintf("package w\n\nconst units = %d\n", units))
	gitC("commit", "--quiet", "--allow-empty", "-am", "head")
	t.Chdir(dir)
	return dir
}

var abGoTest = []string{"--", "go", "test", "-run", "^$", "-bench", ".", "-benchtime", "50ms", "."}

func TestBenchAgainstRegression(t *testing.T) {
	abRepo(t, 400) // four times the work: caught on a busy machine too
	out := t.TempDir()
	code, stdout, stderr := cli(t, nil, append([]string{"bench", "--against", "HEAD~1", "--rounds", "6", "--json", "--out", out}, abGoTest...)...)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var doc struct {
		BaseCommit string            `json:"base_commit"`
		Comparison *bench.Comparison `json:"comparison"`
		Files      []string          `json:"files"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("--json: stdout is not one JSON document: %v\n%s", err, stdout)
	}
	if len(doc.Comparison.Regressions()) != 1 || len(doc.Files) != 4 || doc.BaseCommit == "" {
		t.Errorf("regressions %d, files %v, base commit %q", len(doc.Comparison.Regressions()), doc.Files, doc.BaseCommit)
	}
	if !strings.Contains(stderr, "significant regression(s) against HEAD~1") {
		t.Errorf("stderr does not explain the exit:\n%s", stderr)
	}
	// compare reads the two sides again, with the same verdict.
	if code, _, _ := cli(t, nil, "compare", doc.Files[0], doc.Files[2]); code != exitFailed {
		t.Errorf("compare of the written sides: exit %d, want 1", code)
	}
}

func TestBenchAgainstUnchanged(t *testing.T) {
	abRepo(t, 100)
	// Note: at α = 0.01 an unchanged tree fails at most 1% of the time.
	code, stdout, stderr := cli(t, nil, append([]string{"bench", "--against", "HEAD~1", "--rounds", "6", "--alpha", "0.01", "--out", t.TempDir()}, abGoTest...)...)
	if code != exitOK || !strings.Contains(stdout, "gate: 1 row(s) tested") {
		t.Errorf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestBenchAgainstBadInput(t *testing.T) {
	abRepo(t, 100)
	for _, c := range []struct {
		args []string
		want string
	}{
		{append([]string{"bench", "--against", "no-such-ref"}, abGoTest...), `"no-such-ref": no such commit`},
		{append([]string{"bench", "--against", "HEAD", "--quick", "--budgets", "b.yaml"}, abGoTest...), "--against cannot be combined with --budgets, --quick"},
		{append([]string{"bench", "--against", "HEAD", "--rounds", "1"}, abGoTest...), "--rounds 1"},
		{[]string{"bench", "--against", "HEAD", "system"}, "takes no suite"},
		{[]string{"bench", "--against", "HEAD", "--", "./bench.test"}, "needs the benchmarks after --"},
		{[]string{"bench", "--against", "HEAD", "--", "go", "test", "-bench", ".", "-count", "10"}, "-count (the rounds are the count"},
	} {
		code, _, stderr := cli(t, nil, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", c.args, code, stderr, c.want)
		}
	}
}
